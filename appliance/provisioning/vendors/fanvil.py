"""Fanvil: a per-model common file (``f0X4hw1.100.cfg``), then ``<mac>.cfg``; XML sysConf."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from appliance.lan import oui
from appliance.provisioning.vendors import timezones
from appliance.provisioning.vendors.base import (
    MAC_RE,
    Identity,
    Vendor,
    normalise_mac,
    phonebook_route,
    phonebook_url,
    route,
)

_UA = re.compile(r"Fanvil (?P<model>[\w-]+) (?P<fw>[\d.]+)(?: (?P<mac>[0-9a-fA-F]{12}))?")


def parse_user_agent(ua: str) -> Identity | None:
    """``Fanvil X4 2.10.2.6887 0c383e07e16c`` -> model, firmware, MAC."""
    m = _UA.search(ua)
    if m is None:
        return None
    return Identity("fanvil", m["model"], m["fw"], normalise_mac(m["mac"]) if m["mac"] else None)


# The older X line reads <VOIP_CONFIG_FILE>; the X-U, X-C, X210, X7 and later lines <sysConf>.
# Firmware versions do not tell the two apart (an X4 on 2.14 still reads the old format, an X6U
# Pro reports 0.0.10), so the model decides; a model not listed here gets <sysConf>.
VOIP_CONFIG_MODELS = frozenset({"X2", "X3", "X3S", "X3SG", "X4", "X5", "X5S", "X6", "X6V2"})
# <Language> of the old format is an index; <DefaultLanguage> of sysConf a code. Neither list
# has Vietnamese (nor the old one Portuguese): English.
OLD_LANGUAGES = {"en": 0, "nl": 3, "fr": 4, "it": 7, "es": 10, "de": 16}
LANGUAGES = {"en": "en", "fr": "fr", "de": "de", "es": "es", "it": "it", "nl": "nl",
             "pt": "pt", "vi": "en"}


def model_line(model: str) -> str:
    """``voip_config`` or ``sysconf``: the format a model reads (``V00X300000`` is the X3)."""
    short = re.fullmatch(r"V00(\w+?)0*", model)
    name = (short[1] if short else model).upper().replace(" ", "-")
    return "voip_config" if name in VOIP_CONFIG_MODELS else "sysconf"


def _change(change: timezones.Change) -> dict[str, int]:
    """Month, hour, weekday (0 Sunday) and week (-1 the last) of a DST change."""
    return {"mon": change.month, "hour": change.hour, "wday": change.weekday,
            "week": -1 if change.week == 5 else change.week}


def _zone_name(minutes: int) -> str:
    hours = minutes // 60 if minutes >= 0 else -(-minutes // 60)
    if hours == 0:
        return "UCT"
    return f"UTC+{hours}" if hours > 0 else f"UTC-{-hours:02d}"


def extras(ctx: Mapping[str, Any]) -> dict[str, Any]:
    """The file format of this model, transport code (0 UDP, 1 TCP, 3 TLS), time zone as the
    quarter-hour index and name of Fanvil's list, DST rule, the old format's language, and
    the XML phonebook's URL."""
    zone = timezones.zone(ctx["tz"]["name"], int(ctx["tz"]["offset_minutes"]))
    listed = timezones.vendor_name("fanvil", zone.name)
    index, name = listed or (zone.std_minutes // 15, _zone_name(zone.std_minutes))
    dst: dict[str, Any] = {}
    if zone.start is not None and zone.end is not None:
        dst = {"offset": zone.dst_minutes, "start": _change(zone.start),
               "end": _change(zone.end)}
    return {"fanvil_format": model_line(str(ctx["model"])),
            "transport_code": {"udp": 0, "tcp": 1, "tls": 3}[ctx["sip"]["transport"]],
            "tz_index": index, "tz_label": name, "dst": dst,
            "old_language": OLD_LANGUAGES.get(ctx["site_language"], 0),
            "phonebook_url": phonebook_url(ctx, "fanvil")}


XML = "application/xml"

VENDOR = Vendor(
    name="fanvil",
    label="Fanvil",
    routes=(
        route(MAC_RE + r"\.cfg", "device", "fanvil/device.cfg", XML),
        route(r"[fF]0(?P<model>[0-9A-Za-z]+?)(?:hw[\d.]+)?\.cfg", "common", "fanvil/common.cfg",
              XML),
        phonebook_route("fanvil", "fanvil/phonebook.xml"),
    ),
    ouis=oui.prefixes("fanvil"),
    folders=("Fanvil",),
    parse_user_agent=parse_user_agent,
    extras=extras,
    http_auth=True,
    languages=LANGUAGES,
)
