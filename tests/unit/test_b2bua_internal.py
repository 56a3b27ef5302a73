"""Calls between extensions that reach a mobile, on a fake clock: the callee's extension
rings for its own time, then their mobile through the connection it names, presenting the
office number with the calling employee's name and the office number in Diversion; the
mobile's answer is bridged to the calling phone; an extension that stays on its phones is
still proxied."""

from __future__ import annotations

from dataclasses import replace

from appliance.callplan.model import DirectoryView
from appliance.sip.message import Response
from tests.unit.test_b2bua import (
    CARRIER,
    DESK,
    DID,
    SDP,
    Box,
    register_102,
    reply,
)
from tests.unit.test_sip_routing import PHONE


def forwarding_box(**fields: object) -> Box:
    """101 calls 102, whose calls go to 84912345678 when its phones do not answer in 5 s."""
    box = Box()
    extensions = dict(box.routing.directory.extensions)
    extensions["102"] = replace(extensions["102"], mobile="84912345678", ring_timeout=5,
                                **{"no_answer": "mobile", **fields})  # type: ignore[arg-type]
    box.routing = replace(box.routing, directory=DirectoryView(extensions))
    register_102(box)
    return box


def test_an_unanswered_extension_forwards_an_internal_call_to_the_mobile() -> None:
    box = forwarding_box()
    box.dial("102")
    desk, = box.sent(DESK, "INVITE")
    assert desk.from_.uri.user == "101" and desk.body == SDP
    assert not box.sent(CARRIER)
    box.receive(reply(desk, 180, tag="d"), DESK)
    assert 180 in [m.status for m, p in box.wire.sent if isinstance(m, Response) and p == PHONE]
    box.timers.advance(5.5)
    assert box.sent(DESK, "CANCEL")
    out = box.sent(CARRIER, "INVITE")[0]
    # Written as the connection wants (intl digits), the office number presented with the
    # caller's name, the office number the forward is made for in Diversion.
    assert out.uri.user == "84912345678" and out.from_.uri.user == "842873001234"
    assert out.from_.display_name == "101"
    assert (out.headers.get("diversion") or "").startswith(f"<sip:{DID}@")
    record = box.router.registry.get("call", "caller")
    assert record is not None and record.direction == "forwarded"
    assert record.caller.extension == "101" and record.callee_extension == "84912345678"
    box.receive(reply(out, 200, tag="m", body=SDP.replace(b"4000", b"5000")), CARRIER)
    ok = [m for m, p in box.wire.sent if isinstance(m, Response) and p == PHONE
          and m.status == 200]
    assert ok and b"5000" in ok[0].body and record.state == "established"


def test_a_busy_mobile_gives_the_phone_busy() -> None:
    box = forwarding_box()
    box.dial("102")
    box.timers.advance(5.5)
    out = box.sent(CARRIER, "INVITE")[0]
    box.receive(reply(out, 486, tag="m"), CARRIER)
    assert box.answers(PHONE)[-1] == 486


def test_the_extension_answering_first_is_bridged_and_the_mobile_never_called() -> None:
    box = forwarding_box()
    box.dial("102")
    desk, = box.sent(DESK, "INVITE")
    box.receive(reply(desk, 200, tag="d", body=SDP, contact="<sip:102@127.0.0.1:6002>"), DESK)
    box.timers.advance(30)
    assert not box.sent(CARRIER)
    assert 200 in box.answers(PHONE)
    record = box.router.registry.get("call", "caller")
    assert record is not None and record.direction == "internal"


def test_an_extension_on_its_phones_alone_is_still_proxied() -> None:
    box = forwarding_box(no_answer="continue")
    box.dial("102")
    desk, = box.sent(DESK, "INVITE")
    # The proxy forwards the phone's own request (same Call-ID), the B2BUA would not.
    assert desk.call_id == "call"
