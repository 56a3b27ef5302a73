"""Grandstream: ``cfg<mac>.xml`` per phone, ``cfg<model>.xml`` and ``cfg.xml``; P-value XML."""

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
    route,
)

_UA = re.compile(r"Grandstream Model HW (?P<model>[\w-]+)\s+(?:V[\w.]+\s+)?SW (?P<fw>[\d.]+)"
                 r"(?:\s+DevId (?P<mac>[0-9a-fA-F]{12}))?")


def parse_user_agent(ua: str) -> Identity | None:
    """``Grandstream Model HW GXP2170 SW 1.0.11.85 DevId 000b82865e6a``."""
    m = _UA.search(ua)
    if m is None:
        return None
    return Identity("grandstream", m["model"], m["fw"],
                    normalise_mac(m["mac"]) if m["mac"] else None)


_PROTOCOL = {"tftp": 0, "http": 1, "https": 2}


def extras(ctx: Mapping[str, Any]) -> dict[str, Any]:
    """P64 time zone (a TZ string from the phone's list; ``customize`` with the zone's POSIX
    string in P246 for the rest), P212/P6767 (config/firmware via 0 TFTP, 1 HTTP, 2 HTTPS),
    P237 config server path and P192 firmware path (host and path, no scheme), P130 transport,
    P330/P331 phonebook download (the phone fetches ``<P331>/phonebook.xml``).

    The phone fetches firmware as ``<P192>/<model>fw.bin`` (e.g. ``grp2612fw.bin``), which the
    firmware route below answers with the stored image for that model.
    """
    zone = timezones.zone(ctx["tz"]["name"], int(ctx["tz"]["offset_minutes"]))
    listed = timezones.vendor_name("grandstream", zone.name)
    base = str(ctx["prov"]["http_base"])
    scheme, _, rest = base.partition("://")
    return {"p64": listed or "customize", "p246": "" if listed else zone.posix,
            "p212": _PROTOCOL.get(scheme, 1), "server_path": rest,
            "firmware_path": f"{rest}/Grandstream",
            # P330 phonebook download 1 HTTP, 3 HTTPS (2 would be TFTP); P331 its folder
            "p330": 3 if scheme == "https" else 1,
            "phonebook_path": f"{rest}/phonebook/grandstream/{ctx['mac']}" if ctx["mac"] else "",
            "transport_code": {"udp": 0, "tcp": 1, "tls": 2}[ctx["sip"]["transport"]]}


# P1362 language codes; the GXP21xx and GRP26xx lists have no Vietnamese, so English.
LANGUAGES = {"en": "en", "fr": "fr", "de": "de", "es": "es", "it": "it", "nl": "nl",
             "pt": "pt", "vi": "en"}


XML = "application/xml"

VENDOR = Vendor(
    name="grandstream",
    label="Grandstream",
    routes=(
        route(r"cfg" + MAC_RE + r"\.xml", "device", "grandstream/device.xml", XML),
        route(r"cfg" + MAC_RE + r"(?:\.bin)?", "miss"),
        route(r"cfg(?P<model>[a-z]+\d+[a-z]*)\.xml", "common", "grandstream/common.xml", XML),
        route(r"cfg\.xml", "common", "grandstream/common.xml", XML),
        route(r"(?P<model>(?:gxp|grp|gxv|dp|wp|ht)\d+[a-z]*)fw\.bin", "firmware"),
        phonebook_route("grandstream", "grandstream/phonebook.xml", file="phonebook.xml"),
    ),
    ouis=oui.prefixes("grandstream"),
    folders=("Grandstream",),
    parse_user_agent=parse_user_agent,
    extras=extras,
    http_auth=True,
    languages=LANGUAGES,
)
