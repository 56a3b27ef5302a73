"""CSV import and export of employees and extensions: a download of each, and an upload that
is first previewed (what would change, every row's error) and imported all or nothing."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, request, url_for
from flask.blueprints import BlueprintSetupState

from appliance.directory import csvio
from appliance.directory.importer import KINDS, Change, Outcome, import_csv
from appliance.errors import DirectoryError
from appliance.web.common import directory, page, store, user
from appliance.web.i18n import N_, _
from appliance.web.messages import bare, matched, translate

bp = Blueprint("transfer", __name__)
MAX_UPLOAD = 2 << 20  # bytes of CSV (the app's 64 KiB limit is for the other forms)

# The importer's own messages (after any "field: " prefix), as messages.py does for the rest.
PATTERNS: list[tuple[re.Pattern[str], str]] = [(re.compile(p + r"\Z", re.S), m) for p, m in [
    (r"not UTF-8 text .*", N_("The file is not UTF-8 text: save it as “CSV UTF-8”.")),
    (r"it is empty; .*", N_("The file is empty; its first row names the columns.")),
    (r"unknown column (?P<name>'.*'); the columns are (?P<columns>.*)",
     N_("Unknown column %(name)s; the columns are %(columns)s.")),
    (r"the column (?P<name>'.*') is there twice", N_("The column %(name)s is there twice.")),
    (r"the column (?P<name>'.*') is needed", N_("The column %(name)s is needed.")),
    (r"(?P<n>\d+) values, but the first row names (?P<m>\d+) columns",
     N_("%(n)s values, but the first row names %(m)s columns.")),
    (r"more than (?P<n>\d+) rows; split it", N_("More than %(n)s rows: split the file.")),
    (r"not CSV \((?P<why>.*)\)", N_("This is not CSV (%(why)s).")),
    (r"a whole number such as 12, got (?P<got>.*)",
     N_("A whole number such as 12 (got %(got)s).")),
    (r"employee (?P<id>\d+) is in row (?P<row>\d+) too",
     N_("Employee %(id)s is in row %(row)s too.")),
    (r"extension (?P<n>\d+) is in row (?P<row>\d+) too",
     N_("Extension %(n)s is in row %(row)s too.")),
    (r"an import neither dismisses nor takes anyone back; .*",
     N_("An import neither dismisses nor takes anyone back: dismiss on the Employees page.")),
    (r"a new employee is active; leave it empty",
     N_("A new employee is active: leave the status empty.")),
]]


@bp.record_once
def _allow_uploads(state: BlueprintSetupState) -> None:
    # First of all before-request hooks: the CSRF check reads the form, and with it the body.
    state.app.before_request_funcs.setdefault(None, []).insert(0, _upload_limit)


def _upload_limit() -> None:
    if request.endpoint == "transfer.upload":
        request.max_content_length = MAX_UPLOAD


def message(exc: DirectoryError) -> str:
    """An import error in the current language."""
    return matched(bare(exc), PATTERNS) or translate(exc)


def describe(change: Change) -> str:
    """One change in the current language."""
    texts = {
        ("employee", "added"): N_("Employee %(key)s added: %(label)s"),
        ("employee", "updated"): N_("Employee %(key)s changed: %(fields)s"),
        ("extension", "added"): N_("Extension %(key)s added"),
        ("extension", "updated"): N_("Extension %(key)s changed: %(fields)s"),
        ("extension", "assigned"): N_("Extension %(key)s given to %(label)s"),
        ("extension", "freed"): N_("Extension %(key)s freed (new password, its phones "
                                   "disabled)"),
    }
    label = change.label
    if label.startswith("employee "):
        label = _("employee %(id)s", id=label.removeprefix("employee "))
    return _(texts[(change.kind, change.action)], key=change.key, label=label,
             fields=", ".join(change.fields))


def _kind(value: str | None) -> str:
    if value not in KINDS:
        abort(404)
    return str(value)


@bp.get("/transfer")
def index() -> str:
    """The export links and the import form."""
    return page("transfer.html", outcome=None, kind=request.args.get("kind", "employees"),
                content="", columns=KINDS)


@bp.get("/transfer/employees.csv", defaults={"kind": "employees"})
@bp.get("/transfer/extensions.csv", defaults={"kind": "extensions"})
def export(kind: str) -> Response:
    """Every employee or extension as CSV (UTF-8 with a byte-order mark; no password)."""
    found = directory()
    text = (csvio.employees_csv(found.list_employees()) if _kind(kind) == "employees"
            else csvio.extensions_csv(found.list_extensions()))
    return Response(csvio.encode(text), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={kind}.csv"})


@bp.post("/transfer")
def upload() -> Any:
    """Preview (``action=preview``) or import (``action=import``) a CSV file or the text a
    preview carried over; nothing is written when any row is bad."""
    kind = _kind(request.form.get("kind"))
    upload = request.files.get("file")
    try:
        text = (csvio.decode(upload.read()) if upload is not None and upload.filename
                else request.form.get("content", ""))
    except DirectoryError as exc:
        outcome = Outcome(kind, True, problems=[csvio.Problem(0, exc)])
        return page("transfer.html", outcome=outcome, kind=kind, content="", columns=KINDS,
                    describe=describe, message=message), 400
    dry_run = request.form.get("action") != "import"
    outcome = import_csv(store(), kind, text, f"web:{user().username}", dry_run)
    if outcome.written:
        flash(_("Imported: %(n)s changes, each in the audit log.", n=len(outcome.changes)),
              "success")
        return redirect(url_for(f"{kind}.index"))
    return page("transfer.html", outcome=outcome, kind=kind, content=text, columns=KINDS,
                describe=describe, message=message), 400 if outcome.problems else 200

