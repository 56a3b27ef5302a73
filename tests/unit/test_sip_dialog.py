"""RFC 3261 §12 dialogs: made from a request and its answer, then in-dialog requests."""

from __future__ import annotations

import pytest

from appliance.errors import SipParseError
from appliance.sip.dialog import Dialog
from appliance.sip.message import Request, Response, make_request, make_response

VIA = "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-d1"


def invite(record_route: tuple[str, ...] = ()) -> Request:
    request = make_request("INVITE", "sip:102@office.test", via=VIA,
                           from_='"Alice" <sip:101@office.test>;tag=a1',
                           to="<sip:102@office.test>", call_id="dlg-1", cseq=7,
                           contact="<sip:101@10.0.0.1:5062>")
    for value in record_route:
        request.headers.add("Record-Route", value)
    return request


def answer(request: Request, record_route: tuple[str, ...] = ()) -> Response:
    headers = [("Contact", "<sip:102@10.0.0.2:5064;transport=udp>")]
    headers += [("Record-Route", value) for value in record_route]
    return make_response(request, 200, to_tag="b2", headers=headers)


ROUTES = ("<sip:p2.example;lr>", "<sip:p1.example;lr>")  # p2 nearest the callee


def test_the_caller_reverses_the_record_route_set() -> None:
    request = invite()
    dialog = Dialog.uac(request, answer(request, ROUTES))
    assert dialog.id == ("dlg-1", "a1", "b2")
    assert dialog.route_set == ("<sip:p1.example;lr>", "<sip:p2.example;lr>")
    assert str(dialog.remote_target) == "sip:102@10.0.0.2:5064;transport=udp"
    assert (dialog.local_seq, dialog.remote_seq) == (7, None)
    bye = dialog.request("BYE", via=VIA)
    assert bye.method == "BYE" and str(bye.uri) == "sip:102@10.0.0.2:5064;transport=udp"
    assert bye.headers.get_all("route") == ["<sip:p1.example;lr>", "<sip:p2.example;lr>"]
    assert bye.cseq.seq == 8 and bye.cseq.method == "BYE" and bye.call_id == "dlg-1"
    assert (bye.from_.tag, bye.to.tag) == ("a1", "b2")
    assert bye.from_.display_name == "Alice" and str(bye.to.uri) == "sip:102@office.test"
    ack = dialog.request("ACK", via=VIA, cseq=7)
    assert ack.cseq.seq == 7 and dialog.local_seq == 8  # an ACK takes the INVITE's number
    assert str(dialog.next_hop()) == "sip:p1.example;lr"


def test_the_callee_keeps_the_record_route_order_and_checks_cseq() -> None:
    request = invite(ROUTES)
    dialog = Dialog.uas(request, "b2")
    assert dialog.id == ("dlg-1", "b2", "a1") and dialog.route_set == ROUTES
    assert str(dialog.remote_target) == "sip:101@10.0.0.1:5062"
    assert (dialog.local_seq, dialog.remote_seq) == (0, 7)
    bye = dialog.request("BYE", via=VIA)
    assert (bye.from_.tag, bye.to.tag, bye.cseq.seq) == ("b2", "a1", 1)
    assert str(bye.from_.uri) == "sip:102@office.test" and bye.to.display_name == "Alice"
    later = invite()
    later.headers.set("From", "<sip:101@office.test>;tag=a1")
    later.headers.set("To", "<sip:102@office.test>;tag=b2")
    later.headers.set("CSeq", "8 INVITE")
    assert dialog.matches(later) and dialog.received(later) and dialog.remote_seq == 8
    assert not dialog.received(later)  # the same number again: out of order (500)
    assert dialog.matches(bye, sent=True)
    assert not dialog.matches(invite())  # no To tag: another dialog


def test_a_target_refresh_moves_the_remote_target() -> None:
    request = invite()
    dialog = Dialog.uac(request, answer(request))
    refresh = make_response(request, 200, to_tag="b2",
                            headers=[("Contact", "<sip:102@10.0.0.9:5070>")])
    dialog.refresh_target(refresh)
    assert str(dialog.remote_target) == "sip:102@10.0.0.9:5070"
    dialog.refresh_target(make_response(request, 200, to_tag="b2"))  # no Contact: unchanged
    assert str(dialog.remote_target) == "sip:102@10.0.0.9:5070"


def test_a_strict_router_becomes_the_request_uri() -> None:
    request = invite()
    dialog = Dialog.uac(request, answer(request, ("<sip:strict.example>",)))
    bye = dialog.request("BYE", via=VIA)
    assert str(bye.uri) == "sip:strict.example"
    assert bye.headers.get_all("route") == ["<sip:102@10.0.0.2:5064;transport=udp>"]


def test_no_dialog_without_tags_or_contact() -> None:
    request = invite()
    untagged = make_response(request, 200, headers=[("Contact", "<sip:102@10.0.0.2>")])
    with pytest.raises(SipParseError):
        Dialog.uac(request, untagged)
    with pytest.raises(SipParseError):
        Dialog.uac(request, make_response(request, 200, to_tag="b2"))
    request.headers.remove("contact")
    with pytest.raises(SipParseError):
        Dialog.uas(request, "b2")
