"""The neighbor table's single-address lookup in /proc/net/arp text."""

from __future__ import annotations

from appliance.lan import neighbors

PROC_ARP = """IP address       HW type     Flags       HW address            Mask     Device
192.0.2.22       0x1         0x2         00:15:65:00:00:22     *        eth0
192.0.2.2        0x1         0x0         00:00:00:00:00:00     *        eth1
192.0.2.2        0x1         0x2         00:15:65:12:34:56     *        eth0
192.0.2.9        0x1         0x2         not-a-mac             *        eth0
10.192.0.2       0x1         0x2         00:15:65:00:00:10     *        eth0
192.0.2.7        0x1         0x2         00:15:65:00:00:07     *        eth0"""


def test_arp_lookup_finds_the_first_complete_entry_of_that_address_only() -> None:
    assert neighbors.arp_mac_of(PROC_ARP, "192.0.2.2") == "001565123456"
    assert neighbors.arp_mac_of(PROC_ARP, "192.0.2.22") == "001565000022"
    assert neighbors.arp_mac_of(PROC_ARP, "192.0.2.7") == "001565000007"  # last line, no LF
    assert neighbors.arp_mac_of(PROC_ARP, "10.192.0.2") == "001565000010"


def test_arp_lookup_refuses_incomplete_malformed_and_absent_entries() -> None:
    assert neighbors.arp_mac_of(PROC_ARP, "192.0.2.9") is None
    assert neighbors.arp_mac_of(PROC_ARP, "192.0.2.3") is None
    assert neighbors.arp_mac_of(PROC_ARP, "0.2.2") is None  # only whole addresses
    assert neighbors.arp_mac_of(PROC_ARP, "IP") is None  # the header is no entry
    assert neighbors.arp_mac_of("", "192.0.2.2") is None


def test_arp_lookup_agrees_with_the_full_parse() -> None:
    table = neighbors.parse_proc_arp(PROC_ARP)
    for ip in ("192.0.2.2", "192.0.2.22", "192.0.2.7", "10.192.0.2", "192.0.2.9"):
        assert neighbors.arp_mac_of(PROC_ARP, ip) == neighbors.mac_of(ip, table)
