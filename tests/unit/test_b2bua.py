"""The B2BUA on a fake clock: calls out through a connection, calls in from one, the
refusals (toll fraud, strangers, unknown numbers), relays on both legs, and hang-ups."""

from __future__ import annotations

from dataclasses import replace

from appliance.callplan.inbound import Routing
from appliance.callplan.model import (
    Connection,
    Destination,
    DirectoryView,
    ExtensionView,
    Number,
    Queue,
    Server,
)
from appliance.calls.b2bua import B2BUA
from appliance.calls.trunks import inside_status
from appliance.directory import Extension
from appliance.sip.message import Request, Response, make_request, make_response
from appliance.sip.transaction import Peer
from tests.unit.test_sip_routing import (
    PHONE,
    do_register,
    ext,
    last_response,
    make_router,
    with_credentials,
)

CARRIER = Peer("udp", "127.0.0.2", 5080)
STRANGER = Peer("udp", "127.0.0.9", 5080)
DESK = Peer("udp", "127.0.0.1", 6002)
APP = Peer("udp", "127.0.0.1", 6003)
DID = "+842873001234"
SDP = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" \
      b"m=audio 4000 RTP/AVP 0\r\na=sendrecv\r\n"
TRUNK = Connection(1, "carrier", "ip", (Server("127.0.0.2", 5080),), username="office",
                   password="trunk-secret", allowed_sources=("127.0.0.2/32",), dids=(DID,),
                   number_format="intl_digits", default=True)


def plan_for(extensions: list[Extension], *, conn: Connection = TRUNK,
             number: Number | None = None, queues: dict[str, Queue] | None = None) -> Routing:
    number = number or Number(DID, 1, Destination("extension", "102"), contacts_map=False)
    view = DirectoryView({e.number: ExtensionView(
        e.number, e.employee_id, e.employee_id is not None,
        e.receive)  # type: ignore[arg-type]
        for e in extensions})
    return Routing(connections={conn.id: conn}, numbers={number.did: number},
                   directory=view, queues=queues or {})


class Box:
    """A router with the B2BUA wired, on a fake clock and a recording wire."""

    def __init__(self, *extensions: Extension, **plan: object) -> None:
        self.extensions = list(extensions) or [ext("101", permission="international"),
                                               ext("102"), ext("103")]
        self.router, self.timers, self.wire = make_router(*self.extensions)
        self.routing = plan_for(self.extensions, **plan)  # type: ignore[arg-type]
        self.b2bua = B2BUA(routing=lambda: self.routing, extensions=self.router.extensions,
                           contacts=self.router.registrar, locals_=self.router.locals,
                           registry=self.router.registry, clock=self.timers.clock)
        self.b2bua.layer = self.router.layer
        self.router.outside = self.b2bua

    def receive(self, message: Request | Response, peer: Peer) -> None:
        assert self.router.layer is not None
        self.router.layer.receive(message, peer)

    def sent(self, peer: Peer, method: str | None = None) -> list[Request]:
        return [m for m, p in self.wire.sent if isinstance(m, Request) and p == peer
                and (method is None or m.method == method)]

    def answers(self, peer: Peer) -> list[int]:
        return [m.status for m, p in self.wire.sent if isinstance(m, Response) and p == peer]

    def dial(self, number: str, caller: str = "101") -> Request:
        """An authenticated INVITE from ``caller``'s phone (with SDP) to ``number``."""
        first = phone_invite(number, caller)
        self.receive(first.copy(), PHONE)
        challenge = last_response(self.wire)
        assert challenge.status == 407
        password = next(e.sip_password for e in self.extensions if e.number == caller)
        second = with_credentials(first, challenge, password)
        self.receive(second, PHONE)
        return second

    def carrier_call(self, to: str = DID, source: Peer = CARRIER,
                     call_id: str = "in-call") -> Request:
        request = make_request(
            "INVITE", f"sip:{to}@127.0.0.1:5060", via=f"SIP/2.0/UDP {source.host}:"
            f"{source.port};branch=z9hG4bK-c{call_id}", from_='"Khach Hang" '
            f'<sip:0909123456@{source.host}>;tag=outside', to=f"<sip:{to}@127.0.0.1>",
            call_id=call_id, cseq=1, contact=f"<sip:0909123456@{source.host}:{source.port}>",
            body=SDP, content_type="application/sdp")
        self.receive(request, source)
        return request


def phone_invite(to: str, caller: str = "101") -> Request:
    return make_request("INVITE", f"sip:{to}@office.test", via="SIP/2.0/UDP 127.0.0.1:5062;"
                        "branch=z9hG4bK-i", from_=f"<sip:{caller}@office.test>;tag=caller",
                        to=f"<sip:{to}@office.test>", call_id="call", cseq=1,
                        contact=f"<sip:{caller}@127.0.0.1:5062>", body=SDP,
                        content_type="application/sdp")


def reply(request: Request, status: int, tag: str = "far", body: bytes = b"",
          contact: str = "<sip:far@127.0.0.2:5080>") -> Response:
    headers = [("Contact", contact)] if status < 300 else []
    if body:
        headers.append(("Content-Type", "application/sdp"))
    return make_response(request, status, to_tag=tag, headers=headers, body=body)


def answer_out(box: Box) -> tuple[Request, Response]:
    """101 calls 0912345678 out; the carrier rings and answers."""
    box.dial("0912345678")
    out, = box.sent(CARRIER, "INVITE")
    box.receive(reply(out, 180), CARRIER)
    ok = reply(out, 200, body=SDP.replace(b"4000", b"5000"))
    box.receive(ok, CARRIER)
    return out, ok


def phone_request(method: str, to_tag: str, cseq: int, body: bytes = b"",
                  branch: str = "p") -> Request:
    request = make_request(method, "sip:b2bua@127.0.0.1:5060", via="SIP/2.0/UDP 127.0.0.1:5062"
                           f";branch=z9hG4bK-{branch}{cseq}", from_="<sip:101@office.test>;"
                           "tag=caller", to=f"<sip:0912345678@office.test>;tag={to_tag}",
                           call_id="call", cseq=cseq, body=body,
                           content_type="application/sdp" if body else None)
    if method in ("INVITE", "UPDATE"):
        request.headers.add("Contact", "<sip:101@127.0.0.1:5062>")
    return request


def our_tag(box: Box) -> str:
    ok = next(m for m, p in box.wire.sent if isinstance(m, Response) and p == PHONE
              and m.status == 200)
    return ok.to.tag or ""


# -- calls out --------------------------------------------------------------------------------

def test_international_from_a_mobile_extension_is_refused_and_nothing_goes_out() -> None:
    box = Box(ext("101", permission="mobile"), ext("102"))
    box.dial("+447700900123")
    assert last_response(box.wire).status == 403
    assert last_response(box.wire).reason == "Call Not Permitted"
    assert box.sent(CARRIER) == [] and box.b2bua.stats["refused"] == 1


def test_an_emergency_number_goes_out_whatever_the_permission() -> None:
    box = Box(ext("101", permission="internal"), ext("102"))
    box.dial("113")
    out, = box.sent(CARRIER, "INVITE")
    assert out.uri.user == "113"


def test_a_call_out_presents_the_office_number_and_carries_the_sdp() -> None:
    box = Box()
    box.dial("0912345678")
    out, = box.sent(CARRIER, "INVITE")
    assert str(out.uri) == "sip:84912345678@127.0.0.2:5080"
    assert out.to.uri.user == "84912345678" and out.call_id != "call"
    assert out.from_.uri.user == "842873001234"
    assert out.headers.get("p-asserted-identity") == "<sip:842873001234@127.0.0.2:5080>"
    assert out.body == SDP and out.headers.get("content-type") == "application/sdp"
    assert box.answers(PHONE)[-1] == 100
    # The carrier's digest challenge is answered with the connection's credentials.
    box.receive(make_response(out, 407, to_tag="x", headers=[(
        "Proxy-Authenticate", 'Digest realm="carrier", nonce="n1", qop="auth"')]), CARRIER)
    retry = box.sent(CARRIER, "INVITE")[-1]
    assert 'username="office"' in (retry.headers.get("proxy-authorization") or "")
    assert "trunk-secret" not in str(retry.to_bytes())
    box.receive(reply(retry, 183, body=SDP), CARRIER)
    early = next(m for m, p in box.wire.sent if isinstance(m, Response) and m.status == 183)
    assert early.body == SDP and early.to.tag and early.to.tag != "far"
    box.receive(reply(retry, 200, body=SDP.replace(b"4000", b"5000")), CARRIER)
    assert box.sent(CARRIER, "ACK")
    ok = next(m for m, p in box.wire.sent if isinstance(m, Response) and m.status == 200)
    assert b"5000" in ok.body and ok.to.tag == early.to.tag and ok.headers.get("contact")
    record = box.router.registry.get("call", "caller")
    assert record is not None and record.state == "established"
    assert record.caller.extension == "101" and record.callee_extension == "84912345678"


def test_the_phones_2xx_is_retransmitted_until_its_ack() -> None:
    box = Box()
    answer_out(box)
    tag = our_tag(box)
    box.timers.advance(1.6)
    assert box.answers(PHONE).count(200) >= 3
    box.receive(phone_request("ACK", tag, 7), PHONE)  # another CSeq: not for this 2xx
    before = box.answers(PHONE).count(200)
    ack = phone_request("ACK", tag, 1)
    ack.headers.set("CSeq", "2 ACK")  # the authenticated INVITE's CSeq
    box.receive(ack, PHONE)
    box.timers.advance(10)
    assert box.answers(PHONE).count(200) <= before + 1
    assert box.sent(CARRIER, "ACK") and len(box.sent(CARRIER, "ACK")) == 1  # never relayed


def test_no_ack_from_the_phone_ends_both_legs() -> None:
    box = Box()
    answer_out(box)
    box.timers.advance(33)
    assert box.sent(CARRIER, "BYE") and box.sent(PHONE, "BYE")
    record = box.router.registry.get("call", "caller")
    assert record is not None and record.state == "ended"


def test_hold_and_bye_are_relayed_across() -> None:
    box = Box()
    answer_out(box)
    tag = our_tag(box)
    ack = phone_request("ACK", tag, 2)
    box.receive(ack, PHONE)
    hold = SDP.replace(b"sendrecv", b"sendonly")
    box.receive(phone_request("INVITE", tag, 3, hold), PHONE)
    relayed, = [r for r in box.sent(CARRIER, "INVITE") if r.to.tag == "far"]
    assert relayed.body == hold and relayed.call_id != "call" and relayed.cseq.seq == 2
    assert relayed.from_.uri.user == "842873001234"
    box.receive(reply(relayed, 200, body=SDP.replace(b"sendrecv", b"recvonly")), CARRIER)
    assert box.sent(CARRIER, "ACK")[-1].cseq.seq == 2
    held = [m for m, p in box.wire.sent if isinstance(m, Response) and p == PHONE
            and m.cseq.seq == 3 and m.status == 200]
    assert held and b"recvonly" in held[0].body
    box.receive(phone_request("INFO", tag, 4), PHONE)
    info, = box.sent(CARRIER, "INFO")
    box.receive(make_response(info, 200), CARRIER)
    assert box.answers(PHONE)[-1] == 200
    box.receive(phone_request("INFO", tag, 4, branch="again"), PHONE)
    assert last_response(box.wire).status == 500  # CSeq not higher
    box.receive(phone_request("REFER", tag, 5), PHONE)
    assert last_response(box.wire).status == 403 and not box.sent(CARRIER, "REFER")
    # The carrier hangs up: the phone gets a BYE of its own dialog.
    bye = make_request("BYE", "sip:b2bua@127.0.0.1:5060", via="SIP/2.0/UDP 127.0.0.2:5080;"
                       "branch=z9hG4bK-cb", from_=str(relayed.to), to=str(relayed.from_),
                       call_id=relayed.call_id, cseq=7)
    box.receive(bye, CARRIER)
    assert box.answers(CARRIER)[-1] == 200
    phone_bye, = box.sent(PHONE, "BYE")
    assert phone_bye.call_id == "call" and phone_bye.from_.tag == tag
    assert phone_bye.to.tag == "caller" and str(phone_bye.uri) == "sip:101@127.0.0.1:5062"
    record = box.router.registry.get("call", "caller")
    assert record is not None and record.state == "ended"
    assert box.b2bua.legs == {} and box.b2bua.live == set()


def test_outside_failures_are_mapped_for_the_phone() -> None:
    for status, expected in ((486, 486), (404, 404), (503, 503), (500, 503), (302, 480),
                             (401, 503), (603, 603)):
        box = Box()
        box.dial("0912345678")
        out, = box.sent(CARRIER, "INVITE")
        response = make_response(out, status, to_tag="far")
        if status == 401:
            box.b2bua.credentials = lambda conn: None  # type: ignore[method-assign]
        box.receive(response, CARRIER)
        assert last_response(box.wire).status == expected, status
        assert box.b2bua.live == set()
    assert inside_status(0) == (503, "Connection Not Responding")


def test_no_answer_from_the_connection_is_503() -> None:
    box = Box()
    box.dial("0912345678")
    box.timers.advance(33)
    assert box.answers(PHONE)[-1] == 503


def test_cancel_while_the_outside_rings_cancels_it_and_answers_487() -> None:
    box = Box()
    invite = box.dial("0912345678")
    out, = box.sent(CARRIER, "INVITE")
    cancel = make_request("CANCEL", invite.uri, via=str(invite.via[0]),
                          from_=str(invite.from_), to=str(invite.to), call_id="call",
                          cseq=invite.cseq.seq)
    box.receive(cancel, PHONE)
    assert box.sent(CARRIER, "CANCEL") == []  # not before the outside's provisional
    assert 487 in box.answers(PHONE)
    box.receive(reply(out, 180), CARRIER)
    outside_cancel, = box.sent(CARRIER, "CANCEL")
    assert outside_cancel.cseq.seq == out.cseq.seq and outside_cancel.via[0] == out.via[0]
    box.receive(make_response(out, 487, to_tag="far"), CARRIER)
    assert box.b2bua.live == set()


def test_a_late_2xx_after_cancel_is_acked_and_hung_up() -> None:
    box = Box()
    invite = box.dial("0912345678")
    out, = box.sent(CARRIER, "INVITE")
    box.receive(reply(out, 180), CARRIER)
    box.receive(make_request("CANCEL", invite.uri, via=str(invite.via[0]),
                             from_=str(invite.from_), to=str(invite.to), call_id="call",
                             cseq=invite.cseq.seq), PHONE)
    box.receive(reply(out, 200, body=SDP), CARRIER)
    assert box.sent(CARRIER, "ACK") and box.sent(CARRIER, "BYE")
    assert not [m for m, p in box.wire.sent if isinstance(m, Response) and p == PHONE
                and m.status == 200 and m.cseq.method == "INVITE"]


def test_the_ring_limit_cancels_the_outside_and_answers_480() -> None:
    box = Box()
    box.dial("0912345678")
    out, = box.sent(CARRIER, "INVITE")
    box.receive(reply(out, 180), CARRIER)
    box.timers.advance(61)
    assert box.sent(CARRIER, "CANCEL") and box.answers(PHONE)[-1] == 480


def test_the_connection_call_limit_gives_503() -> None:
    box = Box(conn=replace(TRUNK, max_calls=1))
    box.dial("0912345678")
    assert box.sent(CARRIER, "INVITE")
    box.wire.sent.clear()
    second = phone_invite("0912345679")
    second.headers.set("Call-ID", "call-2")
    second.headers.set("Via", "SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-second")
    box.receive(second.copy(), PHONE)
    box.receive(with_credentials(second, last_response(box.wire), "password-101"), PHONE)
    assert last_response(box.wire).status == 503 and not box.sent(CARRIER, "INVITE")
    box.carrier_call()
    assert box.answers(CARRIER)[-1] == 503


def test_an_extension_is_still_an_extension() -> None:
    box = Box()
    do_register(box.router, box.wire, "102", "<sip:102@127.0.0.1:6002>", DESK)
    box.dial("102")
    assert box.sent(DESK, "INVITE") and not box.sent(CARRIER)


def test_an_unsupported_require_is_420() -> None:
    box = Box()
    first = phone_invite("0912345678")
    first.headers.add("Require", "100rel")
    box.receive(first.copy(), PHONE)
    box.receive(with_credentials(first, last_response(box.wire), "password-101"), PHONE)
    assert last_response(box.wire).status == 420 and not box.sent(CARRIER)


# -- calls in ---------------------------------------------------------------------------------

def register_102(box: Box) -> None:
    do_register(box.router, box.wire, "102", "<sip:102@127.0.0.1:6002>", DESK,
                agent="Yealink SIP-T46U")
    do_register(box.router, box.wire, "102", "<sip:102@127.0.0.1:6003>", APP,
                agent="baresip v1.0.0")
    box.wire.sent.clear()


def test_a_carrier_call_rings_every_contact_and_the_first_answer_wins() -> None:
    box = Box()
    register_102(box)
    box.carrier_call(to="842873001234")  # the DID written without "+"
    desk, = box.sent(DESK, "INVITE")
    app, = box.sent(APP, "INVITE")
    assert desk.from_.uri.user == "0909123456" and desk.from_.display_name == "Khach Hang"
    assert desk.to.uri.user == "102" and desk.body == SDP and desk.call_id != "in-call"
    assert str(desk.uri) == "sip:102@127.0.0.1:6002"
    box.receive(reply(desk, 180, tag="d"), DESK)
    box.receive(reply(app, 180, tag="a"), APP)
    assert 180 in box.answers(CARRIER)
    box.receive(reply(desk, 200, tag="d", body=SDP, contact="<sip:102@127.0.0.1:6002>"), DESK)
    assert box.sent(DESK, "ACK") and box.sent(APP, "CANCEL")
    ok = [m for m, p in box.wire.sent if isinstance(m, Response) and p == CARRIER
          and m.status == 200]
    assert ok and ok[0].body == SDP
    record = box.router.registry.get("in-call", "outside")
    assert record is not None and record.state == "established"
    assert record.callee_extension == "102" and record.caller.extension is None
    # The phone hangs up: BYE toward the carrier in the carrier's dialog.
    bye = make_request("BYE", "sip:b2bua@127.0.0.1:5060", via="SIP/2.0/UDP 127.0.0.1:6002;"
                       "branch=z9hG4bK-pb", from_=str(reply(desk, 200, tag="d").to),
                       to=str(desk.from_), call_id=desk.call_id, cseq=2)
    box.receive(bye, DESK)
    carrier_bye, = box.sent(CARRIER, "BYE")
    assert carrier_bye.call_id == "in-call" and carrier_bye.to.tag == "outside"
    assert str(carrier_bye.uri) == "sip:0909123456@127.0.0.2:5080"
    assert record.state == "ended"


def test_a_stranger_calling_an_office_number_is_refused_and_nothing_rings() -> None:
    box = Box()
    register_102(box)
    box.carrier_call(source=STRANGER)
    assert box.answers(STRANGER) == [403]
    assert box.sent(DESK) == [] and box.sent(APP) == [] and box.sent(CARRIER) == []


def test_a_carrier_call_for_another_number_is_404_and_never_sent_out() -> None:
    box = Box()
    register_102(box)
    box.carrier_call(to="+84912000111")
    assert box.answers(CARRIER) == [404]
    assert [p for m, p in box.wire.sent if isinstance(m, Request)] == []


def test_the_to_header_extension_goes_straight_to_that_employee() -> None:
    box = Box()
    do_register(box.router, box.wire, "103", "<sip:103@127.0.0.1:6004>",
                Peer("udp", "127.0.0.1", 6004))
    box.wire.sent.clear()
    request = make_request("INVITE", f"sip:{DID}@127.0.0.1", via="SIP/2.0/UDP 127.0.0.2:5080;"
                           "branch=z9hG4bK-t", from_="<sip:0909123456@127.0.0.2>;tag=o",
                           to="<sip:103@127.0.0.1>", call_id="to-call", cseq=1,
                           contact="<sip:0909123456@127.0.0.2:5080>")
    box.receive(request, CARRIER)
    assert box.sent(Peer("udp", "127.0.0.1", 6004), "INVITE")


def test_no_answer_moves_to_the_next_step_a_forward_with_diversion() -> None:
    box = Box(number=Number(DID, 1, Destination("extension", "102"), contacts_map=False,
                            ring_timeout=20, no_answer="mobile"))
    extensions = dict(box.routing.directory.extensions)
    extensions["102"] = replace(extensions["102"], mobile="84912345678")
    box.routing = replace(box.routing, directory=DirectoryView(extensions))
    register_102(box)
    box.carrier_call()
    desk, = box.sent(DESK, "INVITE")
    box.receive(reply(desk, 180, tag="d"), DESK)
    box.timers.advance(20.5)
    assert box.sent(DESK, "CANCEL")
    out = box.sent(CARRIER, "INVITE")[0]  # (and Timer A's retransmission)
    assert {r.call_id for r in box.sent(CARRIER, "INVITE")} == {out.call_id}
    assert out.uri.user == "84912345678" and out.from_.uri.user == "842873001234"
    assert out.from_.display_name == "Khach Hang"
    assert (out.headers.get("diversion") or "").startswith(f"<sip:{DID}@")
    box.receive(make_response(out, 486, to_tag="m"), CARRIER)
    assert box.answers(CARRIER)[-1] == 486  # busy, after the plan's last step
    record = box.router.registry.get("in-call", "outside")
    assert record is not None and record.state == "ended"


def test_a_carrier_cancel_cancels_the_phones() -> None:
    box = Box()
    register_102(box)
    invite = box.carrier_call()
    desk, = box.sent(DESK, "INVITE")
    box.receive(reply(desk, 180, tag="d"), DESK)
    box.receive(make_request("CANCEL", invite.uri, via=str(invite.via[0]),
                             from_=str(invite.from_), to=str(invite.to), call_id="in-call",
                             cseq=1), CARRIER)
    assert box.sent(DESK, "CANCEL") and 487 in box.answers(CARRIER)


def test_dismissal_ends_an_outside_call_on_both_legs() -> None:
    box = Box()
    register_102(box)
    box.carrier_call()
    desk, = box.sent(DESK, "INVITE")
    box.receive(reply(desk, 200, tag="d", body=SDP, contact="<sip:102@127.0.0.1:6002>"), DESK)
    control = box.router.control
    ended = control.hang_up(control.registry.involving("102"), 410,
                            'SIP;cause=410;text="Extension out of service"')
    assert len(ended) == 1 and ended[0].state == "ended"
    assert box.sent(DESK, "BYE") and box.sent(CARRIER, "BYE")
    assert "410" in (box.sent(CARRIER, "BYE")[0].headers.get("reason") or "")


def test_dismissal_while_ringing_moves_on_and_out_calls_get_the_status() -> None:
    box = Box()
    register_102(box)
    box.carrier_call()
    box.extensions[1] = replace(box.extensions[1], employee_id=None)
    box.router.extensions.found["102"] = box.extensions[1]  # type: ignore[attr-defined]
    control = box.router.control
    control.hang_up(control.registry.involving("102"), 410, "")
    assert box.answers(CARRIER)[-1] == 480  # the plan went on: nobody else, hang up
    out = Box()
    out.dial("0912345678")
    out.router.control.hang_up(out.router.control.registry.involving("101"), 410, "")
    assert out.answers(PHONE)[-1] == 410


def test_inbound_only_from_the_connections_sources() -> None:
    box = Box()
    assert box.b2bua.in_use() == {}
    box.routing = replace(box.routing, connections={})
    register_102(box)
    request = box.carrier_call(source=STRANGER)
    assert request and box.answers(STRANGER)[-1] == 407  # no connections: a phone's call



BACKUP = Peer("udp", "127.0.0.4", 5080)
TWO_SERVERS = replace(TRUNK, servers=(Server("127.0.0.2", 5080), Server("127.0.0.4", 5080)),
                      allowed_sources=("127.0.0.2/32", "127.0.0.4/32"))


def test_a_silent_first_server_hands_the_call_to_the_next() -> None:
    box = Box(conn=TWO_SERVERS)
    box.dial("0912345678")
    first, = box.sent(CARRIER, "INVITE")
    box.timers.advance(3.9)
    assert not box.sent(BACKUP)
    box.timers.advance(0.2)  # 4 s without even a 100 Trying
    out = box.sent(BACKUP, "INVITE")[0]
    assert out.uri.user == first.uri.user == "84912345678" and out.call_id != first.call_id
    box.receive(reply(out, 180), BACKUP)
    box.receive(reply(out, 200, body=SDP), BACKUP)
    assert 200 in box.answers(PHONE)
    box.receive(reply(first, 200, tag="late", body=SDP), CARRIER)  # the first wakes up late
    assert box.sent(CARRIER, "BYE")  # acknowledged and hung up, never handed on


def test_a_503_from_the_first_server_goes_to_the_next_at_once_and_the_last_counts() -> None:
    box = Box(conn=TWO_SERVERS)
    box.dial("0912345678")
    first, = box.sent(CARRIER, "INVITE")
    box.receive(reply(first, 503), CARRIER)
    out = box.sent(BACKUP, "INVITE")[0]
    box.receive(reply(out, 503), BACKUP)
    assert box.answers(PHONE)[-1] == 503  # no third server: the phone gets the failure


def test_a_ringing_server_that_says_busy_is_not_failed_over() -> None:
    box = Box(conn=TWO_SERVERS)
    box.dial("0912345678")
    first, = box.sent(CARRIER, "INVITE")
    box.receive(reply(first, 180), CARRIER)
    box.receive(reply(first, 486), CARRIER)
    assert not box.sent(BACKUP) and box.answers(PHONE)[-1] == 486


def test_the_callers_record_route_set_is_in_the_answers_and_its_dialog() -> None:
    box = Box()
    register_102(box)
    request = make_request(
        "INVITE", "sip:+842873001234@127.0.0.1:5060", via="SIP/2.0/UDP 127.0.0.2:5080;"
        "branch=z9hG4bK-rr", from_="<sip:0909123456@127.0.0.2>;tag=outside",
        to="<sip:+842873001234@127.0.0.1>", call_id="rr-call", cseq=1,
        contact="<sip:0909123456@127.0.0.9:5090>", body=SDP, content_type="application/sdp")
    request.headers.add("Record-Route", "<sip:127.0.0.2:5080;lr>")
    box.receive(request, CARRIER)
    desk = box.sent(DESK, "INVITE")[0]
    assert desk.headers.get("record-route") is None  # the box's own leg has its own route
    box.receive(reply(desk, 180, tag="d"), DESK)
    box.receive(reply(desk, 200, tag="d", body=SDP, contact="<sip:102@127.0.0.1:6002>"), DESK)
    answers = [m for m, p in box.wire.sent if isinstance(m, Response) and p == CARRIER
               and m.status in (180, 200)]
    assert answers and all(m.headers.get("record-route") == "<sip:127.0.0.2:5080;lr>"
                           for m in answers)
    bye = make_request("BYE", "sip:b2bua@127.0.0.1:5060", via="SIP/2.0/UDP 127.0.0.1:6002;"
                       "branch=z9hG4bK-rrb", from_=str(reply(desk, 200, tag="d").to),
                       to=str(desk.from_), call_id=desk.call_id, cseq=2)
    box.receive(bye, DESK)
    carrier_bye, = box.sent(CARRIER, "BYE")
    assert str(carrier_bye.uri) == "sip:0909123456@127.0.0.9:5090"
    assert carrier_bye.headers.get("route") == "<sip:127.0.0.2:5080;lr>"


def test_a_call_out_goes_to_the_address_dns_found_naming_the_server() -> None:
    from appliance.sip.locate import Address
    box = Box()
    failed: list[str] = []
    box.b2bua.addresses = lambda conn: [Address("127.0.0.2", 5080, "udp", "sip.carrier.test"),
                                        Address("127.0.0.3", 5080, "udp", "sip.carrier.test")]
    box.b2bua.servers_failed = lambda conn: failed.append(conn.name)
    box.dial("0912345678")
    out, = box.sent(CARRIER, "INVITE")
    assert str(out.uri) == "sip:84912345678@sip.carrier.test"
    assert out.headers.get("p-asserted-identity") == "<sip:842873001234@sip.carrier.test>"
    box.receive(make_response(out, 503), CARRIER)
    second = Peer("udp", "127.0.0.3", 5080)
    again, = box.sent(second, "INVITE")
    assert str(again.uri) == "sip:84912345678@sip.carrier.test" and failed == []
    box.receive(make_response(again, 503), second)
    assert failed == ["carrier"]  # every address failed: the names are looked up again


def test_a_call_out_through_a_connection_dns_has_not_found_is_503() -> None:
    box = Box()
    box.b2bua.addresses = lambda conn: []
    box.dial("0912345678")
    answer = last_response(box.wire)
    assert (answer.status, answer.reason) == (503, "Connection Not Resolved")
    assert box.sent(CARRIER) == []
