"""The resolver over a real store: three phone states, enrollment, refusals all alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.directory import Directory
from appliance.provisioning import inventory
from appliance.provisioning.firmware import Firmware
from appliance.provisioning.guard import Guard
from appliance.provisioning.inventory import SightingNote
from appliance.provisioning.render import Renderer, Site
from appliance.provisioning.resolver import Challenge, File, Peer, Resolver, Urls
from appliance.store import Store

MAC = "001565aabbcc"
UA = "Yealink SIP-T46U 108.86.0.90 00:15:65:aa:bb:cc"


@pytest.fixture
def notes() -> list[SightingNote]:
    return []


@pytest.fixture
def resolver(store: Store, tmp_path: Path, notes: list[SightingNote]) -> Resolver:
    return Resolver(
        site=Site("192.0.2.1", 5060, "udp", "ntp.example", "UTC", "en"),
        urls=Urls("tftp://192.0.2.1", "http://192.0.2.1"),
        guard=Guard(ban_misses=5, window=60, ban_seconds=600, macs_per_source=4),
        renderer=Renderer(), firmware=Firmware(store, tmp_path, {}),
        lookup=lambda mac: inventory.phone_view(store, mac), note=notes.append,
        enroll=lambda mac: inventory.enroll(store, mac, Directory(store).clock()),
        device_key=b"k" * 32, admin_password="AdminPw123",
        neighbors_allow=lambda ip, mac: ip != "192.0.2.66")


def tftp(ip: str = "192.0.2.20") -> Peer:
    return Peer(ip, 1234, "tftp")


def test_unknown_phone_gets_a_welcome_and_is_noted(resolver: Resolver,
                                                   notes: list[SightingNote]) -> None:
    result = resolver.resolve(f"/{MAC}.cfg", tftp())
    assert isinstance(result, File)
    assert b"account.1.enable = 0" in result.data and b"label = Unassigned" in result.data
    assert b"AdminPw123" not in result.data
    assert notes[-1].mac == MAC and notes[-1].method == "tftp" and notes[-1].ip == "192.0.2.20"


def test_assigned_then_dismissed(resolver: Resolver, directory: Directory) -> None:
    employee = directory.add_employee("An Nguyen")
    directory.add_extension("101", name="an")
    ext = directory.assign_extension("101", employee.id)
    directory.assign_phone(MAC, "101")
    result = resolver.resolve(f"{MAC}.cfg", tftp())
    assert isinstance(result, File)
    text = result.data.decode()
    assert f"account.1.password = {ext.sip_password}" in text
    assert "account.1.enable = 1" in text and "admin:AdminPw123" in text
    assert f"static.auto_provision.server.username = {MAC}" in text
    # Enrolled: HTTP without the phone's digest is challenged; with it, served.
    assert resolver.resolve(f"{MAC}.cfg", Peer("192.0.2.20", 1, "http", UA)) == Challenge(MAC)
    served = resolver.resolve(f"{MAC}.cfg", Peer("192.0.2.20", 1, "http", UA, auth_mac=MAC))
    assert isinstance(served, File)
    directory.dismiss(employee.id)
    after = resolver.resolve(f"{MAC}.cfg", tftp())
    assert isinstance(after, File)
    assert b"account.1.enable = 0" in after.data
    assert ext.sip_password.encode() not in after.data and b"AdminPw123" not in after.data


def test_refusals_look_alike_and_ban(resolver: Resolver) -> None:
    assert resolver.resolve(f"{MAC}.cfg", tftp("192.0.2.66")) is None  # neighbor mismatch
    assert resolver.resolve(f"{MAC}.cfg", Peer("192.0.2.21", 1, "http",
                                               UA.replace("aa:bb:cc", "aa:bb:cd"))) is None
    assert resolver.resolve("../x", tftp("192.0.2.30")) is None
    for n in range(4):
        resolver.resolve(f"nothing-{n}.cfg", tftp("192.0.2.30"))
    assert resolver.resolve("y000000000108.cfg", tftp("192.0.2.30")) is None  # banned
    assert isinstance(resolver.resolve("y000000000108.cfg", tftp("192.0.2.31")), File)


def test_boot_misses_never_count(resolver: Resolver) -> None:
    for _ in range(10):
        for name in (f"{MAC}.boot", "y000000000000.boot", f"{MAC}-contact.xml"):
            assert resolver.resolve(name, tftp()) is None
    assert isinstance(resolver.resolve(f"{MAC}.cfg", tftp()), File)


def test_the_inventory_tells_the_vendor_when_nothing_else_does(resolver: Resolver,
                                                               directory: Directory) -> None:
    # {mac}.cfg is both a Yealink and a Fanvil name; this MAC's OUI is nobody's, no UA is sent:
    # what discovery recorded decides (stored as "Fanvil", the route is named "fanvil").
    mac = "525400aabbcc"
    directory.record_sighting(mac, "snmp", ip="192.0.2.30", vendor="fanvil", model="X4")
    result = resolver.resolve(f"/{mac}.cfg", tftp("192.0.2.30"))
    assert isinstance(result, File)
    assert b"<VOIP_CONFIG_FILE>" in result.data  # the X4 reads the older X line's format
