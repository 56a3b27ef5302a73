"""Settings: the SIP, provisioning and discovery settings an admin may change (kept as
overrides over the config file), what the file alone sets, the music callers hear on hold
(an admin uploads an MP3 or goes back to the built-in music, both audited, as the CLI's
``hold-music``), and the user's own account."""

from __future__ import annotations

import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from werkzeug.exceptions import RequestEntityTooLarge

from appliance import backup
from appliance.config import Config
from appliance.directory import utcnow
from appliance.errors import ApplianceError, DirectoryError, PromptError
from appliance.media import hold, prompts
from appliance.store import journal
from appliance.web import hooks, overrides
from appliance.web.common import Errors, config, page, store, user
from appliance.web.i18n import N_, _
from appliance.web.messages import bare, matched

bp = Blueprint("settings", __name__)
MAX_MB = hold.MAX_UPLOAD // (1024 * 1024)
# A hold music upload may be this big on the wire (the rest of the page keeps the app's
# small limit): a file past hold.MAX_UPLOAD is still read, to say beside the field how big
# it is; past this the request is refused before it is read (and said beside the field too).
UPLOAD_LIMIT = 4 * hold.MAX_UPLOAD

# The hold music checks' messages (appliance/media/hold.py) in the user's language.
HOLD_ERRORS: list[tuple[re.Pattern[str], str]] = [(re.compile(p + r"\Z", re.S), m) for p, m in [
    (r"at most (?P<max>\d+) MB, this one is (?P<size>[\d.]+) MB",
     N_("At most %(max)s MB; this file is %(size)s MB.")),
    (r"not an MP3 file", N_("This is not an MP3 file.")),
    (r"the MP3 must be mono, this one has (?P<n>\d+) channels \(stereo\)",
     N_("The MP3 must be mono; this one has %(n)s channels (stereo).")),
    (r"the MP3 holds no audio", N_("The MP3 holds no audio.")),
    (r"the MP3 cannot be decoded \((?P<why>.*)\)", N_("The MP3 cannot be decoded (%(why)s).")),
]]


def _base() -> Config:
    base: Config = current_app.config["APPLIANCE"]
    return base


def _hold_folder() -> Path:
    return prompts.folder_of(config().paths.data)


def hold_music(cfg: Config) -> dict[str, Any]:
    """What callers on hold hear: the uploaded music with its length (None when its file
    cannot be read), or the built-in music in the phones' language."""
    uploaded = _hold_folder() / hold.UPLOADED
    if uploaded.exists():
        try:
            seconds: float | None = round(prompts.wav_seconds(uploaded), 1)
        except PromptError:
            seconds = None
        return {"uploaded": True, "seconds": seconds}
    return {"uploaded": False, "language": cfg.provisioning.language
            if cfg.provisioning.language in hold.PLEASE_HOLD else "en"}


def hold_error(exc: DirectoryError) -> str:
    """A hold music check's message in the user's language, without its field prefix."""
    text = bare(exc)
    return matched(text, HOLD_ERRORS) or text


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
                backup_folder=backup.backup_folder(cfg), hold=hold_music(cfg),
                max_mb=MAX_MB), (
        400 if errors else 200)


@bp.get("/settings")
def index() -> tuple[str, int]:
    """The settings, editable by an admin (``?upload=too-big``: a hold music upload was
    refused for its size before it was read)."""
    if request.args.get("upload") == "too-big":
        return _render({"file": [_("The file is too large: at most %(max)s MB.",
                                   max=MAX_MB)]})
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


def _audit_hold(action: str, detail: dict[str, Any]) -> None:
    with store().write() as db:
        journal.record(db, f"web:{user().username}", action, "hold music", detail, utcnow())


@bp.post("/settings/hold-music")
def upload_hold_music() -> Any:
    """Check an uploaded MP3 (mono, at most 2 MB) and make it the hold music (audited); a
    file refused says why beside the field and nothing is stored."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _render({"file": [_("Choose an MP3 file to upload.")]})
    data = upload.read()
    try:
        made = hold.install_upload(data, _hold_folder())
        seconds = round(prompts.wav_seconds(made), 1)
    except DirectoryError as exc:
        return _render({"file": [hold_error(exc)]})
    except (OSError, PromptError):
        current_app.logger.exception("the hold music upload could not be stored")
        return _render({"file": [_("The music could not be stored; the appliance's log "
                                   "says why.")]})
    _audit_hold("hold_music.uploaded", {"bytes": len(data), "seconds": seconds})
    flash(_("The uploaded music (%(seconds)s s) plays to callers on hold from now on.",
            seconds=seconds), "success")
    return redirect(url_for("settings.index", _anchor="hold-music"))


@bp.post("/settings/hold-music/remove")
def remove_hold_music() -> Any:
    """Go back to the built-in hold music (audited)."""
    if hold.remove_upload(_hold_folder()):
        _audit_hold("hold_music.removed", {})
        flash(_("The built-in music plays to callers on hold again."), "success")
    else:
        flash(_("No music was uploaded: the built-in music plays."), "info")
    return redirect(url_for("settings.index", _anchor="hold-music"))


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(exc: RequestEntityTooLarge) -> Any:
    """An upload past ``UPLOAD_LIMIT`` is refused before it is read (so before its CSRF token
    and the sign-in are checked): back to the page, which says why beside the field."""
    if request.endpoint == "settings.upload_hold_music":
        return redirect(url_for("settings.index", upload="too-big", _anchor="hold-music"))
    return render_template("error.html", code=413,
                           message=_("What was sent is too large.")), 413
