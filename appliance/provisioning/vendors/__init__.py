"""The vendor families, in the order ambiguous file names are tried."""

from __future__ import annotations

from appliance.provisioning.vendors import cisco, fanvil, grandstream, polycom, snom, yealink
from appliance.provisioning.vendors.base import Identity, Route, Vendor

VENDORS: tuple[Vendor, ...] = (
    yealink.VENDOR, polycom.VENDOR, cisco.VENDOR, grandstream.VENDOR, snom.VENDOR, fanvil.VENDOR,
)
BY_NAME: dict[str, Vendor] = {v.name: v for v in VENDORS}

__all__ = ["BY_NAME", "VENDORS", "Identity", "Route", "Vendor"]
