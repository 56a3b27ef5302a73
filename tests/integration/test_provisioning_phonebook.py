"""The company phonebook against the running daemon: each vendor's phone (its MAC on the box's
LAN, in network namespaces) fetches its config with a real TFTP client, follows the phonebook
key in it with curl, and reads the names and numbers back with an XML parser; a dismissal or a
freed extension is gone at the next fetch. Who else asks gets what any phone file gets."""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import RunningDaemon, appliance, start_daemon
from tests.integration.provisioning_helpers import (
    curl_http,
    http_credentials,
    parse_cfg,
    port_of,
    prov_config,
    setup_extension,
    tftp_get,
)
from tests.integration.routed_lan import (
    BOX_IP,
    PHONE_SUBNET,
    RoutedLan,
    routed_lan,
    set_mac,
)
from tests.unit.test_provisioning_phonebook import read_entries

pytestmark = pytest.mark.integration

# vendor -> (MAC, its per-MAC config file, the TFTP client fetching it, extension, holder)
PHONES = {
    "yealink": ("001565aabb11", "{mac}.cfg", "tftp", "201", "Nguyễn Văn An"),
    "polycom": ("0004f2aabb12", "{mac}-user.cfg", "atftp", "202", "Trần Thị Bình"),
    "cisco": ("00562baabb13", "Cisco/CP-7841-3PCC/{mac}.cfg", "curl", "203", "Lê Văn Cường"),
    "grandstream": ("000b82aabb14", "Grandstream/cfg{mac}.xml", "tftp", "204", "Phạm Thu Dung"),
    "snom": ("000413aabb15", "snom710-{MAC}.htm", "atftp", "205", "Hoàng Minh Em"),
    "fanvil": ("0c383eaabb16", "Fanvil/{mac}.cfg", "curl", "206", "Võ Thị Phương"),
}


@pytest.fixture
def lan() -> Iterator[RoutedLan]:
    with routed_lan() as made:
        yield made


@pytest.fixture
def prov(tmp_path: Path, lan: RoutedLan) -> Iterator[RunningDaemon]:
    config = prov_config(tmp_path, f'sip_server = "{BOX_IP}"\nmacs_per_source = 0\n'
                                   f'phone_subnets = ["{PHONE_SUBNET}"]\n', host=BOX_IP)
    running = start_daemon(config, env={**os.environ, "NOTIFY_SOCKET": ""}, wrap=lan.cmd("box"))
    yield running
    running.stop()


def phonebook_url(vendor: str, config: bytes, http: str) -> str:
    """The phonebook URL a vendor's per-MAC file gives its phone (Polycom: none, the phone
    fetches ``<mac>-directory.xml`` from its provisioning server by name)."""
    mac = PHONES[vendor][0]
    if vendor == "yealink":
        return parse_cfg(config)["remote_phonebook.data.1.url"]
    if vendor == "polycom":
        return f"http://{http}/{mac}-directory.xml"
    root = ET.fromstring(config)
    if vendor == "cisco":
        assert root.findtext("XML_Directory_Service_Name") == "Company"
        return root.findtext("XML_Directory_Service_URL", "")
    if vendor == "grandstream":
        assert root.findtext("config/P330") == "1"  # download over HTTP
        return f"http://{root.findtext('config/P331')}/phonebook.xml"
    if vendor == "snom":
        urls = [f.get("url", "") for f in root.iterfind("file")]
        return next(u for u in urls if "/phonebook/" in u)
    return root.findtext("phone/xmlContact/Addr", "")  # Fanvil X-U (sysConf)


def fetch(lan: RoutedLan, vendor: str, url: str, role: str = "phone",
          digest: tuple[str, str] | None = None) -> tuple[int, bytes]:
    """GET ``url`` with curl from ``role``'s namespace, credentials in the URL (if any)
    sent the way the phone would answer a challenge: digest."""
    m = re.fullmatch(r"(https?://)(?:([^:@/]+):([^@/]+)@)?(.*)", url)
    assert m is not None, url
    extra: tuple[str, ...] = ()
    if digest or m[2]:
        user, password = digest or (m[2], m[3])
        extra = ("--digest", "-u", f"{user}:{password}")
    got = curl_http(m[1] + m[4], extra=extra, netns=lan.ns(role))
    return got.status, got.data


def test_each_vendor_reads_the_company_phonebook(prov: RunningDaemon, lan: RoutedLan) -> None:
    config, tftp, http = prov.config, port_of(prov.ports["tftp"]), prov.ports["http"]
    extensions = {vendor: setup_extension(config, number, name, mac)
                  for vendor, (mac, _f, _c, number, name) in PHONES.items()}
    everyone = sorted((name, number) for _m, _f, _c, number, name in PHONES.values())
    urls = {}
    for vendor, (mac, name, client, _n, _h) in PHONES.items():
        set_mac(lan, "phone", mac)
        data = tftp_get(tftp, name.format(mac=mac, MAC=mac.upper()), client, host=BOX_IP,
                        netns=lan.ns("phone"))
        assert data is not None, vendor
        urls[vendor] = url = phonebook_url(vendor, data, http)
        assert re.match(rf"https?://(?:[^@/]+@)?{re.escape(http)}/", url), (vendor, url)
        status, body = fetch(lan, vendor, url)
        assert status == 200, (vendor, status)
        assert sorted(read_entries(vendor, body)) == everyone, vendor

    # Dismissed, and an extension freed: both gone from every phone's next fetch.
    appliance(config, "employee", "dismiss", str(extensions["snom"]["employee_id"]))
    appliance(config, "ext", "unassign", "206")
    left = [entry for entry in everyone if entry[1] not in ("205", "206")]
    for vendor in ("yealink", "polycom", "cisco", "grandstream"):
        set_mac(lan, "phone", PHONES[vendor][0])
        status, body = fetch(lan, vendor, urls[vendor])
        assert status == 200 and sorted(read_entries(vendor, body)) == left, vendor
    # The dismissed employee's own phone (disabled) gets the file empty: its copy is cleared.
    set_mac(lan, "phone", PHONES["snom"][0])
    status, body = fetch(lan, "snom", urls["snom"])
    assert status == 200 and read_entries("snom", body) == []


def test_only_who_may_have_the_phones_files(prov: RunningDaemon, lan: RoutedLan) -> None:
    config, tftp, http = prov.config, port_of(prov.ports["tftp"]), prov.ports["http"]
    mac = PHONES["yealink"][0]
    setup_extension(config, "201", "Nguyễn Văn An", mac)
    set_mac(lan, "phone", mac)
    data = tftp_get(tftp, f"{mac}.cfg", "tftp", host=BOX_IP, netns=lan.ns("phone"))
    assert data is not None
    plain = f"http://{http}/phonebook/yealink/{mac}.xml"
    # Another device on the LAN asking for this phone's phonebook: the same not-found as any.
    assert fetch(lan, "yealink", plain, role="rogue")[0] == 404
    assert fetch(lan, "yealink", plain, role="outsider")[0] == 404
    # A phone behind the router proves the phone's own credentials (digest) first.
    user, password, _url = http_credentials("yealink", data)
    assert fetch(lan, "yealink", plain, role="routed")[0] == 401
    assert fetch(lan, "yealink", plain, role="routed", digest=(user, "x" * 24))[0] == 401
    status, body = fetch(lan, "yealink", plain, role="routed", digest=(user, password))
    assert status == 200 and read_entries("yealink", body) == [("Nguyễn Văn An", "201")]
    assert "Nguyễn" not in prov.log()  # staff names are not logged
