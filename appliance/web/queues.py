"""Queue groups and presence on the web page: the queues (members with their holders,
strategy, ring time, timeout, fallback), added, edited and removed, and every active
employee's presence (working, on a break, off work), set by an admin. Viewers only look
(the guard refuses their posts). Only the fields changed are saved, so the audit log names
just those."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, abort, flash, redirect, request, url_for

from appliance.callplan.model import PRESENCE_STATES, STRATEGIES, Queue
from appliance.directory import Directory
from appliance.directory.office import CallPlanDirectory
from appliance.errors import DirectoryError
from appliance.web.auditlog import PRESENCE_LABELS
from appliance.web.common import Errors, page, store
from appliance.web.connections import (
    _attempt,
    _dest_text,
    _flash_all,
    _plan,
    _posted,
    connection_names,
)
from appliance.web.i18n import N_, _

bp = Blueprint("queues", __name__)

TEXTS = ("members", "strategy", "ring_time", "timeout", "fallback")
SHOWN = ("name", "ring_busy", *TEXTS)  # the fields errors are shown beside
STRATEGY_LABELS = {"ring_all": N_("Ring all at once"), "in_order": N_("In order"),
                   "round_robin": N_("Round robin"),
                   "least_recent": N_("Longest idle first"),
                   "fewest_calls": N_("Fewest calls first")}
DEFAULTS = {"name": "", "members": "", "strategy": "ring_all", "ring_time": "20",
            "timeout": "60", "fallback": "hangup", "ring_busy": ""}
_SPLIT = re.compile(r"[\s,]+")


def _members(text: str) -> list[str]:
    return [m for m in _SPLIT.split(text) if m]


def _holders() -> dict[str, str]:
    """Each assigned extension's holder, by number."""
    directory = Directory(store())
    names = {e.id: e.name for e in directory.list_employees("active")}
    return {x.number: names[x.employee_id] for x in directory.list_extensions()
            if x.employee_id in names}


# -- the list and presence --------------------------------------------------------------------

@bp.get("/queues")
def index() -> str:
    """Every queue group, and every active employee's presence."""
    plan = CallPlanDirectory(store())
    names = connection_names()
    recorded = {p.employee_id: p for p in plan.list_presence()}
    people = Directory(store()).list_employees("active")
    return page("queues.html", queues=plan.list_queues(), holders=_holders(), names=names,
                dest=_dest_text, strategies=STRATEGY_LABELS, people=people,
                presence=recorded, states=[(s, _(PRESENCE_LABELS[s])) for s in PRESENCE_STATES],
                state_labels=PRESENCE_LABELS)


@bp.post("/presence/<int:employee_id>")
def set_presence(employee_id: int) -> Any:
    """Set an active employee's presence."""
    errors: Errors = {}
    state = request.form.get("state", "")
    done = _attempt(errors, lambda: _plan().set_presence(employee_id, state))
    _flash_all(errors)
    if done is not None:
        person = Directory(store()).get_employee(employee_id)
        flash(_("%(name)s is now %(state)s.", name=person.name,
                state=_(PRESENCE_LABELS[done.state])), "success")
    return redirect(url_for("queues.index", _anchor="presence"))


# -- a queue's form ---------------------------------------------------------------------------

def _values(found: Queue | None) -> dict[str, str]:
    """The form's fields as text."""
    if found is None:
        return dict(DEFAULTS)
    names = connection_names()
    return {"name": found.name, "members": ", ".join(found.members),
            "strategy": found.strategy, "ring_time": str(found.ring_time),
            "timeout": str(found.timeout), "fallback": _dest_text(found.fallback, names),
            "ring_busy": "on" if found.ring_busy else ""}


def _changed(values: dict[str, str], before: dict[str, str]) -> dict[str, Any]:
    """The directory fields of what differs from ``before``."""
    fields: dict[str, Any] = {}
    if _members(values["members"]) != _members(before["members"]):
        fields["members"] = _members(values["members"])
    for key in ("strategy", "ring_time", "timeout", "fallback"):
        if values[key] != before[key]:
            fields[key] = values[key]
    if bool(values["ring_busy"]) != bool(before["ring_busy"]):
        fields["ring_busy"] = bool(values["ring_busy"])
    return fields


def _form(found: Queue | None) -> Any:
    errors: Errors = {}
    before = _values(found)
    values = dict(before)
    if request.method == "POST":
        values = {**_posted(("name", *TEXTS)), "ring_busy": request.form.get("ring_busy", "")}
        plan = _plan()
        if found is None:
            fields: dict[str, Any] = {k: values[k] for k in TEXTS if k != "members"}
            fields["ring_busy"] = bool(values["ring_busy"])
            done = _attempt(errors, lambda: plan.add_queue(
                values["name"], _members(values["members"]), **fields), (*SHOWN, "routing"))
        else:
            values["name"] = found.name
            changes = _changed(values, before)
            done = _attempt(errors, lambda: plan.update_queue(found.name, **changes),
                            (*SHOWN, "routing"))
        if "routing" in errors:  # a queue leads on only through its fallback
            errors.setdefault("fallback", []).extend(errors.pop("routing"))
        if done is not None:
            flash(_("Queue %(name)s saved.", name=done.name), "success")
            return redirect(url_for("queues.index"))
    choices = [(s, _(STRATEGY_LABELS[s])) for s in STRATEGIES]
    return page("queue.html", queue=found, values=values, errors=errors,
                strategies=choices), 400 if errors else 200


@bp.route("/queues/new", methods=["GET", "POST"])
def new() -> Any:
    """Add a queue group."""
    return _form(None)


@bp.route("/queues/<name>", methods=["GET", "POST"])
def edit(name: str) -> Any:
    """Show and change a queue group."""
    try:
        found = CallPlanDirectory(store()).get_queue(name)
    except DirectoryError:
        abort(404)
    return _form(found)


@bp.post("/queues/<name>/remove")
def remove(name: str) -> Any:
    """Remove a queue group no number or other queue sends calls to."""
    errors: Errors = {}
    _attempt(errors, lambda: _plan().remove_queue(name))
    _flash_all(errors)
    if not errors:
        flash(_("Queue %(name)s removed.", name=name), "success")
    return redirect(url_for("queues.index"))
