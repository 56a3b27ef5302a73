"""Calls on the web page: the calls in progress (as the daemon publishes them, refreshed every
few seconds) with a hang-up button, and the call history filtered by date range (the box's
local dates), extension, employee (dismissed ones too), direction and outcome, exported as
CSV with the same filters. Hang-up and the retention setting are for admins (the guard
refuses a viewer's post; CSRF as every form); both are audited. Admins also play and download
a call's recording (a GET, so refused to viewers here): each is audited, never its sound,
and only a file inside the recordings folder is ever sent."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, request, send_file, url_for

from appliance.calls.recordings import folder_of
from appliance.directory import call_history
from appliance.directory.recordings import RecordingsDirectory, file_of
from appliance.errors import DirectoryError, NotFoundError
from appliance.web.common import Errors, config, page, store, user, zone
from appliance.web.i18n import N_, _
from appliance.web.messages import bare, matched, translate

bp = Blueprint("calls", __name__)
SHOWN = 200  # history rows on the page (the CSV has up to CSV_ROWS)
CSV_ROWS = 100_000
FILTERS = ("since", "until", "ext", "employee", "direction", "outcome")
DIRECTION_LABELS = {"internal": N_("internal"), "inbound": N_("inbound"),
                    "outbound": N_("outbound"), "forwarded": N_("forwarded")}
OUTCOME_LABELS = {"answered": N_("answered"), "missed": N_("missed"),
                  "voicemail": N_("voicemail"), "busy": N_("busy"),
                  "failed": N_("failed"), "cancelled": N_("cancelled"),
                  "refused": N_("refused")}
STATE_LABELS = {"ringing": N_("ringing"), "established": N_("talking")}

# The call history's messages (appliance/directory/call_history.py) in the user's language.
ERRORS: list[tuple[re.Pattern[str], str]] = [(re.compile(p + r"\Z", re.S), m) for p, m in [
    (r"a date such as .*, got (?P<got>.*)",
     N_("A date such as 2025-01-31 (or 2025-01-31 08:30), got %(got)s.")),
    (r"no such date, got (?P<got>.*)", N_("There is no such date: %(got)s.")),
    (r"digits such as 101, got (?P<got>.*)", N_("Digits such as 101, got %(got)s.")),
    (r"an employee id such as 12, got (?P<got>.*)",
     N_("An employee id such as 12, got %(got)s.")),
    (r"a whole number of days from 1 to (?P<high>\d+), got (?P<got>.*)",
     N_("A whole number of days from 1 to %(high)s, got %(got)s.")),
    (r"call (?P<ref>'.*'): no such call in progress",
     N_("Call %(ref)s is not in progress (any more).")),
]]


def message(exc: DirectoryError) -> str:
    """A call history error in the current language."""
    return matched(bare(exc), ERRORS) or translate(exc)


def _chosen() -> tuple[dict[str, str], call_history.Filters | None, Errors]:
    """The filters in the query string: as typed, parsed (None when one is wrong), errors."""
    typed = {name: request.args.get(name, "").strip()[:40] for name in FILTERS}
    try:
        parsed = call_history.filters(
            zone(), since=typed["since"], until=typed["until"], extension=typed["ext"],
            employee=typed["employee"], direction=typed["direction"] or None,
            outcome=typed["outcome"] or None, limit=SHOWN)
    except DirectoryError as exc:
        field = {"extension": "ext"}.get(exc.field or "", exc.field or "since")
        return typed, None, {field: [message(exc)]}
    return typed, parsed, {}


def _live() -> dict[str, Any]:
    return {"live": call_history.live(store()), "states": STATE_LABELS,
            "directions": DIRECTION_LABELS}


@bp.get("/calls")
def index() -> tuple[str, int] | str:
    """Calls in progress and the filtered history."""
    typed, parsed, errors = _chosen()
    rows = call_history.query(store(), parsed) if parsed is not None else []
    people = call_history.employees_seen(store())
    body = page("calls.html", **_live(), rows=rows, typed=typed, errors=errors,
                people=people, outcomes=OUTCOME_LABELS, shown=SHOWN,
                days=call_history.retention_days(store()), max_days=call_history.MAX_DAYS)
    return (body, 400) if errors else body


@bp.get("/calls/live")
def live() -> str:
    """The calls in progress (the page's live part)."""
    return page("_calls_live.html", **_live())


@bp.get("/calls.csv")
def export() -> Any:
    """The filtered history as CSV (UTF-8 with a byte-order mark, local times)."""
    typed, parsed, errors = _chosen()
    if parsed is None:
        flash(next(iter(errors.values()))[0], "error")
        kept: dict[str, Any] = {k: v for k, v in typed.items() if v}
        return redirect(url_for("calls.index", **kept))
    chosen = replace(parsed, limit=CSV_ROWS)
    text = call_history.csv_text(call_history.query(store(), chosen), zone())
    return Response(("\ufeff" + text).encode("utf-8"), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=calls.csv"})


@bp.post("/calls/hangup")
def hangup() -> Any:
    """Ask the daemon to end the posted call at both ends (audited)."""
    ref = request.form.get("ref", "")[:16]
    try:
        row = call_history.request_hangup(store(), ref, f"web:{user().username}")
        flash(_("The call from %(caller)s to %(callee)s is being hung up.",
                caller=row["caller"], callee=row["callee"]), "success")
    except NotFoundError as exc:
        flash(message(exc), "error")
    return redirect(url_for("calls.index"))


@bp.post("/calls/retention")
def retention() -> Any:
    """Set how many days the history keeps (audited)."""
    try:
        days = call_history.set_retention(store(), request.form.get("days", "")[:8],
                                          f"web:{user().username}")
        flash(_("Calls are kept %(days)s days.", days=days), "success")
    except DirectoryError as exc:
        flash(message(exc), "error")
    return redirect(url_for("calls.index"))


@bp.get("/calls/recording/<int:recording_id>")
def recording(recording_id: int) -> Any:
    """A call's recording as WAV, for admins: played in the page (byte ranges served), or
    with ``?download=1`` as the file ``call-<ref>.wav``. Audited as played (once per listen:
    not for the later ranges a player asks for when seeking) or downloaded; 404 when the row
    or its file is gone, or its path leads outside the recordings folder."""
    if not user().can_change:
        abort(403)
    recordings = RecordingsDirectory(store(), actor=f"web:{user().username}")
    try:
        found = recordings.get(recording_id)
    except DirectoryError:
        abort(404)
    path = file_of(folder_of(config().paths.data), found.path)
    if path is None or not path.is_file():
        abort(404)
    download = request.args.get("download") == "1"
    try:
        response = send_file(path, mimetype="audio/wav", as_attachment=download,
                             download_name=f"call-{found.call_ref}.wav", conditional=True,
                             max_age=0)
    except OSError:  # removed in the meantime (the sweep)
        abort(404)
    response.headers["Cache-Control"] = "no-store"
    ranges = request.range.ranges if request.range is not None else []
    if request.method == "GET" and (download or not ranges or any(
            start == 0 for start, _end in ranges)):
        try:
            recordings.listened(found.id, "downloaded" if download else "played")
        except DirectoryError:
            response.close()
            abort(404)
    return response
