"""Trunk registration on a fake clock: REGISTER shape, digest, granted expiry, refresh timing,
backoff, 423, failover and failback, stop, status, and no password anywhere."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pytest

from appliance.calls.registration import (
    BACKOFF_CAP,
    RegistrationStatus,
    Server,
    TrunkRegistration,
    TrunkTarget,
    backoff_delay,
    contact_user,
    granted_expires,
    refresh_delay,
)
from appliance.errors import ConfigError
from appliance.sip.auth import DigestAuth
from appliance.sip.message import Request, Response, make_response, parse_uri
from appliance.sip.transaction import Peer, ServerTransaction, TransactionLayer
from tests.unit.sip_fakes import FakeTimers, Wire

PASSWORD = "Tr0nk-s3cret-pw"
FIRST = Server("127.0.0.1", 5080)
SECOND = Server("127.0.0.2", 5090)
THIRD = Server("127.0.0.3", 5070)
LOCAL = ("127.0.0.1", 5060)


class NoCore:
    """A transaction user that is never reached here."""

    def on_request(self, txn: ServerTransaction, request: Request) -> None:
        raise AssertionError("unexpected request")

    def on_ack(self, request: Request, peer: Peer) -> None:
        raise AssertionError("unexpected ACK")

    def on_stray_response(self, response: Response, peer: Peer) -> None:
        return None


def target(*servers: Server, expires: int = 60, auth_username: str = "") -> TrunkTarget:
    return TrunkTarget("carrier", servers or (FIRST,), "84281234567", PASSWORD,
                       "trunk.test", auth_username, expires)


@dataclass
class Rig:
    """A registration on a fake clock and wire, and a provider that answers it."""

    timers: FakeTimers
    wire: Wire
    layer: TransactionLayer
    reg: TrunkRegistration
    auth: DigestAuth
    changes: list[RegistrationStatus] = field(default_factory=list)
    answered: int = 0  # requests in wire.sent already answered

    def registers(self) -> list[tuple[Request, Peer]]:
        """Every REGISTER sent, retransmissions (the same request again) left out."""
        seen: set[int] = set()
        out = []
        for m, p in self.wire.sent:
            if isinstance(m, Request) and m.method == "REGISTER" and id(m) not in seen:
                seen.add(id(m))
                out.append((m, p))
        return out

    def last(self) -> tuple[Request, Peer]:
        sent = self.registers()
        assert sent, "no REGISTER sent"
        return sent[-1]

    def reply(self, status: int, headers: list[tuple[str, str]] | None = None,
              reason: str | None = None) -> Request:
        request, peer = self.last()
        self.layer.receive(make_response(request, status, reason, to_tag="reg",
                                         headers=headers or []), peer)
        return request

    def challenge(self) -> Request:
        return self.reply(401, [("WWW-Authenticate", v) for v in self.auth.challenge()])

    def accept(self, granted: int | None = None, *, header: int | None = None) -> Request:
        """Challenge the last REGISTER, check the answer's digest, then 200."""
        self.challenge()
        request, _ = self.last()
        result = self.auth.verify(request, "authorization",
                                  lambda user: PASSWORD if user == "84281234567" else None)
        assert result.ok, result
        contact = request.contacts[0]
        expires = granted if granted is not None else request.expires
        headers = [("Contact", "<sip:other@127.0.0.9>;expires=999"),
                   ("Contact", f"{contact}" + ("" if expires is None else f";expires={expires}"))]
        if header is not None:
            headers.append(("Expires", str(header)))
        self.reply(200, headers)
        return request


def rig(tgt: TrunkTarget | None = None, *, draw: float = 0.0,
        failback_after: float = 600.0) -> Rig:
    timers, wire = FakeTimers(now=1000.0), Wire()
    layer = TransactionLayer(wire, timers, NoCore())
    changes: list[RegistrationStatus] = []
    reg = TrunkRegistration(layer, tgt or target(), lambda transport, host: LOCAL,
                            clock=timers.clock, random=lambda: draw,
                            failback_after=failback_after, on_change=changes.append)
    return Rig(timers, wire, layer, reg, DigestAuth("trunk.test", clock=timers.clock), changes)


def times_of_registers(r: Rig, seconds: float, step: float = 0.5) -> list[float]:
    """Advance ``seconds``, answering every new REGISTER 503 at once; when each was sent."""
    seen, times = len(r.registers()), []
    end = r.timers.now + seconds
    while r.timers.now < end:
        r.timers.advance(step)
        while len(r.registers()) > seen:
            seen += 1
            times.append(r.timers.now)
            r.reply(503)
    return times


# -- the REGISTER -----------------------------------------------------------------------------

def test_register_names_the_aor_our_contact_and_answers_the_challenge_with_digest() -> None:
    r = rig(target(auth_username="auth-84281"))
    r.reg.start()
    first, peer = r.last()
    assert peer == Peer("udp", "127.0.0.1", 5080)
    assert str(first.uri) == "sip:trunk.test"
    assert str(first.from_.uri) == str(first.to.uri) == "sip:84281234567@trunk.test"
    assert first.from_.tag and first.to.tag is None
    contact = first.contacts[0].uri
    assert (contact.user, contact.host, contact.port) == (r.reg.contact_user, *LOCAL)
    assert first.expires == 60 and first.top_via.host == "127.0.0.1"
    assert "rport" in first.top_via.params and first.headers.get("authorization") is None
    r.challenge()
    retry, _ = r.last()
    credentials = retry.headers.get("authorization") or ""
    assert 'username="auth-84281"' in credentials and "algorithm=SHA-256" in credentials
    assert retry.call_id == first.call_id and retry.cseq.seq == first.cseq.seq + 1
    assert r.auth.verify(retry, "authorization", lambda u: PASSWORD).ok


def test_an_md5_only_provider_gets_md5() -> None:
    r = rig()
    r.reg.start()
    r.auth = DigestAuth("trunk.test", clock=r.timers.clock, algorithms=("MD5",))
    r.accept()
    request, _ = r.last()
    assert "algorithm=MD5" in (request.headers.get("authorization") or "")
    assert r.reg.status.state == "registered"


def test_the_contact_user_is_the_same_for_the_same_connection_and_differs_between_them() -> None:
    assert contact_user(target()) == contact_user(target(SECOND))
    other = TrunkTarget("carrier-2", (FIRST,), "84281234567", PASSWORD, "trunk.test")
    assert contact_user(other) != contact_user(target())


def test_tcp_servers_get_a_tcp_via_and_contact() -> None:
    r = rig(target(Server("127.0.0.1", 5080, "tcp")))
    r.reg.start()
    request, peer = r.last()
    assert peer.transport == "tcp" and request.top_via.transport == "TCP"
    assert request.contacts[0].uri.params.get("transport") == "tcp"


# -- the granted expiry -----------------------------------------------------------------------

def _ok(contact: str, *headers: tuple[str, str]) -> Response:
    r = rig()
    r.reg.start()
    request, _ = r.last()
    return make_response(request, 200, to_tag="x", headers=[("Contact", contact), *headers])


OURS = parse_uri("sip:trunk-abc@127.0.0.1:5060")


def test_granted_expiry_is_our_contacts_param_then_the_header_then_what_we_asked() -> None:
    assert granted_expires(_ok("<sip:trunk-abc@127.0.0.1>;expires=45", ("Expires", "99")),
                           OURS, 60) == 45
    assert granted_expires(_ok("<sip:someone@127.0.0.1:5060>;expires=45", ("Expires", "99")),
                           OURS, 60) == 99
    assert granted_expires(_ok("<sip:trunk-abc@127.0.0.1:5060>", ("Expires", "99")),
                           OURS, 60) == 99
    assert granted_expires(_ok("<sip:someone@127.0.0.1:5060>;expires=45"), OURS, 60) == 60
    assert granted_expires(_ok("<sip:trunk-abc@127.0.0.1:5060>;expires=soon",
                               ("Expires", "80")), OURS, 60) == 80
    # A Contact list that does not parse falls back to the header, never raises.
    assert granted_expires(_ok("<sip:trunk-abc@127.0.0.1:5060>;expires=7, <sip:x@[bad>",
                               ("Expires", "80")), OURS, 60) == 80
    assert granted_expires(_ok("<sip:TRUNK-abc@127.0.0.1:5061>;expires=7"), OURS, 60) == 60


def test_the_registrar_s_expiry_is_used_and_shown() -> None:
    r = rig(target(expires=3600))
    r.reg.start()
    r.accept(granted=1800)
    status = r.reg.status
    assert status.state == "registered" and status.last_answer == "200 OK"
    assert status.server == FIRST and status.since == 1000.0
    assert status.expires_at == 1000.0 + 1800 and status.next_at == 1000.0 + 1760


def test_a_2xx_that_keeps_no_binding_of_ours_is_a_failure() -> None:
    r = rig()
    r.reg.start()
    r.accept(granted=0)
    assert r.reg.status.state == "failing"
    assert r.reg.status.last_answer == "200 OK (no binding kept)"


# -- refresh ----------------------------------------------------------------------------------

def test_refresh_delay_is_half_or_margin_before_expiry_never_under_ten_seconds() -> None:
    assert refresh_delay(60) == 30
    assert refresh_delay(120) == 80
    assert refresh_delay(3600) == 3560
    assert refresh_delay(4) == 10


def test_refreshes_keep_the_call_id_and_raise_the_cseq_by_one_each_request() -> None:
    r = rig()
    r.reg.start()
    r.accept(granted=60)
    count = len(r.registers())
    r.timers.advance(29.9)
    assert len(r.registers()) == count
    r.timers.advance(0.2)
    assert len(r.registers()) == count + 1
    r.accept(granted=60)
    r.timers.advance(30.1)
    r.accept(granted=60)
    sent = [m for m, _ in r.registers()]
    assert len({m.call_id for m in sent}) == 1 and len({m.from_.tag for m in sent}) == 1
    seqs = [m.cseq.seq for m in sent]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert {m.expires for m in sent} == {60} and r.reg.status.state == "registered"
    assert r.reg.status.since == 1000.0  # registered all along


# -- failures and backoff ---------------------------------------------------------------------

def test_backoff_doubles_from_five_seconds_to_five_minutes_with_jitter() -> None:
    assert [backoff_delay(n, 0.0) for n in range(1, 9)] == [5, 10, 20, 40, 80, 160, 300, 300]
    assert backoff_delay(1, 1.0) == 3.75 and backoff_delay(40, 0.5) == BACKOFF_CAP * 0.875
    assert backoff_delay(1, 0.0, retry_after=120) == 120
    assert backoff_delay(1, 0.0, retry_after=100_000) == BACKOFF_CAP


def test_failures_back_off_in_that_sequence_on_the_clock() -> None:
    r = rig()
    r.reg.start()
    r.reply(503)
    times = times_of_registers(r, 1300)
    start = 1000.0
    gaps = [round(t - p, 1) for p, t in zip([start, *times], times, strict=False)]
    assert gaps == [5, 10, 20, 40, 80, 160, 300, 300, 300]
    status = r.reg.status
    assert status.state == "failing" and status.last_answer == "503 Service Unavailable"
    assert status.since == start and status.next_at is not None and status.next_at > r.timers.now


def test_retry_after_is_honoured() -> None:
    r = rig()
    r.reg.start()
    r.reply(503, [("Retry-After", "60 (maintenance)")])
    r.timers.advance(59.5)
    assert len(r.registers()) == 1
    r.timers.advance(1)
    assert len(r.registers()) == 2


def test_a_wrong_password_is_failing_with_401_and_backs_off() -> None:
    r = rig()
    r.reg.start()
    r.challenge()
    r.challenge()  # the answer was not accepted: a plain challenge again
    status = r.reg.status
    assert status.state == "failing" and status.last_answer == "401 Unauthorized"
    assert len(r.registers()) == 2
    r.timers.advance(4.9)
    assert len(r.registers()) == 2
    r.timers.advance(0.2)
    assert len(r.registers()) == 3


def test_a_timeout_is_reported_as_timeout() -> None:
    r = rig()
    r.reg.start()
    r.timers.advance(32.5)  # Timer F
    assert r.reg.status.state == "failing" and r.reg.status.last_answer == "timeout"
    assert len(r.registers()) == 1 and len(r.wire.sent) > 5  # retransmitted, then given up


def test_423_is_retried_at_once_with_min_expires_and_kept_for_refreshes() -> None:
    r = rig(target(expires=30))
    r.reg.start()
    r.reply(423, [("Min-Expires", "120")])
    r.timers.advance(0)
    request, _ = r.last()
    assert request.expires == 120 and request.cseq.seq == r.registers()[0][0].cseq.seq + 1
    r.accept(granted=120)
    r.timers.advance(80.1)
    assert r.last()[0].expires == 120


def test_423_without_a_higher_min_expires_is_a_failure() -> None:
    r = rig()
    r.reg.start()
    r.reply(423, [("Min-Expires", "60")])
    r.timers.advance(0)
    assert len(r.registers()) == 1 and r.reg.status.state == "failing"
    assert r.reg.status.last_answer == "423 Interval Too Brief"


# -- failover and failback ---------------------------------------------------------------------

def test_each_server_is_tried_in_order_then_backoff_then_the_first_again() -> None:
    r = rig(target(FIRST, SECOND, THIRD))
    r.reg.start()
    order = []
    for _ in range(7):
        _, peer = r.last()
        order.append((peer.host, round(r.timers.now - 1000, 1)))
        r.reply(503 if peer.host != "127.0.0.2" else 403)
        r.timers.advance(0)
        if len(order) % 3 == 0:
            r.timers.advance(backoff_delay(len(order) // 3, 0.0))
    assert order == [("127.0.0.1", 0), ("127.0.0.2", 0), ("127.0.0.3", 0),
                     ("127.0.0.1", 5), ("127.0.0.2", 5), ("127.0.0.3", 5),
                     ("127.0.0.1", 15)]


def test_a_dead_first_server_fails_over_to_the_second() -> None:
    r = rig(target(FIRST, SECOND))
    r.reg.start()
    r.timers.advance(32.5)
    assert r.last()[1].host == "127.0.0.2" and r.reg.status.state == "failing"
    r.accept(granted=60)
    status = r.reg.status
    assert status.state == "registered" and status.server == SECOND
    r.timers.advance(30.1)
    assert r.last()[1].host == "127.0.0.2"  # refreshes stay with the server that works


def test_failback_tries_the_first_server_after_the_success_period() -> None:
    r = rig(target(FIRST, SECOND), failback_after=90)
    r.reg.start()
    r.reply(503)
    r.timers.advance(0)
    r.accept(granted=60)
    for _ in range(2):  # 30 s, 60 s on the second: not yet
        r.timers.advance(30.1)
        assert r.last()[1].host == "127.0.0.2"
        r.accept(granted=60)
    r.timers.advance(30.1)  # 90 s: the first server is tried again
    assert r.last()[1].host == "127.0.0.1"
    r.reply(500)  # still down: straight back to the second, still registered
    r.timers.advance(0)
    assert r.last()[1].host == "127.0.0.2" and r.reg.status.state == "registered"
    r.accept(granted=60)
    for _ in range(3):
        r.timers.advance(30.1)
        r.accept(granted=60)
    assert r.last()[1].host == "127.0.0.1"  # the next period's probe worked
    assert r.reg.status.server == FIRST
    r.timers.advance(30.1)
    assert r.last()[1].host == "127.0.0.1"


# -- stop ---------------------------------------------------------------------------------------

def test_stop_unregisters_with_expires_zero_and_digest() -> None:
    r = rig()
    r.reg.start()
    r.accept(granted=60)
    done: list[bool] = []
    r.reg.stop(lambda: done.append(True))
    request, peer = r.last()
    assert request.expires == 0 and peer.host == "127.0.0.1" and not done
    assert request.contacts[0].uri.user == r.reg.contact_user
    first = r.registers()[0][0]
    assert request.call_id == first.call_id
    r.accept(granted=0)
    assert done == [True]
    status = r.reg.status
    assert status.state == "stopped" and status.last_answer == "200 OK"
    assert status.expires_at is None and status.next_at is None
    before = len(r.registers())
    r.timers.advance(4000)
    assert len(r.registers()) == before
    r.reg.start()  # one life only
    assert len(r.registers()) == before


def test_stop_without_a_binding_sends_nothing() -> None:
    r = rig()
    r.reg.start()
    r.reply(403)
    done: list[bool] = []
    r.reg.stop(lambda: done.append(True))
    assert done == [True] and len(r.registers()) == 1 and r.reg.status.state == "stopped"
    never = rig()
    never.reg.stop()
    never.reg.start()
    assert never.registers() == [] and never.reg.status.state == "stopped"


def test_stop_while_a_register_is_in_flight_waits_for_it_then_unregisters() -> None:
    r = rig()
    r.reg.start()
    r.reg.stop()
    assert len(r.registers()) == 1
    r.accept(granted=60)  # its 200 came after stop: the binding is removed again
    request, _ = r.last()
    assert request.expires == 0
    seqs = [m.cseq.seq for m, _ in r.registers()]
    assert seqs == sorted(set(seqs))
    r.accept(granted=0)
    assert r.reg.status.state == "stopped"


def test_an_unregister_that_times_out_still_stops() -> None:
    r = rig()
    r.reg.start()
    r.accept(granted=60)
    r.reg.stop()
    r.timers.advance(33)
    assert r.reg.status.state == "stopped" and r.reg.status.last_answer == "timeout"


# -- status and secrets -------------------------------------------------------------------------

def test_status_changes_are_reported() -> None:
    r = rig()
    r.reg.start()
    r.accept(granted=60)
    states = [s.state for s in r.changes]
    assert states[0] == "registering" and states[-1] == "registered"


def test_no_password_in_reprs_status_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    r = rig(target(FIRST, SECOND))
    r.reg.start()
    r.challenge()
    r.challenge()
    r.timers.advance(40)
    r.accept(granted=60)
    r.reg.stop()
    r.timers.advance(40)
    shown = " ".join([repr(r.reg.target), repr(r.reg), str(r.reg.status), caplog.text,
                      *map(str, r.changes)])
    assert PASSWORD not in shown
    assert "carrier" in caplog.text  # the log does say what happened


@pytest.mark.parametrize(("change", "key"), [
    ({"servers": (Server("sip example.net", 5060),)}, "servers"),
    ({"servers": (Server("-sip.example.net", 5060),)}, "servers"),
    ({"servers": (Server("127.0.0.1", 5061, "sctp"),)}, "servers"),
    ({"servers": (Server("127.0.0.1", 65536),)}, "servers"),
    ({"servers": ()}, "servers"),
    ({"username": ""}, "username"),
    ({"password": "a\r\nb"}, "password"),
    ({"domain": "trunk.test:5060"}, "domain"),
    ({"domain": ""}, "domain"),
    ({"expires": 5}, "expires"),
])
def test_bad_targets_are_refused_naming_the_field(change: dict[str, object], key: str) -> None:
    fields: dict[str, object] = {"name": "carrier", "servers": (FIRST,),
                                 "username": "84281234567", "password": PASSWORD,
                                 "domain": "trunk.test"}
    fields.update(change)
    with pytest.raises(ConfigError, match=key) as error:
        TrunkTarget(**fields)  # type: ignore[arg-type]
    assert PASSWORD not in str(error.value)


def test_plain_tuples_are_taken_as_servers() -> None:
    tgt = TrunkTarget("carrier", (("127.0.0.1", 5080, "udp"),),  # type: ignore[arg-type]
                      "u", "p", "trunk.test")
    assert tgt.servers == (FIRST,) and isinstance(tgt.servers[0], Server)


# -- servers by name, TLS ---------------------------------------------------------------------

NAMED = Server("sip.trunk.test", 0, "udp")
ALPHA = Server("192.0.2.1", 5070, "udp", "sip.trunk.test")
BETA = Server("192.0.2.2", 5080, "udp", "sip.trunk.test")


def test_a_named_server_waits_for_its_addresses_then_registers_there() -> None:
    r = rig(target(NAMED))
    assert r.reg.target.literal_addresses is None
    r.reg.start()
    assert r.registers() == [] and r.reg.status.state == "registering"
    r.reg.use([ALPHA, BETA])
    assert r.last()[1] == Peer("udp", "192.0.2.1", 5070)
    request, _ = r.last()
    assert str(request.uri) == "sip:trunk.test"  # the AOR's domain, not the address
    r.accept(granted=60)
    assert r.reg.status.server == ALPHA
    assert str(r.reg.status.server) == "udp:192.0.2.1:5070 (sip.trunk.test)"


def test_a_name_that_does_not_resolve_fails_the_round_and_asks_again() -> None:
    asked: list[int] = []
    r = rig(target(NAMED))
    r.reg.on_round_failed = lambda: asked.append(1)
    r.reg.start()
    r.reg.use([], "the name sip.trunk.test does not resolve")
    status = r.reg.status
    assert status.state == "failing" and r.registers() == [] and asked == [1]
    assert status.last_answer == "the name sip.trunk.test does not resolve"
    assert status.next_at == r.timers.now + backoff_delay(1, 0.0) and status.server is None
    r.reg.use([], "the name sip.trunk.test does not resolve")  # the same: no new round
    assert asked == [1]
    r.reg.use([BETA])  # found: registers at once, not after the backoff
    assert r.last()[1].host == "192.0.2.2"


def test_every_address_failing_asks_for_the_names_again_and_moves_with_them() -> None:
    asked: list[int] = []
    r = rig(target(NAMED))
    r.reg.on_round_failed = lambda: asked.append(1)
    r.reg.use([ALPHA, BETA])
    r.reg.start()
    r.reply(503)
    r.timers.advance(0)
    assert r.last()[1].host == "192.0.2.2" and asked == []
    r.reply(503)
    r.timers.advance(0)
    assert asked == [1] and r.reg.status.state == "failing"
    moved = Server("192.0.2.3", 5090, "udp", "sip.trunk.test")
    r.reg.use([moved])
    r.timers.advance(backoff_delay(1, 0.0))
    assert r.last()[1].host == "192.0.2.3"
    r.accept(granted=60)
    # DNS moves it again while registered: the refresh registers at the new address.
    r.reg.use([ALPHA])
    r.timers.advance(30.1)
    assert r.last()[1].host == "192.0.2.1"


def test_tls_opens_the_checked_stream_before_any_register() -> None:
    tls = Server("192.0.2.7", 5061, "tls", "sip.trunk.test")
    opened: list[tuple[Server, object]] = []
    r = rig(target(Server("sip.trunk.test", 0, "tls")))
    r.reg._secure = lambda address, done: opened.append((address, done))
    r.reg.use([tls])
    r.reg.start()
    assert [a for a, _ in opened] == [tls] and r.registers() == []
    done = opened[0][1]
    done(None)  # type: ignore[operator]
    request, peer = r.last()
    assert peer == Peer("tls", "192.0.2.7", 5061)
    assert str(request.headers.get("via")).startswith("SIP/2.0/TLS ")
    assert ";transport=tls" in str(request.headers.get("contact"))


def test_a_certificate_that_does_not_verify_fails_without_a_register() -> None:
    tls = Server("192.0.2.7", 5061, "tls", "sip.trunk.test")
    r = rig(target(Server("sip.trunk.test", 0, "tls")))
    r.reg._secure = lambda address, done: done(
        "certificate not trusted: unable to get local issuer certificate")
    r.reg.use([tls])
    r.reg.start()
    status = r.reg.status
    assert r.registers() == [] and status.state == "failing" and status.server == tls
    assert status.last_answer == "certificate not trusted: unable to get local issuer certificate"
    assert status.next_at is not None


def test_tls_without_a_way_to_check_it_is_refused() -> None:
    r = rig(target(Server("192.0.2.7", 5061, "tls")))
    r.reg.start()
    assert r.registers() == [] and r.reg.status.last_answer == "TLS is not set up"
