"""The CLI's call recordings: ``appliance recordings list`` (the recorded calls, newest
first: id, call ref, when, length, size) and ``appliance recordings sweep`` (the quota and
retention of ``[recording]`` applied now, as the daemon does after each recorded call).
Registered on the ``appliance`` group by ``appliance/cli.py``.

Which office numbers record their calls: ``appliance number edit NUMBER --record``.
"""

from __future__ import annotations

from typing import Any

import click

from appliance.calls.recordings import folder_of
from appliance.cli import _actor, _config, _emit, _store, config_option, json_option
from appliance.directory.recordings import MB, Recording, RecordingsDirectory

RECORDING_COLUMNS = ("id", "call_ref", "created_at", "seconds", "size")


def register(cli: click.Group) -> None:
    """Add the ``recordings`` group to the ``appliance`` group."""
    cli.add_command(recordings)


def _size(size: int) -> str:
    for unit, scale in (("MB", MB), ("kB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def recording_row(rec: Recording, as_json: bool) -> dict[str, Any]:
    """A recording as the CLI shows it (JSON: seconds and bytes as numbers, time in UTC)."""
    row: dict[str, Any] = {"id": rec.id, "call_ref": rec.call_ref,
                           "created_at": rec.created_at.isoformat(timespec="seconds")}
    if as_json:
        return {**row, "seconds": rec.seconds, "bytes": rec.bytes, "path": rec.path}
    return {**row, "seconds": f"{rec.seconds:.0f}s", "size": _size(rec.bytes)}


@click.group()
def recordings() -> None:
    """Recorded calls: list, sweep (numbers record with 'number edit --record')."""


@recordings.command("list")
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
@config_option
@json_option
def recordings_list(limit: int, config_path: str | None, as_json: bool) -> None:
    """The recorded calls, newest first (see 'appliance calls' for the calls themselves)."""
    found = RecordingsDirectory(_store(_config(config_path)), actor=_actor()).recent(limit)
    _emit([recording_row(r, as_json) for r in found], as_json, RECORDING_COLUMNS)


@recordings.command("sweep")
@config_option
def recordings_sweep(config_path: str | None) -> None:
    """Remove the recordings past the retention, then the oldest past the quota, now."""
    config = _config(config_path)
    directory = RecordingsDirectory(_store(config), actor=_actor())
    kept = config.recording
    removed = directory.sweep(folder_of(config.paths.data), kept.quota_mb * MB,
                              kept.retention_days)
    for path in removed:
        click.echo(f"removed {path}")
    click.echo(f"{len(removed)} recording(s) removed (quota {kept.quota_mb} MB, "
               f"kept {kept.retention_days} days)")
