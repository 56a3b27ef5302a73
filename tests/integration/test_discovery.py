"""The daemon's discovery in a namespace pair: PnP, SNMP, the neighbor table and a TFTP fetch
find one phone, merged into one inventory row; a Grandstream PnP request is answered too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import (
    RunningDaemon,
    appliance,
    appliance_json,
    start_daemon,
    write_config,
)
from tests.integration.netns import APPLIANCE_IP, PHONE_IP, NetnsPair, netns_pair
from tests.integration.test_discovery_snmp import SNMPD_CONF

DATA = Path(__file__).resolve().parents[1] / "data" / "discovery"
HERE = Path(__file__).resolve().parent
YEALINK_MAC = "001565123456"
GRANDSTREAM_MAC = "000b82865e6a"


@pytest.fixture
def lan(tmp_path: Path) -> Iterator[tuple[NetnsPair, RunningDaemon]]:
    """A phone namespace running snmpd, and the daemon with discovery on in the other."""
    snmpd = Path("/usr/sbin/snmpd")
    if not snmpd.exists():
        pytest.skip("net-snmp's snmpd is not installed (make test installs it)")
    conf = tmp_path / "snmpd.conf"
    conf.write_text(SNMPD_CONF.format(ip=PHONE_IP))
    with netns_pair() as pair:
        agent = subprocess.Popen(
            pair.cmd(pair.phone, str(snmpd), "-f", "-Lo", "-C", "-c", str(conf), "-p",
                     str(tmp_path / "snmpd.pid")), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, env={"MIBS": "", "PATH": "/usr/sbin:/usr/bin:/bin"})
        config = write_config(tmp_path, provisioning=True, host=APPLIANCE_IP, extra=f"""
[discovery]
pnp = true
snmp = true
neighbors = true
interfaces = ["{pair.appliance_dev}"]
subnets = ["192.0.2.0/24"]
snmp_communities = ["officephones"]
snmp_interval = 60
neighbors_interval = 1
""")
        appliance(config, "init")
        daemon = start_daemon(config, env={**os.environ, "NOTIFY_SOCKET": ""},
                              wrap=pair.cmd(pair.appliance))
        try:
            yield pair, daemon
        finally:
            daemon.stop()
            agent.terminate()
            agent.wait(10)


def phone_says(pair: NetnsPair, capture: str, mac: str, port: int) -> dict[str, object]:
    result = pair.run(pair.phone, sys.executable, str(HERE / "pnp_phone.py"),
                      str(DATA / capture), PHONE_IP, str(port), mac, timeout=30)
    assert result.returncode == 0, result.stderr
    answer: dict[str, object] = json.loads(result.stdout)
    return answer


def wait_for_phone(config: Path, mac: str, methods: set[str], timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    phone: dict = {}
    while time.monotonic() < deadline:
        found = appliance(config, "phone", "show", mac, "--json", check=False)
        if found.returncode == 0:
            phone = json.loads(found.stdout)
            if methods <= {s["method"] for s in phone["sightings"]}:
                return phone
        time.sleep(0.3)
    raise AssertionError(f"{mac} not seen by {methods}: {phone}")


def test_pnp_snmp_and_neighbors_make_one_phone(lan: tuple[NetnsPair, RunningDaemon]) -> None:
    pair, daemon = lan
    answer = phone_says(pair, "subscribe_yealink.txt", YEALINK_MAC, 5062)
    assert answer["ok"] == "SIP/2.0 200 OK" and answer["ok_expires"] == "0"
    assert answer["notify_body"] == f"http://{daemon.ports['http']}/"
    assert answer["notify_event"] == "ua-profile"
    assert answer["notify_state"] == "terminated;reason=timeout"
    assert answer["notify_type"] == "application/url"
    assert answer["notify_call_id"] == f"1472930893@{PHONE_IP}"
    tftp = daemon.ports["tftp"]
    fetch = pair.run(pair.phone, "curl", "-sS", "--max-time", "20", "-o", "/dev/null", "-w",
                     "%{size_download}", f"tftp://{tftp}/{YEALINK_MAC}.cfg")
    assert fetch.returncode == 0 and int(fetch.stdout) > 0, fetch.stderr
    phone = wait_for_phone(daemon.config, YEALINK_MAC, {"pnp", "snmp", "neighbors", "tftp"})
    assert (phone["vendor"], phone["model"], phone["firmware"]) == (
        "Yealink", "SIP-T46U", "108.86.0.90")
    assert phone["ip"] == PHONE_IP and phone["state"] == "discovered"
    macs = [p["mac"] for p in appliance_json(daemon.config, "phone", "list")]
    assert macs.count(YEALINK_MAC) == 1


def test_grandstream_pnp_and_junk_is_ignored(lan: tuple[NetnsPair, RunningDaemon]) -> None:
    pair, daemon = lan
    junk = pair.run(pair.phone, sys.executable, "-c", (
        "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM);"
        f"s.bind(('{PHONE_IP}', 0));"
        f"s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton('{PHONE_IP}'));"
        "[s.sendto(m, ('224.0.1.75', 5060)) for m in (b'\\x00garbage', b'SUBSCRIBE sip:x SIP/2.0',"
        " b'OPTIONS sip:a@b SIP/2.0\\r\\n\\r\\n')]"))
    assert junk.returncode == 0, junk.stderr
    answer = phone_says(pair, "subscribe_grandstream.txt", GRANDSTREAM_MAC, 5064)
    assert answer["ok"] == "SIP/2.0 200 OK"
    assert answer["notify_body"] == f"http://{daemon.ports['http']}/"
    phone = wait_for_phone(daemon.config, GRANDSTREAM_MAC, {"pnp"})
    assert (phone["vendor"], phone["model"], phone["firmware"]) == (
        "Grandstream", "GXP2170", "1.0.11.85")
    assert daemon.process.poll() is None
