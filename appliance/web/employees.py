"""Employees: list with filters, add, edit, dismiss (after a confirmation that says what
will happen)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, request, url_for

from appliance.directory import Employee, Phone, rules
from appliance.errors import DirectoryError, NotFoundError
from appliance.web.common import Errors, attempt, directory, flash_error, page
from appliance.web.i18n import _

bp = Blueprint("employees", __name__)
STATUSES = ("active", "dismissed", "all")


def _employee(employee_id: int) -> Employee:
    try:
        return directory().get_employee(employee_id)
    except NotFoundError:
        abort(404)


def _phones_of(number: str | None) -> list[Phone]:
    if number is None:
        return []
    return [p for p in directory().list_phones() if p.extension == number]


@bp.route("/employees", methods=["GET", "POST"])
def index() -> Any:
    """The list (``status``: active, dismissed or all; ``q``: part of a name) and the add form."""
    errors: Errors = {}
    values = {"name": "", "mobile": ""}
    if request.method == "POST":
        values = {k: request.form.get(k, "") for k in values}
        added = attempt(errors, lambda: directory().add_employee(
            values["name"], values["mobile"] or None))
        if added is not None:
            flash(_("Employee %(name)s added.", name=added.name), "success")
            _warn_namesakes(added)
            return redirect(url_for("employees.show", employee_id=added.id))
    status = request.args.get("status", "active")
    status = status if status in STATUSES else "active"
    search = request.args.get("q", "").strip()
    people = directory().list_employees(None if status == "all" else status)
    if search:
        people = [e for e in people if search.casefold() in e.name.casefold()]
    return page("employees.html", people=people, status=status, search=search,
                errors=errors, values=values), 400 if errors else 200


def _mobile_or_typed(text: str) -> str | None:
    """The mobile number as it would be kept, or the text as typed when it is not one."""
    try:
        return rules.mobile_number(text)
    except DirectoryError:
        return text


def _warn_namesakes(person: Employee) -> None:
    """Say so when another active employee has the same name (allowed: people share names)."""
    same = [e for e in directory().list_employees("active")
            if e.id != person.id and e.name.casefold() == person.name.casefold()]
    if same:
        flash(_("Note: %(others)s has the same name. Tell them apart by extension or "
                "mobile number.", others=", ".join(f"{e.name} (#{e.id})" for e in same)),
              "info")


@bp.route("/employees/<int:employee_id>", methods=["GET", "POST"])
def show(employee_id: int) -> Any:
    """One employee: details, their extension and phones; edit name and mobile."""
    person = _employee(employee_id)
    errors: Errors = {}
    values = {"name": person.name, "mobile": person.mobile or ""}
    if request.method == "POST":
        values = {k: request.form.get(k, "") for k in values}
        # Only what differs goes to the directory, so the audit log names only what changed.
        fields: dict[str, Any] = {}
        if " ".join(values["name"].split()) != person.name:
            fields["name"] = values["name"]
        if _mobile_or_typed(values["mobile"]) != person.mobile:
            fields["mobile"] = values["mobile"] or None
        changed = attempt(errors, lambda: directory().update_employee(employee_id, **fields))
        if changed is not None:
            flash(_("Saved."), "success")
            if "name" in fields:
                _warn_namesakes(changed)
            return redirect(url_for("employees.show", employee_id=employee_id))
    return page("employee.html", person=person, phones=_phones_of(person.extension),
                errors=errors, values=values), 400 if errors else 200


@bp.route("/employees/<int:employee_id>/dismiss", methods=["GET", "POST"])
def dismiss(employee_id: int) -> Any:
    """Say exactly what a dismissal does; do it on confirmation."""
    person = _employee(employee_id)
    if request.method == "POST":
        try:
            done = directory().dismiss(employee_id)
        except DirectoryError as exc:
            flash_error(exc)
            return redirect(url_for("employees.show", employee_id=employee_id))
        flash(_("%(name)s is dismissed.", name=done.employee.name), "success")
        if done.extension:
            flash(_("Extension %(n)s is free, with a new SIP password.", n=done.extension),
                  "success")
        if done.phones:
            flash(_("Phones disabled: %(macs)s.", macs=", ".join(done.phones)), "success")
        return redirect(url_for("employees.show", employee_id=employee_id))
    return page("dismiss.html", person=person, phones=_phones_of(person.extension))
