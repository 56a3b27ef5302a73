"""An IANA zone as phones need it: standard offset, DST rule, and each vendor's own name.

The rule comes from the POSIX TZ string that ends every TZif file (what the zone does from now
on); vendor names come from ``timezones.toml`` beside this module.
"""

from __future__ import annotations

import re
import tomllib
import zoneinfo
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

TABLE = Path(__file__).with_name("timezones.toml")

_NAME = r"(?:<[^>]+>|[A-Za-z]{3,})"
_OFFSET = r"[+-]?\d{1,2}(?::\d{2}){0,2}"
_POSIX = re.compile(rf"(?P<std>{_NAME})(?P<std_off>{_OFFSET})"
                    rf"(?:(?P<dst>{_NAME})(?P<dst_off>{_OFFSET})?"
                    rf",(?P<start>M\d{{1,2}}\.\d\.\d(?:/{_OFFSET})?)"
                    rf",(?P<end>M\d{{1,2}}\.\d\.\d(?:/{_OFFSET})?))?")
_CHANGE = re.compile(r"M(?P<month>\d{1,2})\.(?P<week>\d)\.(?P<day>\d)(?:/(?P<time>[+-]?[\d:]+))?")


@dataclass(frozen=True)
class Change:
    """A DST change: month 1-12, week 1-5 (5 = last), weekday 0-6 (0 = Sunday), local hour."""

    month: int
    week: int
    weekday: int
    hour: int


@dataclass(frozen=True)
class Zone:
    """An IANA zone: standard offset (minutes east of UTC), its DST rule, its POSIX string."""

    name: str
    std_minutes: int
    posix: str
    dst_minutes: int = 0  # how far DST moves the clock, 0 without DST
    start: Change | None = None
    end: Change | None = None

    @property
    def has_dst(self) -> bool:
        """True when the zone observes DST from now on."""
        return self.start is not None and self.end is not None


def _minutes(text: str) -> int:
    """``-7``, ``5:30``, ``+3:30:00`` as signed minutes (seconds dropped)."""
    sign = -1 if text.startswith("-") else 1
    parts = [int(p) for p in text.lstrip("+-").split(":")]
    return sign * (parts[0] * 60 + (parts[1] if len(parts) > 1 else 0))


def _change(text: str) -> Change:
    m = _CHANGE.fullmatch(text)
    assert m is not None
    hour = _minutes(m["time"]) // 60 if m["time"] else 2
    return Change(int(m["month"]), int(m["week"]), int(m["day"]), min(max(hour, 0), 23))


def parse_posix(name: str, posix: str) -> Zone | None:
    """The Zone a POSIX TZ string (``CET-1CEST,M3.5.0,M10.5.0/3``) describes, or None when it
    uses a form phones have no field for (Julian days)."""
    m = _POSIX.fullmatch(posix)
    if m is None:
        return None
    std = -_minutes(m["std_off"])  # POSIX offsets count west of UTC
    if not m["dst"]:
        return Zone(name, std, posix)
    dst = -_minutes(m["dst_off"]) if m["dst_off"] else std + 60
    return Zone(name, std, posix, dst - std, _change(m["start"]), _change(m["end"]))


def _footer(name: str) -> str | None:
    """The POSIX TZ string at the end of zone ``name``'s TZif file, if one is found."""
    if not re.fullmatch(r"[A-Za-z0-9_+-]+(?:/[A-Za-z0-9_+-]+)*", name):
        return None
    for root in zoneinfo.TZPATH:
        path = Path(root) / name
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if data.startswith(b"TZif") and data.endswith(b"\n"):
            return data.rstrip(b"\n").rsplit(b"\n", 1)[-1].decode("ascii", "replace")
    return None


def _posix_of_offset(minutes: int) -> str:
    hours, rest = divmod(abs(minutes), 60)
    label = f"{'+' if minutes >= 0 else '-'}{hours:02d}" + (f"{rest:02d}" if rest else "")
    west = f"{'-' if minutes > 0 else ''}{hours}" + (f":{rest:02d}" if rest else "")
    return f"<{label}>{west}"


@cache
def zone(name: str, current_minutes: int) -> Zone:
    """Zone ``name`` from its TZif footer; without a usable one, the offset in force now
    (``current_minutes``) and no DST."""
    posix = _footer(name)
    found = parse_posix(name, posix) if posix else None
    if found is not None:
        return found
    return Zone(name, current_minutes, _posix_of_offset(current_minutes))


@cache
def _table() -> dict[str, dict[str, Any]]:
    return tomllib.loads(TABLE.read_text(encoding="utf-8"))


def vendor_name(vendor: str, name: str) -> Any:
    """The vendor's own value for zone ``name`` from the table, or None when not listed."""
    return _table().get(vendor, {}).get(name)


def offset_text(minutes: int, sep: str = ":", pad: bool = True, zero: str = "") -> str:
    """``+07:00``-style text of an offset in minutes (``zero`` stands for 0 when given)."""
    if minutes == 0 and zero:
        return zero
    hours, rest = divmod(abs(minutes), 60)
    sign = "+" if minutes >= 0 else "-"
    if pad:
        return f"{sign}{hours:02d}{sep}{rest:02d}"
    return f"{sign}{hours}" + (f"{sep}{rest:02d}" if rest else "")
