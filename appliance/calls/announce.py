"""What the box says around a call, and the steps that start its prompts: "this call is
recorded" before anything rings (``Announcer``; recording starts at the first bridge only once
it was played), the caller's rating once the employee hung up (``Rater``: a key 1-5 kept with
the call), a phone bridged in after the box answered (``bridge_in``), and which prompt a plan
step plays (``prompt_step``). The prompts themselves are ``calls/greeting.py``'s."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.callplan import inbound as plan
from appliance.callplan.digits import Choice, DigitTree
from appliance.callplan.model import Greeting
from appliance.calls.anchor import has_sdp
from appliance.calls.greeting import (
    RINGBACK_PASSES,
    Greeter,
    MenuPlayer,
    Prompted,
    answer_here,
    play_to_caller,
    possible,
)
from appliance.calls.legs import Leg
from appliance.errors import MediaError
from appliance.media.prompts import RATING, RECORDED, THANKS
from appliance.sip.message import Response

if TYPE_CHECKING:
    from appliance.calls.call import OutsideCall

log = logging.getLogger(__name__)

RATING_WAIT = 8.0  # seconds after the rating prompt for the caller's key
QUEUE_MUSIC_PASSES = 1000  # the music's repeats while a caller waits: until someone answers


class Announcer(Prompted):
    """"This call is recorded", told before anything rings; the call is recorded only once it
    was played (digits meanwhile count for nothing)."""

    def __init__(self, call: OutsideCall, step: plan.Announce) -> None:
        text = RECORDED.get(step.language, RECORDED["en"])
        super().__init__(call, Greeting(step.language, text), DigitTree(), 0.0)

    def chosen(self, choice: Choice) -> None:
        return None  # nothing can be chosen: the tree is empty

    def silence(self) -> None:
        self.call.recording = True
        self.go_on()

    def invalid(self) -> None:
        return None

    def unavailable(self) -> None:
        log.info("calls: call %s not recorded: the announcement could not be played",
                 self.call.server.request.call_id[:32])
        self.go_on()


def start_recording(call: OutsideCall) -> None:
    """The first bridge of a call that is to be recorded: rtpengine records from now on."""
    anchor, media = call.anchor, call.b2bua.media
    if not call.recording or call.recording_started or anchor is None or media is None:
        return
    call.recording_started = True

    async def start() -> None:
        try:
            await media.start_recording(anchor.id)
        except MediaError as exc:
            log.warning("media: call %s not recorded: %s", anchor.id, exc)
            call.recording_started = False
    call.b2bua.spawn(start())


class Rater(Prompted):
    """The caller rates the call (a key 1-5) once the employee hung up; the rating goes with
    the call into its history; no key, or two wrong ones, end the call unrated."""

    answered = True

    def __init__(self, call: OutsideCall, language: str) -> None:
        self.language = language if language in RATING else "en"
        super().__init__(call, Greeting(self.language, RATING[self.language]),
                         DigitTree(keys="12345"), RATING_WAIT)
        self.wrong = 0

    def alive(self) -> bool:
        return self.call.state == "established"

    def chosen(self, choice: Choice) -> None:
        call = self.call
        if call.record is not None:
            call.record.rating = int(choice.value)
        self.close()
        anchor, prompts = call.anchor, call.b2bua.prompts
        if anchor is None or prompts is None:
            end_after_rating(call)
            return

        async def thank() -> None:
            try:
                file = await prompts(Greeting(self.language, THANKS[self.language]))
            except MediaError:
                end_after_rating(call)
                return
            seconds = await play_to_caller(call, anchor, file)
            self._arm(seconds or 0.0, lambda: end_after_rating(call))
        call.b2bua.spawn(thank())

    def silence(self) -> None:
        self.close()
        end_after_rating(self.call)

    def invalid(self) -> None:
        self.wrong += 1
        if self.wrong >= 2:
            self.silence()
        else:
            self.call.b2bua.spawn(self.play())

    def unavailable(self) -> None:
        self.silence()


def prompt_step(call: OutsideCall, step: plan.Greet | plan.PlayMenu | plan.Announce) -> bool:
    """Answer here and play the announcement, greeting or menu of ``step``; False when it
    cannot be (no media, no offer, a menu gone, greeted already): the plan's next step."""
    if not possible(call):
        log.info("sip: call %s: %s skipped: no media for it", call.server.request.call_id[:32],
                 type(step).__name__)
        return False
    prompted: Prompted
    if isinstance(step, plan.Announce):
        prompted = Announcer(call, step)
    elif isinstance(step, plan.Greet):
        if call.here and isinstance(call.prompted, Greeter):
            return False
        prompted = Greeter(call, step)
    else:
        menu = call.b2bua.routing().menus.get(step.menu)
        if menu is None:
            return False
        prompted = MenuPlayer(call, menu)
    call.prompted = prompted
    prompted.start()
    return True


def rating_starts(call: OutsideCall, leg: Leg) -> bool:
    """``leg`` hung up: when it is the employee of a call to a number that wants ratings,
    the caller stays on and rates the call (``Rater``), if the media plane can ask."""
    number = call.b2bua.routing().numbers.get(call.did or "")
    if leg is not call.callee or call.direction != "in" or number is None or \
            not number.rating or call.caller.dialog is None or call.anchor is None or \
            call.b2bua.prompts is None:
        return False
    call.b2bua.untrack(leg)
    leg.dialog = None  # its BYE was answered: that leg is over
    language = number.greeting.language if number.greeting is not None else "en"
    call.prompted = Rater(call, language)
    call.prompted.start()
    return True


def end_after_rating(call: OutsideCall) -> None:
    """The rating is over (given or not): the caller is hung up and the call ends."""
    if call.state != "established":
        return
    if call.caller.dialog is not None:
        call._bye(call.caller, "")
    call._end("bye")


def bridge_in(call: OutsideCall, leg: Leg, response: Response) -> None:
    """A phone answered a call the box had answered: its answer takes the box's place in
    the media (no new answer to the caller); if the media plane cannot, both hang up."""
    anchor = call.anchor
    if call.prompted is not None:
        call.prompted.close()
    if anchor is None or not has_sdp(response):
        return

    async def bridge() -> None:
        try:
            await anchor.bridge(leg, response.body)
        except MediaError as exc:
            log.warning("media: call %s: bridging failed: %s", anchor.id, exc)
            call.hang_up(0, 'SIP;cause=503;text="Media unavailable"')
            return
        start_recording(call)
    call.b2bua.spawn(bridge())


def wait_in_queue(call: OutsideCall) -> bool:
    """A queue step starts ringing its members: the caller waits to music (the hold music,
    answered here first if the box had not answered yet), or ringback when there is none.
    True when the answer is under way (the rounds ring once it is given), False when the
    rounds may ring now."""
    b2bua, anchor = call.b2bua, call.anchor
    music = b2bua.hold_music() if b2bua.hold_music is not None else None
    if anchor is None or b2bua.media is None:
        return False
    if call.here:
        tone = music or (b2bua.tones("ringback") if b2bua.tones is not None else None)
        if tone is not None:
            passes = QUEUE_MUSIC_PASSES if music is not None else RINGBACK_PASSES
            b2bua.spawn(_play_waiting(call, tone, passes))
        return False
    if music is None or not possible(call):
        return False  # the members ring, the caller hears their ringing

    async def answer_then_ring() -> None:
        try:
            sdp = await anchor.answer_here(call.caller, call.server.request.body)
        except MediaError as exc:
            log.warning("media: call %s: no music while it waits: %s", anchor.id, exc)
            call.advance()  # the members ring without it
            return
        if call.state != "ringing":
            await anchor.end()
            return
        if not answer_here(call, sdp):
            return
        await play_to_caller(call, anchor, music, QUEUE_MUSIC_PASSES)
        call.advance()
    b2bua.spawn(answer_then_ring())
    return True


async def _play_waiting(call: OutsideCall, file: Path, passes: int) -> None:
    anchor = call.anchor
    if anchor is not None:
        await play_to_caller(call, anchor, file, passes)
