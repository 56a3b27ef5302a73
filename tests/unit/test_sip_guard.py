"""The SIP guard's decisions (time passed in), stale devices, and unacknowledged failed writes."""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime

import pytest

from appliance.config import SipConfig
from appliance.digest import ha1, parse_digest, response
from appliance.directory import Extension
from appliance.routing.guard import Ban, Guard, ban_reason
from appliance.routing.registrar import Change, Registrar
from appliance.routing.router import Router
from appliance.sip import auth as auth_mod
from appliance.sip.auth import DigestAuth
from appliance.sip.message import Request, Response, SipUri, make_request
from appliance.sip.transaction import Peer, TransactionLayer
from appliance.sip.transport import Transport
from tests.unit.sip_fakes import FakeTimers, Wire

CFG = SipConfig(ban_failures=5, ban_usernames=4, ban_window=60, ban_seconds=900,
                max_sources=16, digest_algorithms=("MD5",))
NOW = datetime(2026, 1, 1, tzinfo=UTC)
OFFICE = "192.0.2.10"
PHONE = Peer("udp", OFFICE, 5062)


# -- pure decisions ---------------------------------------------------------------------------

def test_ban_reason_counts_per_username_and_distinct_usernames_in_the_window() -> None:
    assert ban_reason({"101": [1.0, 2.0, 3.0, 4.0]}, 10.0, CFG) is None
    assert ban_reason({"101": [1.0, 2.0, 3.0, 4.0, 5.0]}, 10.0, CFG) == "failures"
    # Old failures fall out of the window.
    assert ban_reason({"101": [1.0, 2.0, 3.0, 4.0, 5.0]}, 62.0, CFG) is None
    three = {"101": [1.0], "102": [1.0], "103": [2.0]}
    assert ban_reason(three, 10.0, CFG) is None
    assert ban_reason({**three, "104": [3.0]}, 10.0, CFG) == "usernames"
    assert ban_reason({**three, "104": [3.0]}, 62.0, CFG) is None
    off = SipConfig(ban_failures=0, ban_usernames=0)
    assert ban_reason({str(n): [1.0] * 9 for n in range(50)}, 2.0, off) is None


def test_failures_on_one_username_ban_the_source_only() -> None:
    guard = Guard(CFG, clock=lambda: 0.0)
    for n in range(4):
        assert guard.auth_failed(OFFICE, "101", now=100.0 + n) is None
    ban = guard.auth_failed(OFFICE, "101", now=104.0)
    assert ban == Ban(OFFICE, 104.0, 1004.0, "failures", 5, 1)
    assert guard.banned(OFFICE, now=500.0) and not guard.banned("192.0.2.11", now=500.0)
    assert guard.active(now=500.0) == [ban]
    assert not guard.banned(OFFICE, now=1004.0) and guard.active(now=1004.0) == []


def test_failures_spread_over_time_never_ban() -> None:
    guard = Guard(CFG)
    for n in range(50):
        assert guard.auth_failed(OFFICE, "101", now=n * 20.0) is None
    assert not guard.banned(OFFICE, now=1000.0)


def test_many_usernames_ban_the_source() -> None:
    published: list[Ban] = []
    guard = Guard(CFG, on_ban=published.append)
    for n, user in enumerate(("100", "101", "102")):
        assert guard.auth_failed(OFFICE, user, now=10.0 + n) is None
    ban = guard.auth_failed(OFFICE, "103", now=13.0)
    assert ban is not None and ban.reason == "usernames" and ban.usernames == 4
    assert published == [ban]


def test_usernames_outside_the_window_are_forgotten() -> None:
    guard = Guard(CFG)
    for n in range(40):
        assert guard.auth_failed(OFFICE, f"u{n}", now=n * 30.0) is None
    history = guard.failures.get(OFFICE)
    assert history is not None and len(history) <= CFG.ban_usernames


def test_a_stale_device_never_bans_and_is_logged_once_an_hour() -> None:
    guard = Guard(CFG)
    assert guard.stale_device(OFFICE, "102", now=0.0)
    assert not any(guard.stale_device(OFFICE, "102", now=float(n)) for n in range(1, 500))
    assert not guard.banned(OFFICE, now=500.0)
    assert guard.stale_device(OFFICE, "102", now=3600.0)


def test_lift_restore_and_bounds() -> None:
    guard = Guard(CFG)
    for n in range(5):
        guard.auth_failed(OFFICE, "101", now=float(n))
    assert guard.lift(OFFICE) and not guard.banned(OFFICE, now=10.0)
    assert not guard.lift(OFFICE)
    assert guard.auth_failed(OFFICE, "101", now=11.0) is None  # the count starts again
    old = Ban("192.0.2.20", 0.0, 50.0, "failures", 5, 1)
    kept = Ban("192.0.2.21", 0.0, 5000.0, "usernames", 4, 4)
    guard.restore([old, kept], now=100.0)
    assert guard.active(now=100.0) == [kept]
    for n in range(100):
        guard.auth_failed(f"10.1.0.{n}", "101", now=200.0)
        guard.auth_failed(OFFICE, "x" * 10_000 + str(n), now=200.0)
    assert len(guard.failures) <= CFG.max_sources
    history = guard.failures.get(OFFICE)
    assert history is None or all(len(u) <= 64 for u in history)


def test_the_flood_bucket_survives_a_clock_step_back() -> None:
    now = [1000.0]
    guard = Guard(SipConfig(flood_rate=10), clock=lambda: now[0])
    assert sum(guard.admit(b"x", OFFICE) for _ in range(30)) == 20
    now[0] = 10.0  # the wall clock was set back
    assert not guard.admit(b"x", OFFICE)
    now[0] = 11.0
    assert sum(guard.admit(b"x", OFFICE) for _ in range(30)) == 10


# -- digest: retired credentials -------------------------------------------------------------

def _register(user: str, auth: DigestAuth, password: str, uri: str = "sip:office.test") -> Request:
    challenge = parse_digest(auth.challenge()[0])
    assert challenge is not None
    nonce = challenge["nonce"]
    request = make_request("REGISTER", uri, via="SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-1",
                           from_=f"<sip:{user}@office.test>;tag=f",
                           to=f"<sip:{user}@office.test>", call_id="c", cseq=2)
    answer = response("MD5", ha1("MD5", user, "office.test", password), nonce, "REGISTER", uri,
                      nc="00000001", cnonce="cn")
    request.headers.add("Authorization", f'Digest username="{user}", realm="office.test", '
                        f'nonce="{nonce}", uri="{uri}", response="{answer}", algorithm=MD5, '
                        'qop=auth, nc=00000001, cnonce="cn"')
    return request


def _retired(*passwords: str) -> list[dict[str, str]]:
    return [{"MD5": ha1("MD5", "102", "office.test", p),
             "SHA-256": ha1("SHA-256", "102", "office.test", p)} for p in passwords]


def test_a_retired_password_is_recognised_and_answered_like_a_failure() -> None:
    auth = DigestAuth("office.test", algorithms=("MD5",))
    old = _retired("older-password", "old-password")

    def current(user: str) -> str | None:
        return "new-password" if user == "102" else None

    def retired_of(user: str) -> list[dict[str, str]]:
        return old if user == "102" else []

    result = auth.verify(_register("102", auth, "old-password"), "authorization", current,
                         retired_of)
    assert result.outcome == "retired" and not result.ok
    guess = auth.verify(_register("102", auth, "guess"), "authorization", current, retired_of)
    assert guess.outcome == "failed"
    fine = auth.verify(_register("102", auth, "new-password"), "authorization", current,
                       retired_of)
    assert fine.ok


def test_every_failure_costs_the_same_digest_work(monkeypatch: pytest.MonkeyPatch) -> None:
    auth = DigestAuth("office.test", algorithms=("MD5",))
    calls = []
    real = auth_mod.response

    def counting(*args: str, **kwargs: str) -> str:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(auth_mod, "response", counting)
    old = _retired("old-password")

    def current(user: str) -> str | None:
        return "new-password" if user == "102" else None

    def retired_of(user: str) -> list[dict[str, str]]:
        return old if user == "102" else []

    counts = []
    for user, password in (("102", "old-password"), ("102", "guess"), ("999", "guess")):
        calls.clear()
        request = _register(user, auth, password)
        calls.clear()
        assert not auth.verify(request, "authorization", current, retired_of).ok
        counts.append(len(calls))
    assert counts == [1 + auth_mod.RETIRED_CHECKS] * 3


# -- the router: stale devices, failed writes, oversized fields -------------------------------

class _Locals:
    def sent_by(self, transport: str, toward: str) -> tuple[str, int]:
        return "127.0.0.1", 5060

    def is_ours(self, uri: SipUri) -> bool:
        return uri.host in ("127.0.0.1", "office.test")

    def has(self, transport: str) -> bool:
        return transport == "udp"


class _Extensions:
    def __init__(self, *found: Extension) -> None:
        self.found = {e.number: e for e in found}

    def get(self, number: str) -> Extension | None:
        return self.found.get(number)

    def by_name(self, name: str) -> Extension | None:
        return None


def _ext(number: str, password: str) -> Extension:
    return Extension(number, None, "internal", None, None, None, "both", 1, number, password,
                     NOW, NOW)


def _router(store_ok: list[bool], too_long: object = None) -> tuple[Router, Wire, Guard]:
    timers, wire = FakeTimers(now=1000.0), Wire()
    registrar = Registrar(CFG, clock=timers.clock)
    guard = Guard(CFG, clock=timers.clock)
    old = _retired("old-password")

    def persist(changes: list[Change], then: object) -> None:
        then(store_ok[0])  # type: ignore[operator]

    kwargs = {} if too_long is None else {"too_long": too_long}
    router = Router(registrar=registrar, auth=DigestAuth("office.test", algorithms=("MD5",),
                                                         clock=timers.clock),
                    guard=guard, extensions=_Extensions(_ext("101", "pw-101-secret"),
                                                        _ext("102", "new-password")),
                    locals_=_Locals(), send=wire, persist=persist,
                    retired_of=lambda user: old if user == "102" else [],
                    **kwargs)  # type: ignore[arg-type]
    router.layer = TransactionLayer(wire, timers, router)
    return router, wire, guard


def _attempt(router: Router, wire: Wire, user: str, password: str, n: int,
             contact: str | None = None) -> Response:
    assert router.layer is not None
    contact = contact or f"<sip:{user}@192.0.2.10:5062>"
    first = make_request("REGISTER", "sip:office.test",
                         via=f"SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-a{user}{n}",
                         from_=f"<sip:{user}@office.test>;tag=f", to=f"<sip:{user}@office.test>",
                         call_id=f"reg-{user}-{n}", cseq=1)
    first.headers.add("Contact", contact)
    router.layer.receive(first, PHONE)
    challenge = next(m for m, _ in reversed(wire.sent) if isinstance(m, Response))
    assert challenge.status == 401
    params = parse_digest(challenge.headers.get("www-authenticate") or "")
    assert params is not None
    second = make_request("REGISTER", "sip:office.test",
                          via=f"SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-b{user}{n}",
                          from_=f"<sip:{user}@office.test>;tag=f",
                          to=f"<sip:{user}@office.test>", call_id=f"reg-{user}-{n}", cseq=2)
    second.headers.add("Contact", contact)
    digest = response("MD5", ha1("MD5", user, "office.test", password), params["nonce"],
                      "REGISTER", "sip:office.test", nc="00000001", cnonce="cn")
    second.headers.add("Authorization", f'Digest username="{user}", realm="office.test", '
                       f'nonce="{params["nonce"]}", uri="sip:office.test", '
                       f'response="{digest}", algorithm=MD5, qop=auth, nc=00000001, cnonce="cn"')
    router.layer.receive(second, PHONE)
    return next(m for m, _ in reversed(wire.sent) if isinstance(m, Response))


def test_a_dismissed_softphone_retrying_never_bans_the_office() -> None:
    router, wire, guard = _router([True])
    answers = [_attempt(router, wire, "102", "old-password", n).status for n in range(20)]
    assert answers == [401] * 20
    assert not guard.banned(OFFICE) and router.stats["stale_devices"] == 20
    assert _attempt(router, wire, "101", "pw-101-secret", 99).status == 200
    # A guesser from the same address is banned all the same.
    assert [_attempt(router, wire, "101", f"guess-{n}", n).status for n in range(5)] == [401] * 5
    assert guard.banned(OFFICE)


def test_a_failed_binding_write_is_answered_500_and_undone() -> None:
    store_ok = [True]
    router, wire, _ = _router(store_ok)
    assert _attempt(router, wire, "101", "pw-101-secret", 1).status == 200
    before = router.registrar.lookup("101")
    store_ok[0] = False
    failed = _attempt(router, wire, "101", "pw-101-secret", 2, "<sip:101@192.0.2.10:5070>")
    assert failed.status == 500 and router.registrar.lookup("101") == before
    refresh = _attempt(router, wire, "101", "pw-101-secret", 3)
    assert refresh.status == 500 and router.registrar.lookup("101") == before
    assert router.stats["write_failed"] == 2
    store_ok[0] = True
    assert _attempt(router, wire, "101", "pw-101-secret", 4).status == 200


def test_an_oversized_field_is_refused_with_400_and_not_kept() -> None:
    from appliance.routing.bindings import LIMITS, too_long

    router, wire, _ = _router([True], too_long)
    contact = "<sip:101@192.0.2.10:5062;x=" + "a" * LIMITS["contact"] + ">"
    refused = _attempt(router, wire, "101", "pw-101-secret", 1, contact)
    assert refused.status == 400 and refused.reason == "Contact Too Long"
    assert router.registrar.lookup("101") == []


def test_registrar_revert_keeps_later_changes() -> None:
    registrar = Registrar(CFG, clock=lambda: 1000.0)
    first = make_request("REGISTER", "sip:office.test",
                         via="SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-x",
                         from_="<sip:101@office.test>;tag=f", to="<sip:101@office.test>",
                         call_id="a", cseq=1)
    first.headers.add("Contact", "<sip:101@192.0.2.10:1>")
    before = dict(registrar.table.get("101", {}))
    _, changes = registrar.register(first, "101", PHONE)
    second = first.copy()
    second.headers.set("Contact", "<sip:101@192.0.2.10:2>")
    second.headers.set("Call-ID", "b")
    _, later = registrar.register(second, "101", PHONE)
    registrar.revert("101", before, changes)
    assert [b.contact for b in registrar.lookup("101")] == ["sip:101@192.0.2.10:2"]
    registrar.revert("101", {}, later)
    assert registrar.table == {}


# -- the transport's connection caps (no sockets) ---------------------------------------------

def test_stream_slots_per_source_and_in_all() -> None:
    transport = Transport(lambda data, peer: None, per_source=3)
    assert [transport.take_slot("192.0.2.7") for _ in range(5)] == [True] * 3 + [False] * 2
    assert transport.take_slot("192.0.2.8")
    transport.free_slot("192.0.2.7")
    assert transport.take_slot("192.0.2.7") and not transport.take_slot("192.0.2.7")
    assert transport.slots == 4 and transport.per_host == {"192.0.2.7": 3, "192.0.2.8": 1}
    for _ in range(3):
        transport.free_slot("192.0.2.7")
    assert "192.0.2.7" not in transport.per_host


def test_deque_bound_is_ban_failures() -> None:
    guard = Guard(CFG)
    guard.auth_failed(OFFICE, "101", now=0.0)
    history = guard.failures.get(OFFICE)
    assert history is not None and isinstance(history["101"], deque)
    assert history["101"].maxlen == CFG.ban_failures
