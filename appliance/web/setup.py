"""First boot: the one-time setup token creates the first admin."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, request, session, url_for

from appliance.web.common import FORM, Errors, accounts, attempt, page, throttle
from appliance.web.i18n import LANGUAGES, _, current_language

bp = Blueprint("setup", __name__)


@bp.route("/setup", methods=["GET", "POST"])
def form() -> Any:
    """Ask for the setup token, a username and a password; create the first admin."""
    errors: Errors = {}
    values = {"username": "admin", "language": current_language()}
    if request.method == "POST":
        values = {k: request.form.get(k, "") for k in ("username", "language")}
        token = request.form.get("token", "")
        password = request.form.get("password", "")
        keys = (f"setup:{request.remote_addr}",)
        wait = throttle().wait(keys)
        language = values["language"] if values["language"] in LANGUAGES else "en"
        if wait > 0:
            errors[FORM] = [_("Too many failed attempts; wait %(seconds)s seconds.",
                              seconds=int(wait) + 1)]
        elif password != request.form.get("password2", ""):
            errors["password2"] = [_("The two passwords differ.")]
        else:
            admin = attempt(errors, lambda: accounts().setup_first_admin(
                token, values["username"], password, language))
            if admin is None and not errors:
                throttle().failed(keys)
                errors["token"] = [_("This setup token is wrong or was already used. "
                                     "Run 'appliance init' to print a new one.")]
            elif admin is not None:
                current_app.extensions["appliance.setup_done"] = True
                session.clear()
                session["sid"] = accounts().open_session(admin)
                session["lang"] = admin.language
                flash(_("Welcome! Setup is done: you are signed in as %(name)s.",
                        name=admin.username), "success")
                return redirect(url_for("dashboard.index"))
    return page("setup.html", errors=errors, values=values)
