"""The company phonebook: entries from a real store, each vendor's format against its golden
file and read back by an XML parser, and who the resolver hands it to."""

from __future__ import annotations

import ipaddress
import os
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest

from appliance.directory import Directory
from appliance.provisioning import inventory
from appliance.provisioning import phonebook as pb
from appliance.provisioning.firmware import Firmware
from appliance.provisioning.guard import Guard
from appliance.provisioning.identify import identify
from appliance.provisioning.render import Renderer, Site
from appliance.provisioning.resolver import Challenge, File, Peer, Resolver, Urls
from appliance.provisioning.vendors import BY_NAME
from appliance.store import Store

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "provisioning" / "golden" / "phonebook"
SITE = Site("192.0.2.10", 5060, "udp", "ntp.example", "Asia/Ho_Chi_Minh", "vi")
NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
ENTRIES = [pb.Entry("Lê Văn Cường", "103"), pb.Entry("Nguyễn Văn An", "101"),
           pb.Entry('R&D <lab> "O\'Neil"', "110"), pb.Entry("Trần Thị Bình", "102")]
# vendor -> (phonebook path for MAC, the file's own name in golden/phonebook/)
PATHS = {
    "yealink": ("phonebook/yealink/{mac}.xml", "yealink.xml"),
    "polycom": ("{mac}-directory.xml", "polycom.xml"),
    "cisco": ("phonebook/cisco/{mac}.xml", "cisco.xml"),
    "grandstream": ("phonebook/grandstream/{mac}/phonebook.xml", "grandstream.xml"),
    "snom": ("phonebook/snom/{mac}.xml", "snom.xml"),
    "fanvil": ("phonebook/fanvil/{mac}.xml", "fanvil.xml"),
}
MACS = {"yealink": "001565aabbcc", "polycom": "0004f2aabbcc", "cisco": "00562baabbcc",
        "grandstream": "000b82aabbcc", "snom": "000413aabbcc", "fanvil": "0c383eaabbcc"}


def read_entries(vendor: str, data: bytes) -> list[tuple[str, str]]:
    """(name, number) pairs as each vendor's phone reads its phonebook file."""
    root = ET.fromstring(data)
    if vendor == "polycom":
        assert root.tag == "directory"
        return [(i.findtext("ln", ""), i.findtext("ct", ""))
                for i in root.iterfind("item_list/item")]
    if vendor == "grandstream":
        assert root.tag == "AddressBook"
        return [(c.findtext("FirstName", ""), c.findtext("Phone/phonenumber", ""))
                for c in root.iterfind("Contact")]
    if vendor == "snom":
        assert root.tag == "tbook" and root.get("complete") == "true"
        items = root.findall("item")
        assert [i.get("index") for i in items] == [str(n) for n in range(len(items))]
        return [(i.findtext("name", ""), i.findtext("number", "")) for i in items]
    assert root.tag == {"yealink": "YealinkIPPhoneDirectory", "cisco": "CiscoIPPhoneDirectory",
                        "fanvil": "FanvilIPPhoneDirectory"}[vendor]
    return [(e.findtext("Name", ""), e.findtext("Telephone", ""))
            for e in root.iterfind("DirectoryEntry")]


def test_entries_are_sorted_and_trimmed() -> None:
    rows = [("  Trần   Thị Bình ", "102"), ("an", "9"), ("An", "10"), ("", "120"),
            ("Bảo", "105")]
    assert pb.ordered(rows) == [pb.Entry("120", "120"), pb.Entry("An", "10"),
                                pb.Entry("an", "9"), pb.Entry("Bảo", "105"),
                                pb.Entry("Trần Thị Bình", "102")]


def test_only_active_employees_with_an_extension(directory: Directory, store: Store) -> None:
    an = directory.add_employee("Nguyễn Văn An")
    binh = directory.add_employee("Trần Thị Bình")
    cuong = directory.add_employee("Lê Văn Cường")
    directory.add_employee("Phạm Thu Dung")  # no extension
    for number in ("101", "102", "103", "104"):
        directory.add_extension(number)  # 104 stays free
    directory.assign_extension("101", an.id)
    directory.assign_extension("102", binh.id)
    directory.assign_extension("103", cuong.id)
    assert pb.entries(store) == [pb.Entry("Lê Văn Cường", "103"),
                                 pb.Entry("Nguyễn Văn An", "101"),
                                 pb.Entry("Trần Thị Bình", "102")]
    directory.dismiss(an.id)
    directory.unassign_extension("103")  # freed: Cường stays employed, unlisted
    assert pb.entries(store) == [pb.Entry("Trần Thị Bình", "102")]


@pytest.mark.parametrize("vendor", sorted(PATHS))
def test_each_vendor_format_matches_its_golden_file(vendor: str) -> None:
    path = PATHS[vendor][0].format(mac=MACS[vendor])
    request = identify(path, None)
    assert request is not None
    assert (request.vendor.name, request.kind, request.mac) == (vendor, "phonebook",
                                                                 MACS[vendor])
    data = pb.render(Renderer(), BY_NAME[vendor], request.route.template, SITE, NOW,
                     MACS[vendor], None, ENTRIES)
    golden = GOLDEN / PATHS[vendor][1]
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_bytes(data)
    assert data == golden.read_bytes(), f"{golden} differs (UPDATE_GOLDEN=1 regenerates it)"
    assert read_entries(vendor, data) == [(e.name, e.number) for e in ENTRIES]
    empty = pb.render(Renderer(), BY_NAME[vendor], request.route.template, SITE, NOW,
                      MACS[vendor], None, ())
    assert read_entries(vendor, empty) == []


# -- who gets it ------------------------------------------------------------------------------


class Neighbors:
    """192.0.2.0/24 is on-link and every address there is bound to the MAC asked for, except
    192.0.2.66 (another device)."""

    def on_link(self, ip: str) -> bool:
        return ipaddress.ip_address(ip) in ipaddress.ip_network("192.0.2.0/24")

    def binds(self, ip: str, mac: str) -> bool:
        return self.on_link(ip) and ip != "192.0.2.66"


def make_resolver(store: Store, tmp_path: Path, urls: Urls) -> Resolver:
    return Resolver(
        site=SITE, urls=urls,
        guard=Guard(ban_misses=5, window=60, ban_seconds=600, macs_per_source=4),
        renderer=Renderer(), firmware=Firmware(store, tmp_path, {}),
        lookup=lambda mac: inventory.phone_view(store, mac), note=lambda _n: None,
        enroll=lambda mac: inventory.enroll(store, mac, Directory(store).clock()),
        password_of=lambda mac: inventory.device_password(store, mac),
        neighbors=Neighbors(), phone_subnets=(ipaddress.ip_network("198.51.100.0/24"),),
        phonebook=lambda: pb.entries(store))


@pytest.fixture
def resolver(store: Store, tmp_path: Path) -> Resolver:
    return make_resolver(store, tmp_path, Urls("tftp://192.0.2.10", "http://192.0.2.10"))


def _listed(result: object, vendor: str) -> list[tuple[str, str]]:
    assert isinstance(result, File), result
    return read_entries(vendor, result.data)


def test_an_active_phone_gets_the_staff_others_an_empty_file(resolver: Resolver,
                                                             directory: Directory) -> None:
    mac = MACS["yealink"]
    path = PATHS["yealink"][0].format(mac=mac)
    http = Peer("192.0.2.20", 1, "http")
    assert _listed(resolver.resolve(path, http), "yealink") == []  # unknown phone
    an = directory.add_employee("Nguyễn Văn An")
    binh = directory.add_employee("Trần Thị Bình")
    directory.add_extension("101")
    directory.add_extension("102")
    directory.assign_extension("101", an.id)
    directory.assign_extension("102", binh.id)
    directory.assign_phone(mac, "101")
    assert _listed(resolver.resolve(path, http), "yealink") == [("Nguyễn Văn An", "101"),
                                                                ("Trần Thị Bình", "102")]
    # Enrolled by its config: the phonebook still needs no digest on-link.
    assert isinstance(resolver.resolve(f"{mac}.cfg", Peer("192.0.2.20", 1, "tftp")), File)
    assert _listed(resolver.resolve(path, http), "yealink") == [("Nguyễn Văn An", "101"),
                                                                ("Trần Thị Bình", "102")]
    directory.dismiss(binh.id)
    assert _listed(resolver.resolve(path, http), "yealink") == [("Nguyễn Văn An", "101")]
    directory.dismiss(an.id)  # its own holder gone: the phone is disabled, the file empty
    for _ in range(10):  # and an empty file is no miss: the phone is never banned for it
        assert _listed(resolver.resolve(path, http), "yealink") == []
    assert isinstance(resolver.resolve(f"{mac}.cfg", Peer("192.0.2.20", 1, "tftp")), File)


def test_refused_like_any_phone_file(resolver: Resolver, directory: Directory) -> None:
    mac = MACS["polycom"]
    employee = directory.add_employee("Nguyễn Văn An")
    directory.add_extension("101")
    directory.assign_extension("101", employee.id)
    directory.assign_phone(mac, "101")
    path = PATHS["polycom"][0].format(mac=mac)
    # over TFTP on-link, as a Polycom fetches it at boot
    assert _listed(resolver.resolve(path, Peer("192.0.2.20", 1, "tftp")), "polycom") == [
        ("Nguyễn Văn An", "101")]
    assert resolver.resolve(path, Peer("192.0.2.66", 1, "http")) is None  # another device
    assert resolver.resolve(path, Peer("127.0.0.1", 1, "http")) is None  # loopback
    assert resolver.resolve(path, Peer("203.0.113.5", 1, "http")) is None  # off-link
    routed = Peer("198.51.100.7", 1, "http")
    assert resolver.resolve(path, routed) == Challenge(mac)
    assert resolver.resolve(path, Peer("198.51.100.7", 1, "tftp")) is None
    proved = Peer("198.51.100.7", 1, "http", auth_mac=mac)
    assert _listed(resolver.resolve(path, proved), "polycom") == [("Nguyễn Văn An", "101")]
    other = Peer("198.51.100.7", 1, "http", auth_mac=MACS["yealink"])
    assert resolver.resolve(path, other) == Challenge(mac)  # another phone's proof


@pytest.mark.parametrize("vendor", sorted(PATHS))
def test_every_phone_config_points_at_its_phonebook(store: Store, tmp_path: Path,
                                                    vendor: str) -> None:
    """The URL in each vendor's per-MAC file is the box's as the phone reached it (a wildcard
    listener), and it routes back to that phone's phonebook."""
    wildcard = make_resolver(store, tmp_path, Urls("tftp://0.0.0.0", "http://0.0.0.0",
                                                   ("192.0.2.99",)))
    mac = MACS[vendor]
    names = {"yealink": f"{mac}.cfg", "polycom": f"{mac}-directory.xml",
             "cisco": f"{mac}.xml", "grandstream": f"cfg{mac}.xml",
             "snom": f"snom710-{mac.upper()}.htm", "fanvil": f"Fanvil/{mac}.cfg"}
    peer = Peer("192.0.2.20", 1, "http", local_ip="192.0.2.10")
    served = wildcard.resolve(names[vendor], peer)
    assert isinstance(served, File)
    if vendor == "polycom":  # fetched by name at boot: no key to point at it
        return
    text = served.data.decode()
    url = {"grandstream": f">192.0.2.10/phonebook/grandstream/{mac}<"}.get(
        vendor, f"http://192.0.2.10/phonebook/{vendor}/{mac}.xml")
    assert url in text, text
    path = PATHS[vendor][0].format(mac=mac)
    assert isinstance(wildcard.resolve(path, Peer("192.0.2.20", 1, "http")), File)
