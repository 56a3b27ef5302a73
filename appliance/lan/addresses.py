"""The box's own addresses: which one a peer reaches it on, and its LAN addresses.

Phones must be told an address they can reach, never a wildcard (``0.0.0.0``, ``::``) or the
loopback: ``toward(peer)`` asks the kernel's routes which local address talks to a peer (a
UDP ``connect`` sends nothing), ``lan_addresses()`` lists the box's non-loopback addresses.
``reachable(host, local, fallbacks)`` is the pure rule that puts them together.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Iterable, Sequence

import netifaces

WILDCARDS = ("", "0.0.0.0", "::", "[::]")  # noqa: S104 (recognised, not bound)
DISCARD_PORT = 9  # only routed, never sent to: connect() on UDP sends no packet


def is_wildcard(host: str) -> bool:
    """True for an address meaning "every address of the box"."""
    return host in WILDCARDS


def unbracket(host: str) -> str:
    """``[::1]`` as ``::1``; other hosts unchanged."""
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def url_host(host: str) -> str:
    """``host`` as it goes into a URL or a SIP URI: IPv6 addresses in brackets."""
    bare = unbracket(host)
    return f"[{bare}]" if ":" in bare else bare


def server_url(scheme: str, host: str, port: int, default_port: int) -> str:
    """``scheme://host[:port]``, the port left out when it is the protocol's own."""
    return f"{scheme}://{url_host(host)}" + ("" if port == default_port else f":{port}")


def _family(address: str) -> int | None:
    try:
        return 6 if ipaddress.ip_address(unbracket(address)).version == 6 else 4
    except ValueError:
        return None


def serves(bound_host: str, address: str, dual_stack: bool = False) -> bool:
    """True when a socket bound to the wildcard ``bound_host`` accepts traffic to ``address``:
    ``0.0.0.0`` IPv4 only; ``::`` IPv6, and IPv4 too when the socket is ``dual_stack``
    (IPV6_V6ONLY off: the SIP core's and the TFTP server's UDP sockets; asyncio's and
    waitress's TCP servers set IPV6_V6ONLY, so HTTP and SIP over TCP on ``::`` are IPv6 only).
    """
    family = _family(address)
    if family is None:
        return False
    if unbracket(bound_host) == "::":
        return family == 6 or dual_stack
    return family == 4


def reachable(bound_host: str, local: str, fallbacks: Sequence[str],
              dual_stack: bool = False) -> str:
    """The address (unbracketed) to tell a peer for a server bound to ``bound_host``.

    A specific bound address is told as it is. On a wildcard bind: ``local`` (the address
    the peer's request came in on) when that server accepts it, else the first of
    ``fallbacks`` (the box's LAN addresses) it accepts, else the loopback.
    """
    bound = unbracket(bound_host)
    if not is_wildcard(bound):
        return bound
    for candidate in (unbracket(local).removeprefix("::ffff:"), *fallbacks):
        if candidate and serves(bound, candidate, dual_stack):
            return unbracket(candidate)
    return "::1" if bound == "::" and not dual_stack else "127.0.0.1"


def toward(peer_ip: str) -> str:
    """The local address the kernel's routes use to reach ``peer_ip`` ("" when none)."""
    peer = unbracket(peer_ip).removeprefix("::ffff:")
    family = socket.AF_INET6 if ":" in peer else socket.AF_INET
    with contextlib.suppress(OSError), socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.connect((peer, DISCARD_PORT))
        return str(sock.getsockname()[0])
    return ""


def lan_addresses(interfaces: Iterable[str] = ()) -> list[str]:
    """The box's usable addresses on ``interfaces`` (default: all): IPv4 first, then global
    IPv6; loopback and link-local left out (a link-local address needs a zone)."""
    names = list(interfaces) or list(netifaces.interfaces())
    found: dict[int, list[str]] = {4: [], 6: []}
    for name in names:
        if name not in netifaces.interfaces():
            continue
        entries = netifaces.ifaddresses(name)
        for family, key in ((netifaces.AF_INET, 4), (netifaces.AF_INET6, 6)):
            for entry in entries.get(family, []):
                text = str(entry.get("addr", "")).split("%", 1)[0]
                try:
                    address = ipaddress.ip_address(text)
                except ValueError:
                    continue
                if not (address.is_loopback or address.is_link_local or address.is_multicast
                        or address.is_unspecified) and text not in found[key]:
                    found[key].append(text)
    return found[4] + found[6]
