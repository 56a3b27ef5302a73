"""Web users: admins change things, viewers only read; an admin adds, resets and removes them."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, request, url_for

from appliance.errors import DirectoryError
from appliance.web.accounts import ROLES
from appliance.web.common import Errors, accounts, attempt, flash_error, page, user
from appliance.web.i18n import N_, _

bp = Blueprint("users", __name__)
ROLE_LABELS = {"admin": N_("Admin: can change everything"), "viewer": N_("Viewer: read only")}


@bp.route("/users", methods=["GET", "POST"])
def index() -> Any:
    """Every web user; admins may add one."""
    errors: Errors = {}
    values = {"username": "", "role": "viewer"}
    if request.method == "POST":
        values = {k: request.form.get(k, "").strip() for k in values}
        new = request.form.get("password", "")
        if new != request.form.get("password2", ""):
            errors["password2"] = [_("The two passwords differ.")]
        else:
            made = attempt(errors, lambda: accounts().create(
                values["username"], new, values["role"], actor=f"web:{user().username}"))
            if made is not None:
                flash(_("User %(name)s added.", name=made.username), "success")
                return redirect(url_for("users.index"))
    return page("users.html", users=accounts().all(), sessions=accounts().session_counts(),
                errors=errors, values=values,
                roles=[(r, _(ROLE_LABELS[r])) for r in ROLES]), 400 if errors else 200


@bp.post("/users/<int:admin_id>/remove")
def remove(admin_id: int) -> Any:
    """Delete a user (not oneself, not the last admin); their sessions end."""
    if admin_id == user().id:
        flash(_("You cannot remove yourself."), "error")
    else:
        try:
            accounts().remove(admin_id, actor=f"web:{user().username}")
            flash(_("User removed."), "success")
        except DirectoryError as exc:
            flash_error(exc)
    return redirect(url_for("users.index"))


@bp.post("/users/<int:admin_id>/revoke")
def revoke(admin_id: int) -> Any:
    """End every session of a user (they must sign in again)."""
    try:
        count = accounts().revoke_all(admin_id, actor=f"web:{user().username}")
        flash(_("%(count)s sessions ended.", count=count), "success")
    except DirectoryError as exc:
        flash_error(exc)
    return redirect(url_for("users.index"))


@bp.post("/users/<int:admin_id>/password")
def reset(admin_id: int) -> Any:
    """Set another user's password (their sessions end)."""
    try:
        changed = accounts().set_password(admin_id, request.form.get("password", ""),
                                          actor=f"web:{user().username}")
        flash(_("The password of %(name)s is changed.", name=changed.username), "success")
    except DirectoryError as exc:
        flash_error(exc)
    return redirect(url_for("users.index"))
