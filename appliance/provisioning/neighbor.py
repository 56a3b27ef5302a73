"""The kernel's neighbor table: which MAC an on-link IP address belongs to.

IPv4 from ``/proc/net/arp``, IPv6 from ``ip -j -6 neigh``. An address on a directly
connected (non-loopback) subnet with no complete entry is resolved first by sending it one
empty datagram (the kernel then asks by ARP/ND), and fails closed if it stays unresolved.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

ARP = Path("/proc/net/arp")
ATF_COM = 0x2
PROBE_PORT = 9  # discard
IpNet = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_proc_arp(text: str) -> dict[str, str]:
    """``{ip: mac}`` for complete entries of a ``/proc/net/arp`` text."""
    table = {}
    for line in text.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 4 and int(cols[2], 16) & ATF_COM:
            table[cols[0]] = cols[3].replace(":", "").lower()
    return table


def _local_networks() -> list[IpNet]:
    import netifaces

    nets: list[IpNet] = []
    for name in netifaces.interfaces():
        addrs = netifaces.ifaddresses(name)
        for family in (netifaces.AF_INET, netifaces.AF_INET6):
            for entry in addrs.get(family, []):
                addr = str(entry.get("addr", "")).split("%")[0]
                mask = str(entry.get("netmask", "")).split("/")[0]
                with contextlib.suppress(ValueError):
                    if family == netifaces.AF_INET6 and mask.startswith("ffff"):
                        bits = bin(int(ipaddress.IPv6Address(mask))).count("1")
                        net: IpNet = ipaddress.ip_network(f"{addr}/{bits}", strict=False)
                    else:
                        net = ipaddress.ip_network(f"{addr}/{mask}", strict=False)
                    if not net.is_loopback:
                        nets.append(net)
    return nets


class NeighborTable:
    """Reads the neighbor table; ``mac_of(ip)`` resolves on-link peers, fail closed."""

    def __init__(self, networks: Callable[[], list[IpNet]] = _local_networks,
                 cache_seconds: float = 5.0, resolve_timeout: float = 1.0) -> None:
        self._networks = networks
        self._cache: tuple[float, list[IpNet]] = (0.0, [])
        self._lock = threading.Lock()
        self.cache_seconds = cache_seconds
        self.resolve_timeout = resolve_timeout

    def on_link(self, ip: str) -> bool:
        """True when ``ip`` lies in a directly connected, non-loopback subnet of this host."""
        now = time.monotonic()
        with self._lock:
            stamp, nets = self._cache
            if now - stamp > self.cache_seconds:
                try:
                    nets = self._networks()
                except Exception:  # an unreadable interface list: treat every peer as on-link
                    nets = [ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")]
                self._cache = (now, nets)
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return True
        if addr.is_loopback:
            return False
        return any(addr in net for net in nets if net.version == addr.version)

    @staticmethod
    def lookup(ip: str) -> str | None:
        """The MAC the kernel maps ``ip`` to right now, or None."""
        if ":" not in ip:
            try:
                return parse_proc_arp(ARP.read_text()).get(ip)
            except OSError:
                return None
        try:
            out = subprocess.run(["ip", "-j", "-6", "neigh", "show", "to", ip],
                                 capture_output=True, text=True, timeout=2, check=False).stdout
            for entry in json.loads(out or "[]"):
                states = set(entry.get("state", []))
                if entry.get("lladdr") and not states & {"FAILED", "INCOMPLETE"}:
                    return str(entry["lladdr"]).replace(":", "").lower()
        except (OSError, ValueError, subprocess.SubprocessError):
            return None
        return None

    def mac_of(self, ip: str) -> str | None:
        """``ip``'s MAC, resolving it first when the table has none; None when unresolved."""
        found = self.lookup(ip)
        if found is not None:
            return found
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        with contextlib.suppress(OSError), socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.sendto(b"", (ip, PROBE_PORT))
        deadline = time.monotonic() + self.resolve_timeout
        while time.monotonic() < deadline:
            time.sleep(0.05)
            found = self.lookup(ip)
            if found is not None:
                return found
        return None

    def allows(self, ip: str, mac: str) -> bool:
        """May ``ip`` receive the per-MAC file of ``mac``? Off-link peers: yes; on-link: only
        when the kernel maps ``ip`` to ``mac``."""
        if not self.on_link(ip):
            return True
        return self.mac_of(ip) == mac
