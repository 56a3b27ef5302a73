"""Rating after the call on a fake clock and a fake media plane: when the employee hangs up a
call to a number that wants ratings, the caller stays on, is asked, and the key (1-5) goes
with the call into its history; no key, or two wrong ones, end it unrated; a number without
ratings ends both legs at once."""

from __future__ import annotations

from dataclasses import replace

from appliance.callplan.model import Destination, Greeting, Number
from appliance.media.prompts import RATING, THANKS
from appliance.sip.message import Request, make_request
from tests.unit.test_b2bua import CARRIER, DESK, DID, SDP, reply
from tests.unit.test_b2bua_greeting import GreetingPlane, greeting_box
from tests.unit.test_b2bua_media import MediaBox


def rated_box(rating: bool = True) -> tuple[MediaBox, GreetingPlane]:
    box, plane = greeting_box()
    box.routing = replace(box.routing, numbers={DID: Number(
        DID, 1, Destination("extension", "102"), contacts_map=False, to_header=False,
        rating=rating, greeting=Greeting("vi", None, 3, on=False))})
    return box, plane


def talk_then_employee_hangs_up(box: MediaBox) -> Request:
    box.carrier_call()
    invite, = box.sent(DESK, "INVITE")
    box.receive(reply(invite, 200, tag="d", body=SDP, contact="<sip:102@127.0.0.1:6002>"),
                DESK)
    bye = make_request("BYE", "sip:b2bua@127.0.0.1:5060", via="SIP/2.0/UDP 127.0.0.1:6002;"
                       "branch=z9hG4bK-eb", from_=str(reply(invite, 200, tag="d").to),
                       to=str(invite.from_), call_id=invite.call_id, cseq=2)
    box.receive(bye, DESK)
    return invite


def record_of(box: MediaBox):  # type: ignore[no-untyped-def]
    return box.router.registry.get("in-call", "outside")


def test_the_caller_rates_after_the_employee_hung_up() -> None:
    box, plane = rated_box()
    talk_then_employee_hangs_up(box)
    assert not box.sent(CARRIER, "BYE")  # the caller stays on
    assert plane.played == [f"{RATING['vi']}-vi.wav"]
    plane.press("4")
    assert record_of(box).rating == 4
    assert plane.played[-1] == f"{THANKS['vi']}-vi.wav"
    box.timers.advance(4.1)  # the thanks, then the caller is hung up
    assert box.sent(CARRIER, "BYE") and record_of(box).state == "ended"


def test_no_key_or_two_wrong_ones_end_it_unrated() -> None:
    box, plane = rated_box()
    talk_then_employee_hangs_up(box)
    box.timers.advance(4.0 + 8.1)  # the 4 s prompt and the 8 s wait
    assert box.sent(CARRIER, "BYE") and record_of(box).rating is None
    box, plane = rated_box()
    talk_then_employee_hangs_up(box)
    plane.press("9")
    assert not box.sent(CARRIER, "BYE")  # asked again
    plane.press("0")
    assert box.sent(CARRIER, "BYE") and record_of(box).rating is None


def test_a_number_without_ratings_ends_both_legs_at_once() -> None:
    box, plane = rated_box(rating=False)
    talk_then_employee_hangs_up(box)
    assert box.sent(CARRIER, "BYE") and not plane.played
