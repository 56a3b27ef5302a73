"""The daemon's nightly backup into the backup folder, at ``backup.at`` local time, keeping
the newest ``backup.keep`` of them.

The task wakes at least once a minute and compares the wall clock, so a clock set late (a
box without a battery-backed clock, corrected by NTP after boot) never makes it sleep past
the hour; a time missed by more than an hour (daemon stopped, clock jumped) is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path

from appliance.backup import backup_folder, make_backup
from appliance.config import Config
from appliance.errors import ApplianceError
from appliance.localtime import box_zone
from appliance.store import Store

log = logging.getLogger("appliance.backup")
PREFIX, SUFFIX = "nightly-", ".tar.gz"
LATE = timedelta(hours=1)  # a run missed by more than this waits for the next night


def next_run(now: datetime, at: str) -> datetime:
    """The first ``at`` (``HH:MM``) strictly after ``now``, in ``now``'s time zone."""
    hour, minute = (int(part) for part in at.split(":"))
    due = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return due if due > now else due + timedelta(days=1)


def to_prune(names: Iterable[str], keep: int) -> list[str]:
    """The nightly backups' names to delete so that the newest ``keep`` remain."""
    nightly = sorted(n for n in names if n.startswith(PREFIX) and n.endswith(SUFFIX))
    return nightly[:-keep] if keep > 0 else nightly


def rotate(folder: Path, keep: int) -> list[Path]:
    """Delete the older nightly backups in ``folder``; return what was deleted."""
    gone = []
    for name in to_prune((p.name for p in folder.iterdir() if p.is_file()), keep):
        (folder / name).unlink(missing_ok=True)
        gone.append(folder / name)
    return gone


def backup_now(config: Config, store: Store, now: datetime) -> Path:
    """Make tonight's backup and rotate the older ones; return its path."""
    folder = backup_folder(config)
    target = folder / f"{PREFIX}{now.strftime('%Y%m%d-%H%M%S')}{SUFFIX}"
    make_backup(config, target, "daemon", "nightly", store)
    for path in rotate(folder, config.backup.keep):
        log.info("nightly backup %s removed (backup.keep = %d)", path.name, config.backup.keep)
    return target


def box_now(config: Config, store: Store) -> datetime:
    """The wall clock in the box's time zone (the one set at setup, not the system's)."""
    return datetime.now(box_zone(config, store))


async def nightly(config: Config, store: Store, stop: asyncio.Event,
                  clock: Callable[[], datetime] | None = None, wake: float = 60.0,
                  job: Callable[[Config, Store, datetime], Path] = backup_now) -> None:
    """Run ``job`` every night at ``backup.at`` (the box's local time) until ``stop``."""
    if clock is None:
        clock = lambda: box_now(config, store)  # noqa: E731
    due = next_run(clock(), config.backup.at)
    log.info("nightly backup at %s local time into %s (next %s)", config.backup.at,
             backup_folder(config), due.isoformat(timespec="minutes"))
    while not stop.is_set():
        now = clock()
        if now >= due:
            if now - due <= LATE:
                try:
                    path = await asyncio.to_thread(job, config, store, now)
                    log.info("nightly backup written: %s", path)
                except (ApplianceError, OSError) as exc:
                    log.error("nightly backup failed: %s", exc)
            else:
                log.warning("nightly backup of %s skipped: missed by %s", due.isoformat(),
                            now - due)
            due = next_run(clock(), config.backup.at)
            continue
        wait = min(wake, (due - now).total_seconds())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=max(wait, 0.001))
