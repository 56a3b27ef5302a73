"""Polycom/Poly UC software: ``000000000000.cfg`` master, ``<mac>-user.cfg`` account, XML."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from appliance.lan import oui
from appliance.provisioning.vendors import timezones
from appliance.provisioning.vendors.base import MAC_RE, Identity, Vendor, route

_UA = re.compile(r"Polycom(?P<family>[A-Za-z]+)-(?P<model>[\w]+)-UA/(?P<fw>[\d.]+)")


def parse_user_agent(ua: str) -> Identity | None:
    """``FileTransport PolycomVVX-VVX_400-UA/4.1.4.7430`` -> model ``VVX 400``, firmware."""
    m = _UA.search(ua)
    if m is None:
        return None
    return Identity("polycom", m["model"].replace("_", " "), m["fw"], None)


def _change(change: timezones.Change) -> dict[str, int]:
    """A floating DST change: ``date`` opens the week (1, 8, 15, 22), weekday 1 = Sunday."""
    last = change.week == 5
    return {"month": change.month, "date": 1 if last else (change.week - 1) * 7 + 1,
            "dayOfWeek": change.weekday + 1, "lastInMonth": int(last), "time": change.hour}


def extras(ctx: Mapping[str, Any]) -> dict[str, Any]:
    """Transport names, the standard GMT offset in seconds and the DST rule, server type."""
    zone = timezones.zone(ctx["tz"]["name"], int(ctx["tz"]["offset_minutes"]))
    listed = timezones.vendor_name("polycom", zone.name)
    dst: dict[str, Any] = {}
    if zone.start is not None and zone.end is not None:
        dst = {"start": _change(zone.start), "stop": _change(zone.end)}
    return {
        "transport_name": {"udp": "UDPOnly", "tcp": "TCPOnly", "tls": "TLS"}[
            ctx["sip"]["transport"]],
        "gmt_offset": listed if listed is not None else zone.std_minutes * 60,
        "dst": dst,
        "server_type": 2 if ctx["prov"]["http_base"].startswith("http://") else 3,
    }


# lcl.ml.lang; UC Software has no Vietnamese, so English.
LANGUAGES = {"en": "English_United_Kingdom", "fr": "French_France", "de": "German_Germany",
             "es": "Spanish_Spain", "it": "Italian_Italy", "nl": "Dutch_Netherlands",
             "pt": "Portuguese_Brazil", "vi": "English_United_Kingdom"}


XML = "application/xml"

VENDOR = Vendor(
    name="polycom",
    label="Polycom",
    routes=(
        route(r"000000000000\.cfg", "common", "polycom/master.cfg", XML),
        route(r"polycom-common\.cfg", "common", "polycom/common.cfg", XML),
        route(MAC_RE + r"-user\.cfg", "device", "polycom/user.cfg", XML),
        # The phone asks for its own master first; without one it falls back to the default.
        route(MAC_RE + r"\.cfg", "miss"),
        # the company phonebook, as the local contact directory (read at boot, replacing it)
        route(MAC_RE + r"-directory\.xml", "phonebook", "polycom/directory.xml", XML),
        route(r"000000000000-directory\.xml", "miss"),
        route(MAC_RE + r"-(?P<upload>phone\.cfg|web\.cfg|app\.log|boot\.log|calls\.xml)",
              "upload"),
        route(r"(?:(?P<model>[\w]+)-)?sip\.ld", "firmware"),
    ),
    ouis=oui.prefixes("polycom"),
    parse_user_agent=parse_user_agent,
    extras=extras,
    http_auth=True,
    languages=LANGUAGES,
    # The override files (settings changed on the phone or its web page) and the call lists
    # are read back at boot from where the phone uploaded them; logs are not.
    readback=frozenset({"phone.cfg", "web.cfg", "calls.xml"}),
)
