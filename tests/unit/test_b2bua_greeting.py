"""The greeting step on a fake clock and a fake media plane: the box answers the carrier's
call itself and plays the greeting; digits (RFC 4733 reports, SIP INFO) resolve against the
extensions; the dialled phone is offered the kept offer and bridged in when it answers,
with no new answer to the caller; ambiguous entries wait the inter-digit time; nothing
dialled, or three invalid entries, go on with the routing; a greeting that cannot be had
skips to the routing; the caller hanging up during it ends everything."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from appliance.callplan.model import Destination, DirectoryView, ExtensionView, Greeting, Number
from appliance.calls.greeting import INTER_DIGIT
from appliance.errors import MediaUnavailableError
from appliance.media.dtmf import Digit
from appliance.media.plane import PLAIN, HereAnswer, MediaFlags
from appliance.sip.message import Request, Response, make_request
from appliance.sip.transaction import Peer
from tests.unit.test_b2bua import (
    CARRIER,
    DESK,
    DID,
    SDP,
    answer_out,
    our_tag,
    phone_request,
    reply,
)
from tests.unit.test_b2bua_media import FakePlane, MediaBox
from tests.unit.test_sip_routing import PHONE, do_register

PHONE_103 = Peer("udp", "127.0.0.1", 6004)
GREETING = Greeting("en", None, wait=5)


class GreetingPlane(FakePlane):
    """FakePlane that answers calls here, plays (each prompt lasts 4 s) and reports DTMF."""

    def __init__(self) -> None:
        super().__init__()
        self.watching: dict[str, object] = {}
        self.played: list[str] = []
        self.bridged: list[str] = []
        self.caller_tag = ""

    async def answer_here(self, call_id: str, from_tag: str, sdp: str,
                          flags: MediaFlags = PLAIN) -> HereAnswer:
        self.calls.append(("answer_here", call_id, from_tag, sdp))
        self.caller_tag = from_tag
        if self.fail == "answer_here":
            raise MediaUnavailableError("media session limit reached (10)")
        self.open.add(call_id)
        return HereAnswer("v=0 to-the-caller", "v=0 onward")

    async def bridge_here(self, call_id: str, from_tag: str, sdp: str) -> None:
        self.bridged.append(sdp)

    async def play(self, call_id: str, from_tag: str, file: Path, repeat: int = 1) -> float | None:
        self.played.append(file.name)
        return 4.0

    async def stop(self, call_id: str, from_tag: str) -> None:
        return None

    def watch_dtmf(self, call_id: str, handler: object) -> None:
        if handler is None:
            self.watching.pop(call_id, None)
        else:
            self.watching[call_id] = handler

    def press(self, keys: str, tag: str | None = None) -> None:
        """The caller (its party in the media session) presses ``keys``."""
        for key in keys:
            for call_id, handler in list(self.watching.items()):
                handler(Digit(call_id, self.caller_tag if tag is None else tag,
                              key))  # type: ignore[operator]


def greeting_box(destination: str = "102", **number: object) -> tuple[MediaBox, GreetingPlane]:
    """The carrier's number greets, then rings ``destination``; 102, 103 and 1030 exist."""
    box = MediaBox(number=Number(DID, 1, Destination("extension", destination),
                                 contacts_map=False, to_header=False, greeting=GREETING,
                                 **number))  # type: ignore[arg-type]
    plane = GreetingPlane()
    box.b2bua.media = box.plane = plane

    async def prompt(greeting: Greeting) -> Path:
        return Path(f"/prompts/{greeting.text or 'greeting'}-{greeting.language}.wav")
    box.b2bua.prompts = prompt
    box.b2bua.tones = lambda name: Path(f"/prompts/{name}.wav")
    extensions = dict(box.routing.directory.extensions)
    extensions["1030"] = ExtensionView("1030", 9, True, "both")
    box.routing = replace(box.routing, directory=DirectoryView(extensions))
    do_register(box.router, box.wire, "102", "<sip:102@127.0.0.1:6002>", DESK)
    do_register(box.router, box.wire, "103", "<sip:103@127.0.0.1:6004>", PHONE_103)
    box.wire.sent.clear()
    return box, plane


def carrier_ok(box: MediaBox) -> list[Response]:
    return [m for m, p in box.wire.sent if isinstance(m, Response) and p == CARRIER
            and m.status == 200]


def test_the_box_answers_greets_and_the_dialled_phone_is_bridged_in() -> None:
    box, plane = greeting_box()
    box.carrier_call()
    ok, = carrier_ok(box)
    assert ok.body == b"v=0 to-the-caller" and ok.headers.get("content-type") == \
        "application/sdp"
    assert plane.played == ["greeting-en.wav"] and not box.sent(DESK)
    plane.press("103")
    # 103 is also the start of 1030: the entry waits the inter-digit time, then resolves.
    assert not box.sent(PHONE_103, "INVITE")
    box.timers.advance(INTER_DIGIT + 0.1)
    invite, = box.sent(PHONE_103, "INVITE")
    assert invite.body == b"v=0 onward" and invite.to.uri.user == "103"
    assert plane.played[-1] == "ringback.wav"
    box.receive(reply(invite, 180, tag="p"), PHONE_103)
    box.receive(reply(invite, 200, tag="p", body=SDP, contact="<sip:103@127.0.0.1:6004>"),
                PHONE_103)
    assert plane.bridged == [SDP.decode()]
    # No new answer to the caller: the box's own 200 alone (retransmitted until the ACK).
    assert {m.body for m in carrier_ok(box)} == {b"v=0 to-the-caller"}
    assert {m.status for m, p in box.wire.sent if isinstance(m, Response) and p == CARRIER} \
        == {100, 200}
    record = box.router.registry.get("in-call", "outside")
    assert record is not None and record.state == "established"
    assert record.callee_extension == "103"


def test_an_unambiguous_extension_rings_on_its_last_digit() -> None:
    box, plane = greeting_box()
    box.carrier_call()
    plane.press("1030")
    assert not plane.watching  # resolved on its last digit: collecting stopped
    # 1030 has no contact: the routing goes on to the number's destination, 102.
    assert box.sent(DESK, "INVITE")


def test_nothing_dialled_goes_on_after_the_prompt_and_the_wait() -> None:
    box, _plane = greeting_box()
    box.carrier_call()
    box.timers.advance(8.9)
    assert not box.sent(DESK)
    box.timers.advance(0.2)  # the 4 s prompt and the 5 s wait
    invite, = box.sent(DESK, "INVITE")
    assert invite.body == b"v=0 onward"


def test_three_invalid_entries_go_on_with_the_routing() -> None:
    box, plane = greeting_box()
    box.carrier_call()
    plane.press("9")
    plane.press("5")
    assert not box.sent(DESK)
    plane.press("#")  # an empty entry is invalid too
    assert box.sent(DESK, "INVITE")


def test_a_digit_from_the_box_side_is_not_the_callers() -> None:
    box, plane = greeting_box()
    box.carrier_call()
    plane.press("1030", tag="appliance-here")
    assert not box.sent(PHONE_103) and plane.watching


def test_sip_info_dials_too() -> None:
    box, _plane = greeting_box()
    box.carrier_call()
    tag = carrier_ok(box)[0].to.tag
    for cseq, key in enumerate("103#", start=2):
        info = make_request("INFO", "sip:b2bua@127.0.0.1:5060", via="SIP/2.0/UDP "
                            f"127.0.0.2:5080;branch=z9hG4bK-info{cseq}",
                            from_='<sip:0909123456@127.0.0.2>;tag=outside',
                            to=f"<sip:{DID}@127.0.0.1>;tag={tag}", call_id="in-call",
                            cseq=cseq, body=f"Signal={key}\r\nDuration=160\r\n".encode(),
                            content_type="application/dtmf-relay")
        box.receive(info, CARRIER)
    assert box.sent(PHONE_103, "INVITE")  # "#" ended the entry: no inter-digit wait


def test_no_greeting_without_the_media_plane_answering() -> None:
    box, plane = greeting_box()
    plane.fail = "answer_here"
    box.carrier_call()
    assert not carrier_ok(box) and box.sent(DESK, "INVITE")  # straight to the routing


def test_the_caller_hanging_up_during_the_greeting_ends_the_call() -> None:
    box, plane = greeting_box()
    box.carrier_call()
    tag = carrier_ok(box)[0].to.tag
    bye = make_request("BYE", "sip:b2bua@127.0.0.1:5060", via="SIP/2.0/UDP 127.0.0.2:5080;"
                       "branch=z9hG4bK-bye", from_='<sip:0909123456@127.0.0.2>;tag=outside',
                       to=f"<sip:{DID}@127.0.0.1>;tag={tag}", call_id="in-call", cseq=2)
    box.receive(bye, CARRIER)
    assert 200 in [m.status for m, p in box.wire.sent if isinstance(m, Response)
                   and p == CARRIER and m.cseq.method == "BYE"]
    assert not plane.watching and plane.deleted
    box.timers.advance(30)
    assert not box.sent(DESK) and not box.sent(CARRIER, "BYE")


def test_nobody_answering_after_the_greeting_hangs_the_caller_up() -> None:
    box, _plane = greeting_box(ring_timeout=10)
    box.carrier_call()
    box.timers.advance(9.1)
    invite, = box.sent(DESK, "INVITE")
    box.receive(reply(invite, 180, tag="d"), DESK)
    box.timers.advance(10.1)
    assert box.sent(DESK, "CANCEL")
    bye, = box.sent(CARRIER, "BYE")  # answered before: a BYE, not a final answer
    assert isinstance(bye, Request) and bye.call_id == "in-call"


def test_hold_plays_music_to_the_party_held_until_it_is_taken_off_hold() -> None:
    box, plane = greeting_box()
    stopped: list[str] = []

    async def stop(call_id: str, from_tag: str) -> None:
        stopped.append(from_tag)
    plane.stop = stop  # type: ignore[method-assign]
    played_to: list[str] = []
    original = plane.play

    async def play(call_id: str, from_tag: str, file: Path, repeat: int = 1) -> float | None:
        played_to.append(from_tag)
        return await original(call_id, from_tag, file, repeat)
    plane.play = play  # type: ignore[method-assign]
    box.b2bua.hold_music = lambda: Path("/prompts/hold.wav")
    answer_out(box)  # 101 calls out; the carrier answers
    tag = our_tag(box)
    box.receive(phone_request("ACK", tag, 2), PHONE)
    box.receive(phone_request("INVITE", tag, 3, SDP.replace(b"sendrecv", b"sendonly")), PHONE)
    relayed = box.sent(CARRIER, "INVITE")[-1]
    assert not plane.played  # nothing until the hold is accepted
    box.receive(reply(relayed, 200, body=SDP.replace(b"sendrecv", b"recvonly")), CARRIER)
    # The carrier's party (its leg's tag in the media session) hears the music.
    assert plane.played == ["hold.wav"] and played_to == [relayed.from_.tag]
    box.receive(phone_request("INVITE", tag, 4, SDP), PHONE)  # back: sendrecv
    back = box.sent(CARRIER, "INVITE")[-1]
    box.receive(reply(back, 200, body=SDP), CARRIER)
    assert stopped == [relayed.from_.tag] and plane.played == ["hold.wav"]


def test_after_the_greeting_a_forward_through_a_connection_gets_its_codec_policy() -> None:
    """The kept offer is rtpengine's plain one: a connection with a codec policy is offered
    again under it (rtpengine keeps the caller's ports; tests/integration/test_media_rtpengine
    checks the media)."""
    box, plane = greeting_box(destination="102")
    box.routing = replace(box.routing, connections={1: replace(
        box.routing.connections[1], codecs=("PCMA",))}, numbers={DID: Number(
            DID, 1, Destination("outside", "+84909123456"), contacts_map=False,
            to_header=False, greeting=GREETING)})
    box.carrier_call()
    box.timers.advance(4.0 + GREETING.wait + 0.1)  # nothing dialled: the forward
    out, = box.sent(CARRIER, "INVITE")
    ops = plane.flags[-1].codecs
    assert ops is not None and ops.transcode == ("PCMA",)  # the caller offered PCMU only
    assert out.body != b"v=0 onward"  # not the plain kept offer
