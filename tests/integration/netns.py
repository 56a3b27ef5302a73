"""A pair of network namespaces joined by a veth pair: an "appliance" side and a "phone" side.

Multicast and subnet sweeps are tested only here, never on the machine's real network. The
addresses are from TEST-NET-1 (192.0.2.0/24), and with ``ipv6=True`` also from the IPv6
documentation prefix (2001:db8::/64); they exist only inside these namespaces.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

APPLIANCE_IP = "192.0.2.1"
PHONE_IP = "192.0.2.2"
PREFIX = 24
PHONE_MAC = "00:15:65:12:34:56"  # a Yealink OUI
APPLIANCE_IP6 = "2001:db8::1"
PHONE_IP6 = "2001:db8::2"
PREFIX6 = 64


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@dataclass
class NetnsPair:
    """Two namespaces and the veth pair between them."""

    appliance: str
    phone: str
    appliance_dev: str = ""
    phone_dev: str = ""

    def cmd(self, namespace: str, *argv: str) -> list[str]:
        """``argv`` wrapped to run inside ``namespace``."""
        return ["ip", "netns", "exec", namespace, *argv]

    def listening(self, namespace: str | None, pid: int) -> list[str]:
        """The listening TCP and UDP sockets of process ``pid`` in ``namespace`` (None: the
        namespace this test runs in), as ``ss`` prints them."""
        argv = ["ss", "-Hlntup"]
        result = subprocess.run(self.cmd(namespace, *argv) if namespace else argv,
                                capture_output=True, text=True, timeout=30, check=True)
        return [line for line in result.stdout.splitlines() if f"pid={pid}," in line]

    def run(self, namespace: str, *argv: str, timeout: float = 60,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside ``namespace`` and wait (bounded)."""
        return subprocess.run(self.cmd(namespace, *argv), capture_output=True, text=True,
                              timeout=timeout, check=False, env=env)


def can_make_namespaces() -> str | None:
    """None when this process can create namespaces, else the reason it cannot."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2's ip command is missing"
    return None


@contextmanager
def netns_pair(phone_mac: str = PHONE_MAC, *, ipv6: bool = False) -> Iterator[NetnsPair]:
    """Create the pair (skip the test with the reason when impossible); remove it after.
    ``ipv6`` also gives both ends an IPv6 address (no duplicate address detection wait)."""
    reason = can_make_namespaces()
    if reason:
        pytest.skip(reason)
    tag = uuid.uuid4().hex[:6]
    veth_a, veth_p = f"va{tag}", f"vp{tag}"
    pair = NetnsPair(f"apl-a-{tag}", f"apl-p-{tag}", veth_a, veth_p)
    try:
        _ip("netns", "add", pair.appliance)
        _ip("netns", "add", pair.phone)
    except subprocess.CalledProcessError as exc:
        subprocess.run(["ip", "netns", "del", pair.appliance], capture_output=True, check=False)
        pytest.skip(f"cannot create network namespaces here: {exc.stderr!r}")
    try:
        _ip("link", "add", veth_a, "netns", pair.appliance, "type", "veth", "peer", "name",
            veth_p, "netns", pair.phone)
        for ns, dev, ip in ((pair.appliance, veth_a, APPLIANCE_IP),
                            (pair.phone, veth_p, PHONE_IP)):
            _ip("-n", ns, "link", "set", "lo", "up")
            if ns == pair.phone:
                _ip("-n", ns, "link", "set", dev, "address", phone_mac)
            _ip("-n", ns, "addr", "add", f"{ip}/{PREFIX}", "dev", dev)
            if ipv6:
                ip6 = APPLIANCE_IP6 if ns == pair.appliance else PHONE_IP6
                _ip("-n", ns, "-6", "addr", "add", f"{ip6}/{PREFIX6}", "dev", dev, "nodad")
            _ip("-n", ns, "link", "set", dev, "up", "multicast", "on")
            # Multicast (SIP PnP 224.0.1.75, mDNS) leaves through the veth, nowhere else.
            _ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", dev)
        yield pair
    finally:
        for ns in (pair.appliance, pair.phone):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
