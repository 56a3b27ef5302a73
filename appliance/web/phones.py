"""Phones: the inventory (live), one phone with every sighting; assign, resync, disable; its
own credentials (admin password, HTTP provisioning) and a one-time enrollment URL."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, g, redirect, request, url_for

from appliance.directory import Phone, rules
from appliance.directory.rules import PHONE_STATES
from appliance.errors import DirectoryError
from appliance.web import hooks
from appliance.web.common import Errors, attempt, config, directory, flash_error, page, store
from appliance.web.i18n import _

bp = Blueprint("phones", __name__)


def _rows(state: str) -> dict[str, Any]:
    phones = directory().list_phones(state if state in PHONE_STATES else None,
                                     with_sightings=True)
    return {"phones": phones, "regs": hooks.bindings(store()), "state": state}


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
        attempt(errors, lambda: rules.mac_address(values["mac"]))
        if not values["extension"]:
            errors["extension"] = [_("Choose an extension.")]
        phone = None if errors else attempt(
            errors, lambda: directory().assign_phone(values["mac"], values["extension"]))
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


def provisioning_bases() -> dict[str, str]:
    """The provisioning server's base URLs phones can be given (``https`` when it runs, and
    ``http``): the running daemon's bound ports, a wildcard host as this page was reached."""
    p = config().provisioning
    try:
        bound = json.loads((config().run_dir / "ports.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        bound = {}
    here = urlsplit(f"//{request.host}").hostname or "127.0.0.1"
    bases = {}
    for scheme, listen in (("https", p.https_listen), ("http", p.http_listen)):
        if listen is None:
            continue
        host, _, port = str(bound.get(scheme, listen)).rpartition(":")
        host = host.strip("[]")
        if host in ("", "0.0.0.0", "::"):  # noqa: S104 (recognised, not bound)
            host = here
        host = f"[{host}]" if ":" in host else host
        bases[scheme] = f"{scheme}://{host}" + ("" if port in ("80", "443") else f":{port}")
    if p.url.startswith(("http://", "https://")):  # what phones are told, as configured
        bases[urlsplit(p.url).scheme] = p.url
    return bases


def _show(mac: str, enroll_url: str = "") -> str:
    phone = _phone(mac)
    regs = hooks.bindings(store())
    creds = directory().phone_credentials(phone.mac) if g.user.can_change else None
    return page("phone.html", phone=phone, regs=regs, numbers=_numbers(),
                credentials=creds, bases=provisioning_bases() if creds else {},
                enroll_url=enroll_url)


@bp.get("/phones/<mac>")
def show(mac: str) -> str:
    """One phone: what it is, where it was seen and how, its extension; for admins who may
    change things, its own admin password and HTTP provisioning credentials."""
    return _show(mac)


@bp.post("/phones/<mac>/credentials")
def reissue(mac: str) -> Any:
    """New admin and provisioning passwords for the phone (the old ones stop working)."""
    if not g.user.can_change:
        abort(403)
    try:
        phone = directory().reissue_phone_credentials(mac)
        flash(_("Phone %(mac)s has new credentials.", mac=phone.mac), "success")
    except DirectoryError as exc:
        flash_error(exc)
    return redirect(url_for("phones.show", mac=mac))


@bp.post("/phones/<mac>/enroll")
def enroll(mac: str) -> Any:
    """A one-time enrollment URL for the phone, shown once on its page."""
    if not g.user.can_change:
        abort(403)
    try:
        token = directory().start_enrollment(mac)
    except DirectoryError as exc:
        flash_error(exc)
        return redirect(url_for("phones.show", mac=mac))
    bases = provisioning_bases()
    base = bases.get("https") or bases.get("http", "")
    return _show(mac, enroll_url=f"{base}/enroll/{token}")


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
