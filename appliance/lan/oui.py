"""Which desk-phone vendor a MAC belongs to, from the OUI list in ``oui.toml``."""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

OUI_FILE = Path(__file__).with_name("oui.toml")


@cache
def table(path: Path = OUI_FILE) -> dict[str, str]:
    """The prefix -> vendor map read from ``path``."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return {prefix.lower(): vendor for vendor, entry in data.items()
            for prefix in entry["prefixes"]}


def prefixes(vendor: str) -> frozenset[str]:
    """The MAC prefixes of one vendor family."""
    return frozenset(prefix for prefix, name in table().items() if name == vendor)


def vendor_of(mac: str) -> str | None:
    """The phone vendor of a normalised MAC (12 lower-case hex digits), or None."""
    return table().get(mac[:6])
