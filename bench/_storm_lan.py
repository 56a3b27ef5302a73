"""The boot storm's LAN, in network namespaces made here (root needed): a "box" namespace and
a "phones" namespace joined by a veth pair; each phone is a macvlan of its own (its own MAC and
address), so the box's neighbor table binds each phone to its files as on a real LAN.

Addresses are from the benchmarking range 198.18.0.0/15 (RFC 2544) and exist only inside
these namespaces. ``enter_phones()`` moves the calling thread (and the threads it starts
afterwards) into the phones namespace; ``phone_socket`` binds a UDP socket to one phone's
interface and address, so its packets leave with that phone's MAC.
"""

from __future__ import annotations

import ctypes
import socket
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

BOX_IP = "198.18.0.1"
PREFIX = 16
CLONE_NEWNET = 0x40000000


def _ip_batch(namespace: str, lines: list[str]) -> None:
    subprocess.run(["ip", "-n", namespace, "-batch", "-"], input="\n".join(lines) + "\n",
                   text=True, check=True, capture_output=True, timeout=300)


def _sysctl(namespace: str, *settings: str) -> None:
    subprocess.run(["ip", "netns", "exec", namespace, "sysctl", "-qw", *settings], check=True,
                   capture_output=True, timeout=30)


@dataclass(frozen=True)
class Phone:
    """One phone of the storm: its MAC (normalised), address and interface."""

    mac: str
    ip: str
    device: str


@dataclass
class StormLan:
    """The two namespaces and the phones in the second."""

    box: str
    phones_ns: str
    phones: list[Phone] = field(default_factory=list)

    def cmd(self, *argv: str) -> list[str]:
        """``argv`` wrapped to run in the box's namespace."""
        return ["ip", "netns", "exec", self.box, *argv]

    def enter_phones(self) -> None:
        """Move the calling thread into the phones namespace (before starting the loop)."""
        libc = ctypes.CDLL(None, use_errno=True)
        with open(f"/run/netns/{self.phones_ns}", "rb") as target:
            if libc.setns(target.fileno(), CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), f"setns into {self.phones_ns}")


def phone_socket(phone: Phone) -> socket.socket:
    """A non-blocking UDP socket sending from ``phone``'s interface, address and MAC."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, phone.device.encode())
    sock.bind((phone.ip, 0))
    sock.setblocking(False)
    return sock


def _address(n: int) -> str:
    host = n + 10  # 198.18.0.10 onwards: .1 is the box
    return f"198.18.{host >> 8}.{host & 0xFF}"


@contextmanager
def storm_lan(count: int) -> Iterator[StormLan]:
    """Make the LAN with ``count`` phones (MACs 001565000000 onwards); remove it after."""
    tag = uuid.uuid4().hex[:6]
    lan = StormLan(f"storm-box-{tag}", f"storm-phones-{tag}")
    subprocess.run(["ip", "netns", "add", lan.box], check=True, capture_output=True, timeout=30)
    try:
        subprocess.run(["ip", "netns", "add", lan.phones_ns], check=True, capture_output=True,
                       timeout=30)
        subprocess.run(["ip", "link", "add", "sbox", "netns", lan.box, "type", "veth", "peer",
                        "name", "lan0", "netns", lan.phones_ns], check=True,
                       capture_output=True, timeout=30)
        # Every phone answers ARP only for its own address, on its own interface (no ARP
        # flux: the box learns each phone's own MAC).
        _sysctl(lan.phones_ns, "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2",
                "net.ipv4.conf.default.arp_ignore=1", "net.ipv4.conf.default.arp_announce=2",
                "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0")
        # (The neighbor table's size limits are the kernel's own, not per namespace: its
        # defaults keep 512 entries without garbage collection, enough for 500 phones.)
        _ip_batch(lan.box, ["link set lo up", f"addr add {BOX_IP}/{PREFIX} dev sbox",
                            "link set sbox up"])
        lines = ["link set lo up", "link set lan0 up"]
        for n in range(count):
            mac = f"001565{n:06x}"
            phone = Phone(mac, _address(n), f"m{n}")
            lan.phones.append(phone)
            colons = ":".join(mac[i:i + 2] for i in range(0, 12, 2))
            lines += [f"link add link lan0 name {phone.device} address {colons} type macvlan "
                      "mode bridge",
                      f"addr add {phone.ip}/{PREFIX} dev {phone.device}",
                      f"link set {phone.device} up"]
        _ip_batch(lan.phones_ns, lines)
        yield lan
    finally:
        for name in (lan.phones_ns, lan.box):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False,
                           timeout=30)
