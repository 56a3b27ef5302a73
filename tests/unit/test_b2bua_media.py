"""The B2BUA with its media anchored (calls/anchor.py) in a fake media plane: every offer and
answer that crosses a call is rewritten through the plane (calls out, calls in forked to two
phones, early media, hold, a delayed offer answered in the ACK), the connection's codecs
are asked for, the session is deleted at the end, and a plane that fails gives 503 and
sends nothing on."""

from __future__ import annotations

from collections.abc import Coroutine
from dataclasses import replace
from pathlib import Path

from appliance.errors import MediaUnavailableError
from appliance.media.plane import PLAIN, MediaFlags
from appliance.sip.message import Response, make_request
from tests.unit.test_b2bua import (
    APP,
    CARRIER,
    DESK,
    SDP,
    TRUNK,
    Box,
    answer_out,
    our_tag,
    phone_request,
    reply,
)
from tests.unit.test_b2bua_delayed_offer import OFFER, answered_without_sdp
from tests.unit.test_sip_routing import PHONE, do_register


class FakePlane:
    """A MediaPlane that answers at once: each SDP it returns names it (``anchored-N``)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.flags: list[MediaFlags] = []
        self.fail: str | None = None  # the method that raises MediaUnavailableError
        self.deleted: list[str] = []
        self.open: set[str] = set()

    @property
    def sessions(self) -> int:
        return len(self.open)

    @property
    def max_sessions(self) -> int:
        return 10

    def _sdp(self, sdp: str) -> str:
        return sdp.replace("127.0.0.1", f"127.0.0.77 anchored-{len(self.calls)}")

    async def offer(self, call_id: str, from_tag: str, sdp: str,
                    flags: MediaFlags = PLAIN) -> str:
        self.calls.append(("offer", call_id, from_tag, sdp))
        self.flags.append(flags)
        if self.fail == "offer":
            raise MediaUnavailableError("media session limit reached (10)")
        self.open.add(call_id)
        return self._sdp(sdp)

    async def answer(self, call_id: str, from_tag: str, to_tag: str, sdp: str,
                     flags: MediaFlags = PLAIN) -> str:
        self.calls.append(("answer", call_id, from_tag, to_tag, sdp))
        if self.fail == "answer":
            raise MediaUnavailableError("rtpengine is not running")
        return self._sdp(sdp)

    async def answer_here(self, call_id: str, from_tag: str, sdp: str,
                          flags: MediaFlags = PLAIN) -> str:
        raise AssertionError("a B2BUA call is never answered by the box")

    async def delete(self, call_id: str) -> None:
        self.deleted.append(call_id)
        self.open.discard(call_id)

    async def play(self, call_id: str, from_tag: str, file: Path, repeat: int = 1) -> float | None:
        raise AssertionError("nothing is played")

    async def stop(self, call_id: str, from_tag: str) -> None:
        raise AssertionError("nothing is played")


class MediaBox(Box):
    """A Box whose B2BUA anchors calls in a FakePlane; ``hold`` keeps its steps waiting."""

    def __init__(self, *args: object, **plan: object) -> None:
        super().__init__(*args, **plan)  # type: ignore[arg-type]
        self.plane = FakePlane()
        self.b2bua.media = self.plane
        self.b2bua.spawn = self._spawn
        self.hold = False
        self.waiting: list[Coroutine[object, object, None]] = []

    def _spawn(self, work: Coroutine[object, object, None]) -> None:
        self.waiting.append(work)
        if not self.hold:
            self.flush()

    def flush(self) -> None:
        while self.waiting:
            work = self.waiting.pop(0)
            try:
                work.send(None)
            except StopIteration:
                continue
            raise AssertionError("the fake plane never waits")


def anchored(body: bytes) -> bool:
    return b"127.0.0.77 anchored-" in body


def test_a_call_out_sends_the_planes_offer_and_gives_the_phone_the_planes_answer() -> None:
    box = MediaBox()
    out, _ = answer_out(box)
    assert anchored(out.body) and b"127.0.0.1" not in out.body
    assert box.plane.calls[0][0] == "offer"
    media_id, caller_tag = box.plane.calls[0][1], box.plane.calls[0][2]
    assert caller_tag == our_tag(box)  # the phone's party is the box's tag toward it
    kind, same_id, offerer, answerer, sdp = box.plane.calls[1]
    assert (kind, same_id, offerer, answerer) == ("answer", media_id, caller_tag, out.from_.tag)
    assert "5000" in sdp  # the carrier's own answer went to the plane
    ok = next(m for m, p in box.wire.sent if isinstance(m, Response) and p == PHONE
              and m.status == 200)
    assert anchored(ok.body) and b"5000" in ok.body
    # The phone hangs up: both legs end and the media session is deleted.
    box.receive(phone_request("ACK", our_tag(box), 2), PHONE)
    box.receive(phone_request("BYE", our_tag(box), 3), PHONE)
    assert box.sent(CARRIER, "BYE") and box.plane.deleted == [media_id]
    assert box.b2bua.live == set()


def test_the_connections_codecs_are_asked_for_in_the_offer() -> None:
    box = MediaBox(conn=replace(TRUNK, codecs=("PCMA",)))
    box.dial("0912345678")
    ops = box.plane.flags[0].codecs
    assert ops is not None
    # The phone offered PCMU only: the plane transcodes to what the connection takes.
    assert ops.transcode == ("PCMA",) and ops.mask == ("all",)


def test_early_media_from_outside_reaches_the_phone_anchored() -> None:
    box = MediaBox()
    box.dial("0912345678")
    out, = box.sent(CARRIER, "INVITE")
    box.receive(reply(out, 183, body=SDP), CARRIER)
    early = next(m for m, p in box.wire.sent if isinstance(m, Response) and m.status == 183)
    assert anchored(early.body) and box.plane.calls[-1][0] == "answer"


def test_a_carrier_call_forked_to_two_phones_is_offered_once_and_answered_by_the_winner(
        ) -> None:
    box = MediaBox()
    do_register(box.router, box.wire, "102", "<sip:102@127.0.0.1:6002>", DESK)
    do_register(box.router, box.wire, "102", "<sip:102@127.0.0.1:6003>", APP)
    box.carrier_call()
    desk, = box.sent(DESK, "INVITE")
    app, = box.sent(APP, "INVITE")
    assert anchored(desk.body) and desk.body == app.body
    assert [c[0] for c in box.plane.calls] == ["offer"]  # one offer for both phones
    box.receive(reply(desk, 200, tag="d", body=SDP, contact="<sip:102@127.0.0.1:6002>"), DESK)
    _, _, offerer, answerer, _ = box.plane.calls[1]
    assert offerer == box.plane.calls[0][2] and answerer == desk.from_.tag
    ok = next(m for m, p in box.wire.sent if isinstance(m, Response) and p == CARRIER
              and m.status == 200)
    assert anchored(ok.body)


def test_hold_from_the_phone_is_a_new_offer_through_the_plane() -> None:
    box = MediaBox()
    answer_out(box)
    tag = our_tag(box)
    box.receive(phone_request("ACK", tag, 2), PHONE)
    box.receive(phone_request("INVITE", tag, 3, SDP.replace(b"sendrecv", b"sendonly")), PHONE)
    relayed = box.sent(CARRIER, "INVITE")[-1]
    kind, _, sender, sdp = box.plane.calls[-1]
    assert kind == "offer" and sender == tag and "sendonly" in sdp and anchored(relayed.body)
    box.receive(reply(relayed, 200, body=SDP.replace(b"sendrecv", b"recvonly")), CARRIER)
    kind, _, offerer, answerer, _ = box.plane.calls[-1]
    assert (kind, offerer, answerer) == ("answer", tag, relayed.from_.tag)
    held = [m for m, p in box.wire.sent if isinstance(m, Response) and p == PHONE
            and m.cseq.seq == 3 and m.status == 200]
    assert held and anchored(held[0].body) and b"recvonly" in held[0].body


def test_a_delayed_offer_is_the_carriers_offer_and_the_phones_ack_its_answer() -> None:
    box = MediaBox()
    out, ok, tag = answered_without_sdp(box)
    kind, _, sender, sdp = box.plane.calls[0]
    assert kind == "offer" and sender == out.from_.tag and "5000" in sdp
    assert anchored(ok.body) and ok.body != OFFER
    box.receive(phone_request("ACK", tag, 2, SDP), PHONE)
    kind, _, offerer, answerer, _ = box.plane.calls[1]
    assert (kind, offerer, answerer) == ("answer", out.from_.tag, tag)
    carrier_ack, = box.sent(CARRIER, "ACK")
    assert anchored(carrier_ack.body)


def test_no_media_session_is_503_and_nothing_goes_out() -> None:
    box = MediaBox()
    box.plane.fail = "offer"
    box.dial("0912345678")
    assert box.sent(CARRIER) == []
    assert box.answers(PHONE)[-1] == 503
    record = box.router.registry.get("call", "caller")
    assert record is not None and record.state == "ended"
    assert box.b2bua.live == set() and box.b2bua.legs == {}


def test_a_caller_gone_while_the_offer_is_anchored_sends_nothing_out() -> None:
    box = MediaBox()
    box.hold = True
    first_waiting = box.dial("0912345678")
    assert first_waiting is not None and box.waiting
    cancel = make_request("CANCEL", str(first_waiting.uri), via=first_waiting.headers.get("via")
                       or "", from_=str(first_waiting.from_), to=str(first_waiting.to),
                       call_id=first_waiting.call_id, cseq=first_waiting.cseq.seq)
    box.receive(cancel, PHONE)
    assert 487 in box.answers(PHONE)
    box.flush()
    assert box.sent(CARRIER) == [] and box.plane.deleted  # the session made is freed


def test_an_answer_the_plane_cannot_take_hangs_up_the_outside_and_is_503_inside() -> None:
    box = MediaBox()
    box.dial("0912345678")
    out, = box.sent(CARRIER, "INVITE")
    box.plane.fail = "answer"
    box.receive(reply(out, 200, body=SDP), CARRIER)
    assert box.sent(CARRIER, "ACK") and box.sent(CARRIER, "BYE")
    assert box.answers(PHONE)[-1] == 503 and 200 not in box.answers(PHONE)
    assert box.b2bua.live == set()


def test_without_a_media_plane_the_sdp_passes_end_to_end() -> None:
    box = Box()
    out, ok = answer_out(box)
    assert out.body == SDP
    phone_ok = next(m for m, p in box.wire.sent if isinstance(m, Response) and p == PHONE
                    and m.status == 200)
    assert phone_ok.body == ok.body


def test_a_connection_list_with_dtmf_and_codecs_the_box_cannot_transcode_still_calls_out(
        ) -> None:
    box = MediaBox(conn=replace(TRUNK, codecs=("G729", "PCMA", "PCMU", "telephone-event")))
    box.dial("0912345678")
    out, = box.sent(CARRIER, "INVITE")
    ops = box.plane.flags[0].codecs
    assert anchored(out.body) and ops is not None
    assert ops.strip == ("all",) and ops.offer == ("PCMU",)  # the shared one, kept
