"""The call registry and the router around it, on fakes: calls recorded, in-dialog requests
relayed only for dialogs the box set up, the ring limit, and hang-ups from the box."""

from __future__ import annotations

from appliance.routing.calls import CallRegistry, RouteSigner
from appliance.routing.router import Router
from appliance.sip.message import Request, Response, make_request, make_response
from appliance.sip.transaction import Peer
from tests.unit.sip_fakes import FakeTimers, Wire
from tests.unit.test_sip_routing import (
    PHONE,
    call,
    do_register,
    ext,
    invite,
    last_response,
    make_router,
    with_credentials,
)

CALLEE = Peer("udp", "127.0.0.1", 6001)
STRANGER = Peer("udp", "127.0.0.7", 5099)


def place_call(router: Router, wire: Wire) -> tuple[Request, Peer]:
    """101 (with a Contact) calls 102; the INVITE forked to 102 and where it went."""
    assert router.layer is not None
    first = invite("102")
    first.headers.add("Contact", "<sip:101@127.0.0.1:5062>")
    router.layer.receive(first.copy(), PHONE)
    challenge = last_response(wire)
    wire.sent.clear()
    router.layer.receive(with_credentials(first, challenge, "password-101"), PHONE)
    (forked, peer), = [(m, p) for m, p in wire.sent if isinstance(m, Request)]
    return forked, peer


def answered_call(router: Router, wire: Wire) -> tuple[Request, Response]:
    """101 calls 102 (registered at CALLEE), 102 answers; the forwarded INVITE and its 2xx."""
    do_register(router, wire, "102", "<sip:102@127.0.0.1:6001>", CALLEE)
    forked, peer = place_call(router, wire)
    assert router.layer is not None
    router.layer.receive(make_response(forked, 180, to_tag="callee"), peer)
    ok = make_response(forked, 200, to_tag="callee",
                       headers=[("Contact", "<sip:102@127.0.0.1:6001>"),
                                ("Record-Route", forked.headers.get("record-route") or "")])
    router.layer.receive(ok, peer)
    return forked, ok


def in_dialog(method: str, route: str, *, from_tag: str = "caller", to_tag: str = "callee",
              cseq: int = 2, uri: str = "sip:102@127.0.0.1:6001", branch: str = "b") -> Request:
    """A request inside the call of ``answered_call``, as the caller sends it."""
    request = make_request(method, uri, via=f"SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-{branch}",
                           from_=f"<sip:101@office.test>;tag={from_tag}",
                           to=f"<sip:102@office.test>;tag={to_tag}", call_id="call", cseq=cseq)
    if route:
        request.headers.add("Route", route)
    return request


def to_caller(wire: Wire) -> list[int]:
    """The statuses sent to the caller, without the 407 of the first INVITE (which, never
    ACKed here, Timer G retransmits)."""
    return [m.status for m, p in wire.sent if isinstance(m, Response) and p == PHONE
            and m.status != 407]


def sent_to(wire: Wire, peer: Peer, method: str) -> list[Request]:
    return [m for m, p in wire.sent if isinstance(m, Request) and m.method == method
            and p == peer]


def test_a_call_is_recorded_from_fork_to_bye() -> None:
    router, _, wire = make_router(ext("101"), ext("102"))
    forked, _ = answered_call(router, wire)
    recorded = router.registry.get("call", "caller")
    assert recorded is not None and recorded.state == "established"
    assert (recorded.caller.extension, recorded.callee_extension) == ("101", "102")
    assert recorded.caller.flow == PHONE and recorded.callee is not None
    assert recorded.callee.flow == CALLEE and recorded.callee_tag == "callee"
    assert router.layer is not None
    wire.sent.clear()
    router.layer.receive(in_dialog("BYE", forked.headers.get("record-route") or "", cseq=3),
                         PHONE)
    assert [p for m, p in wire.sent if isinstance(m, Request)] == [CALLEE]
    assert recorded.state == "ended" and recorded.caller_seq == 3


def test_a_preloaded_route_or_an_invented_tag_never_reaches_a_phone() -> None:
    router, _, wire = make_router(ext("101"), ext("102"))
    do_register(router, wire, "102", "<sip:102@127.0.0.1:6001>", CALLEE)
    assert router.layer is not None
    wire.sent.clear()
    preloaded = make_request("INVITE", "sip:102@127.0.0.1:6001", via="SIP/2.0/UDP "
                             "127.0.0.7:5099;branch=z9hG4bK-x1", from_="<sip:boss@evil>;tag=x",
                             to="<sip:102@office.test>", call_id="fraud", cseq=1,
                             headers=[("Route", "<sip:127.0.0.1:5060;lr>, "
                                                "<sip:127.0.0.1:6001;lr>")])
    router.layer.receive(preloaded, STRANGER)
    assert last_response(wire).status == 407  # a new request: authenticate first
    invented = in_dialog("INVITE", "<sip:127.0.0.1:5060;lr>", to_tag="made-up", branch="x2")
    router.layer.receive(invented, STRANGER)
    assert last_response(wire).status == 481
    forged = in_dialog("BYE", "<sip:127.0.0.1:5060;lr;sig=0123456789abcdef>", branch="x3")
    router.layer.receive(forged, STRANGER)
    assert last_response(wire).status == 481
    assert not [p for m, p in wire.sent if isinstance(m, Request)]


def test_a_party_to_a_call_cannot_steer_it_elsewhere() -> None:
    router, _, wire = make_router(ext("101"), ext("102"))
    forked, _ = answered_call(router, wire)
    assert router.layer is not None
    wire.sent.clear()
    outside = "<sip:127.0.0.9:5060;lr>"
    steer = in_dialog("INVITE", f"{forked.headers.get('record-route')}, {outside}",
                      uri="sip:0912345678@127.0.0.9", cseq=3, branch="s1")
    router.layer.receive(steer, PHONE)
    assert {p for m, p in wire.sent if isinstance(m, Request)} == {CALLEE}


def test_a_preloaded_route_to_the_outside_is_not_followed() -> None:
    router, _, wire = make_router(ext("101"), ext("102"))
    do_register(router, wire, "102", "<sip:102@127.0.0.1:6001>", CALLEE)
    assert router.layer is not None
    first = invite("102")
    first.headers.add("Route", "<sip:127.0.0.1:5060;lr>, <sip:127.0.0.9:5060;lr>")
    router.layer.receive(first.copy(), PHONE)
    challenge = last_response(wire)
    wire.sent.clear()
    router.layer.receive(with_credentials(first, challenge, "password-101"), PHONE)
    forks = [(m, p) for m, p in wire.sent if isinstance(m, Request)]
    assert [p for _, p in forks] == [CALLEE] and "route" not in forks[0][0].headers


def test_a_signed_route_survives_a_restart_and_an_ack_needs_one_too() -> None:
    router, _, wire = make_router(ext("101"), ext("102"))
    forked, _ = answered_call(router, wire)
    route = forked.headers.get("record-route") or ""
    restarted, _, wire2 = make_router(ext("101"), ext("102"))
    restarted.signer.key = router.signer.key  # the box's key, from its store
    do_register(restarted, wire2, "102", "<sip:102@127.0.0.1:6001>", CALLEE)
    assert restarted.layer is not None and len(restarted.registry) == 0
    # Known by its signature alone, a dialog leads only to registered phones.
    toward_101 = in_dialog("BYE", route, from_tag="callee", to_tag="caller",
                           uri="sip:101@127.0.0.1:5062", branch="a0")
    restarted.layer.receive(toward_101, CALLEE)
    assert last_response(wire2).status == 404
    do_register(restarted, wire2, "101", "<sip:101@127.0.0.1:5062>", PHONE)
    wire2.sent.clear()
    restarted.layer.receive(in_dialog("ACK", route, branch="a1"), PHONE)
    restarted.layer.receive(in_dialog("ACK", "<sip:127.0.0.1:5060;lr>", branch="a2"), PHONE)
    assert [m.method for m in sent_to(wire2, CALLEE, "ACK")] == ["ACK"]
    # The callee hangs up: its From tag is the callee's, the signature still verifies.
    bye = in_dialog("BYE", route, from_tag="callee", to_tag="caller", uri="sip:101@127.0.0.1:5062",
                    branch="a3")
    restarted.layer.receive(bye, CALLEE)
    assert [m.method for m, p in wire2.sent if isinstance(m, Request) and p == PHONE] == ["BYE"]


def test_the_ring_limit_cancels_the_branches_and_answers_480() -> None:
    router, timers, wire = make_router(ext("101"), ext("102"))
    router.ring_timeout = 45.0
    do_register(router, wire, "102", "<sip:102@127.0.0.1:6001>", CALLEE)
    (forked, peer), = call(router, wire, "102", ext("101"))
    assert router.layer is not None
    router.layer.receive(make_response(forked, 180, to_tag="callee"), peer)
    timers.advance(40)  # past Timer B: still ringing
    assert to_caller(wire)[-1] == 180 and not sent_to(wire, CALLEE, "CANCEL")
    timers.advance(6)
    cancels = sent_to(wire, CALLEE, "CANCEL")  # retransmitted over UDP until answered
    assert to_caller(wire)[-1] == 480 and {c.via[0].branch for c in cancels} == {
        forked.via[0].branch}
    recorded = router.registry.get("call", "caller")
    router.layer.receive(make_response(forked, 487, to_tag="callee"), peer)
    assert recorded is not None and recorded.state == "ended"
    assert 487 not in to_caller(wire)  # the caller keeps its 480 (retransmitted until ACKed)


def test_a_2xx_after_the_ring_limit_is_acked_and_hung_up() -> None:
    router, timers, wire = make_router(ext("101"), ext("102"))
    router.ring_timeout = 10.0
    do_register(router, wire, "102", "<sip:102@127.0.0.1:6001>", CALLEE)
    (forked, peer), = call(router, wire, "102", ext("101"))
    assert router.layer is not None
    router.layer.receive(make_response(forked, 180, to_tag="callee"), peer)
    timers.advance(11)
    router.layer.receive(make_response(forked, 200, to_tag="callee", headers=[
        ("Contact", "<sip:102@127.0.0.1:6001>")]), peer)
    assert [m.method for m in sent_to(wire, CALLEE, "ACK")] == ["ACK"]
    bye, = sent_to(wire, CALLEE, "BYE")
    assert (bye.from_.tag, bye.to.tag, bye.cseq.seq) == ("caller", "callee", 3)
    assert 200 not in to_caller(wire)


def test_timer_c_restarts_on_each_provisional() -> None:
    # A re-INVITE has no ring limit: Timer C (3 min here) alone ends it, restarted by each
    # provisional response (RFC 3261 §16.7 step 2).
    router, timers, wire = make_router(ext("101"), ext("102"))
    forked, _ = answered_call(router, wire)
    assert router.layer is not None
    reinvite = in_dialog("INVITE", forked.headers.get("record-route") or "", cseq=3, branch="t")
    router.layer.receive(reinvite, PHONE)
    sent, = sent_to(wire, CALLEE, "INVITE")[-1:]
    for _ in range(3):
        router.layer.receive(make_response(sent, 183, to_tag="callee"), CALLEE)
        timers.advance(150)
    assert not sent_to(wire, CALLEE, "CANCEL")
    timers.advance(40)
    assert [c.via[0].branch for c in sent_to(wire, CALLEE, "CANCEL")][:1] == [sent.via[0].branch]


def test_hang_up_sends_bye_to_both_ends_from_the_recorded_dialogs() -> None:
    router, _, wire = make_router(ext("101"), ext("102"))
    forked, _ = answered_call(router, wire)
    assert router.layer is not None
    # The callee re-INVITEs once (CSeq 5): the BYE toward the caller must go above it.
    reinvite = in_dialog("INVITE", forked.headers.get("record-route") or "", from_tag="callee",
                         to_tag="caller", cseq=5, uri="sip:101@127.0.0.1:5062", branch="r1")
    router.layer.receive(reinvite, CALLEE)
    wire.sent.clear()
    ended = router.control.hang_up(router.registry.involving("102"), 410, "SIP;cause=410")
    assert len(ended) == 1 and ended[0].state == "ended"
    to_caller, = sent_to(wire, PHONE, "BYE")
    to_callee, = sent_to(wire, CALLEE, "BYE")
    assert (to_caller.from_.tag, to_caller.to.tag, to_caller.cseq.seq) == ("callee", "caller", 6)
    assert str(to_caller.uri) == "sip:101@127.0.0.1:5062"  # the caller's Contact
    assert (to_callee.from_.tag, to_callee.to.tag, to_callee.cseq.seq) == ("caller", "callee", 3)
    assert str(to_callee.uri) == "sip:102@127.0.0.1:6001" and "route" not in to_callee.headers
    assert to_caller.headers.get("reason") == "SIP;cause=410"


def test_hang_up_of_a_ringing_call_cancels_and_answers_the_caller() -> None:
    router, _, wire = make_router(ext("101"), ext("102"))
    do_register(router, wire, "102", "<sip:102@127.0.0.1:6001>", CALLEE)
    (forked, peer), = call(router, wire, "102", ext("101"))
    assert router.layer is not None
    router.layer.receive(make_response(forked, 180, to_tag="callee"), peer)
    router.control.hang_up(router.registry.involving("102"), 410, "SIP;cause=410")
    assert to_caller(wire)[-1] == 410 and len(sent_to(wire, CALLEE, "CANCEL")) == 1


def test_the_registry_is_bounded_and_forgets_ended_calls() -> None:
    timers = FakeTimers(now=0.0)
    registry = CallRegistry(limit=3, linger=10.0, clock=timers.clock)
    for n in range(5):
        request = make_request("INVITE", "sip:102@office.test", via="SIP/2.0/UDP 127.0.0.1;"
                               f"branch=z9hG4bK-{n}", from_=f"<sip:101@office.test>;tag=t{n}",
                               to="<sip:102@office.test>", call_id=f"c{n}", cseq=1)
        registry.start(request, PHONE, "101", "102", None)
    assert len(registry) == 3 and registry.get("c0", "t0") is None
    first = registry.get("c2", "t2")
    assert first is not None
    registry.end(first, "bye")
    timers.advance(11)
    registry.start(make_request("INVITE", "sip:102@office.test", via="SIP/2.0/UDP 127.0.0.1;"
                                "branch=z9hG4bK-9", from_="<sip:101@office.test>;tag=t9",
                                to="<sip:102@office.test>", call_id="c9", cseq=1),
                   PHONE, "101", "102", None)
    assert registry.get("c2", "t2") is None and len(registry) == 3


def test_a_signature_binds_call_id_and_caller_tag() -> None:
    signer = RouteSigner(b"k" * 32)
    request = in_dialog("BYE", "")
    signature = signer.sign("call", "caller")
    assert signer.verify(request, signature)
    assert not signer.verify(in_dialog("BYE", "", from_tag="x", to_tag="y"), signature)
    assert not RouteSigner(b"j" * 32).verify(request, signature) and not signer.verify(
        request, None)


def test_bindings_of_a_phone_or_an_old_password_can_be_dropped() -> None:
    from appliance.config import SipConfig
    from appliance.routing.registrar import Registrar, fingerprint, from_phone
    from tests.unit.test_sip_routing import register_request

    registrar = Registrar(SipConfig(), clock=FakeTimers(now=1000.0).clock)
    old = fingerprint(b"k" * 32, "old-password")
    assert old != fingerprint(b"k" * 32, "new-password") and "old" not in old
    registrar.register(register_request("102", "<sip:102@10.0.0.5>", call_id="desk",
                                        agent="Yealink SIP-T46U 108.86 00:15:65:12:34:56"),
                       "102", Peer("udp", "10.0.0.5", 5060), credential=old)
    registrar.register(register_request("102", "<sip:102@10.0.0.9>", call_id="app",
                                        agent="baresip"), "102", Peer("udp", "10.0.0.9", 5060),
                       credential=fingerprint(b"k" * 32, "new-password"))
    by_mac = [b for b in registrar.lookup("102") if from_phone(b, None, "001565123456")]
    assert [b.contact for b in by_mac] == ["sip:102@10.0.0.5"]
    dropped = registrar.drop_where(lambda b: b.credential == old, "102")
    assert [c.binding.contact for c in dropped] == ["sip:102@10.0.0.5"] and all(
        c.delete for c in dropped)
    assert [b.contact for b in registrar.lookup("102")] == ["sip:102@10.0.0.9"]
    assert registrar.drop_where(lambda b: from_phone(b, "10.0.0.9", "")) and not registrar.all()


def test_a_re_invite_2xx_refreshes_the_targets_the_box_hangs_up_toward() -> None:
    router, _, wire = make_router(ext("101"), ext("102"))
    forked, _ = answered_call(router, wire)
    assert router.layer is not None
    reinvite = in_dialog("INVITE", forked.headers.get("record-route") or "", cseq=3, branch="u")
    reinvite.headers.add("Contact", "<sip:101@127.0.0.1:7777>")
    router.layer.receive(reinvite, PHONE)
    relayed = sent_to(wire, CALLEE, "INVITE")[-1]
    router.layer.receive(make_response(relayed, 200, to_tag="callee", headers=[
        ("Contact", "<sip:102@127.0.0.1:8888>")]), CALLEE)
    wire.sent.clear()
    router.control.hang_up(router.registry.involving("101"), 410, "")
    (to_caller,), (to_callee,) = sent_to(wire, PHONE, "BYE"), sent_to(wire, CALLEE, "BYE")
    assert str(to_caller.uri) == "sip:101@127.0.0.1:7777" and to_callee.cseq.seq == 4
    assert str(to_callee.uri) == "sip:102@127.0.0.1:8888" and to_caller.cseq.seq == 1
