"""Who may get a per-MAC file, and with what: pure decisions, no sockets, no store.

A per-MAC file can hold the phone's SIP password, its own admin password and its HTTP
provisioning credentials. It goes (DESIGN §4):

- to an on-link peer only when the kernel neighbor table maps the peer's IP to that MAC
  (over TFTP or HTTP; once the phone holds its HTTP credentials, HTTP wants its digest);
- to a peer on a routed phone subnet (``provisioning.phone_subnets``), or to an on-link peer
  when the neighbor table is not trusted (``neighbor_check = false``), only over HTTP(S) and
  only once it proved the phone's own credentials (digest, or a one-time enrollment URL);
- to anyone else (loopback, any other off-link source): never.

Every refusal is the same not-found a missing file gets, whatever the reason.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

IpNet = ipaddress.IPv4Network | ipaddress.IPv6Network


class Place(enum.Enum):
    """Where a peer sits, as far as secrets go."""

    ON_LINK = "on-link"  # a directly connected, non-loopback subnet of the box
    ROUTED = "routed"  # behind a router, on a subnet the admin listed as a phone subnet
    FOREIGN = "foreign"  # loopback, or any other source


class Grant(enum.Enum):
    """What a request for a per-MAC file gets."""

    MISS = "miss"  # not found, exactly like a file that does not exist
    CHALLENGE = "challenge"  # HTTP 401: prove the phone's credentials first
    SERVE = "serve"  # the phone's file, as its state in the directory says


def _address(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def place(ip: str, on_link: bool, phone_subnets: Iterable[IpNet]) -> Place:
    """Where ``ip`` sits: ``on_link`` as the box's interfaces tell, else in a phone subnet,
    else foreign (loopback always foreign, even if a subnet lists it)."""
    addr = _address(ip)
    if addr is None or addr.is_loopback or addr.is_unspecified:
        return Place.FOREIGN
    if on_link:
        return Place.ON_LINK
    if any(addr.version == net.version and addr in net for net in phone_subnets):
        return Place.ROUTED
    return Place.FOREIGN


@dataclass(frozen=True)
class Ask:
    """One request for a per-MAC file, as the decision sees it.

    ``bound``: the neighbor table maps the peer's IP to the file's MAC (only looked at for
    on-link peers with ``neighbor_check``). ``proved``: over HTTP(S), the peer proved this
    MAC's own credentials. ``enrolled``: the phone already holds its HTTP credentials.
    """

    place: Place
    via: str  # "tftp" | "http" | "https"
    bound: bool = False
    proved: bool = False
    enrolled: bool = False
    neighbor_check: bool = True
    http_auth: bool = True


def trusts_neighbors(ask: Ask) -> bool:
    """True when the neighbor table decides for this peer (on-link, check switched on)."""
    return ask.place is Place.ON_LINK and ask.neighbor_check


def grant(ask: Ask) -> Grant:
    """What ``ask`` gets; see the module docstring."""
    if ask.place is Place.FOREIGN:
        return Grant.MISS
    if trusts_neighbors(ask):
        if not ask.bound:
            return Grant.MISS
        if ask.via == "tftp" or ask.proved or not (ask.http_auth and ask.enrolled):
            return Grant.SERVE
        return Grant.CHALLENGE
    # A routed phone subnet, or on-link with the neighbor table not trusted: the peer's
    # address proves nothing, so only the phone's own credentials over HTTP(S) do.
    if ask.via == "tftp":
        return Grant.MISS
    return Grant.SERVE if ask.proved else Grant.CHALLENGE


def may_note(ask: Ask) -> bool:
    """May a fetch (of any file) by this peer be recorded as a sighting of the MAC?

    Only when source and MAC agree: the neighbor table binds them, or the peer proved the
    MAC's credentials. A User-Agent alone is a claim, never a sighting.
    """
    if ask.place is Place.FOREIGN:
        return False
    if trusts_neighbors(ask):
        return ask.bound
    return ask.proved and ask.via != "tftp"
