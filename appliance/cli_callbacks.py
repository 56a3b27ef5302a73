"""The CLI's missed-call callbacks: ``appliance callback set|off|rules`` (which office numbers
call their missed callers back: after how long, how many times, how far apart) and
``appliance callback list|drop`` (the jobs: who is to be called back, when, what happened).
Registered on the ``appliance`` group by ``appliance/cli.py``.
"""

from __future__ import annotations

from typing import Any

import click

from appliance.callplan.callbacks import ATTEMPTS, DELAY, INTERVAL, STATES, CallbackRule, Job
from appliance.cli import _actor, _config, _emit, _store, config_option, json_option
from appliance.directory.callbacks import CallbackDirectory

RULE_COLUMNS = ("did", "delay", "attempts", "interval")
JOB_COLUMNS = ("id", "customer", "did", "target", "state", "attempts", "max_attempts",
               "due_at", "outcome")


def register(cli: click.Group) -> None:
    """Add the ``callback`` group to the ``appliance`` group."""
    cli.add_command(callback)


def _directory(config_path: str | None) -> CallbackDirectory:
    return CallbackDirectory(_store(_config(config_path)), actor=_actor())


def rule_row(rule: CallbackRule) -> dict[str, Any]:
    """A rule as the CLI shows it."""
    return {"did": rule.did, "delay": rule.delay, "attempts": rule.attempts,
            "interval": rule.interval}


def job_row(job: Job) -> dict[str, Any]:
    """A job as the CLI shows it."""
    return {"id": job.id, "customer": job.customer, "did": job.did, "target": job.target,
            "state": job.state, "attempts": job.attempts, "max_attempts": job.max_attempts,
            "due_at": job.due_at.isoformat(timespec="seconds"), "outcome": job.outcome,
            "missed_call": job.missed_call}


@click.group()
def callback() -> None:
    """Missed-call callbacks: set, off, rules, list, drop."""


@callback.command("set")
@click.argument("did")
@click.option("--after", "delay", default="120", show_default=True,
              help=f"Seconds after the missed call ({DELAY[0]}-{DELAY[1]}).")
@click.option("--attempts", default="3", show_default=True,
              help=f"Calls to the customer at most ({ATTEMPTS[0]}-{ATTEMPTS[1]}).")
@click.option("--every", "interval", default="600", show_default=True,
              help=f"Seconds between attempts ({INTERVAL[0]}-{INTERVAL[1]}).")
@config_option
@json_option
def callback_set(did: str, delay: str, attempts: str, interval: str, config_path: str | None,
                 as_json: bool) -> None:
    """Call back the callers an office number missed: the employee or queue they missed
    is rung first, then the customer."""
    rule = _directory(config_path).set_rule(did, delay=delay, attempts=attempts,
                                            interval=interval)
    _emit(rule_row(rule), as_json)


@callback.command("off")
@click.argument("did")
@config_option
def callback_off(did: str, config_path: str | None) -> None:
    """No more callbacks for an office number (open jobs run out)."""
    _directory(config_path).remove_rule(did)
    click.echo(f"callbacks off for {did}")


@callback.command("rules")
@config_option
@json_option
def callback_rules(config_path: str | None, as_json: bool) -> None:
    """The office numbers that call back."""
    _emit([rule_row(r) for r in _directory(config_path).rules()], as_json, RULE_COLUMNS)


@callback.command("list")
@click.option("--state", type=click.Choice(STATES), help="Only jobs in this state.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@config_option
@json_option
def callback_list(state: str | None, limit: int, config_path: str | None,
                  as_json: bool) -> None:
    """Callback jobs, newest first."""
    jobs = _directory(config_path).jobs(state, limit)
    _emit([job_row(j) for j in jobs], as_json, JOB_COLUMNS)


@callback.command("drop")
@click.argument("job_id")
@config_option
def callback_drop(job_id: str, config_path: str | None) -> None:
    """Drop an open job (the customer will not be called back)."""
    job = _directory(config_path).drop(job_id)
    click.echo(f"callback {job.id} to {job.customer} dropped")
