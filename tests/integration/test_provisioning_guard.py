"""The guard against the running daemon: traversal, uploads, sweeps and bans, firmware."""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import RunningDaemon, appliance, appliance_json, start_daemon
from tests.integration.provisioning_helpers import (
    USER_AGENTS,
    http_get,
    port_of,
    prov_config,
    tftp_get,
)
from tests.integration.routed_lan import (
    BOX_IP,
    PHONE_IP,
    PHONE_MAC,
    ROGUE_IP,
    RoutedLan,
    routed_lan,
)

pytestmark = pytest.mark.integration

TRAVERSAL = [
    "../etc/passwd", "/etc/passwd", "..%2f..%2fetc%2fpasswd", "%2e%2e/%2e%2e/etc/passwd",
    "%252e%252e/etc/passwd", "firmware/../../appliance.db", "firmware/../appliance.db",
    "firmware-evil/x.rom", "firmware/yealink/../../appliance.db", "y000000000108.cfg%00.txt",
    "..%5c..%5cetc%5cpasswd", "a\\..\\etc", "./y000000000108.cfg", "run/ports.json",
    "appliance.db", "x" * 600 + ".cfg",
]


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[RunningDaemon]:
    config = prov_config(tmp_path, "ban_misses = 30\nban_window = 60\nban_seconds = 600\n"
                                   "macs_per_source = 4\n")
    outside = tmp_path / "data" / "firmware-evil"
    outside.mkdir(parents=True)
    (outside / "x.rom").write_bytes(b"secret")
    running = start_daemon(config, env={**os.environ, "NOTIFY_SOCKET": ""})
    yield running
    running.stop()


def test_traversal_set_is_refused_like_a_missing_file(guarded: RunningDaemon) -> None:
    http = guarded.ports["http"]
    _, missing, _ = http_get(http, "no-such-file.cfg", interface="127.0.0.3")
    for name in TRAVERSAL:
        status, body, _ = http_get(http, name, interface="127.0.0.3")
        assert (status, body) == (404, missing), name
    tftp = port_of(guarded.ports["tftp"])
    for name in ("../../etc/passwd", "/etc/passwd", "a\\b.cfg", "firmware/../appliance.db",
                 "y" * 600):
        assert tftp_get(tftp, name, "tftp") is None, name


def test_tftp_write_requests_are_refused_and_nothing_is_written(guarded: RunningDaemon,
                                                               tmp_path: Path) -> None:
    tftp = port_of(guarded.ports["tftp"])
    source = tmp_path / "upload.cfg"
    source.write_bytes(b"account.1.password = stolen\n")
    before = {p for p in (tmp_path / "data").rglob("*")}
    result = __import__("subprocess").run(
        ["tftp", "127.0.0.1", str(tftp), "-m", "octet", "-c", "put", str(source),
         "001565aabb01.cfg"], capture_output=True, text=True, timeout=30, check=False)
    assert "Error code 2" in result.stdout + result.stderr
    # A raw WRQ gets error 2 (access violation) from the listening port, nothing else.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(struct.pack("!H", 2) + b"../../evil.cfg\x00octet\x00", ("127.0.0.1", tftp))
        reply, _ = sock.recvfrom(1024)
        assert struct.unpack("!HH", reply[:4]) == (5, 2)
    after = {p for p in (tmp_path / "data").rglob("*")}
    assert {p for p in after - before if "-wal" not in p.name and "-shm" not in p.name} == set()
    assert not (tmp_path / "evil.cfg").exists()


def test_mac_sweep_is_banned_while_a_booting_phone_is_served(tmp_path: Path) -> None:
    # On one LAN in namespaces: a rogue device sweeps MACs, a real phone boots beside it.
    with routed_lan() as lan:
        config = prov_config(tmp_path, f'sip_server = "{BOX_IP}"\nban_misses = 30\n'
                                       "ban_window = 60\nban_seconds = 600\nmacs_per_source = 4\n",
                             host=BOX_IP)
        daemon = start_daemon(config, env={**os.environ, "NOTIFY_SOCKET": ""},
                              wrap=lan.cmd("box"))
        try:
            check_sweep_and_boot(lan, daemon)
        finally:
            daemon.stop()


def check_sweep_and_boot(lan: RoutedLan, daemon: RunningDaemon) -> None:
    http, tftp = port_of(daemon.ports["http"]), port_of(daemon.ports["tftp"])
    base = f"http://{BOX_IP}:{http}"
    sweep = lan.run("rogue", "sh", "-c", "; ".join(
        f"curl -s -o /dev/null -w '%{{http_code}}\\n' {base}/001565{n:06x}.cfg"
        for n in range(200)), timeout=300)
    codes = sweep.stdout.split()
    assert len(codes) == 200 and "200" not in codes  # none of those phones' files, ever
    # Banned now: even a common file is not found for the sweeper.
    assert lan.run("rogue", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                   f"{base}/y000000000108.cfg").stdout == "404"
    assert appliance_json(daemon.config, "phone", "list") == []  # and no phantom phones
    # A Yealink's boot beside it: boot files, common, per-MAC, local, contact list.
    mac = PHONE_MAC.replace(":", "")
    ua = f"Yealink SIP-T46U 108.86.0.90 {PHONE_MAC}"

    def get(name: str) -> str:
        return lan.run("phone", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-A", ua,
                       f"{base}/{name}").stdout

    for name in (f"{mac}.boot", "y000000000000.boot", "y000000000108.cfg", f"{mac}.cfg",
                 f"{mac}-local.cfg", f"{mac}-contact.xml"):
        get(name)
    for _ in range(3):  # it reboots a few times while staff set it up
        for name in ("y000000000108.cfg", f"{mac}.cfg"):
            assert get(name) == "200", name
        assert tftp_get(tftp, f"{mac}.cfg", "curl", host=BOX_IP, netns=lan.ns("phone"))
    log = daemon.log()
    assert f"{ROGUE_IP} banned" in log and f"{PHONE_IP} banned" not in log
    assert [p["mac"] for p in appliance_json(daemon.config, "phone", "list")] == [mac]


def test_firmware_is_streamed_with_ranges_and_offered_to_older_phones(
        guarded: RunningDaemon, tmp_path: Path) -> None:
    image = tmp_path / "T46U-108.86.0.100.rom"
    image.write_bytes(bytes(range(256)) * 4096)  # 1 MiB
    added = appliance_json(guarded.config, "firmware", "add", str(image), "--vendor", "yealink",
                           "--model", "SIP-T46U", "--version", "108.86.0.100")
    assert added["size"] == 1 << 20
    http = guarded.ports["http"]
    ua = USER_AGENTS["yealink"]["ua"]  # reports 108.86.0.90: older
    _, common, _ = http_get(http, "y000000000108.cfg", ua, interface="127.0.0.7")
    url = next(line.split(" = ", 1)[1] for line in common.decode().splitlines()
               if line.startswith("static.firmware.url"))
    assert url == f"http://{http}/firmware/{added['filename']}"
    newer = ua.replace("108.86.0.90", "108.86.0.100")
    _, common, _ = http_get(http, "y000000000108.cfg", newer, interface="127.0.0.7")
    assert b"static.firmware.url" not in common
    name = f"firmware/{added['filename']}"
    status, body, _ = http_get(http, name, interface="127.0.0.7")
    assert status == 200 and body == image.read_bytes()
    status, body, head = http_get(http, name, interface="127.0.0.7",
                                  extra=("-H", "Range: bytes=1000-1999"))
    assert status == 206 and body == image.read_bytes()[1000:2000]
    assert f"Content-Range: bytes 1000-1999/{1 << 20}" in head
    status, _, _ = http_get(http, name, interface="127.0.0.7",
                            extra=("-H", "Range: bytes=9999999-"))
    assert status == 416
    assert tftp_get(port_of(guarded.ports["tftp"]), name, "curl", blksize=1400) == \
        image.read_bytes()
    # The stored file replaced by a symlink pointing out of the folder: refused.
    stored = tmp_path / "data" / "firmware" / added["filename"]
    stored.unlink()
    stored.symlink_to(tmp_path / "data" / "appliance.db")
    assert http_get(http, name, interface="127.0.0.7")[0] == 404
    listed = appliance(guarded.config, "firmware", "list").stdout
    assert "108.86.0.100" in listed
