"""Voicemail on a fake clock, a fake media plane and fake boxes: a message taken for an
extension (its greeting, the beep, the caller recorded until BYE, ``#`` or the time limit,
then handed on), after ringing it out; a box switched off or unknown takes nothing; an own
greeting is played instead of the built-in one; the mailbox (``*97``) asks the PIN, plays
the messages new first, deletes or keeps them; three wrong PINs hang up; ``*98`` records a
greeting; no PIN: the phone is told, nothing opened."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from appliance.callplan.model import Destination, ExtensionView, Number
from appliance.calls.voicemail import CHOICE_WAIT, MAX_MESSAGE, PIN_WAIT, Taken
from appliance.directory.voicemail import VoicemailBox, VoicemailMessage
from appliance.media.prompts import MAILBOX, VOICEMAIL
from appliance.sip.message import make_request
from tests.unit.test_b2bua import CARRIER, DESK, DID, reply
from tests.unit.test_b2bua_greeting import carrier_ok, greeting_box
from tests.unit.test_b2bua_media import MediaBox
from tests.unit.test_b2bua_recording import RecordingPlane
from tests.unit.test_sip_routing import PHONE


class FakeMailboxes:
    """Boxes by extension, messages in memory, what was taken kept in ``taken_list``."""

    def __init__(self) -> None:
        self.boxes = {"102": VoicemailBox(2), "101": VoicemailBox(1, has_pin=True)}
        self.pins = {1: "1234"}
        self.own: dict[int, Path] = {}
        self.stored: list[VoicemailMessage] = []
        self.taken_list: list[Taken] = []
        self.heard_ids: list[int] = []
        self.removed: list[int] = []

    async def box(self, extension: str) -> VoicemailBox | None:
        return self.boxes.get(extension)

    def greeting_file(self, box: VoicemailBox) -> Path | None:
        return self.own.get(box.employee_id)

    async def check_pin(self, employee_id: int, pin: str) -> bool:
        return self.pins.get(employee_id) == pin

    async def messages(self, employee_id: int) -> list[VoicemailMessage]:
        return [m for m in self.stored if m.employee_id == employee_id]

    def message_file(self, message: VoicemailMessage) -> Path | None:
        return Path(f"/voicemail/{message.path}")

    async def heard(self, message_id: int) -> None:
        self.heard_ids.append(message_id)

    async def remove(self, message_id: int) -> None:
        self.removed.append(message_id)

    def taken(self, taken: Taken) -> None:
        self.taken_list.append(taken)


def message(id_: int, heard: bool, minute: int) -> VoicemailMessage:
    return VoicemailMessage(id_, 1, "101", "0909123456", None, None, f"1/m{id_}.wav", 5.0,
                            80_000, datetime(2026, 12, 1, 9, minute, tzinfo=UTC), heard)


def voicemail_box(destination: str = "voicemail:102",
                  **number: object) -> tuple[MediaBox, RecordingPlane, FakeMailboxes]:
    box, _ = greeting_box()
    plane = RecordingPlane()
    box.b2bua.media = box.plane = plane
    kind, _, target = destination.partition(":")
    box.routing = replace(box.routing, numbers={DID: Number(
        DID, 1, Destination(kind, target), contacts_map=False, to_header=False,
        **number)})  # type: ignore[arg-type, call-overload]
    boxes = FakeMailboxes()
    box.b2bua.mailboxes = boxes
    return box, plane, boxes


def carrier_ack(box: MediaBox) -> None:
    ok = carrier_ok(box)[0]
    box.receive(make_request("ACK", "sip:b2bua@127.0.0.1:5060", via="SIP/2.0/UDP 127.0.0.2:"
                             "5080;branch=z9hG4bK-ca", from_='"Khach Hang" <sip:0909123456@'
                             '127.0.0.2>;tag=outside', to=str(ok.to), call_id="in-call",
                             cseq=1), CARRIER)


def caller_bye(box: MediaBox) -> None:
    ok = carrier_ok(box)[0]
    bye = make_request("BYE", "sip:b2bua@127.0.0.1:5060", via="SIP/2.0/UDP 127.0.0.2:5080;"
                       "branch=z9hG4bK-cb", from_='"Khach Hang" <sip:0909123456@127.0.0.2>;'
                       "tag=outside", to=str(ok.to), call_id="in-call", cseq=2)
    box.receive(bye, CARRIER)


def greeting_of(extension: str) -> str:
    return VOICEMAIL["en"].format(extension=" ".join(extension)) + "-en.wav"


def test_a_message_is_greeted_beeped_recorded_and_handed_on_at_the_callers_bye() -> None:
    box, plane, boxes = voicemail_box()
    box.carrier_call()
    assert carrier_ok(box) and plane.played == [greeting_of("102")]
    assert not plane.recorded and not box.sent(DESK)
    box.timers.advance(4.1)  # the greeting played: the beep, and the recording starts
    assert plane.played[-1] == "beep.wav" and len(plane.recorded) == 1
    caller_bye(box)
    assert 200 in box.answers(CARRIER)
    media_id = plane.recorded[0]
    taken, = boxes.taken_list
    assert (taken.kind, taken.employee_id, taken.extension, taken.caller) == (
        "message", 2, "102", "0909123456")
    assert taken.files == (Path(f"/rec/pcaps/{media_id}-1.pcap"),)
    assert taken.caller_port == 30010 and taken.caller_name == "Khach Hang"
    assert not box.router.registry.live()


def test_hash_skips_the_greeting_and_ends_the_message() -> None:
    box, plane, boxes = voicemail_box()
    box.carrier_call()
    plane.press("#")
    assert plane.played[-1] == "beep.wav" and plane.recorded
    plane.press("#")
    assert box.sent(CARRIER, "BYE") and len(boxes.taken_list) == 1


def test_a_message_ends_at_the_time_limit() -> None:
    box, _plane, boxes = voicemail_box()
    box.carrier_call()
    carrier_ack(box)
    box.timers.advance(4.1)
    box.timers.advance(MAX_MESSAGE - 1)
    assert not box.sent(CARRIER, "BYE")
    box.timers.advance(1.5)
    assert box.sent(CARRIER, "BYE") and boxes.taken_list[0].kind == "message"


def test_a_box_switched_off_or_without_an_employee_takes_nothing() -> None:
    for boxes_of in ({"102": VoicemailBox(2, enabled=False)}, {}):
        box, plane, boxes = voicemail_box()
        boxes.boxes = boxes_of  # type: ignore[assignment]
        box.carrier_call()
        assert not plane.recorded and not boxes.taken_list
        # Never answered: the plan's hang-up follows, a 480.
        assert not carrier_ok(box) and box.answers(CARRIER)[-1] == 480


def test_an_own_greeting_is_played_instead_of_the_built_in_one() -> None:
    box, plane, boxes = voicemail_box()
    boxes.own[2] = Path("/voicemail/2/greeting.wav")
    box.carrier_call()
    assert plane.played == ["greeting.wav"]


def test_nobody_answers_then_the_extensions_voicemail_takes_the_message() -> None:
    box, plane, _boxes = voicemail_box("extension:102", no_answer="voicemail")
    box.carrier_call()
    invite, = box.sent(DESK, "INVITE")
    box.receive(reply(invite, 180, tag="d"), DESK)
    assert not carrier_ok(box)
    box.timers.advance(20.1)  # rang out: CANCEL, then the box answers for the message
    assert box.sent(DESK, "CANCEL") and carrier_ok(box)
    assert plane.played == [greeting_of("102")]
    box.timers.advance(4.1)
    assert plane.recorded


def test_a_box_not_reachable_in_routing_is_skipped() -> None:
    box, plane, _boxes = voicemail_box()
    off = replace(box.routing.directory.extensions["102"], voicemail=False)
    box.routing = replace(box.routing, directory=replace(
        box.routing.directory, extensions={**box.routing.directory.extensions, "102": off}))
    box.carrier_call()
    assert not carrier_ok(box) and not plane.played  # 480, never answered


# -- the mailbox --------------------------------------------------------------------------------

def mailbox_box(*messages: VoicemailMessage) -> tuple[MediaBox, RecordingPlane, FakeMailboxes]:
    box, plane, boxes = voicemail_box()
    boxes.stored = list(messages)
    return box, plane, boxes


def phone_ok(box: MediaBox) -> bool:
    return 200 in box.answers(PHONE)


def said(name: str) -> str:
    return f"{MAILBOX[name]['en']}-en.wav"


def test_the_mailbox_asks_the_pin_then_plays_new_messages_first() -> None:
    box, plane, boxes = mailbox_box(message(1, True, 1), message(2, False, 5),
                                    message(3, False, 3))
    box.dial("*97")
    assert phone_ok(box) and plane.played == [said("pin")]
    plane.press("1234#")
    assert plane.played[-1] == "You have 2 new messages and 1 saved message.-en.wav"
    box.timers.advance(4.1)
    assert plane.played[-1] == "m3.wav"  # the oldest new one first
    box.timers.advance(4.1)
    assert plane.played[-1] == said("choices")
    box.timers.advance(4.0 + CHOICE_WAIT + 0.1)  # nothing pressed: kept, heard, the next
    assert boxes.heard_ids == [3] and plane.played[-1] == "m2.wav"
    plane.press("7")  # deleted while it plays
    assert boxes.removed == [2] and plane.played[-1] == said("deleted")
    box.timers.advance(4.1)
    assert plane.played[-1] == "m1.wav"
    plane.press("1")  # again
    assert plane.played[-1] == "m1.wav" and plane.played.count("m1.wav") == 2
    plane.press("9")
    assert plane.played[-1] == said("no_more") and boxes.heard_ids == [3]  # 1 was heard
    box.timers.advance(4.1)
    assert box.sent(PHONE, "BYE")
    record = box.router.registry.live()
    assert not record


def test_three_wrong_pins_hang_up_and_nothing_is_opened() -> None:
    box, plane, boxes = mailbox_box(message(1, False, 1))
    box.dial("*97")
    for _ in range(3):
        plane.press("9999#")
    assert plane.played[-1] == said("wrong_pin_goodbye")
    assert "m1.wav" not in plane.played
    box.timers.advance(4.1)
    assert box.sent(PHONE, "BYE") and not boxes.heard_ids


def test_a_pin_typed_without_hash_is_checked_after_the_wait() -> None:
    box, plane, _ = mailbox_box()
    box.dial("*97")
    plane.press("1234")
    box.timers.advance(PIN_WAIT + 0.1)
    assert plane.played[-1] == "You have 0 new messages and 0 saved messages.-en.wav"


def test_a_box_without_a_pin_is_not_opened_from_a_phone() -> None:
    box, plane, boxes = mailbox_box()
    boxes.boxes["101"] = VoicemailBox(1)
    box.dial("*97")
    assert plane.played == [said("no_pin")]
    plane.press("1234#")
    assert plane.played == [said("no_pin")]
    box.timers.advance(4.1)
    assert box.sent(PHONE, "BYE")


def test_star_98_records_the_greeting_after_the_pin() -> None:
    box, plane, boxes = mailbox_box()
    box.dial("*98")
    plane.press("1234#")
    assert plane.played[-1] == said("record")
    box.timers.advance(4.1)
    assert plane.played[-1] == "beep.wav" and plane.recorded
    plane.press("#")
    assert box.sent(PHONE, "BYE")
    taken, = boxes.taken_list
    assert (taken.kind, taken.employee_id, taken.extension) == ("greeting", 1, "101")


def test_the_mailbox_needs_media_and_an_assigned_extension() -> None:
    box, _, _ = mailbox_box()
    box.b2bua.mailboxes = None
    box.dial("*97")
    assert box.answers(PHONE)[-1] == 503


def test_an_extension_with_voicemail_gets_internal_calls_through_the_box() -> None:
    box, plane, _boxes = mailbox_box()
    view = box.routing.directory.extensions["102"]
    box.routing = replace(box.routing, directory=replace(box.routing.directory, extensions={
        **box.routing.directory.extensions, "102": replace(view, no_answer="voicemail")}))
    assert isinstance(view, ExtensionView)
    box.dial("102")
    invite, = box.sent(DESK, "INVITE")
    assert invite.call_id != "call"  # a new dialog: the B2BUA's, not the proxy's
    box.timers.advance(20.1)
    assert phone_ok(box) and plane.played == [greeting_of("102")]
