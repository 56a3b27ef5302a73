"""The appliance's version: from the installed package's metadata, else the checkout's setup.cfg."""

from __future__ import annotations

import configparser
import functools
import importlib.metadata
from pathlib import Path

PACKAGE = "appliance"
SETUP_CFG = Path(__file__).resolve().parent.parent / "setup.cfg"


@functools.cache
def app_version() -> str:
    """The version string, e.g. ``0.1.0`` (``unknown`` when neither source has one)."""
    try:
        return importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return setup_cfg_version(SETUP_CFG)


def setup_cfg_version(path: Path) -> str:
    """``[metadata] version`` of a setup.cfg, or ``unknown``."""
    parser = configparser.ConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (OSError, configparser.Error):
        return "unknown"
    return parser.get("metadata", "version", fallback="unknown").strip() or "unknown"

