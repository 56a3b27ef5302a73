"""Settings: the box's SIP, provisioning and discovery settings (from its config file), and
the user's own account."""

from __future__ import annotations

from flask import Blueprint, request

from appliance.web import hooks
from appliance.web.common import config, page, store

bp = Blueprint("settings", __name__)


@bp.get("/settings")
def index() -> str:
    """What the config file sets, read only, and where to change it."""
    cfg = config()
    seen_as = request.host.rsplit(":", 1)[0].strip("[]") if request.host else "127.0.0.1"
    return page("settings.html", cfg=cfg, urls=hooks.provisioning_urls(cfg, seen_as),
                firmware=hooks.firmware_images(cfg, store()), bound=hooks.bound_addresses(cfg))
