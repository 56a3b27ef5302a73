"""The CLI's queue groups and presence: ``appliance queue add|edit|remove|list|show`` (who
rings for a queue, how, for how long, and where the call goes after) and ``appliance
presence set|list`` (whether an employee is working, on a break or off; members who are not
working are skipped by their queues). Registered on the ``appliance`` group by
``appliance/cli.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from appliance.callplan.model import PRESENCE_STATES, STRATEGIES, Queue
from appliance.cli import _emit, config_option, json_option
from appliance.cli_calls import _plan, destination_text
from appliance.directory import Directory, rules
from appliance.directory.office import CallPlanDirectory
from appliance.directory.records import Employee
from appliance.errors import ConflictError, NotFoundError, ValidationError

F = TypeVar("F", bound=Callable[..., Any])
QUEUE_COLUMNS = ("name", "members", "strategy", "ring_time", "timeout", "ring_busy",
                 "fallback")
PRESENCE_COLUMNS = ("employee_id", "name", "extension", "state", "since")


def register(cli: click.Group) -> None:
    """Add the ``queue`` and ``presence`` groups to the ``appliance`` group."""
    cli.add_command(queue)
    cli.add_command(presence)


def queue_row(found: Queue, names: dict[int, str]) -> dict[str, Any]:
    """Every field of a queue group, its fallback written as ``--fallback`` reads it."""
    return {"name": found.name, "members": list(found.members), "strategy": found.strategy,
            "ring_time": found.ring_time, "timeout": found.timeout,
            "ring_busy": found.ring_busy,
            "fallback": destination_text(found.fallback, names)}


# -- queue ------------------------------------------------------------------------------------

@click.group()
def queue() -> None:
    """Queue groups: add, edit, remove, list, show."""


def _queue_options(func: F) -> F:
    """The options every queue field is set with (add and edit)."""
    options = [
        click.option("--member", "members", multiple=True, metavar="EXTENSION",
                     help="A member, in ringing order (repeat; on edit the list is "
                          "replaced, '' once empties it)."),
        click.option("--strategy", metavar="|".join(STRATEGIES),
                     help="How members ring: all at once, in order, round robin, the "
                          "longest idle first, the fewest calls first."),
        click.option("--ring-time", help="Seconds each member rings, one at a time (5-600)."),
        click.option("--timeout", help="Seconds the queue rings in all (5-3600)."),
        click.option("--ring-busy/--no-ring-busy", default=None,
                     help="Ring members who are already on a call."),
        click.option("--fallback", metavar="DESTINATION",
                     help="Where the call goes after the timeout: extension:101, "
                          "queue:sales, outside:0909123456[@connection] or hangup."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _queue_fields(members: Sequence[str], given: dict[str, Any]) -> dict[str, Any]:
    """The directory fields of the options given."""
    fields = {key: value for key, value in given.items() if value is not None}
    if members:
        fields["members"] = [] if list(members) == [""] else list(members)
    return fields


def _queue_show(plan: CallPlanDirectory, name: str, as_json: bool) -> None:
    names = {c.id: c.name for c in plan.list_connections()}
    _emit(queue_row(plan.get_queue(name), names), as_json)


@queue.command("add")
@click.argument("name")
@_queue_options
@config_option
@json_option
def queue_add(name: str, members: tuple[str, ...], config_path: str | None, as_json: bool,
              **given: Any) -> None:
    """Add a queue group (defaults: ring_all, 20 s each, 60 s in all, then hang up)."""
    plan = _plan(config_path)
    fields = _queue_fields(members, given)
    made = plan.add_queue(name, fields.pop("members", ()), **fields)
    _queue_show(plan, made.name, as_json)


@queue.command("edit")
@click.argument("name")
@_queue_options
@config_option
@json_option
def queue_edit(name: str, members: tuple[str, ...], config_path: str | None, as_json: bool,
               **given: Any) -> None:
    """Change a queue group's fields (only those given)."""
    fields = _queue_fields(members, given)
    if not fields:
        raise ValidationError("nothing to change: give at least one option")
    plan = _plan(config_path)
    changed = plan.update_queue(name, **fields)
    _queue_show(plan, changed.name, as_json)


@queue.command("remove")
@click.argument("name")
@config_option
def queue_remove(name: str, config_path: str | None) -> None:
    """Remove a queue group no number or other queue sends calls to."""
    plan = _plan(config_path)
    plan.remove_queue(name)
    click.echo(f"queue {name.strip()} removed")


@queue.command("list")
@config_option
@json_option
def queue_list(config_path: str | None, as_json: bool) -> None:
    """List the queue groups."""
    plan = _plan(config_path)
    names = {c.id: c.name for c in plan.list_connections()}
    _emit([queue_row(q, names) for q in plan.list_queues()], as_json, QUEUE_COLUMNS)


@queue.command("show")
@click.argument("name")
@config_option
@json_option
def queue_show(name: str, config_path: str | None, as_json: bool) -> None:
    """Show every field of a queue group."""
    _queue_show(_plan(config_path), name, as_json)


# -- presence ---------------------------------------------------------------------------------

@click.group()
def presence() -> None:
    """Employees' presence: working, on_break or off (queues skip those not working)."""


def find_employee(people: Sequence[Employee], given: str) -> Employee:
    """The employee ``given`` names: an id, or an exact name (the active one when a
    dismissed namesake exists; several active namesakes need the id)."""
    text = given.strip()
    if text.isdigit():
        found = next((e for e in people if e.id == int(text)), None)
        if found is None:
            raise NotFoundError(f"employee {int(text)} does not exist", "employee")
        return found
    wanted = rules.person_name(given)
    named = [e for e in people if e.name == wanted]
    active = [e for e in named if e.status == "active"] or named
    if not active:
        raise NotFoundError(f"employee: nobody is named {wanted!r}", "employee")
    if len(active) > 1:
        ids = ", ".join(str(e.id) for e in active)
        raise ConflictError(f"employee: {len(active)} employees are named {wanted!r} "
                            f"(ids {ids}); give the id", "employee")
    return active[0]


def presence_rows(plan: CallPlanDirectory, people: Sequence[Employee]) -> list[dict[str, Any]]:
    """Every active employee with their state (none recorded: working, since None)."""
    recorded = {p.employee_id: p for p in plan.list_presence()}
    rows = []
    for person in people:
        if person.status != "active":
            continue
        mark = recorded.get(person.id)
        rows.append({"employee_id": person.id, "name": person.name,
                     "extension": person.extension,
                     "state": "working" if mark is None else mark.state,
                     "since": None if mark is None else mark.since.isoformat()})
    return rows


def _people(plan: CallPlanDirectory) -> list[Employee]:
    return Directory(plan.store).list_employees()


@presence.command("set")
@click.argument("employee")
@click.argument("state", metavar="|".join(PRESENCE_STATES))
@config_option
@json_option
def presence_set(employee: str, state: str, config_path: str | None, as_json: bool) -> None:
    """Set an active employee's presence (EMPLOYEE: their id or exact name)."""
    plan = _plan(config_path)
    person = find_employee(_people(plan), employee)
    plan.set_presence(person.id, state)
    row = next(r for r in presence_rows(plan, _people(plan))
               if r["employee_id"] == person.id)
    if as_json:
        _emit(row, True)
    else:
        click.echo(f"{person.name} (#{person.id}) is now {row['state']}")


@presence.command("list")
@config_option
@json_option
def presence_list(config_path: str | None, as_json: bool) -> None:
    """Every active employee's presence, since when (none recorded: working)."""
    plan = _plan(config_path)
    _emit(presence_rows(plan, _people(plan)), as_json, PRESENCE_COLUMNS)
