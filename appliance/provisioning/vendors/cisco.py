"""Cisco SPA (``spa<model>.cfg`` -> ``<mac>.xml``) and MPP 3PCC; XML ``<flat-profile>``."""

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

_MPP = re.compile(r"Cisco-(?P<model>CP-[\w-]+?-3PCC)/(?P<fw>[\w.-]+)\s*"
                  r"\((?P<mac>[0-9a-fA-F]{12})\)")
_SPA = re.compile(r"Cisco/(?P<model>SPA\w+)-(?P<fw>[\w.()-]+?)\s*\((?P<mac>[0-9a-fA-F]{12})\)")


def parse_user_agent(ua: str) -> Identity | None:
    """``Cisco-CP-7832-3PCC/11.0.1 (00562b043615)`` or ``Cisco/SPA504G-7.6.2 (MAC)``."""
    m = _MPP.search(ua) or _SPA.search(ua)
    if m is None:
        return None
    return Identity("cisco", m["model"], m["fw"], normalise_mac(m["mac"]))


def _change(change: timezones.Change) -> str:
    """``month/day/weekday/HH:mm:ss``: day -1 is the last weekday of the month, a positive day
    the first weekday on or after it; weekday 1 Monday .. 7 Sunday."""
    day = -1 if change.week == 5 else (change.week - 1) * 7 + 1
    return f"{change.month}/{day}/{change.weekday or 7}/{change.hour:02d}:00:00"


def extras(ctx: Mapping[str, Any]) -> dict[str, Any]:
    """Time zone (``GMT+07:00``) with its DST rule, transport name, the Profile_Rule that
    resyncs the per-MAC file with the phone's HTTP credentials as ``--uid``/``--pwd``, and
    the XML directory service's URL."""
    zone = timezones.zone(ctx["tz"]["name"], int(ctx["tz"]["offset_minutes"]))
    listed = timezones.vendor_name("cisco", zone.name)
    rule = ""
    if zone.start is not None and zone.end is not None:
        hours, minutes = divmod(zone.dst_minutes, 60)
        rule = (f"start={_change(zone.start)};end={_change(zone.end)};"
                f"save={hours}" + (f":{minutes:02d}" if minutes else ""))
    prov = ctx["prov"]
    resync = ""
    if prov["user"] and prov["password"] and prov["http_base"]:
        resync = (f"[--uid {prov['user']} --pwd {prov['password']}]"
                  f"{prov['http_base']}/{prov['path']}")
    offset = "" if zone.std_minutes == 0 else timezones.offset_text(zone.std_minutes)
    return {"time_zone": listed or f"GMT{offset}",
            "dst_rule": rule, "resync_rule": resync,
            "phonebook_url": phonebook_url(ctx, "cisco"),
            "transport_name": ctx["sip"]["transport"].upper()}


XML = "application/xml"

VENDOR = Vendor(
    name="cisco",
    label="Cisco",
    routes=(
        route(r"Cisco/(?P<model>CP-[\w-]+-3PCC)/" + MAC_RE + r"\.cfg", "device",
              "cisco/device-mpp.xml", XML),
        route(MAC_RE + r"\.xml", "device", "cisco/device-spa.xml", XML),
        route(r"spa(?P<model>\d{3}[A-Za-z]?)\.cfg", "common", "cisco/spa.xml", XML),
        route(r"(?:CP-)?(?P<model>\d{4}[A-Z]?)-3PCC\.xml", "common", "cisco/mpp.xml", XML),
        route(r"Cisco/(?P<model>CP-[\w-]+-3PCC)\.xml", "common", "cisco/mpp.xml", XML),
        phonebook_route("cisco", "cisco/phonebook.xml"),
    ),
    ouis=oui.prefixes("cisco"),
    folders=("Cisco",),
    parse_user_agent=parse_user_agent,
    extras=extras,
    http_auth=True,
    notify_event="resync",
)
