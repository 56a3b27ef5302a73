"""Neighbor-table binding in a pair of network namespaces made by the test (root only)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.provisioning_helpers import http_get, port_of, prov_config, tftp_get

pytestmark = pytest.mark.integration

SERVER_IP, PHONE_IP = "192.0.2.1", "192.0.2.2"  # TEST-NET-1, only inside the namespaces
PHONE_MAC = "001565123456"
OTHER_MAC = "001565abcdef"


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@dataclass
class Pair:
    server: str
    phone: str
    veth: str


@pytest.fixture
def netns_pair() -> Iterator[Pair]:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    tag = secrets.token_hex(3)
    pair = Pair(f"prov-srv-{tag}", f"prov-ph-{tag}", f"pv{tag}")
    try:
        ip("netns", "add", pair.server)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot create a network namespace here: {exc}")
    try:
        ip("netns", "add", pair.phone)
        ip("link", "add", f"{pair.veth}s", "type", "veth", "peer", "name", f"{pair.veth}p")
        ip("link", "set", f"{pair.veth}s", "netns", pair.server)
        ip("link", "set", f"{pair.veth}p", "netns", pair.phone)
        mac = ":".join(PHONE_MAC[i:i + 2] for i in range(0, 12, 2))
        ip("-n", pair.phone, "link", "set", f"{pair.veth}p", "address", mac)
        ip("-n", pair.server, "addr", "add", f"{SERVER_IP}/24", "dev", f"{pair.veth}s")
        ip("-n", pair.phone, "addr", "add", f"{PHONE_IP}/24", "dev", f"{pair.veth}p")
        for ns, dev in ((pair.server, f"{pair.veth}s"), (pair.phone, f"{pair.veth}p")):
            ip("-n", ns, "link", "set", "lo", "up")
            ip("-n", ns, "link", "set", dev, "up")
        yield pair
    finally:
        for ns in (pair.phone, pair.server):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10,
                           check=False)


def start_in(ns: str, config: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    ports = config.parent / "data" / "run" / "ports.json"
    log = (config.parent / "daemon.log").open("w")
    process = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m", "appliance",
                                "run", "--config", str(config)], stdout=log,
                               stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "NOTIFY_SOCKET": ""})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            data = json.loads(ports.read_text())
            if "tftp" in data and "ready" in (config.parent / "daemon.log").read_text():
                return process, data
        except (OSError, ValueError):
            pass
        assert process.poll() is None, (config.parent / "daemon.log").read_text()
        time.sleep(0.1)
    process.terminate()
    raise AssertionError("daemon in the namespace did not start")


def test_per_mac_file_only_to_the_ip_the_neighbor_table_maps(netns_pair: Pair,
                                                               tmp_path: Path) -> None:
    config = prov_config(tmp_path, f'sip_server = "{SERVER_IP}"\nmacs_per_source = 0\n')
    text = config.read_text().replace('tftp_listen = "127.0.0.1:0"',
                                      f'tftp_listen = "{SERVER_IP}:0"')
    config.write_text(text.replace('http_listen = "127.0.0.1:0"', f'http_listen = "{SERVER_IP}:0"'))
    process, ports = start_in(netns_pair.server, config)
    try:
        http, tftp = ports["http"], port_of(ports["tftp"])
        phone = netns_pair.phone
        status, body, _ = http_get(http, f"{PHONE_MAC}.cfg", netns=phone)
        assert status == 200 and b"account.1.enable" in body
        assert http_get(http, f"{OTHER_MAC}.cfg", netns=phone)[0] == 404
        assert http_get(http, "y000000000108.cfg", netns=phone)[0] == 200  # common: anyone
        # TFTP with an empty neighbor table: the server resolves the address first.
        ip("-n", netns_pair.server, "neigh", "flush", "dev", f"{netns_pair.veth}s")
        data = tftp_get(tftp, f"{PHONE_MAC}.cfg", "curl", host=SERVER_IP, netns=phone)
        assert data is not None and b"account.1.enable" in data
        assert tftp_get(tftp, f"{OTHER_MAC}.cfg", "curl", host=SERVER_IP, netns=phone) is None
        # The phone claims another MAC's address: the table now maps it elsewhere, refused.
        ip("-n", phone, "link", "set", f"{netns_pair.veth}p", "address", "00:15:65:99:99:99")
        ip("-n", netns_pair.server, "neigh", "flush", "dev", f"{netns_pair.veth}s")
        assert tftp_get(tftp, f"{PHONE_MAC}.cfg", "curl", host=SERVER_IP, netns=phone) is None
    finally:
        process.terminate()
        process.wait(20)
