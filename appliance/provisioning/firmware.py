"""Firmware: per-vendor profiles (TOML) and stored images under ``<data>/firmware/<vendor>/``."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import insert, select

from appliance.errors import ConflictError, ProvisioningError, ValidationError
from appliance.provisioning.vendors import BY_NAME
from appliance.provisioning.vendors.base import version_key
from appliance.store import Store, journal
from appliance.store.provisioning_tables import firmware_images

PROFILES = Path(__file__).resolve().parents[2] / "firmware-profiles"
_VERSION = re.compile(r"[0-9][0-9A-Za-z._-]{0,59}")
_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,59}")


def model_key(model: str | None) -> str:
    """A model name compared loosely: ``SIP-T46U``, ``T46U`` and ``t46u`` are one model."""
    key = re.sub(r"[^a-z0-9]", "", (model or "").lower())
    return key.removeprefix("sip") if key.startswith("sipt") else key


@dataclass(frozen=True)
class ModelProfile:
    """One model of a vendor profile: its common files and target firmware (if any)."""

    model: str
    common: tuple[str, ...]
    firmware: str | None
    version: str | None


def load_profiles(folder: Path | None = None) -> dict[str, dict[str, ModelProfile]]:
    """``{vendor: {model_key: ModelProfile}}`` from ``<folder>/<vendor>.toml``."""
    profiles: dict[str, dict[str, ModelProfile]] = {}
    for file in sorted((folder or PROFILES).glob("*.toml")):
        vendor = file.stem
        if vendor not in BY_NAME:
            raise ProvisioningError(f"{file}: unknown vendor {vendor!r}")
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ProvisioningError(f"{file}: {exc}") from None
        models = {}
        for name, entry in data.get("models", {}).items():
            common = entry.get("common", [])
            models[model_key(name)] = ModelProfile(
                name, tuple(common if isinstance(common, list) else [common]),
                entry.get("firmware"), entry.get("version"))
        profiles[vendor] = models
    return profiles


@dataclass(frozen=True)
class Image:
    """A stored firmware image."""

    vendor: str
    model: str
    version: str
    filename: str
    size: int
    sha256: str
    added_at: datetime


class Firmware:
    """Stored images and what each model should run."""

    def __init__(self, store: Store, data: Path,
                 profiles: dict[str, dict[str, ModelProfile]] | None = None,
                 cache_seconds: float = 0.0) -> None:
        self.store = store
        self.cache_seconds = cache_seconds
        self._cache: tuple[float, list[Image]] = (-1e9, [])
        self.root = data / "firmware"
        self.profiles = profiles if profiles is not None else load_profiles()

    def add(self, source: Path, vendor: str, model: str, version: str, actor: str,
            now: datetime) -> Image:
        """Copy ``source`` into the store as ``vendor``/``model`` at ``version``."""
        if vendor not in BY_NAME:
            raise ValidationError(f"vendor: one of {', '.join(sorted(BY_NAME))}", "vendor")
        if not _MODEL.fullmatch(model):
            raise ValidationError(f"model: letters, digits, ' ._-', got {model!r}", "model")
        if not _VERSION.fullmatch(version):
            raise ValidationError(f"version: such as 108.86.0.90, got {version!r}", "version")
        if not source.is_file():
            raise ValidationError(f"file: {source} is not a readable file", "file")
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", f"{model}-{version}-{source.name}")[:200]
        folder = self.root / vendor
        folder.mkdir(parents=True, exist_ok=True, mode=0o755)
        target = folder / safe
        digest = hashlib.sha256()
        tmp = target.with_name(f".{safe}.tmp")
        with source.open("rb") as src, tmp.open("wb") as dst:
            while chunk := src.read(1 << 20):
                digest.update(chunk)
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        size = tmp.stat().st_size
        with self.store.write() as conn:
            taken = conn.execute(select(firmware_images.c.id).where(
                firmware_images.c.vendor == vendor, firmware_images.c.model == model,
                firmware_images.c.version == version)).first()
            if taken is not None:
                tmp.unlink()
                raise ConflictError(f"{vendor} {model} {version} is already stored")
            conn.execute(insert(firmware_images).values(
                vendor=vendor, model=model, version=version, filename=f"{vendor}/{safe}",
                size=size, sha256=digest.hexdigest(), added_at=now))
            journal.record(conn, actor, "firmware.added", f"{vendor}/{model}",
                           {"version": version, "file": safe, "size": size}, now)
            shutil.move(tmp, target)
        return Image(vendor, model, version, f"{vendor}/{safe}", size, digest.hexdigest(), now)

    def images(self, vendor: str | None = None) -> list[Image]:
        """Stored images, by vendor, model and version."""
        query = select(firmware_images).order_by(
            firmware_images.c.vendor, firmware_images.c.model, firmware_images.c.id)
        if vendor is not None:
            query = query.where(firmware_images.c.vendor == vendor)
        with self.store.read() as conn:
            return [Image(**{k: v for k, v in row._asdict().items() if k != "id"})
                    for row in conn.execute(query)]

    def _all_images(self) -> list[Image]:
        """Every stored image, re-read at most every ``cache_seconds``."""
        stamp, images = self._cache
        now = time.monotonic()
        if now - stamp >= self.cache_seconds:
            images = self.images()
            self._cache = (now, images)
        return images

    def target(self, vendor: str, model: str | None) -> Image | None:
        """The image ``model`` should run: the profile's pinned version if stored, else the
        newest stored version."""
        if not model:
            return None
        key = model_key(model)
        stored = [i for i in self._all_images() if i.vendor == vendor and model_key(i.model) == key]
        if not stored:
            return None
        pinned = self.profiles.get(vendor, {}).get(key)
        if pinned is not None and pinned.version:
            for image in stored:
                if image.version == pinned.version:
                    return image
        return max(stored, key=lambda i: version_key(i.version))

    def open_path(self, filename: str) -> Path | None:
        """The on-disk file of a stored image named ``vendor/file``; None when it is not a
        stored image, or its file is a symlink or lies outside the firmware folder."""
        with self.store.read() as conn:
            known = conn.execute(select(firmware_images.c.filename)
                                 .where(firmware_images.c.filename == filename)).first()
        if known is None:
            return None
        root = self.root.resolve()
        path = self.root / filename
        try:
            if path.is_symlink() or not path.resolve().is_relative_to(root):
                return None
        except OSError:
            return None
        return path if path.is_file() else None


def older(reported: str | None, target: str) -> bool:
    """True when a phone reporting ``reported`` should be pointed at ``target`` (unknown: yes)."""
    return not reported or version_key(reported) < version_key(target)
