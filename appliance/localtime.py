"""The box's local time: its zone is ``provisioning.timezone`` (the one phones are given too,
asked at first-boot setup); every time a person reads is shown in it, machines get UTC."""

from __future__ import annotations

import contextlib
import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from appliance.config import Config, with_overrides
from appliance.errors import ConfigError
from appliance.store import Store
from appliance.store import settings as kv

LOCALTIME = Path("/etc/localtime")
SHOWN = "%Y-%m-%d %H:%M:%S"
_ISO_UTC = re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:\+00:00|Z)")


def system_zone(localtime: Path = LOCALTIME) -> str:
    """The system's IANA zone from the ``/etc/localtime`` link, else ``UTC``."""
    try:
        target = str(localtime.resolve(strict=True))
    except OSError:
        return "UTC"
    _, found, name = target.partition("/zoneinfo/")
    if not found:
        return "UTC"
    name = name.removeprefix("posix/").removeprefix("right/")
    return name if valid_zone(name) else "UTC"


def valid_zone(name: str) -> bool:
    """True for an IANA zone name this system knows."""
    if not name or name.startswith(("/", ".")) or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def zone_names() -> list[str]:
    """Every IANA zone name, sorted (for a form's choices)."""
    return sorted(available_timezones())


def suggested_zone(config: Config, localtime: Path = LOCALTIME) -> str:
    """The zone the setup form proposes: ``provisioning.timezone`` when set to other than
    UTC, else the system's."""
    configured = config.provisioning.timezone
    return configured if configured != "UTC" else system_zone(localtime)


def zone_of(config: Config) -> ZoneInfo:
    """The zone of an (effective) config; UTC if the name is unknown here."""
    try:
        return ZoneInfo(config.provisioning.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def box_zone(config: Config, store: Store) -> ZoneInfo:
    """The box's zone: the config file's ``provisioning.timezone`` with the admin page's
    settings laid over it (the file's alone when they no longer fit)."""
    with store.read() as conn:
        overrides = kv.get_overrides(conn)
    if overrides:
        with contextlib.suppress(ConfigError):
            config = with_overrides(config, overrides)
    return zone_of(config)


def shown(value: datetime, zone: ZoneInfo) -> str:
    """``value`` (aware; naive is taken as UTC) as ``YYYY-MM-DD HH:MM:SS`` in ``zone``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo("UTC"))
    return value.astimezone(zone).strftime(SHOWN)


def shown_text(text: str, zone: ZoneInfo) -> str:
    """``text`` with each ISO 8601 UTC timestamp in it (as ``to_dict`` writes them) shown
    in ``zone``; the rest as it is."""
    return _ISO_UTC.sub(
        lambda m: shown(datetime.fromisoformat(m.group(0).replace("Z", "+00:00")), zone), text)
