"""Who may get a per-MAC file (``access``): the decision table, without sockets or store."""

from __future__ import annotations

import ipaddress

import pytest

from appliance.provisioning.access import Ask, Grant, Place, grant, may_note, place

SUBNETS = (ipaddress.ip_network("10.20.0.0/16"), ipaddress.ip_network("2001:db8:20::/48"))
ON, ROUTED, FOREIGN = Place.ON_LINK, Place.ROUTED, Place.FOREIGN


@pytest.mark.parametrize(("ip", "on_link", "where"), [
    ("192.0.2.5", True, ON),
    ("10.20.3.4", False, ROUTED),
    ("10.20.3.4", True, ON),  # on-link wins: the neighbor table is the stronger proof
    ("2001:db8:20::5", False, ROUTED),
    ("10.21.0.1", False, FOREIGN),  # behind a router, not a phone subnet
    ("127.0.0.1", False, FOREIGN),
    ("127.0.0.1", True, FOREIGN),  # loopback, whatever the interfaces say
    ("::1", True, FOREIGN),
    ("::ffff:127.0.0.1", True, FOREIGN),
    ("::ffff:10.20.0.9", False, ROUTED),
    ("0.0.0.0", True, FOREIGN),
    ("not an address", True, FOREIGN),
])
def test_place(ip: str, on_link: bool, where: Place) -> None:
    assert place(ip, on_link, SUBNETS) is where


def test_loopback_in_a_phone_subnet_is_still_foreign() -> None:
    assert place("127.0.0.5", False, (ipaddress.ip_network("127.0.0.0/8"),)) is FOREIGN


@pytest.mark.parametrize("via", ["tftp", "http", "https"])
@pytest.mark.parametrize("proved", [False, True])
@pytest.mark.parametrize("bound", [False, True])
def test_foreign_peers_never_get_a_per_mac_file(via: str, proved: bool, bound: bool) -> None:
    assert grant(Ask(FOREIGN, via, bound=bound, proved=proved, enrolled=True)) is Grant.MISS


@pytest.mark.parametrize(("ask", "expected"), [
    # on-link, the neighbor table maps the peer to the MAC: as before
    (Ask(ON, "tftp", bound=True), Grant.SERVE),
    (Ask(ON, "tftp", bound=True, enrolled=True), Grant.SERVE),
    (Ask(ON, "http", bound=True), Grant.SERVE),  # first HTTP boot: handed its credentials
    (Ask(ON, "http", bound=True, enrolled=True), Grant.CHALLENGE),
    (Ask(ON, "https", bound=True, enrolled=True, proved=True), Grant.SERVE),
    (Ask(ON, "http", bound=True, enrolled=True, http_auth=False), Grant.SERVE),
    # on-link, the table maps the address to another MAC (or nothing): a miss, proof or not
    (Ask(ON, "tftp"), Grant.MISS),
    (Ask(ON, "http", proved=True, enrolled=True), Grant.MISS),
    # routed phone subnet: HTTP(S) with the phone's own credentials, never TFTP
    (Ask(ROUTED, "tftp", proved=True), Grant.MISS),
    (Ask(ROUTED, "tftp", bound=True), Grant.MISS),
    (Ask(ROUTED, "http"), Grant.CHALLENGE),
    (Ask(ROUTED, "http", enrolled=True), Grant.CHALLENGE),
    (Ask(ROUTED, "https", proved=True), Grant.SERVE),
    (Ask(ROUTED, "http", http_auth=False), Grant.CHALLENGE),  # http_auth never opens routed
    # the neighbor table not trusted: on-link peers are served like routed ones
    (Ask(ON, "tftp", bound=True, neighbor_check=False), Grant.MISS),
    (Ask(ON, "http", bound=True, neighbor_check=False), Grant.CHALLENGE),
    (Ask(ON, "http", proved=True, neighbor_check=False), Grant.SERVE),
])
def test_grant(ask: Ask, expected: Grant) -> None:
    assert grant(ask) is expected


def test_tftp_never_hands_a_file_to_a_peer_the_table_did_not_bind() -> None:
    for where in Place:
        for check in (True, False):
            for proved in (True, False):
                ask = Ask(where, "tftp", bound=False, proved=proved, neighbor_check=check)
                assert grant(ask) is Grant.MISS, ask


@pytest.mark.parametrize(("ask", "noted"), [
    (Ask(ON, "tftp", bound=True), True),
    (Ask(ON, "http"), False),  # a User-Agent naming a MAC the table does not give the peer
    (Ask(ON, "http", proved=True), False),
    (Ask(ROUTED, "http"), False),
    (Ask(ROUTED, "https", proved=True), True),
    (Ask(ROUTED, "tftp", proved=True), False),
    (Ask(FOREIGN, "http", proved=True, bound=True), False),
    (Ask(ON, "http", proved=True, neighbor_check=False), True),
    (Ask(ON, "http", bound=True, neighbor_check=False), False),
])
def test_sightings_only_where_source_and_mac_agree(ask: Ask, noted: bool) -> None:
    assert may_note(ask) is noted
