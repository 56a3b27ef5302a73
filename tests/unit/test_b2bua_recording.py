"""Recorded numbers on a fake clock and a fake media plane: "this call is recorded" is
played before anything rings, recording starts when the phone is bridged in, and the ended
call's files and the caller's port are handed on; an announcement that cannot be played
means no recording."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from appliance.callplan.model import Destination, Greeting, Number
from appliance.calls.recordings import RecordedCall
from appliance.media.plane import PLAIN, HereAnswer, MediaFlags
from appliance.media.prompts import RECORDED
from appliance.sip.message import make_request
from tests.unit.test_b2bua import CARRIER, DESK, DID, SDP, reply
from tests.unit.test_b2bua_greeting import GreetingPlane, carrier_ok, greeting_box
from tests.unit.test_b2bua_media import MediaBox


class RecordingPlane(GreetingPlane):
    """GreetingPlane that answers with a port and records."""

    def __init__(self) -> None:
        super().__init__()
        self.recorded: list[str] = []

    async def answer_here(self, call_id: str, from_tag: str, sdp: str,
                          flags: MediaFlags = PLAIN) -> HereAnswer:
        await super().answer_here(call_id, from_tag, sdp)
        return HereAnswer("v=0\r\nm=audio 30010 RTP/AVP 0\r\n", "v=0 onward")

    async def start_recording(self, call_id: str) -> None:
        self.recorded.append(call_id)

    def recordings(self, call_id: str) -> list[Path]:
        return [Path(f"/rec/pcaps/{call_id}-1.pcap")] if call_id in self.recorded else []


def recorded_box(**number: object) -> tuple[MediaBox, RecordingPlane, list[RecordedCall]]:
    box, _ = greeting_box()
    plane = RecordingPlane()
    box.b2bua.media = box.plane = plane
    box.routing = replace(box.routing, numbers={DID: Number(
        DID, 1, Destination("extension", "102"), contacts_map=False, to_header=False,
        record=True, **number)})  # type: ignore[arg-type]
    handed: list[RecordedCall] = []
    box.b2bua.on_recorded = handed.append
    return box, plane, handed


def test_told_first_then_recorded_from_the_bridge_and_handed_on_at_the_end() -> None:
    box, plane, handed = recorded_box()
    box.carrier_call()
    assert carrier_ok(box) and plane.played == [f"{RECORDED['en']}-en.wav"]
    assert not box.sent(DESK)  # nothing rings while the caller is told
    box.timers.advance(4.1)
    invite, = box.sent(DESK, "INVITE")
    assert not plane.recorded
    box.receive(reply(invite, 200, tag="d", body=SDP, contact="<sip:102@127.0.0.1:6002>"),
                DESK)
    media_id = next(iter(box.b2bua.live)).anchor.id  # type: ignore[union-attr]
    assert plane.recorded == [media_id]
    bye = make_request("BYE", "sip:b2bua@127.0.0.1:5060", via="SIP/2.0/UDP 127.0.0.1:6002;"
                       "branch=z9hG4bK-rb", from_=str(reply(invite, 200, tag="d").to),
                       to=str(invite.from_), call_id=invite.call_id, cseq=2)
    box.receive(bye, DESK)
    assert box.sent(CARRIER, "BYE")
    record = box.router.registry.get("in-call", "outside")
    assert record is not None
    assert handed == [RecordedCall(record.ref, (Path(f"/rec/pcaps/{media_id}-1.pcap"),),
                                   30010)]


def test_the_announcement_in_the_numbers_greeting_language() -> None:
    box, plane, _ = recorded_box(greeting=Greeting("vi", None, 3))
    box.carrier_call()
    assert plane.played == [f"{RECORDED['vi']}-vi.wav"]
    box.timers.advance(4.1)  # then the greeting, in the same answered call
    assert plane.played[-1] == "greeting-vi.wav" and len(
        {m.body for m in carrier_ok(box)}) == 1


def test_no_announcement_no_recording() -> None:
    box, plane, handed = recorded_box()
    plane.fail = "answer_here"
    box.carrier_call()
    invite, = box.sent(DESK, "INVITE")  # the routing goes on, unannounced
    box.receive(reply(invite, 200, tag="d", body=SDP, contact="<sip:102@127.0.0.1:6002>"),
                DESK)
    assert not plane.recorded and not handed
