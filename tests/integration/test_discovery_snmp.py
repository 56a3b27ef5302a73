"""SNMP sweep of a /24 inside a namespace pair: net-snmp's snmpd plays a Yealink phone,
asked with v2c communities (a wrong one first) and with an SNMPv3 user (SHA + AES)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.integration.netns import PHONE_IP, netns_pair

SNMPD_CONF = """\
agentaddress udp:{ip}:161
rocommunity officephones 192.0.2.0/24
sysDescr Yealink SIP-T46U 108.86.0.90
sysObjectID .1.3.6.1.4.1.37459.2.1.1
sysName T46U-reception
sysLocation lab
sysContact it
override .1.3.6.1.2.1.47.1.1.1.1.13.1 octet_str "SIP-T46U"
override .1.3.6.1.2.1.47.1.1.1.1.10.1 octet_str "108.86.0.90"
createUser phones SHA "phones-auth-1" AES "phones-priv-1"
rouser phones priv
"""

SWEEP = textwrap.dedent("""
    import asyncio, json, sys
    from appliance.config import SnmpV3User
    from appliance.discovery.snmp import Sweeper, credentials
    async def main():
        v3 = [SnmpV3User("phones", "phones-auth-1", "sha", "phones-priv-1", "aes")]
        auth = credentials(["wrong", "officephones"], []) if sys.argv[2] == "v2c" else (
            credentials([], v3))
        sweeper = Sweeper(auth, timeout=0.5, retries=1)
        found = await sweeper.sweep([sys.argv[1]])
        print(json.dumps([{"ip": a.ip, "vendor": a.identity.vendor, "model": a.identity.model,
                           "firmware": a.identity.firmware, "mac": a.mac} for a in found]))
    asyncio.run(main())
""")


@pytest.fixture
def snmpd_binary() -> str:
    path = shutil.which("snmpd") or ("/usr/sbin/snmpd" if Path("/usr/sbin/snmpd").exists()
                                     else None)
    if path is None:
        pytest.skip("net-snmp's snmpd is not installed (make test installs it)")
    return path


@pytest.mark.parametrize("version", ["v2c", "v3"])
def test_sweep_finds_the_yealink_like_agent(snmpd_binary: str, tmp_path: Path,
                                            version: str) -> None:
    conf = tmp_path / "snmpd.conf"
    conf.write_text(SNMPD_CONF.format(ip=PHONE_IP))
    with netns_pair() as pair:
        agent = subprocess.Popen(pair.cmd(pair.phone, snmpd_binary, "-f", "-Lo", "-C", "-c",
                                          str(conf), "-p", str(tmp_path / "snmpd.pid")),
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                 env={"MIBS": "", "PATH": "/usr/sbin:/usr/bin:/bin"})
        try:
            for _ in range(100):  # bounded wait for the agent to answer
                probe = pair.run(pair.appliance, "snmpget", "-v2c", "-c", "officephones",
                                 "-t", "0.3", "-r", "0", PHONE_IP, "1.3.6.1.2.1.1.5.0",
                                 env={"MIBS": "", "PATH": "/usr/bin:/bin"})
                if probe.returncode == 0:
                    break
                time.sleep(0.1)
            started = time.monotonic()
            result = pair.run(pair.appliance, sys.executable, "-c", SWEEP, "192.0.2.0/24",
                              version, timeout=120)
            elapsed = time.monotonic() - started
        finally:
            agent.terminate()
            agent.wait(10)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found == [{"ip": PHONE_IP, "vendor": "yealink", "model": "SIP-T46U",
                      "firmware": "108.86.0.90", "mac": found[0]["mac"]}]
    print(f"swept 254 hosts in {elapsed:.1f} s")
