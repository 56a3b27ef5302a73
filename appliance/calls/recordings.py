"""Recorded calls once they ended: rtpengine's pcap turned into one stereo WAV (the caller
on the left, the employee on the right; ``media.recording``), kept under the data folder
with a row of its own, and the pcap removed.

The call engine hands over a ``RecordedCall`` when a recorded call's media session is
deleted (rtpengine has closed the pcap by then). The conversion runs in a process of its own
(``python -m appliance.media.recording``), waited for on a worker thread: never on the SIP
loop, and never in the daemon's memory. A pcap that cannot be read, or a call whose caller
port is unknown, is logged and dropped: a recording is never half-written (the WAV appears
whole, by ``os.replace``, or not at all).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from appliance.config.model import RecordingConfig
from appliance.directory import utcnow
from appliance.directory.recordings import MB, RecordingsDirectory
from appliance.store import Store
from appliance.workers import Workers

log = logging.getLogger(__name__)

CONVERT_TIMEOUT = 600.0  # seconds for one call's conversion
MAX_PCAP = 1 << 30  # bytes: a 4-hour call is ~300 MB of pcap; past this it is not read

# Keep a recording's row: call ref, the WAV's path under the recordings folder, seconds, bytes.
Keep = Callable[[str, str, float, int], None]


@dataclass(frozen=True)
class RecordedCall:
    """A recorded call that ended: its call history ref, rtpengine's pcap files, and
    rtpengine's port facing the caller (what arrived there is the caller's channel)."""

    ref: str
    files: tuple[Path, ...]
    caller_port: int | None


class RecordingWriter:
    """Turns each recorded call's pcap into ``<folder>/<YYYY>/<MM>/<ref>.wav`` and keeps it."""

    def __init__(self, folder: Path, workers: Workers, keep: Keep,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.folder = folder
        self.workers = workers
        self.keep = keep
        self.clock = clock
        self._tasks: set[asyncio.Task[None]] = set()

    def __call__(self, call: RecordedCall) -> None:
        """Convert and keep ``call``'s recording in the background."""
        task = asyncio.get_running_loop().create_task(self._run(call))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, call: RecordedCall) -> None:
        try:
            await self.workers.run(self.write, call)
        except Exception:
            log.exception("recording of call %s could not be kept", call.ref)

    def write(self, call: RecordedCall) -> Path | None:
        """The WAV made from ``call`` (None when there was nothing to make); the pcaps are
        removed either way."""
        try:
            return self._convert(call)
        finally:
            remove_pcaps(call.files)

    def _convert(self, call: RecordedCall) -> Path | None:
        if call.caller_port is None or not call.files:
            log.warning("recording of call %s: no pcap or no caller port, nothing kept",
                        call.ref)
            return None
        pcap = largest(call.files, call.ref)
        if pcap is None:
            return None
        now = self.clock()
        relative = Path(f"{now:%Y}") / f"{now:%m}" / f"{call.ref}.wav"
        result = convert(pcap, self.folder / relative, call.caller_port, call.ref)
        if result is None:
            return None
        path = self.folder / relative
        self.keep(call.ref, str(relative), float(result["seconds"]), int(result["bytes"]))
        log.info("recording of call %s kept: %.1f s", call.ref, float(result["seconds"]))
        return path


def largest(files: tuple[Path, ...], ref: str) -> Path | None:
    """The pcap of a call worth reading (rtpengine may have started several), or None when
    it is gone or too large (logged)."""
    pcap = max(files, key=lambda f: f.stat().st_size if f.exists() else 0)
    if not pcap.exists() or pcap.stat().st_size > MAX_PCAP:
        log.warning("recording of call %s: %s missing or too large", ref, pcap.name)
        return None
    return pcap


def convert(pcap: Path, path: Path, port: int, ref: str, *,
            mono: bool = False) -> dict[str, float] | None:
    """Convert ``pcap`` into the WAV ``path`` in a process apart (``media.recording``): its
    figures (seconds, bytes, voiced seconds), the WAV there whole; None (logged) when it
    could not be made, and nothing there."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".part")
    try:
        made = subprocess.run(  # apart: a long call's conversion never grows the daemon
            [sys.executable, "-m", "appliance.media.recording", str(pcap), str(tmp),
             str(port), *(["--mono"] if mono else [])], capture_output=True, text=True,
            timeout=CONVERT_TIMEOUT, check=False)
        if made.returncode != 0:
            log.warning("recording of call %s: %s", ref,
                        (made.stderr.strip().splitlines() or ["failed"])[-1][:200])
            return None
        result = {k: float(v) for k, v in json.loads(made.stdout).items()}
        os.replace(tmp, path)
    except (OSError, ValueError, AttributeError, subprocess.TimeoutExpired) as exc:
        log.warning("recording of call %s: %s", ref, exc)
        return None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return result


def remove_pcaps(files: tuple[Path, ...]) -> None:
    """rtpengine's files of a call, gone (its pcaps and their metadata)."""
    for pcap in files:
        with contextlib.suppress(OSError):
            pcap.unlink()
        with contextlib.suppress(OSError):
            (pcap.parent.parent / "metadata" / f"rtpengine-meta-{pcap.stem}.txt").unlink()


def folder_of(data: Path) -> Path:
    """The recordings folder under the data folder."""
    return data / "recordings"


def writer_for(store: Store, workers: Workers, data: Path,
               recording: RecordingConfig) -> RecordingWriter:
    """The daemon's writer: each WAV under ``<data>/recordings``, its row kept in the store
    (as ``sip``), then the recordings swept to the quota and retention of ``recording``."""
    folder = folder_of(data)
    directory = RecordingsDirectory(store, actor="sip")

    def keep(call_ref: str, path: str, seconds: float, size: int) -> None:
        directory.keep(call_ref, path, seconds, size)
        removed = directory.sweep(folder, recording.quota_mb * MB, recording.retention_days)
        if removed:
            log.info("recordings swept (quota %d MB, %d days): %d removed",
                     recording.quota_mb, recording.retention_days, len(removed))

    return RecordingWriter(folder, workers, keep)
