"""The kernel neighbor table: which MAC answers at which IP on a directly connected subnet.

IPv4 from ``/proc/net/arp`` (read afresh for every provisioning request; only the asked
address's lines are parsed, so a big LAN's table costs a string search), IPv6 from
``ip -json -6 neigh``. An address with no complete entry can be resolved by sending it one
empty datagram (the kernel then asks by ARP or ND); callers that guard secrets fail closed
when it stays unresolved.
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
from dataclasses import dataclass
from pathlib import Path

from appliance.directory import rules
from appliance.errors import ValidationError

ARP_FILE = Path("/proc/net/arp")
ATF_COM = 0x2  # the entry is complete (the kernel has the MAC)
PROBE_PORT = 9  # discard: the probe datagram itself is never answered
# States in which the kernel has a usable MAC for the address (ip-neighbour(8)).
USABLE = {"REACHABLE", "STALE", "DELAY", "PROBE", "PERMANENT", "NOARP"}
IpNet = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Neighbor:
    """One resolved neighbor: IP, normalised MAC, interface."""

    ip: str
    mac: str
    device: str


def parse_proc_arp(text: str) -> list[Neighbor]:
    """Complete entries of ``/proc/net/arp`` text (IPv4)."""
    found = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 6:
            continue
        ip, _hw, flags, mac, _mask, device = fields[:6]
        try:
            if not int(flags, 16) & ATF_COM:
                continue
            found.append(Neighbor(str(ipaddress.IPv4Address(ip)), rules.mac_address(mac), device))
        except (ValueError, ValidationError):
            continue
    return found


def parse_ip_json(text: str) -> list[Neighbor]:
    """Usable entries of ``ip -json neigh`` output (IPv4 and IPv6)."""
    found = []
    try:
        entries = json.loads(text or "[]")
    except ValueError:
        return []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not USABLE & set(entry.get("state", [])):
            continue
        try:
            ip = str(ipaddress.ip_address(entry["dst"]))
            found.append(Neighbor(ip, rules.mac_address(entry["lladdr"]), str(entry["dev"])))
        except (KeyError, TypeError, ValueError, ValidationError):
            continue
    return found


def arp_mac_of(text: str, ip: str) -> str | None:
    """The MAC of ``ip``'s first complete entry in ``/proc/net/arp`` text (``ip`` in its
    normal dotted form, as the kernel prints it), or None; only that address's lines are
    parsed."""
    needle, start = ip + " ", 0
    while (at := text.find(needle, start)) >= 0:
        start = at + len(needle)
        if at == 0 or text[at - 1] != "\n":  # the first line is the header
            continue
        end = text.find("\n", at)
        for neighbor in parse_proc_arp("\n" + text[at:end if end >= 0 else len(text)]):
            return neighbor.mac
    return None


def _arp_text() -> str:
    try:
        return ARP_FILE.read_text(encoding="ascii", errors="replace")
    except OSError:
        return ""


def _ipv4_table() -> list[Neighbor]:
    return parse_proc_arp(_arp_text())


def _ipv6_table(ip: str | None = None) -> list[Neighbor]:
    argv = ["ip", "-json", "-6", "neigh", "show", *(["to", ip] if ip else [])]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return []
    return parse_ip_json(result.stdout) if result.returncode == 0 else []


def read_table() -> list[Neighbor]:
    """The current neighbor table of this process's network namespace."""
    return _ipv4_table() + _ipv6_table()


def lookup(ip: str) -> str | None:
    """The MAC the kernel maps ``ip`` to right now, or None."""
    try:
        wanted = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if wanted.version == 4:
        return arp_mac_of(_arp_text(), str(wanted))
    return mac_of(str(wanted), _ipv6_table(str(wanted)))


def mac_of(ip: str, table: list[Neighbor]) -> str | None:
    """The MAC ``table`` maps ``ip`` to, or None."""
    for neighbor in table:
        if neighbor.ip == ip:
            return neighbor.mac
    return None


def resolve(ip: str, port: int = PROBE_PORT, timeout: float = 1.0) -> str | None:
    """``ip``'s MAC, first making the kernel resolve it (an empty datagram to ``port`` of
    that host starts ARP/ND); None when it does not answer within ``timeout``."""
    found = lookup(ip)
    if found is not None:
        return found
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with contextlib.suppress(OSError), socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.sendto(b"", (ip, port))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.05)
        found = lookup(ip)
        if found is not None:
            return found
    return None


def local_networks() -> list[IpNet]:
    """This host's directly connected, non-loopback subnets (IPv4 and IPv6)."""
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
    """Binds per-MAC secrets to on-link peers: ``binds(ip, mac)``, resolving first, fail
    closed."""

    def __init__(self, networks: Callable[[], list[IpNet]] = local_networks,
                 cache_seconds: float = 5.0, resolve_timeout: float = 1.0) -> None:
        self._networks = networks
        self._cache: tuple[float, list[IpNet]] = (-1e9, [])
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
                except Exception:  # unreadable interfaces: every peer must pass the table
                    nets = [ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")]
                self._cache = (now, nets)
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        if addr.is_loopback:
            return False
        return any(addr in net for net in nets if net.version == addr.version)

    def mac_of(self, ip: str) -> str | None:
        """``ip``'s MAC, resolving it first when the table has none; None when unresolved."""
        return resolve(ip, PROBE_PORT, self.resolve_timeout)

    def binds(self, ip: str, mac: str) -> bool:
        """True when ``ip`` is on-link and the kernel maps it to ``mac`` (resolved first);
        False for every off-link or loopback peer."""
        return self.on_link(ip) and self.mac_of(ip) == mac
