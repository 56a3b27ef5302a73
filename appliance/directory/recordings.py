"""Call recordings over the store (``store/recording_tables.py``): the daemon keeps one row
per recorded call (``calls/recordings.py``: the WAV written first, then ``keep``), the CLI
and the web page list them and say who listened (``listened``: audited, never the sound),
and ``sweep`` keeps them within the quota and the retention (``[recording]`` in the config).

A row's path is relative to the recordings folder (``<data>/recordings``). Whatever a row
says, nothing outside that folder is ever touched: a path that is absolute, climbs out with
``..``, or leads out through a link is dropped with its row, and its file left alone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from sqlalchemy import Row, delete, insert, select

from appliance.directory import plan_rules as pr
from appliance.directory.core import DirectoryBase
from appliance.errors import NotFoundError, ValidationError
from appliance.store import journal
from appliance.store.recording_tables import recordings

log = logging.getLogger(__name__)

HOWS = ("played", "downloaded")
How = Literal["played", "downloaded"]
MB = 1 << 20  # the config's quota_mb is in MiB
_CHUNK = 500  # ids or refs per IN (...), well under every backend's limit


@dataclass(frozen=True)
class Recording:
    """A recorded call's WAV: its call history ref, path under the recordings folder,
    length (seconds), size (bytes) and when it was kept (aware, UTC)."""

    id: int
    call_ref: str
    path: str
    seconds: float
    bytes: int
    created_at: datetime


def _recording(row: Row[Any]) -> Recording:
    return Recording(int(row.id), str(row.call_ref), str(row.path), float(row.seconds),
                     int(row.bytes), row.created_at)


def relative_path(path: str) -> str | None:
    """``path`` as a plain relative path (``2025/01/ref.wav``), or None when it is empty,
    absolute, climbs with ``..`` or holds a NUL or a backslash."""
    if not path or "\x00" in path or "\\" in path:
        return None
    pure = PurePosixPath(path)
    if pure.is_absolute() or any(part in ("..", "") for part in pure.parts) or \
            str(pure) in (".", ""):
        return None
    return str(pure)


def file_of(folder: Path, path: str) -> Path | None:
    """The file ``path`` names inside ``folder``, or None when it would lead outside it
    (``relative_path`` refuses it, or a link on the way points out)."""
    clean = relative_path(path)
    if clean is None:
        return None
    candidate = folder / clean
    try:
        inside = candidate.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError):  # a link loop
        return None
    return candidate if inside else None


class RecordingsDirectory(DirectoryBase):
    """Recorded calls' rows; see the module docstring."""

    # -- the daemon ---------------------------------------------------------------------------

    def keep(self, call_ref: str, path: str, seconds: float, size: int) -> int:
        """Store the recording of call ``call_ref`` (a second one for the same call replaces
        the first row); its id."""
        ref = call_ref.strip()
        if not ref or len(ref) > 32:
            raise ValidationError(f"call_ref: 1 to 32 characters, got {call_ref!r}", "call_ref")
        clean = relative_path(path)
        if clean is None or len(clean) > 255:
            raise ValidationError(f"path: a path under the recordings folder, got {path!r}",
                                  "path")
        if seconds < 0 or size < 0:
            raise ValidationError("seconds, bytes: not negative", "seconds")
        with self.store.write() as db:
            db.execute(delete(recordings).where(recordings.c.call_ref == ref))
            key = db.execute(insert(recordings).values(
                call_ref=ref, path=clean, seconds=float(seconds), bytes=int(size),
                created_at=self.clock())).inserted_primary_key
        assert key is not None
        return int(key[0])

    # -- reading ------------------------------------------------------------------------------

    def get(self, recording_id: int | str) -> Recording:
        """The recording ``recording_id``; NotFoundError when there is none."""
        key = pr.whole(recording_id, "recording", 1, 2**31 - 1)
        with self.store.read() as db:
            row = db.execute(select(recordings).where(recordings.c.id == key)).first()
        if row is None:
            raise NotFoundError(f"recording: no recording {key}", "recording")
        return _recording(row)

    def for_calls(self, refs: Iterable[str]) -> dict[str, Recording]:
        """The recordings of the calls ``refs`` that have one, by call ref."""
        wanted = sorted({r for r in refs if r})
        found: dict[str, Recording] = {}
        with self.store.read() as db:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start:start + _CHUNK]
                found |= {str(r.call_ref): _recording(r) for r in db.execute(
                    select(recordings).where(recordings.c.call_ref.in_(chunk)))}
        return found

    def recent(self, limit: int = 200) -> list[Recording]:
        """The recordings, newest first, at most ``limit``."""
        with self.store.read() as db:
            return [_recording(r) for r in db.execute(
                select(recordings).order_by(recordings.c.created_at.desc(),
                                            recordings.c.id.desc()).limit(limit))]

    def listened(self, recording_id: int | str, how: How | str) -> Recording:
        """Audit that the acting user played or downloaded a recording (which one and how,
        never its sound); the recording."""
        if how not in HOWS:
            raise ValidationError(f"how: one of {', '.join(HOWS)}, got {how!r}", "how")
        key = pr.whole(recording_id, "recording", 1, 2**31 - 1)
        with self.store.write() as db:
            row = db.execute(select(recordings).where(recordings.c.id == key)).first()
            if row is None:
                raise NotFoundError(f"recording: no recording {key}", "recording")
            journal.record(db, self.actor, "recording.listened", str(key),
                           {"recording": key, "call": row.call_ref, "how": how},
                           self.clock())
        return _recording(row)

    # -- quota and retention ------------------------------------------------------------------

    def sweep(self, folder: Path, quota_bytes: int, retention_days: int) -> list[str]:
        """Remove the recordings (rows and files) kept more than ``retention_days`` ago, then
        the oldest until the rest fit in ``quota_bytes``; the paths of the rows removed,
        oldest first. A missing file still drops its row; a row whose path leads outside
        ``folder`` is dropped and nothing outside is touched; a file that cannot be removed
        (permissions) keeps its row for the next sweep."""
        horizon = self.clock() - timedelta(days=retention_days)
        with self.store.read() as db:
            rows = list(db.execute(
                select(recordings.c.id, recordings.c.path, recordings.c.bytes,
                       recordings.c.created_at)
                .order_by(recordings.c.created_at, recordings.c.id)))
        total = sum(int(r.bytes) for r in rows)
        gone: list[tuple[int, str]] = []
        for row in rows:
            file = file_of(folder, row.path)
            if file is not None and row.created_at >= horizon and total <= quota_bytes:
                continue  # young enough, and the rest fits: kept
            total -= int(row.bytes)
            if file is None:
                log.warning("recording %s: path %r is outside %s, row dropped", row.id,
                            row.path, folder)
            elif not self._remove(file):
                continue
            gone.append((int(row.id), str(row.path)))
        ids = [key for key, _ in gone]
        for start in range(0, len(ids), _CHUNK):
            with self.store.write() as db:
                db.execute(delete(recordings).where(
                    recordings.c.id.in_(ids[start:start + _CHUNK])))
        return [path for _, path in gone]

    @staticmethod
    def _remove(file: Path) -> bool:
        """Unlink ``file`` (gone already is fine); False when it is still there. Its month
        folder stays, even emptied: the daemon may be writing the next WAV into it."""
        try:
            file.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("recording %s could not be removed: %s", file, exc)
            return False
        return True
