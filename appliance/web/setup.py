"""First boot: the one-time setup token creates the first admin; the box's time zone is
asked too (kept as the setting ``provisioning.timezone``, the zone phones are given)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, request, session, url_for

from appliance import localtime
from appliance.config import Config
from appliance.errors import DirectoryError
from appliance.web import overrides
from appliance.web.accounts import check_password, clean_username
from appliance.web.common import FORM, Errors, accounts, attempt, config, page, store, throttle
from appliance.web.i18n import LANGUAGES, _, current_language
from appliance.web.messages import translate

bp = Blueprint("setup", __name__)


def _check(values: dict[str, str], token: str, password: str, password2: str) -> Errors:
    """Every rule the form breaks, each under its field (the token is checked last, when it
    is spent)."""
    errors: Errors = {}
    if not token.strip():
        errors["token"] = [_("Enter the setup token.")]
    name = attempt(errors, lambda: clean_username(values["username"]))
    try:
        check_password(password, name or values["username"])
    except DirectoryError as exc:
        errors.setdefault("password", []).append(translate(exc))
    if password != password2:
        errors["password2"] = [_("The two passwords differ.")]
    if not localtime.valid_zone(values["timezone"]):
        errors["timezone"] = [_("Use a time zone name such as %(example)s.",
                                example="Asia/Ho_Chi_Minh")]
    return errors


def _keep_zone(zone: str, actor: str) -> None:
    """Make ``zone`` the box's time zone (a setting over the file; audited)."""
    base: Config = current_app.config["APPLIANCE"]
    now = config()
    if now.provisioning.timezone == zone:
        return
    candidate = {section: dict(keys) for section, keys in overrides.stored(store()).items()}
    candidate.setdefault("provisioning", {})["timezone"] = zone
    from appliance.config import with_overrides

    overrides.apply(base, now, with_overrides(base, candidate), candidate, store(), actor)


@bp.route("/setup", methods=["GET", "POST"])
def form() -> Any:
    """Ask for the setup token, a username, a password, a language and the time zone; create
    the first admin. Every broken rule is shown at once, next to its field."""
    errors: Errors = {}
    values = {"username": "admin", "language": current_language(),
              "timezone": localtime.suggested_zone(config())}
    if request.method == "POST":
        values = {k: request.form.get(k, values[k] if k == "timezone" else "").strip()
                  for k in values}
        token = request.form.get("token", "")
        password = request.form.get("password", "")
        keys = (f"setup:{request.remote_addr}",)
        wait = throttle().wait(keys)
        language = values["language"] if values["language"] in LANGUAGES else "en"
        errors = _check(values, token, password, request.form.get("password2", ""))
        if wait > 0:
            errors[FORM] = [_("Too many failed attempts; wait %(seconds)s seconds.",
                              seconds=int(wait) + 1)]
        elif not errors:
            admin = attempt(errors, lambda: accounts().setup_first_admin(
                token, values["username"], password, language))
            if admin is None and not errors:
                throttle().failed(keys)
                errors["token"] = [_("This setup token is wrong or was already used. "
                                     "Run 'appliance init' to print it again.")]
            elif admin is not None:
                current_app.extensions["appliance.setup_done"] = True
                _keep_zone(values["timezone"], f"web:{admin.username}")
                session.clear()
                session["sid"] = accounts().open_session(admin)
                session["lang"] = admin.language
                flash(_("Welcome! Setup is done: you are signed in as %(name)s.",
                        name=admin.username), "success")
                return redirect(url_for("dashboard.index"))
    return page("setup.html", errors=errors, values=values, zones=localtime.zone_names()), (
        400 if errors else 200)
