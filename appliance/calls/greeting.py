"""The greeting step of a B2BUA call (``callplan.inbound.Greet``).

The box answers the caller itself (``Anchor.answer_here``: the caller's 200 names the media
plane), plays the greeting and collects what the caller dials while it plays and for its
wait, as RFC 4733 events the media plane reports or SIP INFO, against the office's reachable
extensions (``callplan.digits``: resolved as soon as unambiguous, the inter-digit timeout
only when ambiguous, ``#`` ends an entry). An extension dialled rings first, then the rest of
the number's routing (``inbound.dialled``); nothing dialled, or three invalid entries, goes on
with the plan's next step. The caller hears ringback until a phone answers; that phone is
bridged in the box's place (``Anchor.bridge``), and the caller keeps the answer it has.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.callplan import inbound as plan
from appliance.callplan.digits import DigitTree, Invalid, Pending, Resolved
from appliance.callplan.model import Greeting
from appliance.calls.anchor import Anchor, has_sdp
from appliance.errors import MediaError
from appliance.media.dtmf import Digit
from appliance.sip.transaction import TimerHandle

if TYPE_CHECKING:
    from appliance.calls.call import OutsideCall

log = logging.getLogger(__name__)

INTER_DIGIT = 3.0  # seconds the box waits for the next digit of an unfinished entry
MAX_INVALID = 3  # invalid entries before the call goes on as if nothing was dialled
RINGBACK_PASSES = 60  # the ringback tone's repeats (5 s each) while phones ring

# The audio file of a greeting, and of a named tone ("ringback"), made when missing.
Prompts = Callable[[Greeting], Awaitable[Path]]
Tones = Callable[[str], Path]


class Greeter:
    """One call's greeting; see the module docstring."""

    def __init__(self, call: OutsideCall, step: plan.Greet) -> None:
        self.call = call
        self.step = step
        self.digits = ""
        self.invalid = 0
        self.done = False
        self.tree = DigitTree(e.number for e in call.b2bua.routing().directory.extensions
                              .values() if e.reachable)
        self._timer: TimerHandle | None = None

    @staticmethod
    def possible(call: OutsideCall) -> bool:
        """Whether ``call`` can be greeted: anchored, the caller's offer in its INVITE, not
        answered here already, and prompts to play."""
        return call.anchor is not None and call.b2bua.prompts is not None and \
            has_sdp(call.server.request) and not call.here

    def start(self) -> None:
        """Answer, then greet (in the media plane's time)."""
        assert self.call.anchor is not None
        self.call.b2bua.spawn(self._run(self.call.anchor))

    async def _run(self, anchor: Anchor) -> None:
        call = self.call
        b2bua = call.b2bua
        assert b2bua.prompts is not None and b2bua.media is not None
        try:
            prompt = await b2bua.prompts(self.step.greeting)
            sdp = await anchor.answer_here(call.caller, call.server.request.body)
        except MediaError as exc:
            log.warning("calls: call %s not greeted: %s", anchor.id, exc)
            if call.state == "ringing" and not call.here:
                call.advance()  # the routing goes on without the greeting
            return
        if call.state != "ringing":  # the caller gave up meanwhile
            await anchor.end()
            return
        if not call.answered_here(sdp):
            return
        b2bua.media.watch_dtmf(anchor.id, self.heard)
        seconds = await self._play(anchor, prompt)
        if not self.done:
            self._arm((seconds or 0.0) + self.step.greeting.wait, self.over)

    async def _play(self, anchor: Anchor, file: Path, repeat: int = 1) -> float | None:
        assert self.call.b2bua.media is not None
        try:
            return await self.call.b2bua.media.play(anchor.id, self.call.caller.tag, file,
                                                    repeat)
        except MediaError as exc:
            log.warning("calls: call %s: playing %s failed: %s", anchor.id, file.name, exc)
            return None

    async def _ringback(self, anchor: Anchor, file: Path) -> None:
        await self._play(anchor, file, RINGBACK_PASSES)

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
            self._chosen(result.choice.value)
        elif isinstance(result, Pending):
            self._arm(INTER_DIGIT, self._timed_out)
        else:
            self._invalid(result)

    def _timed_out(self) -> None:
        result = self.tree.timeout(self.digits)
        if isinstance(result, Resolved):
            self._chosen(result.choice.value)
        else:
            self._invalid(result)

    def _invalid(self, result: Invalid) -> None:
        self.invalid += 1
        log.info("calls: call %s: %r dialled at the greeting is no extension",
                 self.call.server.request.call_id[:32], result.digits[:8])
        self.digits = ""
        if self.invalid >= MAX_INVALID:
            self.over()
        else:
            self._arm(self.step.greeting.wait, self.over)

    def _chosen(self, extension: str) -> None:
        call = self.call
        b2bua = call.b2bua
        number = b2bua.routing().numbers.get(call.did or "")
        self._finish()
        if number is not None:
            call.steps = list(plan.dialled(number, extension, b2bua.now(), b2bua.routing()))
        log.info("calls: call %s dialled %s at the greeting",
                 call.server.request.call_id[:32], extension)
        call.advance()

    def over(self) -> None:
        """Nothing (valid) dialled in time: the plan's next step."""
        if self.done:
            return
        self._finish()
        self.call.advance()

    def _finish(self) -> None:
        """Stop collecting; the greeting gives way to ringback."""
        self.close()
        call = self.call
        anchor, tones = call.anchor, call.b2bua.tones
        if call.state == "ringing" and anchor is not None and tones is not None:
            call.b2bua.spawn(self._ringback(anchor, tones("ringback")))

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
