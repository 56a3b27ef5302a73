"""The voicemail boxes over the store (``calls.voicemail.Mailboxes``): reads and writes on the
store's worker threads, and what a call recorded turned into a message or a greeting.

After the call, rtpengine's pcap becomes a mono WAV of what the caller sent, in a process
apart (``calls.recordings.convert``), under ``<data>/voicemail/<employee id>/``. A message
shorter than ``MIN_SECONDS``, or with under ``MIN_VOICED`` seconds of sound in it
(``media.recording.voiced_seconds``), is dropped: its WAV removed, nothing kept, logged. A
kept one gets its row (``VoicemailDirectory.keep``: its event tells the phones, RFC 3842),
then, when the box has an e-mail address and mail is configured, is sent there attached
(a failure is logged; the message stays). A greeting recorded by phone replaces the box's
own greeting under the same rules (``MIN_VOICED`` of sound).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Protocol

from appliance.calls.recordings import convert, largest, remove_pcaps
from appliance.calls.voicemail import Taken
from appliance.directory import utcnow
from appliance.directory.recordings import file_of
from appliance.directory.voicemail import VoicemailBox, VoicemailDirectory, VoicemailMessage
from appliance.errors import ApplianceError
from appliance.store import Store
from appliance.workers import Workers

log = logging.getLogger(__name__)

MIN_SECONDS = 2.0  # a message shorter than this is a caller who hung up at the beep
MIN_VOICED = 0.5  # seconds of sound a message (or a greeting) must hold
GREETING = "greeting.wav"


class Mailer(Protocol):
    """How a kept message goes out by e-mail (``appliance.mail.Mailer``)."""

    def enabled(self) -> bool:
        """Whether mail is configured."""

    def send_voicemail(self, to: str, *, extension: str, caller: str, caller_name: str | None,
                       received_at: datetime, seconds: float, wav: Path) -> None:
        """Send the message, blocking; raises the project's MailError when it could not."""


class StoreMailboxes:
    """``Mailboxes`` over ``store``; see the module docstring."""

    def __init__(self, store: Store, workers: Workers, folder: Path, converting: Workers,
                 mailer: Mailer | None = None, clock: Callable[[], datetime] = utcnow) -> None:
        """``workers`` for the store's reads and writes; ``converting`` (a pool apart, as a
        conversion may take a while) for what calls recorded."""
        self.directory = VoicemailDirectory(store, actor="sip")
        self.workers, self.converting = workers, converting
        self.folder = folder
        self.mailer = mailer
        self.clock = clock
        self._tasks: set[asyncio.Task[None]] = set()

    async def box(self, extension: str) -> VoicemailBox | None:
        return await self.workers.run(self.directory.box_of_extension, extension)

    def greeting_file(self, box: VoicemailBox) -> Path | None:
        return self._existing(box.greeting)

    async def check_pin(self, employee_id: int, pin: str) -> bool:
        return await self.workers.run(self.directory.check_pin, employee_id, pin)

    async def messages(self, employee_id: int) -> list[VoicemailMessage]:
        return await self.workers.run(self.directory.messages, employee_id)

    def message_file(self, message: VoicemailMessage) -> Path | None:
        return self._existing(message.path)

    async def heard(self, message_id: int) -> None:
        await self.workers.run(self.directory.mark_heard, message_id)

    async def remove(self, message_id: int) -> None:
        removed = await self.workers.run(self.directory.remove_message, message_id)
        file = file_of(self.folder, removed.path)
        if file is not None:
            with contextlib.suppress(OSError):
                file.unlink()

    def taken(self, taken: Taken) -> None:
        task = asyncio.get_running_loop().create_task(self._keep(taken))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _keep(self, taken: Taken) -> None:
        try:
            await self.converting.run(self.write, taken)
        except Exception:
            log.exception("voicemail of call %s could not be kept", taken.ref)

    def write(self, taken: Taken) -> Path | None:
        """Convert and keep what ``taken`` recorded (see the module docstring); the file kept,
        or None. rtpengine's files are removed either way."""
        try:
            kept = self._write(taken)
        finally:
            remove_pcaps(taken.files)
        if kept is None:
            return None
        path, message = kept
        if message is not None:
            self._mail(message, path)
        return path

    def _write(self, taken: Taken) -> tuple[Path, VoicemailMessage | None] | None:
        pcap = largest(taken.files, taken.ref) if taken.files else None
        if pcap is None or taken.caller_port is None:
            log.warning("voicemail of call %s: nothing recorded", taken.ref)
            return None
        now = self.clock()
        folder = self.folder / str(taken.employee_id)
        name = GREETING if taken.kind == "greeting" else f"{now:%Y%m%d-%H%M%S}-{taken.ref}.wav"
        made = folder / (name + ".new")
        figures = convert(pcap, made, taken.caller_port, taken.ref, mono=True)
        if figures is None:
            return None
        seconds, voiced = figures.get("seconds", 0.0), figures.get("voiced", 0.0)
        if voiced < MIN_VOICED or (taken.kind == "message" and seconds < MIN_SECONDS):
            log.info("voicemail of call %s for extension %s dropped: %.1f s, %.1f s of sound",
                     taken.ref, taken.extension, seconds, voiced)
            made.unlink(missing_ok=True)
            return None
        path = folder / name
        made.replace(path)
        relative = f"{taken.employee_id}/{name}"
        if taken.kind == "greeting":
            self.directory.set_greeting(taken.employee_id, relative)
            log.info("voicemail greeting of extension %s recorded: %.1f s", taken.extension,
                     seconds)
            return path, None
        message = self.directory.keep(
            taken.employee_id, taken.extension, caller=taken.caller,
            caller_name=taken.caller_name, call_ref=taken.ref, path=relative, seconds=seconds,
            bytes_=int(figures.get("bytes", 0)))
        log.info("voicemail for extension %s kept: %.1f s from %s", taken.extension, seconds,
                 taken.caller[:32])
        return path, message

    def _mail(self, message: VoicemailMessage, wav: Path) -> None:
        """Send a kept message to its box's e-mail address, when there is one and mail."""
        if self.mailer is None or not self.mailer.enabled():
            return
        box = self.directory.box(message.employee_id)
        if not box.email:
            return
        try:
            self.mailer.send_voicemail(
                box.email, extension=message.extension, caller=message.caller,
                caller_name=message.caller_name, received_at=message.received_at,
                seconds=message.seconds, wav=wav)
        except ApplianceError as exc:
            log.warning("voicemail %d not mailed: %s", message.id, exc)
            return
        log.info("voicemail %d mailed for extension %s", message.id, message.extension)

    def _existing(self, path: str | None) -> Path | None:
        file = file_of(self.folder, path) if path else None
        return file if file is not None and file.is_file() else None
