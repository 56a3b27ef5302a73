"""Neighbor-table binding in a pair of network namespaces made by the test (root only)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import start_daemon
from tests.integration.netns import APPLIANCE_IP as SERVER_IP
from tests.integration.netns import NetnsPair, netns_pair
from tests.integration.provisioning_helpers import http_get, port_of, prov_config, tftp_get

pytestmark = pytest.mark.integration

PHONE_MAC = "001565123456"  # the phone side's veth (netns.PHONE_MAC)
OTHER_MAC = "001565abcdef"


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def test_per_mac_file_only_to_the_ip_the_neighbor_table_maps(tmp_path: Path) -> None:
    with netns_pair() as pair:
        check_binding(pair, tmp_path)


def check_binding(pair: NetnsPair, tmp_path: Path) -> None:
    config = prov_config(tmp_path, f'sip_server = "{SERVER_IP}"\nmacs_per_source = 0\n',
                         host=SERVER_IP)
    daemon = start_daemon(config, env={**os.environ, "NOTIFY_SOCKET": ""},
                          wrap=pair.cmd(pair.appliance))
    try:
        http, tftp = daemon.ports["http"], port_of(daemon.ports["tftp"])
        phone = pair.phone
        status, body, _ = http_get(http, f"{PHONE_MAC}.cfg", netns=phone)
        assert status == 200 and b"account.1.enable" in body
        assert http_get(http, f"{OTHER_MAC}.cfg", netns=phone)[0] == 404
        assert http_get(http, "y000000000108.cfg", netns=phone)[0] == 200  # common: anyone
        # TFTP with an empty neighbor table: the server resolves the address first.
        ip("-n", pair.appliance, "neigh", "flush", "dev", pair.appliance_dev)
        data = tftp_get(tftp, f"{PHONE_MAC}.cfg", "curl", host=SERVER_IP, netns=phone)
        assert data is not None and b"account.1.enable" in data
        assert tftp_get(tftp, f"{OTHER_MAC}.cfg", "curl", host=SERVER_IP, netns=phone) is None
        # The phone claims another MAC's address: the table now maps it elsewhere, refused.
        ip("-n", phone, "link", "set", pair.phone_dev, "address", "00:15:65:99:99:99")
        ip("-n", pair.appliance, "neigh", "flush", "dev", pair.appliance_dev)
        assert tftp_get(tftp, f"{PHONE_MAC}.cfg", "curl", host=SERVER_IP, netns=phone) is None
    finally:
        daemon.stop()
