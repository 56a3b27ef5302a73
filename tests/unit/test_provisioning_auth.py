"""Per-device HTTP credentials: each vendor's own keys, and digest demanded once enrolled."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from appliance.directory import Directory
from appliance.provisioning import inventory
from appliance.provisioning.firmware import Firmware
from appliance.provisioning.guard import Guard
from appliance.provisioning.render import Account, Renderer, Site
from appliance.provisioning.resolver import Challenge, File, Peer, Resolver, Urls
from appliance.provisioning.vendors import BY_NAME, VENDORS
from appliance.store import Store

SITE = Site("192.0.2.10", 5060, "udp", "ntp.example", "UTC", "en")
ACCOUNT = Account(True, "an", "An Nguyen", "101", "101", "S3cretPassw0rd")
USER, PASSWORD = "0c383eaabbcc", "0123456789abcdef01234567"
PROV = {"base": "tftp://192.0.2.10", "http_base": "http://192.0.2.10:8080",
        "path": "Some/dir/0c383eaabbcc.cfg"}


def _render(vendor: str, template: str, user: str = USER, password: str = PASSWORD) -> bytes:
    renderer = Renderer()
    ctx = renderer.context(BY_NAME[vendor], SITE, datetime(2026, 1, 1, tzinfo=UTC),
                           mac=USER, model="710", account=ACCOUNT,
                           prov={**PROV, "user": user, "password": password},
                           admin_password="adminpw")
    return renderer.render(template, ctx)


def _url_credentials(url: str) -> tuple[str | None, str | None, str]:
    parts = urlsplit(url)
    return parts.username, parts.password, f"{parts.scheme}://{parts.hostname}:{parts.port}"


def test_every_vendor_asks_for_digest() -> None:
    assert all(v.http_auth for v in VENDORS)


@pytest.mark.parametrize("template", ["cisco/device-spa.xml", "cisco/device-mpp.xml"])
def test_cisco_profile_rule_carries_the_device_credentials(template: str) -> None:
    root = ET.fromstring(_render("cisco", template))
    rule = root.findtext("Profile_Rule") or ""
    # as --uid/--pwd options before the URL of the file it just fetched, never inside the URL
    assert rule == f"[--uid {USER} --pwd {PASSWORD}]http://192.0.2.10:8080/Some/dir/{USER}.cfg"


def test_grandstream_config_server_credentials() -> None:
    config = ET.fromstring(_render("grandstream", "grandstream/device.xml")).find("config")
    assert config is not None
    assert (config.findtext("P1360"), config.findtext("P1361")) == (USER, PASSWORD)
    assert config.findtext("P212") == "1" and config.findtext("P237") == "192.0.2.10:8080"


def test_snom_setting_server_and_file_list_carry_the_credentials() -> None:
    settings = ET.fromstring(_render("snom", "snom/device.xml"))
    server = settings.findtext("phone-settings/setting_server") or ""
    assert _url_credentials(server) == (USER, PASSWORD, "http://192.0.2.10:8080")
    assert urlsplit(server).path == f"/snom710-{USER.upper()}.htm"
    listing = ET.fromstring(_render("snom", "snom/files.htm")).find("file")
    assert listing is not None
    assert _url_credentials(listing.attrib["url"]) == (USER, PASSWORD, "http://192.0.2.10:8080")


def test_fanvil_auto_provision_credentials() -> None:
    ap = ET.fromstring(_render("fanvil", "fanvil/device.cfg")).find("ap")  # X-U line: sysConf
    assert ap is not None
    assert (ap.findtext("DefaultUsername"), ap.findtext("DefaultPassword")) == (USER, PASSWORD)
    assert ap.findtext("FlashProtocol") == "2"  # base is tftp:// here; 4 over HTTP


@pytest.mark.parametrize(("vendor", "template"), [
    ("cisco", "cisco/device-spa.xml"), ("cisco", "cisco/device-mpp.xml"),
    ("grandstream", "grandstream/device.xml"),
    ("snom", "snom/device.xml"), ("snom", "snom/files.htm"), ("fanvil", "fanvil/device.cfg"),
])
def test_no_credentials_without_a_user(vendor: str, template: str) -> None:
    data = _render(vendor, template, user="", password="")
    assert PASSWORD.encode() not in data and b"@192.0.2.10" not in data
    assert b"P1360" not in data and b"DefaultUsername" not in data and b"Profile_Rule" not in data


# -- the resolver: every vendor's per-MAC file challenged once its phone is enrolled ----------

PHONES = {  # vendor -> (MAC, per-MAC file)
    "yealink": ("001565aabb01", "{mac}.cfg"),
    "polycom": ("0004f2aabb02", "{mac}-user.cfg"),
    "cisco": ("00562baabb03", "Cisco/CP-7841-3PCC/{mac}.cfg"),
    "grandstream": ("000b82aabb04", "Grandstream/cfg{mac}.xml"),
    "snom": ("000413aabb05", "snom710-{MAC}.htm"),
    "fanvil": ("0c383eaabb06", "Fanvil/{mac}.cfg"),
}


@pytest.fixture
def resolver(store: Store, tmp_path: Path) -> Resolver:
    return Resolver(
        site=SITE, urls=Urls("tftp://192.0.2.10", "http://192.0.2.10"),
        guard=Guard(ban_misses=50, window=60, ban_seconds=600, macs_per_source=0),
        renderer=Renderer(), firmware=Firmware(store, tmp_path, {}),
        lookup=lambda mac: inventory.phone_view(store, mac), note=lambda _n: None,
        enroll=lambda mac: inventory.enroll(store, mac, Directory(store).clock()),
        password_of=lambda mac: inventory.device_password(store, mac),
        neighbors=OnLink())


class OnLink:
    """Every peer on-link, and the neighbor table maps it to the MAC it asks for."""

    def on_link(self, ip: str) -> bool:
        return True

    def binds(self, ip: str, mac: str) -> bool:
        return True


@pytest.mark.parametrize("vendor", sorted(PHONES))
def test_enrolled_phone_of_every_vendor_must_prove_itself(
        vendor: str, resolver: Resolver, directory: Directory) -> None:
    mac, name = PHONES[vendor]
    path = name.format(mac=mac, MAC=mac.upper())
    employee = directory.add_employee("An Nguyen")
    directory.add_extension("101", name="an")
    directory.assign_extension("101", employee.id)
    directory.assign_phone(mac, "101")
    http = Peer("192.0.2.20", 1, "http")
    first = resolver.resolve(path, Peer("192.0.2.20", 1, "tftp"))
    assert isinstance(first, File)
    assert resolver.device_password(mac).encode() in first.data  # handed its own credentials
    assert resolver.resolve(path, http) == Challenge(mac)
    other = "001565000001"
    assert resolver.resolve(path, Peer("192.0.2.20", 1, "http", auth_mac=other)) == Challenge(mac)
    served = resolver.resolve(path, Peer("192.0.2.20", 1, "http", auth_mac=mac))
    assert isinstance(served, File)
    # Dismissed: still challenged (it is enrolled) and its file holds no secret at all.
    directory.dismiss(employee.id)
    assert resolver.resolve(path, http) == Challenge(mac)
    after = resolver.resolve(path, Peer("192.0.2.20", 1, "http", auth_mac=mac))
    assert isinstance(after, File)
    assert resolver.device_password(mac).encode() not in after.data
