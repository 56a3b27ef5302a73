"""Fanvil: a per-model common file (``f0X4hw1.100.cfg``), then ``<mac>.cfg``; XML sysConf."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from appliance.lan import oui
from appliance.provisioning.vendors.base import MAC_RE, Identity, Vendor, normalise_mac, route

_UA = re.compile(r"Fanvil (?P<model>[\w-]+) (?P<fw>[\d.]+)(?: (?P<mac>[0-9a-fA-F]{12}))?")


def parse_user_agent(ua: str) -> Identity | None:
    """``Fanvil X4 2.10.2.6887 0c383e07e16c`` -> model, firmware, MAC."""
    m = _UA.search(ua)
    if m is None:
        return None
    return Identity("fanvil", m["model"], m["fw"], normalise_mac(m["mac"]) if m["mac"] else None)


def extras(ctx: Mapping[str, Any]) -> dict[str, Any]:
    """Fanvil's transport code (0 UDP, 1 TCP, 3 TLS) and time zone in hours."""
    return {"transport_code": {"udp": 0, "tcp": 1, "tls": 3}[ctx["sip"]["transport"]],
            "tz_hours": round(int(ctx["tz"]["offset_minutes"]) / 60, 2)}


XML = "application/xml"

VENDOR = Vendor(
    name="fanvil",
    label="Fanvil",
    routes=(
        route(MAC_RE + r"\.cfg", "device", "fanvil/device.cfg", XML),
        route(r"[fF]0(?P<model>[0-9A-Za-z]+?)(?:hw[\d.]+)?\.cfg", "common", "fanvil/common.cfg",
              XML),
    ),
    ouis=oui.prefixes("fanvil"),
    folders=("Fanvil",),
    parse_user_agent=parse_user_agent,
    extras=extras,
    http_auth=True,
    languages={"en": "en", "fr": "fr", "de": "de", "es": "es", "it": "it", "nl": "nl",
               "pt": "pt"},
)
