"""Per-device HTTP digest for every vendor family, and ``phone list``'s last fetch, with curl.

Phones sit on the box's LAN in network namespaces; before fetching as a vendor's phone the
phone namespace's port takes that phone's MAC, so the neighbor table binds it to its files.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.integration.conftest import RunningDaemon, appliance, appliance_json, start_daemon
from tests.integration.provisioning_helpers import (
    USER_AGENTS,
    account_of,
    http_credentials,
    http_get,
    port_of,
    prov_config,
    setup_extension,
    tftp_get,
    wait_for_phone,
)
from tests.integration.routed_lan import BOX_IP, RoutedLan, routed_lan, set_mac

pytestmark = pytest.mark.integration

# vendor -> (user-agent key, MAC, per-MAC file the phone is first handed over TFTP,
#            per-MAC file holding the account; every one of them guarded by digest)
PHONES = {
    "yealink": ("yealink", "001565ccdd01", "{mac}.cfg", "{mac}.cfg"),
    "polycom": ("polycom", "0004f2ccdd02", "{mac}-user.cfg", "{mac}-user.cfg"),
    "cisco": ("cisco_mpp", "00562bccdd03", "Cisco/CP-7841-3PCC/{mac}.cfg",
              "Cisco/CP-7841-3PCC/{mac}.cfg"),
    "grandstream": ("grandstream", "000b82ccdd04", "Grandstream/cfg{mac}.xml",
                    "Grandstream/cfg{mac}.xml"),
    "snom": ("snom", "000413ccdd05", "snom710-{MAC}.htm", "{MAC}.xml"),
    "fanvil": ("fanvil", "0c383eccdd06", "Fanvil/{mac}.cfg", "Fanvil/{mac}.cfg"),
}


def _name(template: str, mac: str) -> str:
    return template.format(mac=mac, MAC=mac.upper())


def _user_agent(vendor: str, mac: str) -> str:
    """The vendor's real User-Agent, naming this phone's MAC where the vendor puts one."""
    entry = USER_AGENTS[PHONES[vendor][0]]
    ua = entry["ua"]
    if "mac" in entry:
        theirs = entry["mac"]
        ua = ua.replace(theirs, mac).replace(theirs.upper(), mac.upper())
        ua = ua.replace(":".join(theirs[i:i + 2] for i in range(0, 12, 2)),
                        ":".join(mac[i:i + 2] for i in range(0, 12, 2)))
    return ua


@pytest.fixture
def lan() -> Iterator[RoutedLan]:
    with routed_lan() as made:
        yield made


@pytest.fixture
def prov(tmp_path: Path, lan: RoutedLan) -> Iterator[RunningDaemon]:
    config = prov_config(tmp_path, f'sip_server = "{BOX_IP}"\nmacs_per_source = 0\n',
                         host=BOX_IP)
    running = start_daemon(config, env={**os.environ, "NOTIFY_SOCKET": ""}, wrap=lan.cmd("box"))
    yield running
    running.stop()


def as_phone(lan: RoutedLan, mac: str) -> str:
    """Make the phone's namespace the phone ``mac``; the namespace's name."""
    set_mac(lan, "phone", mac)
    return lan.ns("phone")


def test_every_vendor_needs_its_own_digest_once_enrolled(prov: RunningDaemon,
                                                         lan: RoutedLan) -> None:
    config, tftp, http = prov.config, port_of(prov.ports["tftp"]), prov.ports["http"]
    credentials: dict[str, tuple[str, str]] = {}
    for number, (vendor, (_ua, mac, first, _account)) in enumerate(PHONES.items(), start=201):
        ext = setup_extension(config, str(number), f"Person {vendor}", mac)
        ns = as_phone(lan, mac)
        # First boot over TFTP (DHCP option 66): the phone is handed its HTTP credentials.
        data = tftp_get(tftp, _name(first, mac), "curl", host=BOX_IP, netns=ns)
        assert data is not None, vendor
        user, password, url = http_credentials(vendor, data)
        assert user == mac and len(password) >= 16, vendor
        credentials[vendor] = (user, password)
        assert ext["sip_password"]  # a real account, so enrolled
        if url:  # the vendor keeps them in its provisioning URL: that very URL works
            parts = urlsplit(url)
            assert f"{parts.hostname}:{parts.port}" == http, url
            status, body, _ = http_get(http, parts.path.lstrip("/"),
                                       _user_agent(vendor, mac), digest=(user, password),
                                       netns=ns)
            assert status == 200 and body, (vendor, url)

    for vendor, (_ua, mac, first, account_file) in PHONES.items():
        ns = as_phone(lan, mac)
        ua = _user_agent(vendor, mac)
        own = credentials[vendor]
        other = next(c for v, c in credentials.items() if v != vendor)
        for name in dict.fromkeys([_name(first, mac), _name(account_file, mac)]):  # account last
            status, _, headers = http_get(http, name, ua, netns=ns)
            assert status == 401 and 'Digest realm="provisioning"' in headers, (vendor, name)
            assert http_get(http, name, ua, digest=other, netns=ns)[0] == 401, (vendor, name)
            assert http_get(http, name, ua, digest=(own[0], other[1]),
                            netns=ns)[0] == 401, (vendor, name)
            status, body, _ = http_get(http, name, ua, digest=own, netns=ns)
            assert status == 200, (vendor, name)
            assert http_credentials(vendor, body)[:2] == own, (vendor, name)
            url = http_credentials(vendor, body)[2]
            if url:  # e.g. Snom's setting_server, Cisco's Profile_Rule: it leads back here
                assert http_get(http, urlsplit(url).path.lstrip("/"), ua,
                                digest=own, netns=ns)[0] == 200, url
        assert account_of(vendor, body)["enabled"] == "1", vendor
    log = prov.log()
    assert not any(password in log for _user, password in credentials.values())


def test_phone_list_shows_the_last_fetch(prov: RunningDaemon, lan: RoutedLan) -> None:
    config, tftp, http = prov.config, port_of(prov.ports["tftp"]), prov.ports["http"]
    yealink, fanvil = PHONES["yealink"][1], PHONES["fanvil"][1]
    appliance(config, "ext", "add", "301", "--name", "front")
    appliance(config, "phone", "assign", fanvil, "301")
    ns = as_phone(lan, yealink)
    assert tftp_get(tftp, f"{yealink}.cfg", "tftp", host=BOX_IP, netns=ns) is not None
    ns = as_phone(lan, fanvil)
    status, _, _ = http_get(http, f"Fanvil/{fanvil}.cfg", _user_agent("fanvil", fanvil),
                            netns=ns)
    assert status == 200  # assigned to a free extension: no account, so not enrolled
    wait_for_phone(config, yealink)
    rows = _wait_for_fetches(config, {yealink: f"tftp {yealink}.cfg",
                                      fanvil: f"http Fanvil/{fanvil}.cfg"})
    for row in rows.values():
        assert datetime.fromisoformat(row["last_fetch"]["at"]) <= datetime.now(UTC)
    table = appliance(config, "phone", "list").stdout
    header, *lines = table.splitlines()
    assert "LAST_FETCH" in header.split()
    line = next(li for li in lines if li.startswith(yealink))
    assert f"tftp {yealink}.cfg" in line


def _wait_for_fetches(config: Path, wanted: dict[str, str]) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + 10
    rows: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        rows = {r["mac"]: r for r in appliance_json(config, "phone", "list")}
        if all(rows.get(m, {}).get("last_fetch") and
               f'{rows[m]["last_fetch"]["method"]} {rows[m]["last_fetch"]["file"]}' == want
               for m, want in wanted.items()):
            return rows
        time.sleep(0.1)
    raise AssertionError(f"no last fetch {wanted} in {rows}")
