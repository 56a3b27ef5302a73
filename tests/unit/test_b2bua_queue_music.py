"""A caller waiting in a queue hears music, on a fake clock and a fake media plane: the box
answers the caller first and plays the hold music while the members ring with the kept
offer, the member who answers is bridged in its place; after a greeting the queue plays the
music instead of ringback; with no music ready the members ring as before (no answer here);
the plane failing to answer means ringing without music."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from appliance.callplan.model import Destination, Number, Queue
from appliance.sip.message import make_request
from tests.unit.test_b2bua import CARRIER, DESK, DID, SDP, reply
from tests.unit.test_b2bua_greeting import (
    GREETING,
    PHONE_103,
    GreetingPlane,
    carrier_ok,
    greeting_box,
)
from tests.unit.test_b2bua_media import MediaBox

MUSIC = Path("/media/hold/music.wav")


def queue_box(music: Path | None = MUSIC, **number: object) -> tuple[MediaBox, GreetingPlane]:
    box, plane = greeting_box()
    box.routing = replace(
        box.routing, queues={"sales": Queue("sales", ("102", "103"), "ring_all", timeout=20)},
        numbers={DID: Number(DID, 1, Destination("queue", "sales"), contacts_map=False,
                             to_header=False, **number)})  # type: ignore[arg-type]
    box.b2bua.hold_music = lambda: music
    return box, plane


def test_the_caller_is_answered_to_music_and_the_member_bridged_in() -> None:
    box, plane = queue_box()
    box.carrier_call()
    ok, = carrier_ok(box)
    assert ok.body == b"v=0 to-the-caller" and plane.played == ["music.wav"]
    desk, = box.sent(DESK, "INVITE")
    other, = box.sent(PHONE_103, "INVITE")
    assert desk.body == other.body == b"v=0 onward"  # the kept offer, to both members
    box.receive(reply(desk, 200, tag="d", body=SDP, contact="<sip:102@127.0.0.1:6002>"), DESK)
    assert plane.bridged == [SDP.decode()]
    assert {m.body for m in carrier_ok(box)} == {b"v=0 to-the-caller"}  # no second answer
    record = box.router.registry.get("in-call", "outside")
    assert record is not None and record.state == "established"


def test_after_a_greeting_the_queue_plays_music_not_ringback() -> None:
    box, plane = queue_box(greeting=GREETING)
    box.carrier_call()
    assert plane.played == ["greeting-en.wav"]
    box.timers.advance(4.0 + GREETING.wait + 0.1)  # nothing dialled: on to the queue
    assert plane.played[-1] == "music.wav" and "ringback.wav" not in plane.played
    assert box.sent(DESK, "INVITE") and len(carrier_ok(box)) >= 1


def test_without_music_the_members_ring_and_the_caller_is_not_answered() -> None:
    box, plane = queue_box(music=None)
    box.carrier_call()
    assert not carrier_ok(box) and not plane.played
    invite, = box.sent(DESK, "INVITE")
    assert invite.body != b"v=0 onward"


def test_the_plane_failing_to_answer_means_ringing_without_music() -> None:
    box, plane = queue_box()
    plane.fail = "answer_here"
    box.carrier_call()
    assert not carrier_ok(box) and not plane.played
    assert box.sent(DESK, "INVITE") and box.answers(CARRIER)[-1] != 503


def test_the_caller_hanging_up_while_answered_cancels_the_members() -> None:
    box, _plane = queue_box()
    box.carrier_call()
    assert box.sent(DESK, "INVITE")
    ok = carrier_ok(box)[0]
    bye = make_request("BYE", "sip:b2bua@127.0.0.1:5060", via="SIP/2.0/UDP 127.0.0.2:5080;"
                       "branch=z9hG4bK-qb", from_='"Khach Hang" <sip:0909123456@127.0.0.2>;'
                       "tag=outside", to=str(ok.to), call_id="in-call", cseq=2)
    desk, = box.sent(DESK, "INVITE")
    box.receive(reply(desk, 180, tag="d"), DESK)
    box.receive(bye, CARRIER)
    assert box.sent(DESK, "CANCEL") and not box.router.registry.live()
