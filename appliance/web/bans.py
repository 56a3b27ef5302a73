"""SIP bans on the web page: the sources the SIP guard bans, and lifting one (admins only:
viewers may not post; audited; the running daemon lets the address in within a second)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, request, url_for

from appliance.errors import NotFoundError, ValidationError
from appliance.routing import bans
from appliance.web.common import config, page, store, user
from appliance.web.i18n import N_, _

bp = Blueprint("bans", __name__)
REASONS = {"failures": N_("failed sign-ins on one extension"),
           "usernames": N_("failed sign-ins on many extensions")}


def listing() -> list[dict[str, Any]]:
    """The bans in force, each with its reason in the user's language."""
    return [{**row, "why": _(REASONS[row["reason"]]) if row["reason"] in REASONS
             else row["reason"]} for row in bans.listing(store())]


@bp.get("/sip/bans")
def index() -> str:
    """The bans in force."""
    return page("sip_bans.html", bans=listing(), cfg=config())


@bp.post("/sip/bans/unban")
def unban() -> Any:
    """Lift the ban on the posted address."""
    address = request.form.get("address", "").strip()[:64]
    try:
        bans.lift(store(), address, actor=f"web:{user().username}")
        flash(_("The ban on %(address)s is lifted.", address=address), "success")
    except ValidationError:
        flash(_("%(address)s is not an IP address.", address=address), "error")
    except NotFoundError:
        flash(_("%(address)s is not banned (any more).", address=address), "error")
    return redirect(url_for("bans.index"))
