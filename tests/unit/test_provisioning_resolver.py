"""The resolver over a real store: three phone states, enrollment, refusals all alike."""

from __future__ import annotations

import ipaddress
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
        password_of=lambda mac: inventory.device_password(store, mac),
        redeem=Directory(store).redeem_enrollment, neighbors=FakeNeighbors(),
        phone_subnets=(ipaddress.ip_network("198.51.100.0/24"),))


class FakeNeighbors:
    """192.0.2.0/24 is on-link; the table maps every address there to the MAC asked for,
    except 192.0.2.66 (another device) and 192.0.2.67 (mapped to 001565000067 only)."""

    def on_link(self, ip: str) -> bool:
        return ipaddress.ip_address(ip) in ipaddress.ip_network("192.0.2.0/24")

    def binds(self, ip: str, mac: str) -> bool:
        if ip == "192.0.2.67":
            return mac == "001565000067"
        return self.on_link(ip) and ip != "192.0.2.66"


def tftp(ip: str = "192.0.2.20") -> Peer:
    return Peer(ip, 1234, "tftp")


def test_unknown_phone_gets_a_welcome_and_is_noted(resolver: Resolver,
                                                   notes: list[SightingNote]) -> None:
    result = resolver.resolve(f"/{MAC}.cfg", tftp())
    assert isinstance(result, File)
    assert b"account.1.enable = 0" in result.data and b"label = Unassigned" in result.data
    assert b"static.security.user_password" not in result.data
    assert notes[-1].mac == MAC and notes[-1].method == "tftp" and notes[-1].ip == "192.0.2.20"


def test_assigned_then_dismissed(resolver: Resolver, directory: Directory) -> None:
    employee = directory.add_employee("An Nguyen")
    directory.add_extension("101", name="an")
    ext = directory.assign_extension("101", employee.id)
    directory.assign_phone(MAC, "101")
    own = directory.phone_credentials(MAC)
    result = resolver.resolve(f"{MAC}.cfg", tftp())
    assert isinstance(result, File)
    text = result.data.decode()
    assert f"account.1.password = {ext.sip_password}" in text
    assert "account.1.enable = 1" in text and f"admin:{own.admin_password}\n" in text
    assert f"static.auto_provision.server.password = {own.prov_password}" in text
    assert f"static.auto_provision.server.username = {MAC}" in text
    # Enrolled: HTTP without the phone's digest is challenged; with it, served.
    assert resolver.resolve(f"{MAC}.cfg", Peer("192.0.2.20", 1, "http", UA)) == Challenge(MAC)
    served = resolver.resolve(f"{MAC}.cfg", Peer("192.0.2.20", 1, "http", UA, auth_mac=MAC))
    assert isinstance(served, File)
    directory.dismiss(employee.id)
    after = resolver.resolve(f"{MAC}.cfg", tftp())
    assert isinstance(after, File)
    assert b"account.1.enable = 0" in after.data
    assert ext.sip_password.encode() not in after.data
    assert own.admin_password.encode() not in after.data


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


def test_a_common_file_names_the_model_for_the_next_file_of_that_source(
        resolver: Resolver, notes: list[SightingNote]) -> None:
    # A Fanvil over TFTP names its model only in the common file it fetches first.
    mac = "0c383eaabb16"
    assert b"<sysConf>" in _data(resolver.resolve(f"{mac}.cfg", tftp("192.0.2.40")))
    assert b"<VOIP_CONFIG_FILE>" in _data(resolver.resolve("f0X4hw1.100.cfg", tftp("192.0.2.41")))
    assert b"<VOIP_CONFIG_FILE>" in _data(resolver.resolve(f"{mac}.cfg", tftp("192.0.2.41")))
    assert notes[-1].mac == mac and notes[-1].model == "X4"  # the inventory learns it
    # another source, another vendor's name, or a stale hint: not this model
    assert b"<sysConf>" in _data(resolver.resolve("0c383eaabb17.cfg", tftp("192.0.2.42")))
    resolver.resolve("y000000000108.cfg", tftp("192.0.2.43"))
    assert b"<sysConf>" in _data(resolver.resolve("0c383eaabb18.cfg", tftp("192.0.2.43")))
    resolver.resolve("f0X4hw1.100.cfg", tftp("192.0.2.44"))
    later = resolver.monotonic() + 601
    resolver.monotonic = lambda: later
    assert b"<sysConf>" in _data(resolver.resolve("0c383eaabb19.cfg", tftp("192.0.2.44")))


def test_a_polycom_gets_back_what_it_uploaded_until_it_changes_hands(
        resolver: Resolver, directory: Directory, store: Store) -> None:
    from appliance.provisioning.service import read_upload, store_upload

    mac = "0004f2aabb02"
    resolver.uploaded = lambda m, n: read_upload(store, m, n)
    _assigned(directory, mac)
    own = Peer("192.0.2.50", 1, "http", auth_mac=mac)
    assert resolver.resolve(f"{mac}-phone.cfg", own) is None  # nothing uploaded yet
    for name in ("phone.cfg", "calls.xml", "app.log"):
        store_upload(store, mac, f"{mac}-{name}", b"<PHONE_CONFIG/>" + name.encode())
    assert _data(resolver.resolve(f"{mac}-phone.cfg", own)) == b"<PHONE_CONFIG/>phone.cfg"
    assert _data(resolver.resolve(f"{mac}-calls.xml", own)) == b"<PHONE_CONFIG/>calls.xml"
    assert resolver.resolve(f"{mac}-app.log", own) is None  # logs are not read back
    assert resolver.resolve(f"{mac}-phone.cfg", Peer("192.0.2.66", 1, "http",
                                                     auth_mac=mac)) is None
    directory.add_extension("102", name="binh")
    directory.assign_phone(mac, "102")  # another holder: the old settings are gone
    assert resolver.resolve(f"{mac}-phone.cfg", own) is None
    store_upload(store, mac, f"{mac}-phone.cfg", b"<PHONE_CONFIG/>")
    directory.disable_phone(mac)
    assert read_upload(store, mac, f"{mac}-phone.cfg") is None


def _data(result: object) -> bytes:
    assert isinstance(result, File)
    return result.data


# -- who gets secrets: on-link bound, routed with proof, nobody else -------------------------

def _assigned(directory: Directory, mac: str = MAC) -> tuple[str, str]:
    """Assign ``mac`` to an active employee's extension; (its SIP password, its prov password)."""
    employee = directory.add_employee("An Nguyen")
    directory.add_extension("101", name="an")
    ext = directory.assign_extension("101", employee.id)
    directory.assign_phone(mac, "101")
    return ext.sip_password, directory.phone_credentials(mac).prov_password


def test_loopback_and_foreign_peers_get_the_same_miss(resolver: Resolver,
                                                      directory: Directory) -> None:
    sip_password, _ = _assigned(directory)
    for ip in ("127.0.0.1", "::1", "203.0.113.9", "::ffff:127.0.0.1"):
        for via in ("tftp", "http", "https"):
            assert resolver.resolve(f"{MAC}.cfg", Peer(ip, 1, via, UA)) is None, (ip, via)
            # even with the phone's own digest: the address may never have secrets
            assert resolver.resolve(f"{MAC}.cfg", Peer(ip, 1, via, UA, auth_mac=MAC)) is None
    # an unknown MAC looks exactly the same to them
    assert resolver.resolve("001565000001.cfg", Peer("203.0.113.10", 1, "http")) is None
    assert isinstance(resolver.resolve("y000000000108.cfg", Peer("127.0.0.2", 1, "tftp")), File)
    assert sip_password


def test_on_link_peer_with_another_mac_gets_a_miss(resolver: Resolver,
                                                   directory: Directory) -> None:
    _assigned(directory)
    assert resolver.resolve(f"{MAC}.cfg", tftp("192.0.2.66")) is None
    assert resolver.resolve(f"{MAC}.cfg", Peer("192.0.2.66", 1, "http")) is None
    # proving the digest from a device the table maps elsewhere is not enough on-link
    assert resolver.resolve(f"{MAC}.cfg", Peer("192.0.2.66", 1, "http", auth_mac=MAC)) is None


def test_routed_phone_needs_its_credentials_and_never_tftp(resolver: Resolver,
                                                           directory: Directory) -> None:
    sip_password, prov_password = _assigned(directory)
    routed = "198.51.100.20"
    assert resolver.resolve(f"{MAC}.cfg", Peer(routed, 1, "tftp")) is None
    assert resolver.resolve(f"{MAC}.cfg", Peer(routed, 1, "tftp", auth_mac=MAC)) is None
    for via in ("http", "https"):
        assert resolver.resolve(f"{MAC}.cfg", Peer(routed, 1, via, UA)) == Challenge(MAC)
        served = resolver.resolve(f"{MAC}.cfg", Peer(routed, 1, via, UA, auth_mac=MAC))
        assert isinstance(served, File)
        assert sip_password.encode() in served.data and prov_password.encode() in served.data
    # an unknown or unenrolled MAC is challenged the same way (no oracle of who exists)
    assert resolver.resolve("001565000002.cfg", Peer(routed, 1, "http")) == Challenge(
        "001565000002")
    assert isinstance(resolver.resolve("y000000000108.cfg", Peer(routed, 1, "tftp")), File)


def test_one_time_enrollment_url(resolver: Resolver, directory: Directory,
                                 notes: list[SightingNote]) -> None:
    sip_password, prov_password = _assigned(directory)
    token = directory.start_enrollment(MAC)
    routed = Peer("198.51.100.21", 1, "https", UA)
    assert isinstance(resolver.resolve(f"enroll/{token}/y000000000108.cfg", routed), File)
    assert resolver.resolve(f"enroll/{token}/{MAC}.cfg", Peer("203.0.113.5", 1, "https")) is None
    assert resolver.resolve(f"enroll/{token}/{MAC}.cfg", Peer(routed.ip, 1, "tftp")) is None
    first = resolver.resolve(f"/enroll/{token}/{MAC}.cfg", routed)
    assert isinstance(first, File)
    assert sip_password.encode() in first.data and prov_password.encode() in first.data
    assert notes[-1].mac == MAC and notes[-1].ip == routed.ip and notes[-1].method == "http"
    # used up: the same URL is challenged like any unproved request
    assert resolver.resolve(f"enroll/{token}/{MAC}.cfg", routed) == Challenge(MAC)
    wrong = directory.start_enrollment(MAC)[::-1]
    assert resolver.resolve(f"enroll/{wrong}/{MAC}.cfg", routed) == Challenge(MAC)


def test_user_agent_macs_make_no_sightings(resolver: Resolver, directory: Directory,
                                           notes: list[SightingNote]) -> None:
    for n in range(20):  # an on-link peer claiming random MACs: its table entry disagrees
        ua = f"Yealink SIP-T46U 108.86.0.90 00:15:65:00:{n:02x}:01"
        assert isinstance(resolver.resolve("y000000000108.cfg",
                                           Peer("192.0.2.67", 1, "http", ua)), File)
        assert isinstance(resolver.resolve("y000000000108.cfg",
                                           Peer("203.0.113.7", 1, "http", ua)), File)
    assert notes == []
    good = "Yealink SIP-T46U 108.86.0.90 00:15:65:00:00:67"
    resolver.resolve("y000000000108.cfg", Peer("192.0.2.67", 1, "http", good))
    assert [n.mac for n in notes] == ["001565000067"]


def test_sightings_are_bounded_per_source(resolver: Resolver, notes: list[SightingNote]) -> None:
    for n in range(10):  # every MAC agrees with the table here, yet one source is few phones
        mac = f"0015650001{n:02x}"
        resolver.resolve(f"{mac}.cfg", tftp("192.0.2.40"))
    assert len({n.mac for n in notes}) == 4  # macs_per_source
