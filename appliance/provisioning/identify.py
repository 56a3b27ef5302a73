"""Which vendor, file and phone a request is about: from its path, User-Agent and OUI."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from appliance.provisioning.vendors import VENDORS
from appliance.provisioning.vendors.base import Identity, Kind, Route, Vendor, normalise_mac


@dataclass(frozen=True)
class Request:
    """A path understood: the vendor and route serving it, and the MAC and model it names."""

    vendor: Vendor
    route: Route
    mac: str | None
    model: str | None
    upload: str | None = None

    @property
    def kind(self) -> Kind:
        """The route's kind."""
        return self.route.kind


def from_user_agent(user_agent: str) -> Identity | None:
    """The identity a User-Agent string claims, or None for an unknown one."""
    if not user_agent:
        return None
    for vendor in VENDORS:
        found = vendor.parse_user_agent(user_agent[:300])
        if found is not None:
            return found
    return None


def vendor_of_oui(mac: str) -> str | None:
    """The vendor family whose OUI starts ``mac``, or None."""
    oui = mac[:6]
    for vendor in VENDORS:
        if oui in vendor.ouis:
            return vendor.name
    return None


def _device_mac_ok(match: re.Match[str]) -> bool:
    """False when the route's MAC is no device's (all zeros, or a group address)."""
    if "mac" not in match.re.groupindex:
        return True
    mac = normalise_mac(match["mac"])
    return mac != "000000000000" and not int(mac[:2], 16) & 1


def _candidates(path: str) -> list[tuple[Vendor, Route, re.Match[str], bool]]:
    found = []
    for vendor in VENDORS:
        names = [(path, any(path.startswith(f"{f}/") for f in vendor.folders))]
        for folder in vendor.folders:
            if path.startswith(f"{folder}/"):
                names.append((path[len(folder) + 1:], True))
        for name, in_folder in names:
            hit = next(((r, m) for r in vendor.routes
                        if (m := r.match(name)) and _device_mac_ok(m)), None)
            if hit is not None:
                found.append((vendor, hit[0], hit[1], in_folder))
                break
    return found


def identify(path: str, user_agent: Identity | None,
             known_vendor: Callable[[str], str | None] = lambda _mac: None) -> Request | None:
    """The request ``path`` makes, choosing among vendors by folder, User-Agent, OUI, inventory."""
    found = _candidates(path)
    if not found:
        return None
    if len(found) > 1:
        in_folder = [c for c in found if c[3]]
        if in_folder:
            found = in_folder
        macs = sorted({normalise_mac(m["mac"]) for _v, _r, m, _f in found
                       if "mac" in m.re.groupindex})
        hints: list[tuple[Callable[[str], str | None], str]] = [
            (lambda _m: user_agent.vendor if user_agent else None, "")]
        hints += [(vendor_of_oui, mac) for mac in macs]
        hints += [(known_vendor, mac) for mac in macs]
        for hint, arg in hints:  # lazily: the inventory is asked only when nothing else tells
            name = hint(arg)
            chosen = [c for c in found if c[0].name == name] if name else []
            if chosen:
                found = chosen
                break
    vendor, route, match, _ = found[0]
    groups = match.groupdict()
    mac = normalise_mac(groups["mac"]) if groups.get("mac") else None
    return Request(vendor, route, mac, groups.get("model"), groups.get("upload"))
