"""Extensions: every field of the directory, assignment, SIP password, softphone login info."""

from __future__ import annotations

import io
from typing import Any

import segno
from flask import Blueprint, abort, flash, redirect, request, url_for
from markupsafe import Markup

from appliance.directory import Employee, Extension
from appliance.directory.rules import EXTENSION_NO_ANSWER, PERMISSIONS, RECEIVE_METHODS
from appliance.errors import DirectoryError, NotFoundError
from appliance.web import hooks, reach
from appliance.web.common import (
    FORM,
    Errors,
    attempt,
    config,
    directory,
    flash_error,
    page,
    store,
)
from appliance.web.connections import connection_names
from appliance.web.i18n import N_, _

bp = Blueprint("extensions", __name__)
FIELDS = ("name", "permission", "receive", "supervisor", "group", "description")
# Only on an existing extension's page: calls from office numbers it does not answer.
NO_ANSWER_FIELDS = ("no_answer", "no_answer_connection", "ring_timeout")
NO_ANSWER_LABELS = {
    "number": N_("As the office number says"),
    "continue": N_("Go on with the number's routing"),
    "mobile": N_("Forward to the employee's mobile"),
    "voicemail": N_("Take a message (voicemail)"),
}
PERMISSION_LABELS = {
    "internal": N_("Internal: other extensions only"),
    "local": N_("Local: also local numbers"),
    "mobile": N_("Mobile: also mobile numbers"),
    "international": N_("International: every number"),
}
PERMISSION_NAMES = {"internal": N_("Internal"), "local": N_("Local"), "mobile": N_("Mobile"),
                    "international": N_("International")}
RECEIVE_LABELS = {
    "desk": N_("Desk phone"),
    "app": N_("Softphone app"),
    "both": N_("Desk phone and app"),
    "mobile": N_("Their mobile number"),
}


def _extension(number: str) -> Extension:
    try:
        return directory().get_extension(number)
    except DirectoryError:
        abort(404)


def _choices(number: str = "") -> dict[str, Any]:
    """Select options shared by the new and edit forms."""
    return {
        "permissions": [(p, _(PERMISSION_LABELS[p])) for p in PERMISSIONS],
        "receives": [(r, _(RECEIVE_LABELS[r])) for r in RECEIVE_METHODS],
        "supervisors": [(e.number, e.number + (f" ({e.name})" if e.name else ""))
                        for e in directory().list_extensions() if e.number != number],
    }


def _free_people() -> list[tuple[int, str]]:
    """Active employees without an extension, as select options."""
    return [(e.id, f"{e.name} (#{e.id})") for e in directory().list_employees("active")
            if e.extension is None]


def _form_values(fields: tuple[str, ...] = FIELDS) -> dict[str, str]:
    return {k: request.form.get(k, "").strip() for k in fields}


@bp.get("/extensions")
def index() -> str:
    """Every extension, with who holds it (``show``: all, free or assigned)."""
    show = request.args.get("show", "all")
    people = {e.id: e for e in directory().list_employees()}
    rows = directory().list_extensions()
    if show == "free":
        rows = [x for x in rows if x.employee_id is None]
    elif show == "assigned":
        rows = [x for x in rows if x.employee_id is not None]
    return page("extensions.html", rows=rows, people=people, show=show,
                receive_labels=RECEIVE_LABELS, permission_names=PERMISSION_NAMES,
                regs=hooks.bindings(store()))


@bp.route("/extensions/new", methods=["GET", "POST"])
def new() -> Any:
    """Create an extension (with a random SIP password), optionally for an employee."""
    errors: Errors = {}
    values = {"number": "", "permission": "internal", "receive": "both", "employee": ""}
    if request.method == "POST":
        values = {**_form_values(), "number": request.form.get("number", "").strip(),
                  "employee": request.form.get("employee", "")}
        fields: dict[str, Any] = {k: values[k] or None for k in FIELDS}
        made = attempt(errors, lambda: directory().add_extension(values["number"], **fields))
        if made is not None:
            flash(_("Extension %(n)s added.", n=made.number), "success")
            if values["employee"].isdigit():
                employee_id = int(values["employee"])
                attempt(errors, lambda: directory().assign_extension(made.number, employee_id))
                for messages in errors.values():
                    for message in messages:
                        flash(message, "error")
            return redirect(url_for("extensions.show", number=made.number))
    return page("extension_new.html", errors=errors, values=values, people=_free_people(),
                **_choices()), 400 if errors else 200


@bp.route("/extensions/<number>", methods=["GET", "POST"])
def show(number: str) -> Any:
    """Edit every field; the holder's mobile number is edited here too."""
    ext = _extension(number)
    holder = directory().get_employee(ext.employee_id) if ext.employee_id else None
    errors: Errors = {}
    before = _values(ext, holder)
    values = before
    if request.method == "POST":
        # a form without the no-answer fields leaves them as they are
        values = {**before, **_form_values(FIELDS), "mobile": request.form.get(
            "mobile", "").strip(), **{k: request.form[k].strip() for k in NO_ANSWER_FIELDS
                                      if k in request.form}}
        if _save(ext, holder, values, before, errors):
            flash(_("Saved."), "success")
            return redirect(url_for("extensions.show", number=number))
    return _page(ext, holder, errors, values)


def _page(ext: Extension, holder: Employee | None, errors: Errors, values: dict[str, str],
          password_errors: Errors | None = None, typed_password: str = "") -> Any:
    """The extension's page (400 with the errors of a form)."""
    phones = [p for p in directory().list_phones() if p.extension == ext.number]
    bad = bool(errors or password_errors)
    return page("extension.html", ext=ext, holder=holder, errors=errors, values=values,
                people=_free_people(), phones=phones,
                registrations=hooks.bindings(store()).get(ext.number, []),
                password_errors=password_errors or {}, typed_password=typed_password,
                no_answers=[(a, _(NO_ANSWER_LABELS[a])) for a in EXTENSION_NO_ANSWER],
                connections=[(n, n) for n in connection_names().values()],
                **_choices(ext.number)), 400 if bad else 200


def _values(ext: Extension, holder: Employee | None) -> dict[str, str]:
    return {"name": ext.name or "", "permission": ext.permission, "receive": ext.receive,
            "supervisor": ext.supervisor or "", "group": ext.group or "",
            "description": ext.description or "",
            "no_answer": ext.no_answer, "ring_timeout": str(ext.ring_timeout or ""),
            "no_answer_connection": connection_names().get(ext.no_answer_connection or 0, ""),
            "mobile": holder.mobile or "" if holder else ""}


def _save(ext: Extension, holder: Employee | None, values: dict[str, str],
          before: dict[str, str], errors: Errors) -> bool:
    """Save the fields; a new mobile goes first (receive=mobile may need it), a removed one
    last (it may no longer be needed)."""
    d = directory()
    mobile = values["mobile"] or None
    mobile_changed = holder is not None and mobile != holder.mobile
    if holder is not None and mobile_changed and mobile is not None \
            and attempt(errors, lambda: d.update_employee(holder.id, mobile=mobile)) is None:
        return False
    # Only what differs goes to the directory, so the audit log names only what changed.
    fields = {k: values[k] or None for k in FIELDS + NO_ANSWER_FIELDS
              if values[k] != before[k]}
    if fields and attempt(errors, lambda: d.update_extension(ext.number, **fields)) is None:
        return False
    if holder is not None and mobile_changed and mobile is None:
        return attempt(errors, lambda: d.update_employee(holder.id, mobile=None)) is not None
    return True


@bp.post("/extensions/<number>/assign")
def assign(number: str) -> Any:
    """Give the extension to an active employee (a new SIP password is issued)."""
    employee = request.form.get("employee", "")
    try:
        if not employee.isdigit():
            raise NotFoundError(f"employee {employee} does not exist", "employee")
        directory().assign_extension(number, int(employee))
        flash(_("Extension %(n)s assigned.", n=number), "success")
    except DirectoryError as exc:
        flash_error(exc)
    return redirect(url_for("extensions.show", number=number))


@bp.post("/extensions/<number>/unassign")
def unassign(number: str) -> Any:
    """Free the extension: new SIP password, its phones disabled."""
    try:
        directory().unassign_extension(number)
        flash(_("Extension %(n)s is free; its phones are disabled.", n=number), "success")
    except DirectoryError as exc:
        flash_error(exc)
    return redirect(url_for("extensions.show", number=number))


@bp.post("/extensions/<number>/password")
def password(number: str) -> Any:
    """A new SIP password: generated, or the one typed in (never one used before)."""
    ext = _extension(number)
    chosen = request.form.get("password", "") if request.form.get("mode") == "chosen" else None
    errors: Errors = {}
    if attempt(errors, lambda: directory().set_password(ext.number, chosen)) is not None:
        flash(_("The SIP password of %(n)s is changed; phones get it at their next sync.",
                n=number), "success")
        return redirect(url_for("extensions.show", number=number))
    if FORM in errors:  # not about the typed password: at the top of the page
        errors["password"] = errors.pop(FORM) + errors.get("password", [])
    holder = directory().get_employee(ext.employee_id) if ext.employee_id else None
    return _page(ext, holder, {}, _values(ext, holder), password_errors=errors,
                 typed_password=chosen or "")


def sip_servers() -> list[str]:
    """The SIP servers a softphone may use, best first (see ``reach.sip_servers``): the one
    the QR code names, then the box's other addresses."""
    return reach.sip_servers(config(), reach.seen_host(request.host))


@bp.post("/extensions/<number>/login-info")
def login_info(number: str) -> Any:
    """Show the softphone login (server, username, password, QR code); audited each time."""
    ext = _extension(number)
    try:
        directory().log_credentials_shown(ext.number)
    except DirectoryError as exc:  # pragma: no cover - the extension was just read
        flash_error(exc)
        return redirect(url_for("extensions.show", number=number))
    servers = sip_servers()
    server = servers[0]
    uri = f"sip:{ext.sip_username}:{ext.sip_password}@{server}"
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="svg", scale=5, border=2, xmldecl=False,
                                    svgns=True, title=_("SIP login for extension %(n)s", n=number))
    qr = Markup(buffer.getvalue().decode())  # noqa: S704 (segno's own SVG, no user markup)
    return page("login_info.html", ext=ext, server=server, others=servers[1:], qr=qr,
                sip_on=config().sip.enabled)
