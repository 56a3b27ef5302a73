"""Snom: ``snom<model>.htm``, ``snom<model>-<MAC>.htm`` listing ``<MAC>.xml`` (upper-case)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from appliance.lan import oui
from appliance.provisioning.vendors import timezones
from appliance.provisioning.vendors.base import (
    MAC_UPPER_RE,
    Identity,
    Vendor,
    normalise_mac,
    phonebook_route,
    phonebook_url,
    route,
)

_UA = re.compile(r"snom(?P<model>\w+)-SIP (?P<fw>[\d.]+)(?:.*?(?P<mac>\b[0-9A-Fa-f]{12}\b))?")


def parse_user_agent(ua: str) -> Identity | None:
    """``Mozilla/4.0 (compatible; snom710-SIP 8.9.3.80 ...)`` -> model, firmware."""
    m = _UA.search(ua)
    if m is None:
        return None
    return Identity("snom", m["model"], m["fw"], normalise_mac(m["mac"]) if m["mac"] else None)


def extras(ctx: Mapping[str, Any]) -> dict[str, Any]:
    """Snom's zone name (``timezone``, which carries its DST rule) or, for a zone Snom's list
    lacks, ``utc_offset`` in seconds; and where this phone re-reads its settings from
    (``setting_server``: its own file list, so an unassigned phone later finds its account);
    the company phonebook, a ``<tbook>`` settings file that list names."""
    zone = timezones.zone(ctx["tz"]["name"], int(ctx["tz"]["offset_minutes"]))
    name = timezones.vendor_name("snom", zone.name)
    prov, model, mac = ctx["prov"], ctx["model"], ctx["MAC"]
    base = prov["auth_base"] or prov["base"]
    own = f"{base}/snom{model}-{mac}.htm" if model else f"{base}/{mac}.xml"
    return {"timezone": name or "", "utc_offset": zone.std_minutes * 60,
            "setting_server": own,
            "phonebook_url": phonebook_url(ctx, "snom", base=base),
            "transport_name": ctx["sip"]["transport"]}


# language (phone) and web_language; Snom ships no Vietnamese, so English.
LANGUAGES = {"en": "English", "fr": "Français", "de": "Deutsch", "es": "Espanol",
             "it": "Italiano", "nl": "Nederlands", "pt": "Português", "vi": "English"}


XML = "application/xml"

VENDOR = Vendor(
    name="snom",
    label="Snom",
    routes=(
        route(r"snom(?P<model>\w+?)-" + MAC_UPPER_RE + r"\.htm", "device", "snom/files.htm", XML),
        route(MAC_UPPER_RE + r"\.xml", "device", "snom/device.xml", XML),
        route(r"snom(?P<model>[A-Za-z]?\d+\w*)\.htm", "common", "snom/common.htm", XML),
        route(r"snom(?P<model>[A-Za-z]?\d+\w*?)-firmware\.xml", "common", "snom/firmware.xml",
              XML),
        phonebook_route("snom", "snom/phonebook.xml"),
    ),
    ouis=oui.prefixes("snom"),
    parse_user_agent=parse_user_agent,
    extras=extras,
    http_auth=True,
    languages=LANGUAGES,
)
