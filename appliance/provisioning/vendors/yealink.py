"""Yealink: ``y0000000000XX.cfg`` per model, ``<mac>.cfg`` per phone, cfg ``key = value``."""

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

_UA = re.compile(r"Yealink\s+(?P<model>[\w-]+)\s+(?P<fw>[\d.]+)"
                 r"(?:\s+(?P<mac>[0-9a-fA-F:]{12,17}))?")


def parse_user_agent(ua: str) -> Identity | None:
    """``Yealink SIP-T46U 108.86.0.90 00:15:65:xx:xx:xx`` -> model, firmware, MAC."""
    m = _UA.search(ua)
    if m is None:
        return None
    mac = normalise_mac(m["mac"]) if m["mac"] else None
    return Identity("yealink", m["model"], m["fw"], mac if mac and len(mac) == 12 else None)


def _change(change: timezones.Change) -> str:
    """Yealink's by-week DST change ``month/week/weekday/hour`` (week 5 last, 7 Sunday)."""
    return f"{change.month}/{change.week}/{change.weekday or 7}/{change.hour}"


def extras(ctx: Mapping[str, Any]) -> dict[str, Any]:
    """Transport code (0 UDP, 1 TCP, 2 TLS), time zone ``+7``/``+5:30`` with its name from
    Yealink's list and DST: ``summer_time`` 2 (automatic, by the name) for listed zones, else 1
    with the rule spelled out, 0 without DST; the remote phonebook's URL."""
    zone = timezones.zone(ctx["tz"]["name"], int(ctx["tz"]["offset_minutes"]))
    name = timezones.vendor_name("yealink", zone.name)
    dst: dict[str, Any] = {}
    if zone.has_dst and not name:
        assert zone.start is not None and zone.end is not None
        dst = {"type": 1, "start": _change(zone.start), "end": _change(zone.end),
               "offset": zone.dst_minutes}
    summer = 0 if not zone.has_dst else (2 if name else 1)
    return {
        "transport_type": {"udp": 0, "tcp": 1, "tls": 2}[ctx["sip"]["transport"]],
        "time_zone": timezones.offset_text(zone.std_minutes, pad=False),
        "time_zone_name": name or "", "summer_time": summer, "dst": dst,
        # the phone's own credentials in the URL, as for its other files over HTTP
        "phonebook_url": phonebook_url(ctx, "yealink", base=ctx["prov"]["auth_base"]),
    }


# lang.gui / lang.wui names; no Vietnamese in the firmware's list, so English.
LANGUAGES = {"en": "English", "fr": "French", "de": "German", "es": "Spanish",
             "it": "Italian", "nl": "Dutch", "pt": "Portuguese", "vi": "English"}

VENDOR = Vendor(
    name="yealink",
    label="Yealink",
    routes=(
        route(MAC_RE + r"\.cfg", "device", "yealink/mac.cfg"),
        route(MAC_RE + r"-local\.cfg", "device", "yealink/local.cfg"),
        route(r"y\d{12}\.cfg", "common", "yealink/common.cfg"),
        route(MAC_RE + r"\.boot", "miss"),
        route(r"y000000000000\.boot", "miss"),
        route(MAC_RE + r"-contact\.xml", "miss"),
        phonebook_route("yealink", "yealink/phonebook.xml"),
    ),
    ouis=oui.prefixes("yealink"),
    parse_user_agent=parse_user_agent,
    extras=extras,
    http_auth=True,
    languages=LANGUAGES,
)
