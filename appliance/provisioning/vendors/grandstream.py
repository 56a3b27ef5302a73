"""Grandstream: ``cfg<mac>.xml`` per phone, ``cfg<model>.xml`` and ``cfg.xml``; P-value XML."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from appliance.lan import oui
from appliance.provisioning.vendors.base import MAC_RE, Identity, Vendor, normalise_mac, route

_UA = re.compile(r"Grandstream Model HW (?P<model>[\w-]+)\s+(?:V[\w.]+\s+)?SW (?P<fw>[\d.]+)"
                 r"(?:\s+DevId (?P<mac>[0-9a-fA-F]{12}))?")


def parse_user_agent(ua: str) -> Identity | None:
    """``Grandstream Model HW GXP2170 SW 1.0.11.85 DevId 000b82865e6a``."""
    m = _UA.search(ua)
    if m is None:
        return None
    return Identity("grandstream", m["model"], m["fw"],
                    normalise_mac(m["mac"]) if m["mac"] else None)


def extras(ctx: Mapping[str, Any]) -> dict[str, Any]:
    """P64 (time zone: minutes from GMT plus 720), P212 (upgrade via 0 TFTP, 1 HTTP, 2 HTTPS),
    P237 (config server path without scheme)."""
    base = str(ctx["prov"]["http_base"])
    scheme, _, rest = base.partition("://")
    return {"p64": int(ctx["tz"]["offset_minutes"]) + 720,
            "p212": {"tftp": 0, "http": 1, "https": 2}.get(scheme, 1),
            "server_path": rest}


XML = "application/xml"

VENDOR = Vendor(
    name="grandstream",
    label="Grandstream",
    routes=(
        route(r"cfg" + MAC_RE + r"\.xml", "device", "grandstream/device.xml", XML),
        route(r"cfg" + MAC_RE + r"(?:\.bin)?", "miss"),
        route(r"cfg(?P<model>[a-z]+\d+[a-z]*)\.xml", "common", "grandstream/common.xml", XML),
        route(r"cfg\.xml", "common", "grandstream/common.xml", XML),
    ),
    ouis=oui.prefixes("grandstream"),
    folders=("Grandstream",),
    parse_user_agent=parse_user_agent,
    extras=extras,
    http_auth=True,
    languages={"en": "en", "fr": "fr", "de": "de", "es": "es", "it": "it", "nl": "nl",
               "pt": "pt"},
)
