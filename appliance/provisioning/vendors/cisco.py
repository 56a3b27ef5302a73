"""Cisco SPA (``spa<model>.cfg`` -> ``<mac>.xml``) and MPP 3PCC; XML ``<flat-profile>``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from appliance.lan import oui
from appliance.provisioning.vendors.base import MAC_RE, Identity, Vendor, normalise_mac, route

_MPP = re.compile(r"Cisco-(?P<model>CP-[\w-]+?-3PCC)/(?P<fw>[\w.-]+)\s*"
                  r"\((?P<mac>[0-9a-fA-F]{12})\)")
_SPA = re.compile(r"Cisco/(?P<model>SPA\w+)-(?P<fw>[\w.()-]+?)\s*\((?P<mac>[0-9a-fA-F]{12})\)")


def parse_user_agent(ua: str) -> Identity | None:
    """``Cisco-CP-7832-3PCC/11.0.1 (00562b043615)`` or ``Cisco/SPA504G-7.6.2 (MAC)``."""
    m = _MPP.search(ua) or _SPA.search(ua)
    if m is None:
        return None
    return Identity("cisco", m["model"], m["fw"], normalise_mac(m["mac"]))


def extras(ctx: Mapping[str, Any]) -> dict[str, Any]:
    """Cisco's ``GMT+07:00`` time zone and transport name."""
    minutes = int(ctx["tz"]["offset_minutes"])
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return {"time_zone": f"GMT{sign}{hours:02d}:{rest:02d}",
            "transport_name": ctx["sip"]["transport"].upper()}


XML = "application/xml"

VENDOR = Vendor(
    name="cisco",
    label="Cisco",
    routes=(
        route(r"Cisco/(?P<model>CP-[\w-]+-3PCC)/" + MAC_RE + r"\.cfg", "device",
              "cisco/device.xml", XML),
        route(MAC_RE + r"\.xml", "device", "cisco/device.xml", XML),
        route(r"spa(?P<model>\d{3}[A-Za-z]?)\.cfg", "common", "cisco/spa.xml", XML),
        route(r"(?:CP-)?(?P<model>\d{4}[A-Z]?)-3PCC\.xml", "common", "cisco/mpp.xml", XML),
        route(r"Cisco/(?P<model>CP-[\w-]+-3PCC)\.xml", "common", "cisco/mpp.xml", XML),
    ),
    ouis=oui.prefixes("cisco"),
    folders=("Cisco",),
    parse_user_agent=parse_user_agent,
    extras=extras,
    http_auth=True,
    notify_event="resync",
    languages={"en": "English", "fr": "French", "de": "German", "es": "Spanish",
               "it": "Italian", "nl": "Dutch", "pt": "Portuguese"},
)
