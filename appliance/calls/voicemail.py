"""Voicemail, the engine's part: the box takes a message for an employee nobody answered
(``callplan.inbound.Voicemail``), and an employee, from their own phone, listens to their
messages (``*97``) or records their own greeting (``*98``), after their PIN.

Taking a message (``MessageTaker``): the box answers (unless it did already), plays the box's
own greeting, or the built-in one in the box's language; ``#`` skips it. Then a beep, and
rtpengine records what the caller sends until the caller hangs up, presses ``#``, or
``MAX_MESSAGE`` seconds pass. After the call, ``Mailboxes.taken`` turns the pcap into the
message (``calls/voicemail_store.py``: too short or silent ones are dropped). A box switched
off, or gone with its employee, takes nothing: the plan's next step (its hang-up) follows.

The mailbox (``MailboxCall``): the box answers the phone and asks for the PIN (digits then
``#``; three wrong ones, or silence, hang up). ``*97`` tells how many new and saved messages
there are, then plays each, new ones first and oldest first; after each, ``7`` deletes it,
``1`` plays it again, ``9`` (or nothing) keeps it and goes on; a message played is heard.
``*98`` records the greeting after a beep until ``#`` or hang-up, kept by ``Mailboxes``.
A box without a PIN cannot be opened from a phone: the caller is told so.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from appliance.callplan import inbound as plan
from appliance.callplan.digits import Choice, DigitTree
from appliance.callplan.model import Greeting
from appliance.calls.greeting import Prompted, play_to_caller
from appliance.errors import MediaError
from appliance.media import prompts as texts

if TYPE_CHECKING:
    from appliance.calls.call import OutsideCall
    from appliance.directory.voicemail import VoicemailBox, VoicemailMessage

log = logging.getLogger(__name__)

MAX_MESSAGE = 180.0  # seconds a caller may speak
MAX_GREETING = 60.0  # seconds of an own greeting recorded by phone
PIN_WAIT = 10.0  # seconds for the PIN after its prompt
CHOICE_WAIT = 6.0  # seconds for 7/1/9 after a message
MAX_PIN_TRIES = 3
CODES = {"*97": "listen", "*98": "greeting"}


@dataclass(frozen=True)
class Taken:
    """What a call recorded for a box, once its media ended: a message (``kind``
    "message", from ``caller``) or the holder's own greeting ("greeting")."""

    kind: str
    ref: str
    files: tuple[Path, ...]
    caller_port: int | None
    employee_id: int
    extension: str
    caller: str = ""
    caller_name: str | None = None


class Mailboxes(Protocol):
    """The voicemail boxes as the engine uses them (the store, on worker threads)."""

    async def box(self, extension: str) -> VoicemailBox | None:
        """The box of the active employee holding ``extension``, or None."""

    def greeting_file(self, box: VoicemailBox) -> Path | None:
        """The box's own greeting WAV, when it has one that exists."""

    async def check_pin(self, employee_id: int, pin: str) -> bool:
        """Whether ``pin`` opens the employee's box."""

    async def messages(self, employee_id: int) -> list[VoicemailMessage]:
        """The employee's messages, newest first."""

    def message_file(self, message: VoicemailMessage) -> Path | None:
        """A message's WAV, when it exists inside the voicemail folder."""

    async def heard(self, message_id: int) -> None:
        """A message was played to its holder."""

    async def remove(self, message_id: int) -> None:
        """A message deleted by its holder (row and file)."""

    def taken(self, taken: Taken) -> None:
        """A recorded message or greeting, to be converted and kept (in the background)."""


def _ref(call: OutsideCall) -> str:
    """The call's history ref (its media id when it has no record)."""
    if call.record is not None:
        return call.record.ref
    return call.anchor.id if call.anchor is not None else "call"


def spoken(extension: str) -> str:
    """An extension read digit by digit ("1 0 1"), as speech reads it best."""
    return " ".join(extension)


class _Recorder(Prompted):
    """A prompt, then a beep, then the caller recorded for ``limit`` s (``#`` ends)."""

    def __init__(self, call: OutsideCall, speech: Greeting, limit: float) -> None:
        super().__init__(call, speech, DigitTree(), 0.0)
        self.limit = limit
        self.recording = False

    def chosen(self, choice: Choice) -> None:
        return None  # keys are read by ``key``

    def invalid(self) -> None:
        return None

    def key(self, key: str) -> None:
        if self.done or key != "#":
            return
        if self.recording:
            self.finish()
        else:
            self.silence()  # the greeting skipped

    def silence(self) -> None:
        """The prompt ended (or was skipped): the beep, and the recording starts."""
        if self.recording or self.done:
            return
        self.recording = True
        call, media, anchor = self.call, self.call.b2bua.media, self.call.anchor
        assert media is not None and anchor is not None

        async def record() -> None:
            tones = call.b2bua.tones
            with contextlib.suppress(MediaError):  # nothing was playing
                await media.stop(anchor.id, call.caller.tag)
            if tones is not None:
                await play_to_caller(call, anchor, tones("beep"))
            try:
                await media.start_recording(anchor.id)
            except MediaError as exc:
                log.warning("voicemail: call %s not recorded: %s", anchor.id, exc)
                self.finish()
                return
            self.recorded()
            self._arm(self.limit, self.finish)
        call.b2bua.spawn(record())

    def recorded(self) -> None:
        """The recording runs: what the call's end hands on."""
        raise NotImplementedError

    def finish(self) -> None:
        """``#`` or the time limit: the caller is hung up, what was recorded is kept."""
        self.close()
        self.call.abort(480, None, 'SIP;cause=200;text="Message taken"', "voicemail")


class MessageTaker(_Recorder):
    """A message for ``step.extension``'s holder; see the module docstring."""

    def __init__(self, call: OutsideCall, step: plan.Voicemail) -> None:
        super().__init__(call, Greeting("en", ""), MAX_MESSAGE)
        self.extension = step.extension
        self.box: VoicemailBox | None = None

    def start(self) -> None:
        self.call.b2bua.spawn(self._open())

    async def _open(self) -> None:
        call, mailboxes = self.call, self.call.b2bua.mailboxes
        assert mailboxes is not None and call.anchor is not None
        try:
            self.box = await mailboxes.box(self.extension)
        except Exception:  # the store: the call goes on without a message
            log.exception("voicemail: box of extension %s not read", self.extension)
        if not self.alive():
            return
        if self.box is None or not self.box.enabled:
            log.info("voicemail: extension %s takes no messages", self.extension)
            self.go_on()
            return
        language = self.box.language if self.box.language in texts.LANGUAGES else "en"
        self.speech = Greeting(language, texts.VOICEMAIL[language].format(
            extension=spoken(self.extension)))
        self.file = mailboxes.greeting_file(self.box)
        await self._run(call.anchor)

    def recorded(self) -> None:
        call, request = self.call, self.call.server.request
        assert self.box is not None
        call.taking = Taken("message", _ref(call),
                            (), None, self.box.employee_id, self.extension,
                            request.from_.uri.user or "anonymous",
                            request.from_.display_name)
        if call.record is not None:
            call.record.callee_extension = self.extension
            call.b2bua.registry.notify(call.record)

    def unavailable(self) -> None:
        self.go_on()


class MailboxCall(Prompted):
    """An employee's ``*97`` or ``*98`` from their phone; see the module docstring."""

    def __init__(self, call: OutsideCall, mode: str, employee_id: int, extension: str,
                 language: str) -> None:
        self.language = language if language in texts.LANGUAGES else "en"
        super().__init__(call, Greeting(self.language, texts.MAILBOX["pin"][self.language]),
                         DigitTree(), PIN_WAIT)
        self.mode, self.employee_id, self.extension = mode, employee_id, extension
        self.phase = "pin"
        self.tries = 0
        self.silences = 0
        self.queue: list[VoicemailMessage] = []
        self.current: VoicemailMessage | None = None
        self.recorder: _GreetingRecorder | None = None
        self.said = 0  # prompts started: a later one supersedes what an earlier would do

    def start(self) -> None:
        self.call.b2bua.spawn(self._open())

    async def _open(self) -> None:
        call, mailboxes = self.call, self.call.b2bua.mailboxes
        assert mailboxes is not None and call.anchor is not None
        try:
            box = await mailboxes.box(self.extension)
        except Exception:
            log.exception("voicemail: box of extension %s not read", self.extension)
            box = None
        if not self.alive():
            return
        if box is not None and box.language in texts.LANGUAGES:
            self.language = box.language
        if box is None or not box.has_pin:
            self.phase = "done"
            self.speech = Greeting(self.language, self.text("no_pin"))
            self.wait = 0.0
        else:
            self.speech = Greeting(self.language, self.text("pin"))
        await self._run(call.anchor)

    # -- the prompts, one after another ---------------------------------------------------------

    def say(self, *lines: str, then: Callable[[], None] | None = None,
            wait: float = 0.0) -> None:
        """Speak ``lines`` (texts of ``prompts.MAILBOX`` or made ones); ``then`` after them
        (and ``wait``), unless a key came first."""
        call, anchor, prompts = self.call, self.call.anchor, self.call.b2bua.prompts
        assert anchor is not None and prompts is not None
        self.digits = ""
        self.said += 1
        turn = self.said

        async def run(index: int) -> None:
            try:
                file = await prompts(Greeting(self.language, lines[index]))
            except MediaError as exc:
                log.warning("voicemail: prompt not made: %s", exc)
                self.hang_up()
                return
            if self.done or turn != self.said:
                return  # a key moved on meanwhile
            seconds = await play_to_caller(call, anchor, file) or 0.0
            if self.done or turn != self.said:
                return
            if index + 1 < len(lines):
                self._arm(seconds, lambda: call.b2bua.spawn(run(index + 1)))
            elif then is not None:
                self._arm(seconds + wait, then)
        call.b2bua.spawn(run(0))

    def text(self, name: str) -> str:
        return texts.MAILBOX[name][self.language]

    def hang_up(self) -> None:
        self.close()
        self.call.abort(480, None, 'SIP;cause=200;text="Mailbox closed"', "voicemail")

    def goodbye(self, name: str = "goodbye") -> None:
        self.say(self.text(name), then=self.hang_up)

    # -- keys --------------------------------------------------------------------------------------

    def key(self, key: str) -> None:
        if self.done:
            return
        if self.phase == "pin":
            if key == "#":
                self._check(self.digits)
            elif key.isdigit() and len(self.digits) < 16:
                self.digits += key
                self._arm(PIN_WAIT, self.silence)
        elif self.phase == "choice" and self.current is not None:
            if key == "7":
                self._delete(self.current)
            elif key == "1":
                self._play(self.current)
            elif key in "9#":
                self._next()

    def chosen(self, choice: Choice) -> None:
        return None

    def invalid(self) -> None:
        return None

    def silence(self) -> None:
        if self.phase == "done":
            self.hang_up()
        elif self.phase == "pin" and self.digits:
            self._check(self.digits)
        elif self.phase == "pin":
            self.silences += 1
            if self.silences >= 2:
                self.goodbye()
            else:
                self.say(self.text("pin"), then=self.silence, wait=PIN_WAIT)
        elif self.phase == "choice":
            self._next()

    def unavailable(self) -> None:
        self.hang_up()

    # -- what each step does ------------------------------------------------------------------

    def _check(self, pin: str) -> None:
        self.digits = ""
        self.phase = "checking"
        mailboxes = self.call.b2bua.mailboxes
        assert mailboxes is not None

        async def check() -> None:
            try:
                ok = await mailboxes.check_pin(self.employee_id, pin)
            except Exception:
                log.exception("voicemail: PIN of extension %s not checked", self.extension)
                self.hang_up()
                return
            if self.done:
                return
            if not ok:
                self.tries += 1
                log.info("voicemail: extension %s: wrong PIN (%d)", self.extension, self.tries)
                if self.tries >= MAX_PIN_TRIES:
                    self.goodbye("wrong_pin_goodbye")
                else:
                    self.phase = "pin"
                    self.say(self.text("wrong_pin"), self.text("pin"), then=self.silence,
                             wait=PIN_WAIT)
                return
            log.info("voicemail: extension %s opened its box (%s)", self.extension, self.mode)
            if self.mode == "greeting":
                self._record_greeting()
            else:
                await self._listen()
        self.call.b2bua.spawn(check())

    async def _listen(self) -> None:
        mailboxes = self.call.b2bua.mailboxes
        assert mailboxes is not None
        try:
            found = await mailboxes.messages(self.employee_id)
        except Exception:
            log.exception("voicemail: messages of extension %s not read", self.extension)
            self.hang_up()
            return
        new = sorted((m for m in found if not m.heard), key=lambda m: m.received_at)
        old = sorted((m for m in found if m.heard), key=lambda m: m.received_at)
        self.queue = [*new, *old]
        self.phase = "playing"
        self.say(texts.count_of_messages(self.language, len(new), len(old)), then=self._next)

    def _next(self) -> None:
        current, self.current = self.current, None
        if current is not None and not current.heard:
            self._mark(current)
        if not self.queue:
            self.phase = "done"
            self.goodbye("no_more")
            return
        self._play(self.queue.pop(0))

    def _play(self, message: VoicemailMessage) -> None:
        mailboxes, anchor = self.call.b2bua.mailboxes, self.call.anchor
        assert mailboxes is not None and anchor is not None
        self.current, self.phase = message, "choice"
        file = mailboxes.message_file(message)
        if file is None:
            log.warning("voicemail: message %d has no file", message.id)
            self._next()
            return

        self.said += 1
        turn = self.said

        async def play() -> None:
            seconds = await play_to_caller(self.call, anchor, file) or 0.0
            if not self.done and self.current is message and turn == self.said:
                self._arm(seconds, lambda: self.say(self.text("choices"), then=self.silence,
                                                    wait=CHOICE_WAIT))
        self.call.b2bua.spawn(play())

    def _mark(self, message: VoicemailMessage) -> None:
        mailboxes = self.call.b2bua.mailboxes
        assert mailboxes is not None

        async def mark() -> None:
            try:
                await mailboxes.heard(message.id)
            except Exception:
                log.exception("voicemail: message %d not marked heard", message.id)
        self.call.b2bua.spawn(mark())

    def _delete(self, message: VoicemailMessage) -> None:
        mailboxes = self.call.b2bua.mailboxes
        assert mailboxes is not None
        self.current, self.phase = None, "playing"

        async def delete() -> None:
            try:
                await mailboxes.remove(message.id)
            except Exception:
                log.exception("voicemail: message %d not deleted", message.id)
            if not self.done:
                self.say(self.text("deleted"), then=self._next)
        self.call.b2bua.spawn(delete())

    def _record_greeting(self) -> None:
        self.close()
        recorder = _GreetingRecorder(self.call, Greeting(self.language, self.text("record")),
                                     self)
        self.recorder = recorder
        self.call.prompted = recorder
        recorder.start()


class _GreetingRecorder(_Recorder):
    """``*98`` once the PIN was right: the greeting prompt, a beep, the holder recorded."""

    def __init__(self, call: OutsideCall, speech: Greeting, mailbox: MailboxCall) -> None:
        super().__init__(call, speech, MAX_GREETING)
        self.mailbox = mailbox

    def recorded(self) -> None:
        call, box = self.call, self.mailbox
        call.taking = Taken("greeting", _ref(call),
                            (), None, box.employee_id, box.extension)

    def unavailable(self) -> None:
        self.finish()



def take_message(call: OutsideCall, step: plan.Voicemail) -> bool:
    """Start taking a message for ``step``; False when the box cannot (no media or no
    voicemail here): the plan's next step."""
    from appliance.calls.greeting import possible
    if call.b2bua.mailboxes is None or not possible(call):
        log.info("sip: call %s: voicemail skipped: no media for it",
                 call.server.request.call_id[:32])
        return False
    taker = MessageTaker(call, step)
    call.prompted = taker
    taker.start()
    return True
