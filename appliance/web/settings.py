"""Settings: the SIP, provisioning and discovery settings an admin may change (kept as
overrides over the config file), what the file alone sets, and the user's own account."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, request, url_for

from appliance.config import Config
from appliance.web import hooks, overrides
from appliance.web.common import Errors, config, page, store, user
from appliance.web.i18n import _

bp = Blueprint("settings", __name__)


def _base() -> Config:
    base: Config = current_app.config["APPLIANCE"]
    return base


def _render(errors: Errors, values: dict[str, Any] | None = None) -> tuple[str, int]:
    cfg = config()
    seen_as = request.host.rsplit(":", 1)[0].strip("[]") if request.host else "127.0.0.1"
    shown = {f.name: overrides.shown(cfg, f) for f in overrides.FIELDS}
    changed = {f.name for f in overrides.FIELDS
               if f.key in cfg.overrides.get(f.section, {})}
    return page("settings.html", cfg=cfg, urls=hooks.provisioning_urls(cfg, seen_as),
                firmware=hooks.firmware_images(cfg, store()), bound=hooks.bound_addresses(cfg),
                fields=overrides.FIELDS, values={**shown, **(values or {})}, changed=changed,
                errors=errors, languages=list(overrides.PHONE_LANGUAGES.items())), (
        400 if errors else 200)


@bp.get("/settings")
def index() -> tuple[str, int]:
    """The settings, editable by an admin."""
    return _render({})


@bp.post("/settings")
def save() -> Any:
    """Check and keep the changed settings; the appliance restarts its services with them."""
    errors, changed = overrides.save(_base(), config(), request.form, store(),
                                     f"web:{user().username}")
    if errors:
        values = {f.name: request.form.get(f.name, "") for f in overrides.FIELDS
                  if f.kind != "secret"}
        return _render(errors, values)
    if changed:
        flash(_("Saved: %(keys)s. The appliance restarts its services with them now.",
                keys=", ".join(changed)), "success")
    else:
        flash(_("Nothing was changed."), "info")
    return redirect(url_for("settings.index"))


@bp.post("/settings/reset")
def reset() -> Any:
    """Drop the changes made here: the config file's values apply again."""
    changed = overrides.reset(_base(), config(), store(), f"web:{user().username}")
    if changed:
        flash(_("The config file's values apply again: %(keys)s.", keys=", ".join(changed)),
              "success")
    else:
        flash(_("Nothing was changed."), "info")
    return redirect(url_for("settings.index"))
