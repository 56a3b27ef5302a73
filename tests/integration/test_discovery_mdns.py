"""mDNS across a veth pair: a phone-like service is found, the appliance is browseable."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.integration.netns import APPLIANCE_IP, PHONE_IP, netns_pair

APPLIANCE_SIDE = textwrap.dedent("""
    import asyncio, json, sys
    from appliance.discovery.mdns import Announcement, Mdns
    async def main():
        mdns = Mdns([sys.argv[1]], hostname="appliance-test")
        await mdns.announce([Announcement("_http._tcp.local.", 8000,
                                          {"path": "/", "provisioning": "http://x/"})])
        found = []
        mdns.browse(["_sip._udp.local."], found.append)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + float(sys.argv[2])
        while loop.time() < deadline and not found:
            await asyncio.sleep(0.05)
        await asyncio.sleep(2)  # stay announced while the phone side browses
        await mdns.close()
        print(json.dumps([{"name": f.name, "addresses": f.addresses, "port": f.port,
                           "vendor": f.identity.vendor, "model": f.identity.model,
                           "firmware": f.identity.firmware} for f in found]))
    asyncio.run(main())
""")


def test_phone_service_found_and_appliance_browseable() -> None:
    with netns_pair() as pair:
        phone = subprocess.Popen(
            pair.cmd(pair.phone, sys.executable, str(Path(__file__).with_name("mdns_phone.py")),
                     PHONE_IP, "15"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            appliance = pair.run(pair.appliance, sys.executable, "-c", APPLIANCE_SIDE,
                                 APPLIANCE_IP, "15", timeout=60)
            phone_out, phone_err = phone.communicate(timeout=60)
        finally:
            phone.kill()
    assert appliance.returncode == 0, appliance.stderr
    found = json.loads(appliance.stdout)
    assert found[0] == {"name": "Yealink SIP-T46U reception", "addresses": [PHONE_IP],
                        "port": 5060, "vendor": "yealink", "model": "SIP-T46U",
                        "firmware": "108.86.0.90"}
    seen = json.loads(phone_out or "{}")
    assert seen.get("Office phone appliance._http._tcp.local.") == {
        "path": "/", "provisioning": "http://x/"}, phone_err
