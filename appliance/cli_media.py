"""The CLI's hold music: ``appliance hold-music upload FILE|remove|show``. An upload is checked
(an MP3, mono, at most 2 MB) and converted once to 8 kHz mono under the data folder's prompts;
the running daemon plays it from the next hold on. Uploads and removals are audited.
Registered on the ``appliance`` group by ``appliance/cli.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from appliance.cli import _actor, _config, _emit, _store, config_option, json_option
from appliance.config import Config
from appliance.directory import utcnow
from appliance.errors import ValidationError
from appliance.media import hold, prompts
from appliance.store import journal


def register(cli: click.Group) -> None:
    """Add the ``hold-music`` group to the ``appliance`` group."""
    cli.add_command(hold_music)


@click.group("hold-music")
def hold_music() -> None:
    """The music callers hear on hold: built in, or an uploaded MP3."""


def _folder(config: Config) -> Path:
    return prompts.folder_of(config.paths.data)


def _audit(config: Config, action: str, detail: dict[str, Any]) -> None:
    store = _store(config)
    try:
        with store.write() as db:
            journal.record(db, _actor(), action, "hold music", detail, utcnow())
    finally:
        store.dispose()


def _shown(config: Config) -> dict[str, Any]:
    uploaded = _folder(config) / hold.UPLOADED
    if uploaded.exists():
        return {"music": "uploaded", "seconds": round(prompts.wav_seconds(uploaded), 1)}
    return {"music": "built-in", "language": config.provisioning.language
            if config.provisioning.language in hold.PLEASE_HOLD else "en"}


@hold_music.command("upload")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@config_option
@json_option
def upload(file: Path, config_path: str | None, as_json: bool) -> None:
    """Check an MP3 (mono, at most 2 MB) and make it the hold music."""
    config = _config(config_path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ValidationError(f"file: cannot read {file.name}: {exc.strerror}", "file") from None
    made = hold.install_upload(data, _folder(config))
    seconds = round(prompts.wav_seconds(made), 1)
    _audit(config, "hold_music.uploaded", {"bytes": len(data), "seconds": seconds})
    _emit(_shown(config), as_json)


@hold_music.command("remove")
@config_option
def remove(config_path: str | None) -> None:
    """Go back to the built-in hold music."""
    config = _config(config_path)
    if not hold.remove_upload(_folder(config)):
        raise ValidationError("hold music: none was uploaded, the built-in music plays")
    _audit(config, "hold_music.removed", {})
    click.echo("hold music: back to the built-in music")


@hold_music.command("show")
@config_option
@json_option
def show(config_path: str | None, as_json: bool) -> None:
    """What plays to callers on hold."""
    _emit(_shown(_config(config_path)), as_json)
