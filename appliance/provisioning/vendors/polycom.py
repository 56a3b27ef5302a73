"""Polycom/Poly UC software: ``000000000000.cfg`` master, ``<mac>-user.cfg`` account, XML."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from appliance.lan import oui
from appliance.provisioning.vendors.base import MAC_RE, Identity, Vendor, route

_UA = re.compile(r"Polycom(?P<family>[A-Za-z]+)-(?P<model>[\w]+)-UA/(?P<fw>[\d.]+)")


def parse_user_agent(ua: str) -> Identity | None:
    """``FileTransport PolycomVVX-VVX_400-UA/4.1.4.7430`` -> model ``VVX 400``, firmware."""
    m = _UA.search(ua)
    if m is None:
        return None
    return Identity("polycom", m["model"].replace("_", " "), m["fw"], None)


def extras(ctx: Mapping[str, Any]) -> dict[str, Any]:
    """Polycom's transport names and its GMT offset in seconds."""
    return {
        "transport_name": {"udp": "UDPOnly", "tcp": "TCPOnly", "tls": "TLS"}[
            ctx["sip"]["transport"]],
        "gmt_offset": int(ctx["tz"]["offset_minutes"]) * 60,
        "server_type": 2 if ctx["prov"]["http_base"].startswith("http://") else 3,
    }


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
        route(MAC_RE + r"-directory\.xml", "miss"),
        route(r"000000000000-directory\.xml", "miss"),
        route(MAC_RE + r"-(?P<upload>phone\.cfg|web\.cfg|app\.log|boot\.log|calls\.xml)",
              "upload"),
        route(r"(?:(?P<model>[\w]+)-)?sip\.ld", "firmware"),
    ),
    ouis=oui.prefixes("polycom"),
    parse_user_agent=parse_user_agent,
    extras=extras,
    http_auth=True,
    languages={"en": "English_United_Kingdom", "fr": "French_France", "de": "German_Germany",
               "es": "Spanish_Spain", "it": "Italian_Italy", "nl": "Dutch_Netherlands",
               "pt": "Portuguese_Portugal"},
)
