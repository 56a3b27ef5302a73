"""Prompts uploaded as audio (a menu's, a number's greeting): an MP3, mono, at most 2 MB,
checked and converted once to the box's 8 kHz WAV (``media.hold.convert_upload``) into the
prompts folder, named by what it holds (``upload-<16 hex of sha256>.wav``): the same upload
twice is one file, and what the store keeps is that name, never a path."""

from __future__ import annotations

import hashlib
from pathlib import Path

from appliance.errors import ValidationError
from appliance.media.hold import convert_upload


def upload_name(data: bytes) -> str:
    """The file name an upload of ``data`` is kept under."""
    return f"upload-{hashlib.sha256(data).hexdigest()[:16]}.wav"


def install_prompt(data: bytes, folder: Path, field: str) -> str:
    """Check and convert ``data`` into ``folder`` (unless there already); its name. A refusal
    is the ValidationError of ``field`` with the reason, and nothing written."""
    name = upload_name(data)
    path = folder / name
    if path.exists():
        return name
    folder.mkdir(parents=True, exist_ok=True)
    try:
        convert_upload(data, path)
    except ValidationError as exc:
        reason = str(exc).removeprefix("file: ")
        raise ValidationError(f"{field}: {reason}", field) from None
    return name


def read_upload(path: str, field: str) -> bytes:
    """The bytes of a file given to a command (ValidationError of ``field`` if unreadable)."""
    try:
        with open(path, "rb") as f:
            return f.read(2 * 1024 * 1024 + 1)
    except OSError as exc:
        raise ValidationError(f"{field}: cannot read {path}: {exc.strerror}", field) from None
