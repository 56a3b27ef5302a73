"""Vendor, model and firmware from what a device says about itself (SNMP, mDNS, PnP)."""

from __future__ import annotations

import re
from dataclasses import dataclass

# IANA private enterprise numbers of desk-phone vendors (1.3.6.1.4.1.<n>).
ENTERPRISES = {
    "37459": "yealink",
    "13885": "polycom",
    "42397": "grandstream",
    "1526": "snom",
    "9": "cisco",
    "34409": "fanvil",
}
VENDOR_WORDS = {
    "yealink": "yealink", "polycom": "polycom", "poly": "polycom", "grandstream": "grandstream",
    "snom": "snom", "fanvil": "fanvil", "cisco": "cisco",
}
_MODEL = re.compile(r"\b((?:SIP-)?[A-Z]{1,4}-?\d{2,4}[A-Z]{0,3}(?:-3PCC)?)\b")
_VERSION = re.compile(r"\b(\d+(?:\.\d+){2,4})\b")


@dataclass(frozen=True)
class Identity:
    """What is known of a device: vendor family, model, firmware (each may be unknown)."""

    vendor: str | None = None
    model: str | None = None
    firmware: str | None = None


def vendor_from_oid(oid: str) -> str | None:
    """The vendor of a sysObjectID such as ``1.3.6.1.4.1.37459.2.1``."""
    match = re.match(r"\.?1\.3\.6\.1\.4\.1\.(\d+)", oid.strip())
    return ENTERPRISES.get(match.group(1)) if match else None


def vendor_from_text(text: str) -> str | None:
    """The first phone vendor named in ``text``, or None."""
    for word in re.findall(r"[A-Za-z]+", text):
        vendor = VENDOR_WORDS.get(word.lower())
        if vendor:
            return vendor
    return None


def from_description(text: str, oid: str = "", model: str = "", firmware: str = "") -> Identity:
    """Identify a device from sysDescr (or similar), sysObjectID and ENTITY-MIB values."""
    vendor = vendor_from_oid(oid) if oid else None
    vendor = vendor or vendor_from_text(text)
    found_model = model.strip() or _first(_MODEL, text)
    found_firmware = firmware.strip() or _first(_VERSION, text)
    return Identity(vendor, found_model or None, found_firmware or None)


def _first(pattern: re.Pattern[str], text: str) -> str:
    match = pattern.search(text)
    return match.group(1) if match else ""
