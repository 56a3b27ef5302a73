"""Each vendor family against the running daemon with real clients: tftp-hpa, atftp, curl.

The phone sits on the box's LAN in network namespaces (``routed_lan``); before each fetch its
port takes that vendor's MAC, so the box's neighbor table binds the phone to its files.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import RunningDaemon, appliance, start_daemon
from tests.integration.provisioning_helpers import (
    USER_AGENTS,
    account_of,
    http_credentials,
    http_get,
    parse_cfg,
    port_of,
    prov_config,
    setup_extension,
    tftp_get,
    wait_for_phone,
)
from tests.integration.routed_lan import BOX_IP, PHONE_IP, RoutedLan, routed_lan, set_mac, socket_in

pytestmark = pytest.mark.integration

# vendor -> (user-agent key, MAC, common files, per-MAC file with the account, tftp client)
PHONES = {
    "yealink": ("yealink", "001565aabb01", ["y000000000108.cfg"], "{mac}.cfg", "tftp"),
    "polycom": ("polycom", "0004f2aabb02", ["000000000000.cfg", "polycom-common.cfg"],
                "{mac}-user.cfg", "atftp"),
    "cisco": ("cisco_mpp", "00562baabb03", ["7841-3PCC.xml", "CP-7841-3PCC.xml"],
              "Cisco/CP-7841-3PCC/{mac}.cfg", "curl"),
    "grandstream": ("grandstream", "000b82aabb04", ["cfggxp2170.xml", "Grandstream/cfg.xml"],
                    "Grandstream/cfg{mac}.xml", "tftp"),
    "snom": ("snom", "000413aabb05", ["snom710.htm"], "{MAC}.xml", "atftp"),
    "fanvil": ("fanvil", "0c383eaabb06", ["f0X4hw1.100.cfg"], "Fanvil/{mac}.cfg", "curl"),
}
NAMES = {"yealink": "Nguyễn Văn An", "polycom": "Trần Thị Bình", "cisco": "Lê Văn Cường",
         "grandstream": "Phạm Thu Dung", "snom": "Hoàng Minh Em", "fanvil": "Võ Thị Phương"}


def device_name(vendor: str) -> str:
    mac = PHONES[vendor][1]
    return PHONES[vendor][3].format(mac=mac, MAC=mac.upper())


@pytest.fixture
def lan() -> Iterator[RoutedLan]:
    with routed_lan() as made:
        yield made


@pytest.fixture
def phone_socket(lan: RoutedLan) -> Iterator[socket.socket]:
    """A UDP socket in the phone's namespace standing in for the phones' SIP port."""
    sock = socket_in(lan.ns("phone"))
    sock.bind((PHONE_IP, 0))
    sock.settimeout(10)
    yield sock
    sock.close()


@pytest.fixture
def prov(tmp_path: Path, lan: RoutedLan, phone_socket: socket.socket) -> Iterator[RunningDaemon]:
    config = prov_config(tmp_path, f'sip_server = "{BOX_IP}"\nmacs_per_source = 0\n'
                                   f"push_port = {phone_socket.getsockname()[1]}\n", host=BOX_IP)
    running = start_daemon(config, env={**os.environ, "NOTIFY_SOCKET": ""}, wrap=lan.cmd("box"))
    yield running
    running.stop()


def as_phone(lan: RoutedLan, vendor: str) -> str:
    """Make the phone's namespace that vendor's phone (its MAC); the namespace's name."""
    set_mac(lan, "phone", PHONES[vendor][1])
    return lan.ns("phone")


def test_every_vendor_unknown_then_assigned_then_dismissed(
        prov: RunningDaemon, lan: RoutedLan, phone_socket: socket.socket) -> None:
    config, tftp, http = prov.config, port_of(prov.ports["tftp"]), prov.ports["http"]
    # Unknown MACs: a welcome config, no account, and a new inventory row.
    for vendor, (ua_key, mac, commons, _device, client) in PHONES.items():
        ns = as_phone(lan, vendor)
        for common in commons:
            assert tftp_get(tftp, common, client, host=BOX_IP, netns=ns), (vendor, common)
            status, body, _ = http_get(http, common, USER_AGENTS[ua_key]["ua"], netns=ns)
            assert status == 200 and body, (vendor, common)
        data = tftp_get(tftp, device_name(vendor), client, host=BOX_IP, netns=ns)
        assert data is not None, vendor
        account = account_of(vendor, data)
        assert account["enabled"] == "0" and account["label"] == "Unassigned", (vendor, account)
        assert account["password"] == "" and account["user"] == "", (vendor, account)
        phone = wait_for_phone(config, mac, state="discovered")
        assert phone["vendor"] and phone["vendor"].lower() == vendor
        assert phone["ip"] == PHONE_IP and phone["discovered_by"] in ("tftp", "http")

    # Assigned: the next fetch carries the extension's credentials, over TFTP and HTTP.
    extensions = {}
    for number, (vendor, (ua_key, mac, _c, _d, client)) in enumerate(PHONES.items(), start=101):
        ext = setup_extension(config, str(number), NAMES[vendor], mac)
        extensions[vendor] = ext
        ns = as_phone(lan, vendor)
        data = tftp_get(tftp, device_name(vendor), client, host=BOX_IP, netns=ns)
        assert data is not None
        account = account_of(vendor, data)
        assert account == {"enabled": "1", "user": ext["sip_username"],
                           "auth": ext["sip_username"], "password": ext["sip_password"],
                           "label": ext["name"], "server": BOX_IP}, vendor
        status, body, headers = http_get(http, device_name(vendor), USER_AGENTS[ua_key]["ua"],
                                         netns=ns)
        # enrolled by the fetch above: digest from now on (every vendor family)
        assert status == 401 and "Digest" in headers, vendor
        user, password, _url = http_credentials(vendor, data)
        assert user == mac
        status, body, _ = http_get(http, device_name(vendor), USER_AGENTS[ua_key]["ua"],
                                   digest=(user, password), netns=ns)
        bad, _, _ = http_get(http, device_name(vendor), USER_AGENTS[ua_key]["ua"],
                             digest=(user, "x" * 24), netns=ns)
        assert bad == 401
        assert status == 200, vendor
        assert account_of(vendor, body)["password"] == ext["sip_password"]
    _drain(phone_socket)

    # Dismissed: the next fetch carries no secret, and the phone is told to re-fetch.
    for vendor in ("yealink", "cisco"):
        mac = PHONES[vendor][1]
        appliance(config, "employee", "dismiss", str(extensions[vendor]["employee_id"]))
        notify = _receive_notify(phone_socket, mac, extensions[vendor]["number"])
        assert (b"Event: resync" if vendor == "cisco" else b"Event: check-sync") in notify
        ns = as_phone(lan, vendor)
        data = tftp_get(tftp, device_name(vendor), PHONES[vendor][4], host=BOX_IP, netns=ns)
        assert data is not None
        account = account_of(vendor, data)
        assert account["enabled"] == "0" and account["password"] == ""
        assert extensions[vendor]["sip_password"].encode() not in data
        if vendor == "yealink":
            assert "static.security.user_password" not in parse_cfg(data)
    assert "sip_password" not in prov.log() and extensions["snom"]["sip_password"] not in prov.log()

    # The web page's "resync" button writes an event; the daemon pushes the NOTIFY.
    from appliance.config import load
    from appliance.directory import Directory
    from appliance.store import open_store

    _drain(phone_socket)
    Directory(open_store(load(config, {}).store.url), actor="test").request_resync(
        PHONES["snom"][1])
    assert b"Event: check-sync" in _receive_notify(phone_socket, PHONES["snom"][1],
                                                   extensions["snom"]["number"])

    # `appliance phone resync` (SIP off here, so the CLI sends the NOTIFY itself, from the
    # box's namespace where the phone is reachable).
    resync = subprocess.run(lan.cmd("box", sys.executable, "-m", "appliance", "phone", "resync",
                                    PHONES["snom"][1], "--config", str(config)),
                            capture_output=True, text=True, timeout=60, check=False)
    assert resync.returncode == 0 and "NOTIFY check-sync sent" in resync.stdout, resync.stderr
    assert b"Event: check-sync" in _receive_notify(phone_socket, PHONES["snom"][1],
                                                   extensions["snom"]["number"])
    missing = appliance(config, "phone", "resync", "001565000099", check=False)
    assert missing.returncode == 1 and "not in the inventory" in missing.stderr


def _drain(sock: socket.socket) -> None:
    sock.settimeout(0.3)
    deadline = time.monotonic() + 5
    try:
        while time.monotonic() < deadline:
            sock.recvfrom(65535)
    except TimeoutError:
        pass
    sock.settimeout(10)


def _receive_notify(sock: socket.socket, mac: str, number: str) -> bytes:
    from appliance.sip.message import parse

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        data, _ = sock.recvfrom(65535)
        message = parse(data)
        if data.startswith(b"NOTIFY sip:") and (mac in data.decode() or number in data.decode()):
            assert message.headers.get("Subscription-State") is not None
            return data
    raise AssertionError(f"no NOTIFY for {mac}")
