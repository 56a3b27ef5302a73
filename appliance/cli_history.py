"""The CLI's call history and live calls: ``appliance calls`` (the history, newest first,
filtered; a table in the box's zone, ``--json`` in UTC, ``--csv`` as the web page exports
it), ``appliance calls --live`` (the calls in progress, as the daemon publishes them),
``appliance calls hangup REF`` (ended by the running daemon, audited) and ``appliance calls
retention [DAYS]``. Registered on the ``appliance`` group by ``appliance/cli.py``.
"""

from __future__ import annotations

import time
from typing import Any

import click

from appliance import localtime
from appliance.cli import _actor, _config, _emit, _store, config_option, json_option
from appliance.directory import call_history

HISTORY_COLUMNS = ("id", "started_at", "direction", "caller", "callee", "dialled",
                   "connection", "answered_by", "ring", "talk", "outcome")
LIVE_COLUMNS = ("ref", "state", "direction", "caller", "callee", "dialled", "connection",
                "started_at", "seconds")
HANGUP_WAIT = 5.0  # seconds ``hangup`` waits to see the call gone from the live calls


def register(cli: click.Group) -> None:
    """Add the ``calls`` group to the ``appliance`` group."""
    cli.add_command(calls)


def _who(number: str | None, name: str | None) -> str | None:
    return f"{number} ({name})" if number and name else number


def history_row(row: dict[str, Any]) -> dict[str, Any]:
    """A history row for the table: parties with their names, times as ISO (UTC) strings
    (the table shows them in the box's zone)."""
    data = call_history.as_json(row)
    return {**data, "caller": _who(row["caller"], row["caller_name"]),
            "callee": _who(row["callee"], row["callee_name"]),
            "answered_by": _who(row["answered_by"], row["answered_by_name"]),
            "ring": f"{row['ring_seconds']:.0f}s", "talk": f"{row['talk_seconds']:.0f}s"}


def live_row(row: dict[str, Any]) -> dict[str, Any]:
    """A live call for the table."""
    return {**call_history.as_json(row), "caller": _who(row["caller"], row["caller_name"]),
            "callee": _who(row["callee"], row["callee_name"])}


@click.group(invoke_without_command=True)
@click.option("--live", is_flag=True, help="The calls in progress instead of the history.")
@click.option("--since", metavar="DATE", help="From this local date (2025-01-31) or time "
              "(2025-01-31 08:30).")
@click.option("--until", metavar="DATE", help="Up to this local date (included) or time.")
@click.option("--ext", "extension", metavar="NUMBER",
              help="Calls from, to or answered by this extension.")
@click.option("--employee", metavar="ID", help="Calls of this employee (dismissed too).")
@click.option("--direction", type=click.Choice(call_history.DIRECTIONS))
@click.option("--outcome", type=click.Choice(call_history.OUTCOMES))
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (local times), as the admin "
              "page exports it.")
@config_option
@json_option
@click.pass_context
def calls(ctx: click.Context, live: bool, since: str | None, until: str | None,
          extension: str | None, employee: str | None, direction: str | None,
          outcome: str | None, limit: int, as_csv: bool, config_path: str | None,
          as_json: bool) -> None:
    """The call history, newest first (times in the box's zone; --json in UTC); --live:
    the calls in progress. Subcommands: hangup, retention."""
    if ctx.invoked_subcommand is not None:
        return
    cfg = _config(config_path)
    store = _store(cfg)
    if live:
        rows = call_history.live(store)
        _emit([call_history.as_json(r) if as_json else live_row(r) for r in rows], as_json,
              LIVE_COLUMNS)
        return
    zone = localtime.box_zone(cfg, store)
    chosen = call_history.filters(zone, since=since, until=until, extension=extension,
                                  employee=employee, direction=direction, outcome=outcome,
                                  limit=limit)
    rows = call_history.query(store, chosen)
    if as_csv:
        click.echo(call_history.csv_text(rows, zone), nl=False)
        return
    _emit([call_history.as_json(r) if as_json else history_row(r) for r in rows], as_json,
          HISTORY_COLUMNS)


@calls.command("hangup")
@click.argument("ref")
@config_option
def calls_hangup(ref: str, config_path: str | None) -> None:
    """End the call in progress REF (see --live) at both ends (audited); the running
    daemon does it within about a second."""
    store = _store(_config(config_path))
    row = call_history.request_hangup(store, ref, _actor())
    click.echo(f"hang-up of call {row['ref']} ({row['caller']} to {row['callee']}) asked")
    deadline = time.monotonic() + HANGUP_WAIT
    while time.monotonic() < deadline:
        if all(live["ref"] != row["ref"] for live in call_history.live(store)):
            click.echo(f"call {row['ref']} ended")
            return
        time.sleep(0.1)
    raise click.ClickException(f"call {row['ref']} is still in progress after "
                               f"{HANGUP_WAIT:.0f} s: is the daemon running?")


@calls.command("retention")
@click.argument("days", required=False)
@config_option
def calls_retention(days: str | None, config_path: str | None) -> None:
    """Show, or set to DAYS (audited), how many days the call history keeps; the daemon
    deletes older calls."""
    store = _store(_config(config_path))
    if days is None:
        click.echo(f"call history kept {call_history.retention_days(store)} days")
        return
    kept = call_history.set_retention(store, days, _actor())
    click.echo(f"call history kept {kept} days")
