"""Sign in, sign out, change one's password, pick a language."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, redirect, request, session, url_for

from appliance.web import safe_next
from appliance.web.common import FORM, Errors, accounts, attempt, page, throttle, user
from appliance.web.i18n import LANGUAGES, _

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """The sign-in form; failures make the next try of that username from that source wait
    longer (and a source trying many usernames waits too); no other source is delayed."""
    if g.user is not None and request.method == "GET":
        return redirect(url_for("dashboard.index"))
    errors: Errors = {}
    username = request.form.get("username", "").strip().lower()
    target = request.values.get("next")
    if request.method == "POST":
        keys = throttle().login_keys(username, request.remote_addr)
        wait = throttle().wait(keys)
        if wait > 0:
            errors[FORM] = [_("Too many failed attempts; wait %(seconds)s seconds.",
                              seconds=int(wait) + 1)]
        else:
            admin = accounts().authenticate(username, request.form.get("password", ""))
            if admin is None:
                throttle().failed(keys)
                errors[FORM] = [_("Wrong username or password.")]
            else:
                throttle().succeeded(keys[:1])  # the pair; the source's count stays
                session.clear()  # a fresh session (and CSRF token) after sign-in
                session["sid"] = accounts().open_session(admin)
                session["lang"] = admin.language
                return redirect(safe_next(target))
    return page("login.html", errors=errors, username=username, next=target or "")


@bp.post("/logout")
def logout() -> Any:
    """End this session on the server and in the browser."""
    token = session.get("sid")
    if isinstance(token, str):
        accounts().close_session(token, g.user)
    session.clear()
    flash(_("You are signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.post("/language")
def language() -> Any:
    """Switch the language (remembered for the signed-in user)."""
    chosen = request.form.get("language", "")
    if chosen in LANGUAGES:
        session["lang"] = chosen
        if g.user is not None:
            g.user = accounts().set_language(g.user.id, chosen)
    return redirect(safe_next(request.form.get("next")))


@bp.route("/account/password", methods=["GET", "POST"])
def password() -> Any:
    """Change one's own password; every other session of this user ends."""
    errors: Errors = {}
    if request.method == "POST":
        new = request.form.get("password", "")
        if new != request.form.get("password2", ""):
            errors["password2"] = [_("The two passwords differ.")]
        else:
            me = user()
            changed = attempt(errors, lambda: accounts().change_password(
                me.id, request.form.get("current_password", ""), new))
            if changed is not None:
                session["sid"] = accounts().open_session(changed)
                flash(_("Your password is changed; your other sessions have ended."), "success")
                return redirect(url_for("settings.index"))
    return page("password.html", errors=errors)
