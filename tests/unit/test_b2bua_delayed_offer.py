"""Delayed offer through the B2BUA (RFC 3264 §4, RFC 3261 §13.2.2.4): an INVITE without SDP
gets its offer in the 2xx, and the answer comes in the ACK, relayed across to the other leg."""

from __future__ import annotations

from appliance.sip.message import Request, Response, make_request
from tests.unit.test_b2bua import (
    CARRIER,
    SDP,
    Box,
    phone_invite,
    phone_request,
    reply,
)
from tests.unit.test_sip_routing import PHONE, last_response, with_credentials

OFFER = SDP.replace(b"4000", b"5000")


def dial_without_sdp(box: Box, number: str = "0912345678") -> None:
    first = phone_invite(number)
    first.body = b""
    first.headers.remove("content-type")
    box.receive(first.copy(), PHONE)
    challenge = last_response(box.wire)
    password = next(e.sip_password for e in box.extensions if e.number == "101")
    box.receive(with_credentials(first, challenge, password), PHONE)


def answered_without_sdp(box: Box) -> tuple[Request, Response, str]:
    dial_without_sdp(box)
    out, = box.sent(CARRIER, "INVITE")
    assert out.body == b"" and not out.headers.get("content-type")
    box.receive(reply(out, 200, body=OFFER), CARRIER)
    ok = next(m for m, p in box.wire.sent if isinstance(m, Response) and p == PHONE
              and m.status == 200)
    return out, ok, ok.to.tag or ""


def test_the_answer_in_the_phones_ack_is_the_carriers_ack() -> None:
    box = Box()
    _, ok, tag = answered_without_sdp(box)
    assert ok.body == OFFER  # the carrier's offer reaches the phone in the 2xx
    assert box.sent(CARRIER, "ACK") == []  # its ACK waits for the answer
    box.timers.advance(1.0)  # the carrier's 2xx again: still nothing to acknowledge with
    assert box.sent(CARRIER, "ACK") == []
    ack = phone_request("ACK", tag, 2, SDP)
    box.receive(ack, PHONE)
    carrier_ack, = box.sent(CARRIER, "ACK")
    assert carrier_ack.body == SDP and carrier_ack.headers.get("content-type") == \
        "application/sdp"
    assert carrier_ack.cseq.seq == 1 and carrier_ack.to.tag == "far"
    record = box.router.registry.get("call", "caller")
    assert record is not None and record.state == "established"


def test_a_retransmitted_2xx_after_the_answer_gets_the_same_ack() -> None:
    box = Box()
    out, _, tag = answered_without_sdp(box)
    box.receive(phone_request("ACK", tag, 2, SDP), PHONE)
    box.receive(reply(out, 200, body=OFFER), CARRIER)
    first, again = box.sent(CARRIER, "ACK")
    assert first.to_bytes() == again.to_bytes()


def test_an_ack_without_the_answer_ends_the_call() -> None:
    box = Box()
    _, _, tag = answered_without_sdp(box)
    box.receive(phone_request("ACK", tag, 2), PHONE)
    assert len(box.sent(CARRIER, "ACK")) == 1
    assert box.sent(CARRIER, "BYE") and box.sent(PHONE, "BYE")
    record = box.router.registry.get("call", "caller")
    assert record is not None and record.state == "ended"


def test_no_ack_from_the_phone_acknowledges_the_carrier_before_its_bye() -> None:
    box = Box()
    answered_without_sdp(box)
    box.timers.advance(33)
    kinds = [m.method for m, p in box.wire.sent if isinstance(m, Request) and p == CARRIER]
    assert "ACK" in kinds and "BYE" in kinds and kinds.index("ACK") < kinds.index("BYE")


def test_a_reinvite_without_sdp_from_the_carrier_gets_its_answer_from_the_ack() -> None:
    box = Box()
    out, _, tag = answered_without_sdp(box)
    box.receive(phone_request("ACK", tag, 2, SDP), PHONE)
    reinvite = make_request(
        "INVITE", "sip:b2bua@127.0.0.1:5060", via="SIP/2.0/UDP 127.0.0.2:5080;"
        "branch=z9hG4bK-re", from_="<sip:84912345678@127.0.0.2>;tag=far",
        to=f"{out.from_}", call_id=out.call_id, cseq=2,
        contact="<sip:far@127.0.0.2:5080>")
    box.receive(reinvite, CARRIER)
    relayed, = box.sent(PHONE, "INVITE")
    assert relayed.body == b""
    box.receive(reply(relayed, 200, tag="caller", body=SDP.replace(b"4000", b"4002"),
                      contact="<sip:101@127.0.0.1:5062>"), PHONE)
    assert box.sent(PHONE, "ACK") == []
    to_carrier = [m for m, p in box.wire.sent if isinstance(m, Response) and p == CARRIER
                  and m.status == 200 and m.cseq.seq == 2]
    assert to_carrier and b"4002" in to_carrier[0].body
    ack = make_request("ACK", "sip:b2bua@127.0.0.1:5060", via="SIP/2.0/UDP 127.0.0.2:5080;"
                       "branch=z9hG4bK-reack", from_=reinvite.headers.get("from") or "",
                       to=str(to_carrier[0].to), call_id=out.call_id, cseq=2,
                       body=SDP.replace(b"4000", b"5002"), content_type="application/sdp")
    box.receive(ack, CARRIER)
    phone_ack, = box.sent(PHONE, "ACK")
    assert b"5002" in phone_ack.body and phone_ack.cseq.seq == relayed.cseq.seq
