"""Settings: the SIP, provisioning and discovery settings an admin may change (kept as
overrides over the config file), what the file alone sets, and the user's own account."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, current_app, flash, redirect, request, send_file, url_for

from appliance import backup
from appliance.config import Config
from appliance.errors import ApplianceError
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
                errors=errors, languages=list(overrides.PHONE_LANGUAGES.items()),
                backup_folder=backup.backup_folder(cfg)), (
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


@bp.post("/settings/backup")
def download_backup() -> Any:
    """A backup of the whole appliance as a download (a POST: admins only, CSRF-checked;
    it holds every password, so each download is audited)."""
    cfg = config()
    name = f"appliance-backup-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}.tar.gz"
    cfg.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    out = tempfile.TemporaryFile(dir=cfg.run_dir, prefix=".download-")  # noqa: SIM115
    try:
        manifest = backup.write_backup(cfg, out, store())
        backup.audit(store(), f"web:{user().username}", "backup.downloaded", name, manifest,
                     "web")
    except ApplianceError:
        out.close()
        current_app.logger.exception("the backup for a download failed")
        flash(_("The backup could not be made; the appliance's log says why."), "error")
        return redirect(url_for("settings.index"))
    out.seek(0)
    # The server closes (and so deletes) the temporary file once it has been sent.
    return send_file(out, mimetype="application/gzip", as_attachment=True, download_name=name,
                     max_age=0)
