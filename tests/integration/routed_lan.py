"""An office LAN in network namespaces: the box, on-link peers on a bridge, a router, and
peers behind the router (a routed phone subnet and another subnet), each with its own MAC.

```
  phone  192.0.2.2  00:15:65:12:34:56 --+
  rogue  192.0.2.3  00:15:65:66:66:66 --+-- br0 192.0.2.1 (box namespace: the daemon)
  router 192.0.2.254 -------------------+
  router 198.51.100.1 --- routed phone 198.51.100.2  00:15:65:20:00:02  (a phone subnet)
  router 203.0.113.1  --- outsider     203.0.113.2                      (not one)
```

TEST-NET addresses only, existing only inside these namespaces, removed afterwards.
"""

from __future__ import annotations

import ctypes
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

from tests.integration.netns import can_make_namespaces

BOX_IP = "192.0.2.1"
PHONE_IP, PHONE_MAC = "192.0.2.2", "00:15:65:12:34:56"
ROGUE_IP, ROGUE_MAC = "192.0.2.3", "00:15:65:66:66:66"
ROUTER_LAN_IP = "192.0.2.254"
PHONE_SUBNET = "198.51.100.0/24"
ROUTED_IP, ROUTED_MAC = "198.51.100.2", "00:15:65:20:00:02"
OUTSIDER_IP = "203.0.113.2"
CLONE_NEWNET = 0x40000000


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@dataclass
class RoutedLan:
    """The namespaces by role; ``cmd``/``run`` execute inside one."""

    tag: str
    names: dict[str, str] = field(default_factory=dict)

    def ns(self, role: str) -> str:
        """The namespace of ``role``: box, phone, rogue, router, routed, outsider."""
        return self.names[role]

    def cmd(self, role: str, *argv: str) -> list[str]:
        """``argv`` wrapped to run inside ``role``'s namespace."""
        return ["ip", "netns", "exec", self.names[role], *argv]

    def run(self, role: str, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside ``role``'s namespace and wait (bounded)."""
        return subprocess.run(self.cmd(role, *argv), capture_output=True, text=True,
                              timeout=timeout, check=False)


def _link(lan: RoutedLan, a: str, a_dev: str, b: str, b_dev: str) -> None:
    _ip("link", "add", a_dev, "netns", lan.ns(a), "type", "veth", "peer", "name", b_dev,
        "netns", lan.ns(b))


@contextmanager
def routed_lan() -> Iterator[RoutedLan]:
    """Build the LAN (skip the test with the reason when impossible); remove it after."""
    reason = can_make_namespaces()
    if reason:
        pytest.skip(reason)
    tag = uuid.uuid4().hex[:6]
    lan = RoutedLan(tag, {role: f"apl-{role}-{tag}" for role in
                          ("box", "phone", "rogue", "router", "routed", "outsider")})
    made: list[str] = []
    try:
        for name in lan.names.values():
            _ip("netns", "add", name)
            made.append(name)
    except subprocess.CalledProcessError as exc:
        for name in made:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        pytest.skip(f"cannot create network namespaces here: {exc.stderr!r}")
    try:
        _build(lan)
        yield lan
    finally:
        for name in lan.names.values():
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def _build(lan: RoutedLan) -> None:
    box = lan.ns("box")
    for name in lan.names.values():
        _ip("-n", name, "link", "set", "lo", "up")
    _ip("-n", box, "link", "add", "br0", "type", "bridge")
    _ip("-n", box, "addr", "add", f"{BOX_IP}/24", "dev", "br0")
    _ip("-n", box, "link", "set", "br0", "up")
    on_link = (("phone", PHONE_IP, PHONE_MAC), ("rogue", ROGUE_IP, ROGUE_MAC),
               ("router", ROUTER_LAN_IP, None))
    for n, (role, ip, mac) in enumerate(on_link):
        port, dev = f"bp{n}{lan.tag}", f"lan{n}"
        _link(lan, "box", port, role, dev)
        _ip("-n", box, "link", "set", port, "master", "br0")
        _ip("-n", box, "link", "set", port, "up")
        if mac:
            _ip("-n", lan.ns(role), "link", "set", dev, "address", mac)
        _ip("-n", lan.ns(role), "addr", "add", f"{ip}/24", "dev", dev)
        _ip("-n", lan.ns(role), "link", "set", dev, "up")
    router = lan.ns("router")
    behind = (("routed", "198.51.100.1", ROUTED_IP, ROUTED_MAC),
              ("outsider", "203.0.113.1", OUTSIDER_IP, None))
    for n, (role, gateway, ip, mac) in enumerate(behind):
        _link(lan, "router", f"r{n}", role, "wan0")
        _ip("-n", router, "addr", "add", f"{gateway}/24", "dev", f"r{n}")
        _ip("-n", router, "link", "set", f"r{n}", "up")
        if mac:
            _ip("-n", lan.ns(role), "link", "set", "wan0", "address", mac)
        _ip("-n", lan.ns(role), "addr", "add", f"{ip}/24", "dev", "wan0")
        _ip("-n", lan.ns(role), "link", "set", "wan0", "up")
        _ip("-n", lan.ns(role), "route", "add", "default", "via", gateway)
        _ip("-n", box, "route", "add", f"{ip.rsplit('.', 1)[0]}.0/24", "via", ROUTER_LAN_IP)
    subprocess.run(lan.cmd("router", "sysctl", "-qw", "net.ipv4.ip_forward=1"), check=True,
                   capture_output=True, timeout=30)


def socket_in(namespace: str, kind: int = socket.SOCK_DGRAM) -> socket.socket:
    """An IPv4 socket living in ``namespace``: made by a short-lived thread that entered it
    (setns moves only the calling thread, so the test's own threads stay where they are)."""
    made: list[socket.socket | BaseException] = []

    def enter_and_make() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            with open(f"/run/netns/{namespace}", "rb") as target:
                if libc.setns(target.fileno(), CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns into {namespace}")
            made.append(socket.socket(socket.AF_INET, kind))
        except BaseException as exc:  # handed to the caller below
            made.append(exc)

    thread = threading.Thread(target=enter_and_make)
    thread.start()
    thread.join(10)
    if not made or isinstance(made[0], BaseException):
        raise AssertionError(f"no socket in {namespace}: {made}")
    return made[0]


def set_mac(lan: RoutedLan, role: str, mac: str) -> None:
    """Give ``role``'s LAN port the MAC ``mac`` and make the box forget what it knew, so its
    neighbor table learns the new one (a phone swapped for another on the same address)."""
    _ip("-n", lan.ns(role), "link", "set", "lan0" if role == "phone" else "lan1", "address",
        ":".join(mac[i:i + 2] for i in range(0, 12, 2)) if ":" not in mac else mac)
    _ip("-n", lan.ns("box"), "neigh", "flush", "dev", "br0")
