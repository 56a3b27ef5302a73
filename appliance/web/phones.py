"""Phones: the inventory (live), one phone with every sighting; assign, resync, disable."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, request, url_for

from appliance.directory import Phone
from appliance.directory.rules import PHONE_STATES
from appliance.errors import DirectoryError
from appliance.web import hooks
from appliance.web.common import Errors, attempt, directory, flash_error, page, store
from appliance.web.i18n import _

bp = Blueprint("phones", __name__)


def _rows(state: str) -> dict[str, Any]:
    phones = directory().list_phones(state if state in PHONE_STATES else None)
    return {"phones": phones, "registrations": hooks.registrations(store()), "state": state}


def _numbers() -> list[tuple[str, str]]:
    """Extensions as select options, with who holds each."""
    people = {e.id: e.name for e in directory().list_employees("active")}
    return [(x.number, f"{x.number} - {people[x.employee_id]}" if x.employee_id in people
             else f"{x.number} - {_('free')}") for x in directory().list_extensions()]


def _state() -> str:
    state = request.args.get("state", "all")
    return state if state in PHONE_STATES else "all"


@bp.route("/phones", methods=["GET", "POST"])
def index() -> Any:
    """The inventory (``state`` filter) and a form to add a phone by MAC for an extension."""
    errors: Errors = {}
    values = {"mac": "", "extension": ""}
    if request.method == "POST":
        values = {k: request.form.get(k, "").strip() for k in values}
        phone = attempt(errors, lambda: directory().assign_phone(values["mac"],
                                                                 values["extension"]))
        if phone is not None:
            flash(_("Phone %(mac)s assigned to extension %(n)s.", mac=phone.mac,
                    n=phone.extension), "success")
            return redirect(url_for("phones.show", mac=phone.mac))
    return page("phones.html", **_rows(_state()), errors=errors, values=values,
                numbers=_numbers(), states=PHONE_STATES), 400 if errors else 200


@bp.get("/phones/live")
def live() -> str:
    """The inventory table's rows, for the live refresh."""
    return page("_phone_rows.html", **_rows(_state()))


def _phone(mac: str) -> Phone:
    try:
        return directory().get_phone(mac)
    except DirectoryError:
        abort(404)


@bp.get("/phones/<mac>")
def show(mac: str) -> str:
    """One phone: what it is, where it was seen and how, its extension."""
    phone = _phone(mac)
    regs = hooks.registrations(store())
    return page("phone.html", phone=phone, registrations=regs, numbers=_numbers())


@bp.post("/phones/<mac>/assign")
def assign(mac: str) -> Any:
    """Give the phone the account of an extension."""
    try:
        phone = directory().assign_phone(mac, request.form.get("extension", ""))
        flash(_("Phone %(mac)s assigned to extension %(n)s.", mac=phone.mac,
                n=phone.extension), "success")
    except DirectoryError as exc:
        flash_error(exc)
    return redirect(url_for("phones.show", mac=mac))


@bp.post("/phones/<mac>/disable")
def disable(mac: str) -> Any:
    """Switch the phone's account off."""
    try:
        phone = directory().disable_phone(mac)
        flash(_("Phone %(mac)s is disabled.", mac=phone.mac), "success")
    except DirectoryError as exc:
        flash_error(exc)
    return redirect(url_for("phones.show", mac=mac))


@bp.post("/phones/<mac>/resync")
def resync(mac: str) -> Any:
    """Ask provisioning to make the phone fetch its config again."""
    try:
        directory().request_resync(mac)
        flash(_("Resync requested: the phone fetches its config when provisioning "
                "sends it the request."), "success")
    except DirectoryError as exc:
        flash_error(exc)
    return redirect(url_for("phones.show", mac=mac))
