"""Yealink: ``y0000000000XX.cfg`` per model, ``<mac>.cfg`` per phone, cfg ``key = value``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from appliance.lan import oui
from appliance.provisioning.vendors.base import MAC_RE, Identity, Vendor, normalise_mac, route

_UA = re.compile(r"Yealink\s+(?P<model>[\w-]+)\s+(?P<fw>[\d.]+)"
                 r"(?:\s+(?P<mac>[0-9a-fA-F:]{12,17}))?")


def parse_user_agent(ua: str) -> Identity | None:
    """``Yealink SIP-T46U 108.86.0.90 00:15:65:xx:xx:xx`` -> model, firmware, MAC."""
    m = _UA.search(ua)
    if m is None:
        return None
    mac = normalise_mac(m["mac"]) if m["mac"] else None
    return Identity("yealink", m["model"], m["fw"], mac if mac and len(mac) == 12 else None)


def extras(ctx: Mapping[str, Any]) -> dict[str, Any]:
    """Yealink's transport code (0 UDP, 1 TCP, 2 TLS) and its time zone as ``+7``/``+5:30``."""
    minutes = int(ctx["tz"]["offset_minutes"])
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return {
        "transport_type": {"udp": 0, "tcp": 1, "tls": 2}[ctx["sip"]["transport"]],
        "time_zone": f"{sign}{hours}" + (f":{rest:02d}" if rest else ""),
    }


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
    ),
    ouis=oui.prefixes("yealink"),
    parse_user_agent=parse_user_agent,
    extras=extras,
    http_auth=True,
    languages={"en": "English", "fr": "French", "de": "German", "es": "Spanish",
               "it": "Italian", "nl": "Dutch", "pt": "Portuguese"},
)
