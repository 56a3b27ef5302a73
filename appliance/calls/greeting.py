"""The steps of a B2BUA call the box answers itself: a greeting (``callplan.inbound.Greet``)
and an IVR menu (``PlayMenu``).

The box answers the caller (``Anchor.answer_here``: the caller's 200 names the media plane),
plays the prompt and collects what the caller dials while it plays and after it, as RFC 4733
events the media plane reports or SIP INFO, in one prefix tree (``callplan.digits``:
resolved as soon as unambiguous, the inter-digit timeout only when ambiguous, ``#`` ends an
entry, an extension wins a tie with a key).

- A greeting's tree holds the office's reachable extensions, and the keys of the menu that
  follows it, if one does. An extension rings first, then the rest of the number's routing
  (``inbound.dialled``); a key goes where the menu sends it; nothing dialled, or three
  invalid entries, goes on with the plan's next step.
- A menu's tree holds its keys (and the extensions, when it allows them). A key or an
  extension goes where it says (``inbound.chosen``; ``repeat`` plays the menu again); no key
  within its timeout, and an invalid entry, are counted apart: the prompt is played again up
  to that count's retries, then the call goes to that count's destination.

The caller hears ringback once a choice was made and phones ring; the phone that answers is
bridged in the box's place (``Anchor.bridge``), and the caller keeps the answer it has.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.callplan import inbound as plan
from appliance.callplan.digits import Choice, DigitTree, Invalid, Pending, Resolved
from appliance.callplan.model import Destination, Greeting, Menu
from appliance.calls import legs
from appliance.calls.anchor import SDP_TYPE, Anchor, has_sdp
from appliance.errors import MediaError
from appliance.media.dtmf import Digit
from appliance.sip.dialog import Dialog
from appliance.sip.transaction import TimerHandle
from appliance.sip.ua import Accepted

if TYPE_CHECKING:
    from appliance.calls.call import OutsideCall

log = logging.getLogger(__name__)

_AUDIO_PORT = re.compile(r"^m=audio (\d+) ", re.M)
INTER_DIGIT = 3.0  # seconds the box waits for the next digit of an unfinished entry
MAX_INVALID = 3  # invalid entries at a greeting before the call goes on
RINGBACK_PASSES = 60  # the ringback tone's repeats (5 s each) while phones ring

# The audio file of a spoken prompt (made when missing), and of a named tone ("ringback").
Prompts = Callable[[Greeting], Awaitable[Path]]
Tones = Callable[[str], Path]


def possible(call: OutsideCall) -> bool:
    """Whether the box can answer ``call`` itself: anchored, prompts to play, and either
    answered here already or the caller's offer in its INVITE."""
    return call.anchor is not None and call.b2bua.prompts is not None and (
        call.here or has_sdp(call.server.request))


class Prompted:
    """A prompt played to a caller the box answered, and the digits dialled meanwhile."""

    def __init__(self, call: OutsideCall, speech: Greeting, tree: DigitTree,
                 wait: float) -> None:
        self.call = call
        self.speech = speech
        self.tree = tree
        self.wait = wait  # seconds after the prompt for a first digit
        self.digits = ""
        self.done = False
        self.prompt: Path | None = None
        self.file: Path | None = None  # a recorded prompt, played instead of the speech
        self._timer: TimerHandle | None = None

    def start(self) -> None:
        """Answer (unless answered already), then play (in the media plane's time)."""
        assert self.call.anchor is not None
        self.call.b2bua.spawn(self._run(self.call.anchor))

    async def _run(self, anchor: Anchor) -> None:
        call = self.call
        b2bua = call.b2bua
        assert b2bua.prompts is not None and b2bua.media is not None
        try:
            prompt = self.file if self.file is not None else await b2bua.prompts(self.speech)
            sdp = None if call.here or self.answered else await anchor.answer_here(
                call.caller, call.server.request.body)
        except MediaError as exc:
            log.warning("calls: call %s: no prompt: %s", anchor.id, exc)
            if self.alive() and not self.done:
                self.unavailable()
            return
        if not self.alive():  # the caller gave up meanwhile
            if sdp is not None:
                await anchor.end()
            return
        if sdp is not None and not answer_here(call, sdp):
            return
        b2bua.media.watch_dtmf(anchor.id, self.heard)
        self.prompt = prompt
        await self.play()

    async def play(self) -> None:
        """Play the prompt (again); the wait for a digit starts once it ended."""
        anchor = self.call.anchor
        if self.done or anchor is None or self.prompt is None:
            return
        seconds = await play_to_caller(self.call, anchor, self.prompt)
        if not self.done:
            self._arm((seconds or 0.0) + self.wait, self.silence)

    def heard(self, digit: Digit) -> None:
        """A digit the media plane reported: the caller's only (the box's side has none)."""
        if digit.tag in (self.call.caller.tag, ""):
            self.key(digit.key)

    def key(self, key: str) -> None:
        """One key the caller pressed (RFC 4733 or SIP INFO)."""
        if self.done:
            return
        self.digits += key
        result = self.tree.feed(self.digits)
        if isinstance(result, Resolved):
            self._resolved(result.choice)
        elif isinstance(result, Pending):
            self._arm(INTER_DIGIT, self._timed_out)
        else:
            self._invalid(result)

    def _timed_out(self) -> None:
        result = self.tree.timeout(self.digits)
        if isinstance(result, Resolved):
            self._resolved(result.choice)
        else:
            self._invalid(result)

    def _resolved(self, choice: Choice) -> None:
        self.digits = ""
        log.info("calls: call %s: %s %s chosen", self.call.server.request.call_id[:32],
                 choice.kind, choice.value)
        self.chosen(choice)

    def _invalid(self, result: Invalid) -> None:
        log.info("calls: call %s: %r is no choice", self.call.server.request.call_id[:32],
                 result.digits[:8])
        self.digits = ""
        self.invalid()

    # -- what each kind of prompt does ----------------------------------------------------------

    answered = False  # the caller was answered before this prompt (a rating, after the call)

    def alive(self) -> bool:
        """Whether the call still waits on this prompt."""
        return self.call.state == "ringing"

    def chosen(self, choice: Choice) -> None:
        """The caller chose ``choice``."""
        raise NotImplementedError

    def silence(self) -> None:
        """Nothing dialled within the wait after the prompt."""
        raise NotImplementedError

    def invalid(self) -> None:
        """An entry that is no choice."""
        raise NotImplementedError

    def unavailable(self) -> None:
        """The prompt cannot be played (the media plane, or the speech, failed)."""
        raise NotImplementedError

    # -- going on -------------------------------------------------------------------------------

    def go_on(self, steps: tuple[plan.Step, ...] | None = None) -> None:
        """Stop collecting and carry on with ``steps`` (None: the plan's own next step)."""
        self.close()
        call = self.call
        if steps is not None:
            call.steps = list(steps)
        if call.state != "ringing":
            return
        anchor, tones = call.anchor, call.b2bua.tones
        if call.here and anchor is not None and tones is not None and steps_ring(call.steps):
            call.b2bua.spawn(_ringback(call, anchor, tones("ringback")))
        call.advance()

    def close(self) -> None:
        """No more digits or timers (the call goes on, or ended)."""
        if self.done:
            return
        self.done = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        media, anchor = self.call.b2bua.media, self.call.anchor
        if media is not None and anchor is not None:
            media.watch_dtmf(anchor.id, None)

    def _arm(self, seconds: float, then: Callable[[], None]) -> None:
        layer = self.call.b2bua.layer
        assert layer is not None
        if self._timer is not None:
            self._timer.cancel()
        self._timer = layer.timers.call_later(seconds, then)

    def number_steps(self, dest: Destination) -> tuple[plan.Step, ...]:
        """The steps a destination gives for this call's office number."""
        b2bua = self.call.b2bua
        number = b2bua.routing().numbers.get(self.call.did or "")
        if number is None:
            return (plan.HangUp(480, "Temporarily Unavailable", "end"),)
        return plan.chosen(number, dest, b2bua.now(), b2bua.routing())


class Greeter(Prompted):
    """A number's greeting; see the module docstring."""

    def __init__(self, call: OutsideCall, step: plan.Greet) -> None:
        routing = call.b2bua.routing()
        after = next((s for s in call.steps if not isinstance(s, plan.Greet)), None)
        self.menu = routing.menus.get(after.menu) if isinstance(after, plan.PlayMenu) else None
        extensions = [e.number for e in routing.directory.extensions.values() if e.reachable]
        super().__init__(call, step.greeting, DigitTree(
            extensions, self.menu.keys if self.menu is not None else ()), step.greeting.wait)
        self.file = uploaded(call, step.greeting.audio)
        self.invalids = 0

    def chosen(self, choice: Choice) -> None:
        if choice.kind == "key" and self.menu is not None:
            dest = self.menu.keys[choice.value]
            if dest.kind == "repeat":  # the menu itself comes next anyway
                self.go_on()
                return
            self.go_on(self.number_steps(dest))
            return
        b2bua = self.call.b2bua
        number = b2bua.routing().numbers.get(self.call.did or "")
        self.go_on(None if number is None else plan.dialled(number, choice.value, b2bua.now(),
                                                            b2bua.routing()))

    def silence(self) -> None:
        self.go_on()

    def invalid(self) -> None:
        self.invalids += 1
        if self.invalids >= MAX_INVALID:
            self.go_on()
        else:
            self._arm(self.wait, self.silence)

    def unavailable(self) -> None:
        self.go_on()  # the routing goes on without the greeting


class MenuPlayer(Prompted):
    """An IVR menu; see the module docstring."""

    def __init__(self, call: OutsideCall, menu: Menu) -> None:
        extensions = [e.number for e in call.b2bua.routing().directory.extensions.values()
                      if e.reachable] if menu.extensions else []
        super().__init__(call, Greeting(menu.language, menu.text), DigitTree(
            extensions, menu.keys), menu.timeout)
        self.menu = menu
        self.file = uploaded(call, menu.audio)
        self.timeouts = 0
        self.invalids = 0

    def chosen(self, choice: Choice) -> None:
        if choice.kind == "extension":
            self.go_on(self.number_steps(Destination("extension", choice.value)))
            return
        dest = self.menu.keys[choice.value]
        if dest.kind == "repeat":
            self.call.b2bua.spawn(self.play())
            return
        self.go_on(self.number_steps(dest))

    def silence(self) -> None:
        self.timeouts += 1
        if self.timeouts > self.menu.timeout_retries:
            self.go_on(self.number_steps(self.menu.timeout_destination))
        else:
            self.call.b2bua.spawn(self.play())

    def invalid(self) -> None:
        self.invalids += 1
        if self.invalids > self.menu.invalid_retries:
            self.go_on(self.number_steps(self.menu.invalid_destination))
        else:
            self.call.b2bua.spawn(self.play())

    def unavailable(self) -> None:
        self.go_on(self.number_steps(self.menu.timeout_destination))


def uploaded(call: OutsideCall, name: str | None) -> Path | None:
    """An uploaded prompt's WAV (``media.uploads``), when there is one and it exists; None:
    the text is spoken instead."""
    folder = call.b2bua.prompt_folder
    if name is None or folder is None:
        return None
    path = folder / name
    return path.resolve() if path.is_file() else None


def answer_here(call: OutsideCall, sdp: bytes) -> bool:
    """The box answers ``call``'s caller itself with ``sdp``; False when the call cannot go
    on (no Contact to make the dialog with: it is ended)."""
    b2bua = call.b2bua
    assert b2bua.layer is not None
    request = call.server.request
    ok = legs.answer(b2bua.locals, call.server, 200, None, call.caller.tag)
    ok.body = sdp
    ok.headers.add("Content-Type", SDP_TYPE)
    ok.headers.add("Allow", legs.ALLOW)
    try:
        call.caller.dialog = Dialog.uas(request, call.caller.tag)
    except Exception:  # no Contact: no dialog to go on in
        call.abort(400, "Missing Contact", "", "no contact")
        return False
    call.here, call.offer = True, request.body
    found = _AUDIO_PORT.search(sdp.decode("utf-8", "replace"))
    call.caller_port = int(found.group(1)) if found else None  # the box's port for the caller
    call.caller.accepted = Accepted(b2bua.layer, call.server, ok,
                                    lambda: call.hang_up(0, 'SIP;cause=408;text="No ACK"'))
    b2bua.answered(call)
    return True


def steps_ring(steps: list[plan.Step]) -> bool:
    """Whether the next step rings someone (so the caller should hear ringback; a queue
    plays its own waiting music, ``announce.wait_in_queue``)."""
    return bool(steps) and isinstance(steps[0], (plan.RingExtension, plan.ForwardOut))


async def play_to_caller(call: OutsideCall, anchor: Anchor, file: Path,
                         repeat: int = 1) -> float | None:
    """Play ``file`` to the caller; the seconds one pass lasts (None when it failed)."""
    assert call.b2bua.media is not None
    try:
        return await call.b2bua.media.play(anchor.id, call.caller.tag, file, repeat)
    except MediaError as exc:
        log.warning("calls: call %s: playing %s failed: %s", anchor.id, file.name, exc)
        return None


async def _ringback(call: OutsideCall, anchor: Anchor, file: Path) -> None:
    await play_to_caller(call, anchor, file, RINGBACK_PASSES)
