"""Which address and port phones are told: the request's local address on a wildcard bind,
the bound ports, the config's overrides; never 0.0.0.0, [::] or (on a LAN) the loopback."""

from __future__ import annotations

from dataclasses import replace

import pytest

from appliance.config import Listen, load
from appliance.discovery.service import announcements
from appliance.lan.addresses import reachable, server_url, serves
from appliance.provisioning.render import Site, seen_url, split_host_port
from appliance.provisioning.service import make_site
from appliance.web.reach import hosts, seen_host

LAN = ["192.0.2.1", "198.51.100.1", "2001:db8::1"]


@pytest.mark.parametrize(("bound", "local", "dual", "told"), [
    ("192.0.2.7", "198.51.100.1", False, "192.0.2.7"),   # a specific bind is told as it is
    ("0.0.0.0", "198.51.100.1", False, "198.51.100.1"),  # the address the request came in on
    ("0.0.0.0", "::ffff:198.51.100.1", False, "198.51.100.1"),
    ("0.0.0.0", "2001:db8::1", False, "192.0.2.1"),      # an IPv4-only server: an IPv4 address
    ("0.0.0.0", "", False, "192.0.2.1"),
    ("::", "2001:db8::1", False, "2001:db8::1"),
    ("::", "198.51.100.1", False, "2001:db8::1"),        # IPv6-only TCP server on [::]
    ("::", "198.51.100.1", True, "198.51.100.1"),        # dual-stack UDP socket on [::]
    ("[::]", "198.51.100.1", True, "198.51.100.1"),
])
def test_reachable(bound: str, local: str, dual: bool, told: str) -> None:
    assert reachable(bound, local, LAN, dual) == told


def test_reachable_without_any_lan_address_is_the_loopback() -> None:
    assert reachable("0.0.0.0", "", ()) == "127.0.0.1"
    assert reachable("::", "", ()) == "::1"
    assert not serves("0.0.0.0", "box.local") and serves("::", "192.0.2.1", dual_stack=True)


@pytest.mark.parametrize(("text", "parsed"), [
    ("pbx.example", ("pbx.example", None)), ("pbx.example:5070", ("pbx.example", 5070)),
    ("[2001:db8::1]", ("2001:db8::1", None)), ("[2001:db8::1]:5062", ("2001:db8::1", 5062)),
    ("2001:db8::1", ("2001:db8::1", None)),
])
def test_split_host_port(text: str, parsed: tuple[str, int | None]) -> None:
    assert split_host_port(text) == parsed


def test_urls_name_the_requests_local_address_and_the_bound_port() -> None:
    assert server_url("http", "0.0.0.0", 80, 80) == "http://0.0.0.0"
    assert seen_url("http://0.0.0.0:8080", "192.0.2.1") == "http://192.0.2.1:8080"
    assert seen_url("http://0.0.0.0", "192.0.2.1") == "http://192.0.2.1"
    assert seen_url("tftp://[::]:6969", "192.0.2.1") == "tftp://192.0.2.1:6969"  # dual-stack
    assert seen_url("http://[::]", "192.0.2.1", LAN) == "http://[2001:db8::1]"
    assert seen_url("http://[::]", "2001:db8::1") == "http://[2001:db8::1]"
    assert seen_url("http://pbx.example:8080", "192.0.2.1") == "http://pbx.example:8080"


def test_site_from_the_bound_sip_port_and_the_overrides() -> None:
    config = load(None, {})
    wildcard = replace(config, sip=replace(config.sip, listen=Listen("0.0.0.0", 0)))
    site = make_site(wildcard, {"sip_udp": Listen("0.0.0.0", 41234)}, ("192.0.2.1",))
    assert (site.sip_host, site.sip_port) == ("0.0.0.0", 41234)
    assert site.seen_from("198.51.100.1").sip_host == "198.51.100.1"
    assert site.seen_from("").sip_host == "192.0.2.1"
    six = make_site(wildcard, {"sip_udp": Listen("::", 5060)}, ())
    assert six.seen_from("2001:db8::1").sip_host == "[2001:db8::1]"
    assert six.seen_from("192.0.2.1").sip_host == "192.0.2.1"  # the UDP socket is dual-stack
    # provisioning.sip_server overrides the host; without a port the bound one applies
    for given, told in (("pbx.example", ("pbx.example", 41234)),
                        ("pbx.example:5070", ("pbx.example", 5070)),
                        ("[2001:db8::9]:5070", ("[2001:db8::9]", 5070))):
        cfg = replace(wildcard, provisioning=replace(wildcard.provisioning, sip_server=given))
        site = make_site(cfg, {"sip_udp": Listen("0.0.0.0", 41234)})
        assert (site.seen_from("192.0.2.1").sip_host, site.sip_port) == told
    # without a running SIP core: the config's listen address (port 0 would mean 5060)
    assert make_site(config, {}).sip_port == config.sip.listen.port
    assert Site("0.0.0.0", 5060, "tcp", "", "UTC", "en").seen_from("").sip_host == "127.0.0.1"


def test_the_web_shows_the_lan_addresses_on_a_wildcard_bind() -> None:
    assert hosts(Listen("0.0.0.0", 80), "127.0.0.1", LAN) == ["192.0.2.1", "198.51.100.1"]
    assert hosts(Listen("0.0.0.0", 80), "198.51.100.1", LAN) == ["198.51.100.1", "192.0.2.1"]
    assert hosts(Listen("::", 5060), "", LAN, dual_stack=True) == LAN
    assert hosts(Listen("192.0.2.7", 80), "198.51.100.1", LAN) == ["192.0.2.7"]
    assert hosts(Listen("0.0.0.0", 80), "127.0.0.1", []) == ["127.0.0.1"]
    assert [seen_host(h) for h in ("box:8000", "[2001:db8::1]:8000", "box", None)] == [
        "box", "2001:db8::1", "box", ""]


def test_mdns_announces_only_what_listens_on_the_lan() -> None:
    bound = {"web": Listen("0.0.0.0", 8000), "sip_udp": Listen("::", 5062)}
    made = announcements(bound, ["192.0.2.1"], "http://192.0.2.1/")
    assert [(a.type_, a.port) for a in made] == [("_http._tcp.local.", 8000),
                                                 ("_sip._udp.local.", 5062)]
    assert made[0].properties == {"path": "/", "provisioning": "http://192.0.2.1/"}
    local = {"web": Listen("127.0.0.1", 8000), "sip_udp": Listen("127.0.0.1", 5060)}
    assert announcements(local, ["192.0.2.1"], "http://192.0.2.1/") == []
