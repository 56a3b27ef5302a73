"""The routing policy in memory: registrar rules, guard, dial plan and the forking proxy."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from appliance.config import SipConfig
from appliance.digest import ha1, parse_digest, response
from appliance.directory import Extension
from appliance.routing import dialplan
from appliance.routing.guard import Guard
from appliance.routing.registrar import Change, Registrar, kind_of
from appliance.routing.router import Router
from appliance.sip.auth import DigestAuth
from appliance.sip.message import Request, Response, SipUri, make_request, make_response, parse_uri
from appliance.sip.transaction import Peer, TransactionLayer
from tests.unit.sip_fakes import FakeTimers, Wire

PHONE = Peer("udp", "127.0.0.1", 5062)
BRANCHES = itertools.count()
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def ext(number: str, *, assigned: bool = True, receive: str = "both",
        permission: str = "internal", name: str | None = None) -> Extension:
    return Extension(number, name, permission, None, None, None, receive,
                     1 if assigned else None, number, f"password-{number}", NOW, NOW)


def register_request(user: str, *contacts: str, expires: str | None = None, cseq: int = 1,
                     call_id: str = "reg", agent: str = "") -> Request:
    branch = f"z9hG4bK-r{next(BRANCHES)}"
    request = make_request("REGISTER", "sip:office.test", via="SIP/2.0/UDP 127.0.0.1:5062;"
                           f"branch={branch}", from_=f"<sip:{user}@office.test>;tag=f",
                           to=f"<sip:{user}@office.test>", call_id=call_id, cseq=cseq)
    for contact in contacts:
        request.headers.add("Contact", contact)
    if expires is not None:
        request.headers.add("Expires", expires)
    if agent:
        request.headers.add("User-Agent", agent)
    return request


# -- registrar ------------------------------------------------------------------------------

def test_registrar_bounds_contacts_and_removal() -> None:
    timers = FakeTimers(now=1000.0)
    registrar = Registrar(SipConfig(min_expires=60, max_expires=3600), clock=timers.clock)
    brief, _ = registrar.register(register_request("101", "<sip:101@10.0.0.1>", expires="30"),
                                  "101", PHONE)
    assert brief.status == 423 and brief.headers.get("min-expires") == "60"
    ok, changes = registrar.register(register_request(
        "101", "<sip:101@10.0.0.1>;expires=7200", "<sip:101@10.0.0.2>", expires="600",
        agent="Yealink SIP-T46U 108.86.0.90"), "101", PHONE)
    assert ok.status == 200 and len(changes) == 2
    assert sorted(b.remaining(timers.now) for b in registrar.lookup("101")) == [600, 3600]
    assert {b.kind for b in registrar.lookup("101")} == {"desk"}
    stale, _ = registrar.register(register_request("101", "<sip:101@10.0.0.1>", cseq=1),
                                  "101", PHONE)
    assert stale.status == 500  # same Call-ID, CSeq not higher: out of order
    gone, changes = registrar.register(register_request("101", "*", expires="0", cseq=2),
                                       "101", PHONE)
    assert gone.status == 200 and registrar.lookup("101") == [] and len(changes) == 2
    timers.advance(0)


def test_a_provisioned_phone_is_a_desk_phone_whatever_its_user_agent() -> None:
    registrar = Registrar(SipConfig(), clock=FakeTimers(now=1000.0).clock)
    registrar.desk_hosts = frozenset({"127.0.0.1"})
    registrar.register(register_request("101", "<sip:101@10.0.0.1>", agent="Acme DeskPhone 9"),
                       "101", PHONE)
    elsewhere = Peer("udp", "127.0.0.9", 5062)
    registrar.register(register_request("101", "<sip:101@10.0.0.9>", agent="Acme DeskPhone 9",
                                        call_id="other"), "101", elsewhere)
    kinds = {b.contact: b.kind for b in registrar.lookup("101")}
    assert kinds == {"sip:101@10.0.0.1": "desk", "sip:101@10.0.0.9": "app"}


def test_registrar_expiry_drop_and_load() -> None:
    timers = FakeTimers(now=1000.0)
    registrar = Registrar(SipConfig(), clock=timers.clock)
    _, changes = registrar.register(register_request("101", "<sip:101@10.0.0.1>",
                                                     expires="60"), "101", PHONE)
    timers.advance(61)
    assert registrar.lookup("101") == [] and [c.delete for c in registrar.expire()] == [True]
    other = Registrar(SipConfig(), clock=timers.clock)
    other.load([replace(changes[0].binding, expires_at=timers.now + 10)])
    assert len(other.all()) == 1 and other.has_flow(PHONE)
    assert [c.delete for c in other.drop("101")] == [True] and other.all() == []


def test_kind_of_user_agents() -> None:
    assert kind_of("Grandstream GXP2170 1.0") == "desk"
    assert kind_of("baresip v1.0.0 (x86_64/linux)") == "app"


# -- guard ----------------------------------------------------------------------------------

def test_guard_bans_one_source_only_and_forgets_old_sources() -> None:
    timers = FakeTimers()
    guard = Guard(SipConfig(ban_failures=3, ban_window=60, ban_seconds=900, max_sources=16),
                  clock=timers.clock)
    for _ in range(3):
        guard.auth_failed("10.0.0.66")
    assert not guard.admit(b"x", "10.0.0.66") and guard.admit(b"x", "10.0.0.7")
    timers.advance(901)
    assert guard.admit(b"x", "10.0.0.66")
    for n in range(100):
        guard.auth_failed(f"10.1.0.{n}")
    assert len(guard.failures) <= 16


def test_guard_flood_limit_refills() -> None:
    timers = FakeTimers()
    guard = Guard(SipConfig(flood_rate=10), clock=timers.clock)
    admitted = sum(guard.admit(b"x", "10.0.0.5") for _ in range(50))
    assert admitted == 20  # the burst is twice the rate
    timers.advance(1)
    assert sum(guard.admit(b"x", "10.0.0.5") for _ in range(50)) == 10


def test_guard_screens_scanners_and_long_uris() -> None:
    guard = Guard(SipConfig())
    scanner = register_request("101", agent="friendly-scanner")
    assert guard.screen(scanner) == 0
    long = register_request("101")
    long.uri = SipUri(user="a" * 600, host="office.test")
    assert guard.screen(long) == 414 and guard.screen(register_request("101")) is None
    assert not guard.admit(b"x" * 17000, "10.0.0.9")


# -- dial plan ------------------------------------------------------------------------------

@pytest.mark.parametrize(("uri", "kind", "needs"), [
    ("sip:101@office.test", "extension", "internal"),
    ("sip:an.nguyen@office.test", "name", "internal"),
    ("sip:0912345678@office.test", "number", "mobile"),
    ("sip:+84912345678@office.test", "number", "international"),
    ("sip:0084912345678@office.test", "number", "international"),
    ("tel:38212345", "number", "local"),
])
def test_dialplan(uri: str, kind: str, needs: str) -> None:
    destination = dialplan.classify(parse_uri(uri))
    assert (destination.kind, destination.needs) == (kind, needs)


def test_permissions_are_ordered() -> None:
    assert dialplan.permits("mobile", "local") and not dialplan.permits("local", "mobile")
    assert dialplan.permits("international", "international")


# -- the router, on fakes ----------------------------------------------------------------------

class Locals:
    def sent_by(self, transport: str, toward: str) -> tuple[str, int]:
        return "127.0.0.1", 5060

    def is_ours(self, uri: SipUri) -> bool:
        return uri.host in ("127.0.0.1", "office.test") and uri.port in (None, 5060)

    def has(self, transport: str) -> bool:
        return transport == "udp"


class Extensions:
    def __init__(self, *found: Extension) -> None:
        self.found = {e.number: e for e in found}

    def get(self, number: str) -> Extension | None:
        return self.found.get(number)

    def by_name(self, name: str) -> Extension | None:
        return next((e for e in self.found.values() if e.name == name), None)


def make_router(*extensions: Extension) -> tuple[Router, FakeTimers, Wire]:
    timers, wire = FakeTimers(now=1000.0), Wire()
    cfg = SipConfig(digest_algorithms=("MD5",))
    registrar = Registrar(cfg, clock=timers.clock)

    def persist(changes: list[Change], then: object) -> None:
        then(True)  # type: ignore[operator]

    router = Router(registrar=registrar, auth=DigestAuth("office.test", clock=timers.clock),
                    guard=Guard(cfg, clock=timers.clock), extensions=Extensions(*extensions),
                    locals_=Locals(), send=wire, persist=persist)
    router.layer = TransactionLayer(wire, timers, router)
    return router, timers, wire


def with_credentials(request: Request, challenge: Response, password: str) -> Request:
    header = challenge.headers.get("proxy-authenticate") or challenge.headers.get(
        "www-authenticate") or ""
    params = parse_digest(header)
    assert params is not None
    user, uri = request.from_.uri.user or "", str(request.uri)
    answer = response("MD5", ha1("MD5", user, "office.test", password), params["nonce"],
                      request.method, uri, nc="00000001", cnonce="c")
    name = "Proxy-Authorization" if challenge.status == 407 else "Authorization"
    request.headers.add(name, f'Digest username="{user}", realm="office.test", '
                              f'nonce="{params["nonce"]}", uri="{uri}", response="{answer}", '
                              f'algorithm=MD5, qop=auth, nc=00000001, cnonce="c"')
    request.headers.set("CSeq", f"{request.cseq.seq + 1} {request.method}")
    via = request.via[0]
    via.params["branch"] += "2"
    request.headers.set("Via", str(via))
    return request


def last_response(wire: Wire) -> Response:
    return next(m for m, _ in reversed(wire.sent) if isinstance(m, Response))


def do_register(router: Router, wire: Wire, user: str, contact: str, peer: Peer,
                agent: str = "") -> None:
    assert router.layer is not None
    request = register_request(user, contact, call_id=f"reg-{contact}", agent=agent)
    router.layer.receive(request, peer)
    router.layer.receive(with_credentials(request, last_response(wire), f"password-{user}"),
                         peer)
    assert last_response(wire).status == 200


def invite(to: str, call_id: str = "call") -> Request:
    return make_request("INVITE", f"sip:{to}@office.test", via="SIP/2.0/UDP 127.0.0.1:5062;"
                        "branch=z9hG4bK-i", from_="<sip:101@office.test>;tag=caller",
                        to=f"<sip:{to}@office.test>", call_id=call_id, cseq=1)


def call(router: Router, wire: Wire, to: str, caller: Extension) -> list[tuple[Request, Peer]]:
    """Send an authenticated INVITE; return the requests forked downstream."""
    assert router.layer is not None
    first = invite(to)
    router.layer.receive(first, PHONE)
    challenge = last_response(wire)
    assert challenge.status == 407
    wire.sent.clear()
    router.layer.receive(with_credentials(first, challenge, caller.sip_password), PHONE)
    return [(m, p) for m, p in wire.sent if isinstance(m, Request) and m.method == "INVITE"]


def test_forks_to_the_contacts_the_receive_method_allows_and_picks_the_best() -> None:
    caller, callee = ext("101"), ext("102", receive="desk")
    router, _, wire = make_router(caller, callee)
    desk, app = Peer("udp", "127.0.0.1", 6001), Peer("udp", "127.0.0.1", 6002)
    do_register(router, wire, "102", "<sip:102@127.0.0.1:6001>", desk, agent="Yealink T46U")
    do_register(router, wire, "102", "<sip:102@127.0.0.1:6003>", desk, agent="Snom D785")
    do_register(router, wire, "102", "<sip:102@127.0.0.1:6002>", app, agent="baresip")
    forks = call(router, wire, "102", caller)
    assert len(forks) == 2 and {str(r.uri) for r, _ in forks} == {
        "sip:102@127.0.0.1:6001", "sip:102@127.0.0.1:6003"}
    first = forks[0][0]
    signature = router.signer.sign("call", "caller")
    assert first.headers.get("record-route") == (
        f"<sip:127.0.0.1:5060;transport=udp;lr;sig={signature}>")
    assert first.max_forwards == 69 and "proxy-authorization" not in first.headers
    assert router.layer is not None
    router.layer.receive(make_response(forks[0][0], 480, to_tag="a"), desk)
    router.layer.receive(make_response(forks[1][0], 486, to_tag="b"), desk)
    assert last_response(wire).status == 486 and len(last_response(wire).via) == 1


def test_a_2xx_goes_up_at_once_and_cancels_the_other_branches() -> None:
    caller, callee = ext("101"), ext("102")
    router, _, wire = make_router(caller, callee)
    peers = [Peer("udp", "127.0.0.1", 6001), Peer("udp", "127.0.0.1", 6002)]
    for n, peer in enumerate(peers):
        do_register(router, wire, "102", f"<sip:102@127.0.0.1:{6001 + n}>", peer)
    forks = call(router, wire, "102", caller)
    assert router.layer is not None
    for request, peer in forks:
        router.layer.receive(make_response(request, 180, to_tag=f"t{peer.port}"), peer)
    router.layer.receive(make_response(forks[0][0], 200, to_tag="t6001"), forks[0][1])
    assert wire.statuses()[-1] == 200 and wire.methods()[-1] == "CANCEL"
    cancel = next(m for m, p in wire.sent if isinstance(m, Request) and m.method == "CANCEL")
    assert cancel.via[0].branch == forks[1][0].via[0].branch


def test_cancel_from_the_caller_reaches_ringing_branches() -> None:
    caller, callee = ext("101"), ext("102")
    router, _, wire = make_router(caller, callee)
    do_register(router, wire, "102", "<sip:102@127.0.0.1:6001>", Peer("udp", "127.0.0.1", 6001))
    (forked, peer), = call(router, wire, "102", caller)
    assert router.layer is not None
    router.layer.receive(make_response(forked, 180, to_tag="t"), peer)
    cancel = invite("102")
    cancel.method = "CANCEL"
    cancel.headers.set("CSeq", "2 CANCEL")
    cancel.headers.set("Via", "SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-i2")
    router.layer.receive(cancel, PHONE)
    assert wire.methods()[-1] == "CANCEL" and wire.statuses()[-1] == 200
    router.layer.receive(make_response(forked, 487, to_tag="t"), peer)
    assert last_response(wire).status == 487


@pytest.mark.parametrize(("to", "status"), [
    ("109", 404), ("103", 410), ("0912345678", 403), ("104", 480),
])
def test_refusals(to: str, status: int) -> None:
    caller = ext("101", permission="local")
    router, _, wire = make_router(caller, ext("103", assigned=False), ext("104"))
    assert call(router, wire, to, caller) == []
    assert last_response(wire).status == status


def test_unknown_caller_is_challenged_like_a_wrong_password() -> None:
    router, _, wire = make_router(ext("101"))
    assert router.layer is not None
    request = invite("101")
    request.headers.set("From", "<sip:999@office.test>;tag=x")
    router.layer.receive(request, PHONE)
    router.layer.receive(with_credentials(request, last_response(wire), "guess"), PHONE)
    assert last_response(wire).status == 407 and router.stats["auth_failed"] == 1


def test_a_store_that_falls_behind_sheds_registers_with_503() -> None:
    router, _, wire = make_router(ext("102"))
    busy = [True]
    router.overloaded = lambda: busy[0]
    assert router.layer is not None
    request = register_request("102", "<sip:102@127.0.0.1:6001>", call_id="shed")
    router.layer.receive(request, PHONE)
    router.layer.receive(with_credentials(request, last_response(wire), "password-102"), PHONE)
    shed = last_response(wire)
    assert shed.status == 503 and shed.headers.get("retry-after") == "1"
    assert not router.registrar.lookup("102")  # nothing registered, nothing to write
    busy[0] = False
    do_register(router, wire, "102", "<sip:102@127.0.0.1:6001>", PHONE)
    assert router.registrar.lookup("102")
