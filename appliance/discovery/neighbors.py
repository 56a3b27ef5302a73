"""The kernel neighbor table: which MAC answers at which IP on a directly connected subnet."""

from __future__ import annotations

import ipaddress
import json
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from appliance.directory import rules
from appliance.errors import ValidationError

ARP_FILE = Path("/proc/net/arp")
ATF_COM = 0x2  # the entry is complete (the kernel has the MAC)
# States in which the kernel has a usable MAC for the address (ip-neighbour(8)).
USABLE = {"REACHABLE", "STALE", "DELAY", "PROBE", "PERMANENT", "NOARP"}


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


def read_table() -> list[Neighbor]:
    """The current neighbor table of this process's network namespace."""
    try:
        result = subprocess.run(["ip", "-json", "neigh", "show"], capture_output=True,
                                text=True, timeout=5, check=False)
        if result.returncode == 0:
            return parse_ip_json(result.stdout)
    except (OSError, subprocess.TimeoutExpired):
        pass
    try:
        return parse_proc_arp(ARP_FILE.read_text(encoding="ascii", errors="replace"))
    except OSError:
        return []


def mac_of(ip: str, table: list[Neighbor] | None = None) -> str | None:
    """The MAC the neighbor table maps ``ip`` to, or None."""
    wanted = str(ipaddress.ip_address(ip))
    for neighbor in read_table() if table is None else table:
        if neighbor.ip == wanted:
            return neighbor.mac
    return None


def resolve(ip: str, port: int, timeout: float = 1.0, step: float = 0.05) -> str | None:
    """The MAC of ``ip``, first making the kernel resolve it (an empty datagram to ``port``
    of that host starts ARP); None when it does not answer within ``timeout``."""
    found = mac_of(ip)
    if found is not None:
        return found
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"", (ip, port))
    except OSError:
        return None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(step)
        found = mac_of(ip)
        if found is not None:
            return found
    return None
