"""Missed-call callbacks on the web page: each office number's rule (first call back after,
attempts, every), set and removed, and the jobs (newest first, filtered by state), an open
one dropped by an admin. Viewers only look (the guard refuses their posts). The daemon's
scheduler reads the rules and jobs from the store, so a change counts for the next miss."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, request, url_for

from appliance.callplan.callbacks import OPEN, STATES
from appliance.directory.callbacks import CallbackDirectory
from appliance.directory.office import CallPlanDirectory
from appliance.web.common import Errors, page, store, user
from appliance.web.connections import _attempt, _flash_all
from appliance.web.i18n import N_, _

bp = Blueprint("callbacks", __name__)

STATE_LABELS = {"pending": N_("Waiting"), "dialling": N_("Calling now"),
                "done": N_("Reached"), "dropped": N_("Dropped"),
                "failed": N_("Not reached")}
RULE_FIELDS = ("did", "delay", "attempts", "interval")


def _callbacks() -> CallbackDirectory:
    return CallbackDirectory(store(), actor=f"web:{user().username}")


def _page(values: dict[str, str], errors: Errors) -> Any:
    state = request.args.get("state", "")
    shown = CallbackDirectory(store())
    rules = shown.rules()
    jobs = shown.jobs(state if state in STATES else None)
    dids = [n.did for n in CallPlanDirectory(store()).list_numbers()]
    return page("callbacks.html", rules=rules, jobs=jobs, state=state, values=values,
                errors=errors, dids=[(d, d) for d in dids], open_states=OPEN,
                states=[(s, _(STATE_LABELS[s])) for s in STATES],
                state_labels=STATE_LABELS), 400 if errors else 200


@bp.get("/callbacks")
def index() -> Any:
    """The rules and the jobs."""
    return _page({"did": "", "delay": "120", "attempts": "3", "interval": "600"}, {})


@bp.post("/callbacks/rules")
def set_rule() -> Any:
    """Set (or replace) an office number's rule."""
    values = {k: request.form.get(k, "").strip() for k in RULE_FIELDS}
    errors: Errors = {}
    done = _attempt(errors, lambda: _callbacks().set_rule(
        values["did"], delay=values["delay"], attempts=values["attempts"],
        interval=values["interval"]), RULE_FIELDS)
    if done is None:
        return _page(values, errors)
    flash(_("Missed calls to %(did)s are called back.", did=done.did), "success")
    return redirect(url_for("callbacks.index"))


@bp.post("/callbacks/rules/<path:did>/remove")
def remove_rule(did: str) -> Any:
    """No more callbacks for an office number (its open jobs run out)."""
    errors: Errors = {}
    _attempt(errors, lambda: _callbacks().remove_rule(did))
    _flash_all(errors)
    if not errors:
        flash(_("Missed calls to %(did)s are no longer called back.", did=did), "success")
    return redirect(url_for("callbacks.index"))


@bp.post("/callbacks/<int:job_id>/drop")
def drop(job_id: int) -> Any:
    """Drop an open job."""
    errors: Errors = {}
    done = _attempt(errors, lambda: _callbacks().drop(job_id))
    _flash_all(errors)
    if done is not None:
        flash(_("Callback to %(customer)s dropped.", customer=done.customer), "success")
    return redirect(url_for("callbacks.index"))
