"""Locating a connection's servers (RFC 3263, ``sip/locate.py``) on a table DNS: SRV ordering
by priority and weight (RFC 2782), what is asked and tried in what order for an address, a
name with a port, a name without one, and the texts of what failed."""

from __future__ import annotations

import asyncio
import itertools
import math
from collections import Counter

import pytest

from appliance.sip.locate import (
    Address,
    Located,
    SrvRecord,
    SystemDns,
    literal,
    locate,
    srv_order,
)
from tests.unit.dns_fakes import FakeDns


def run(dns: FakeDns, host: str, port: int = 0, transport: str = "udp",
        draw: float = 0.0) -> Located:
    return asyncio.run(locate(dns, host, port, transport, lambda: draw))


def test_srv_order_is_by_priority_then_weighted_with_zero_weights_first_in_line() -> None:
    records = [SrvRecord(20, 0, 5060, "backup"), SrvRecord(10, 60, 5060, "big"),
               SrvRecord(10, 0, 5060, "zero"), SrvRecord(10, 40, 5060, "small")]
    # draw 0: the running sum reaches 0 at the zero-weight record first, then "big".
    assert [r.target for r in srv_order(records, lambda: 0.0)] == [
        "zero", "big", "small", "backup"]
    # draw 0.99 of 100: past big (60), reaching small's 100; then of 60: big.
    assert [r.target for r in srv_order(records, lambda: 0.99)] == [
        "small", "big", "zero", "backup"]
    # The lower priority always comes last, whatever the draw.
    for draw in (0.0, 0.3, 0.7, 0.999):
        assert srv_order(records, lambda d=draw: d)[-1].target == "backup"


def test_srv_weights_share_the_first_place_in_proportion() -> None:
    records = [SrvRecord(1, 3, 5060, "three"), SrvRecord(1, 1, 5060, "one")]
    steps = itertools.cycle(i / 1000 for i in range(1000))
    firsts = Counter(srv_order(records, lambda: next(steps))[0].target for _ in range(1000))
    assert firsts["three"] == pytest.approx(750, abs=5)
    assert firsts["one"] == pytest.approx(250, abs=5)


def test_an_ip_address_is_itself_with_the_transport_s_default_port() -> None:
    dns = FakeDns()
    assert run(dns, "192.0.2.7") == Located((Address("192.0.2.7", 5060, "udp"),), math.inf)
    assert run(dns, "2001:db8::7", 0, "tls").addresses == (Address("2001:db8::7", 5061, "tls"),)
    assert run(dns, "192.0.2.7", 5080, "tcp").addresses == (Address("192.0.2.7", 5080, "tcp"),)
    assert dns.asked == []
    assert literal("sip.example.test", 0, "udp") is None


def test_a_name_with_a_port_is_its_a_then_aaaa_records_no_srv() -> None:
    dns = FakeDns()
    dns.a("sip.example.test", "192.0.2.1", "2001:db8::1", "192.0.2.2", ttl=120)
    found = run(dns, "SIP.example.test.", 5070, "tcp")
    assert [a.host for a in found.addresses] == ["192.0.2.1", "192.0.2.2", "2001:db8::1"]
    assert {(a.port, a.transport, a.name) for a in found.addresses} == {
        (5070, "tcp", "sip.example.test")}
    assert found.ttl == 120 and found.error is None
    assert sorted(dns.asked) == [("sip.example.test", "A"), ("sip.example.test", "AAAA")]


def test_a_name_without_a_port_follows_srv_targets_in_order_on_their_ports() -> None:
    dns = FakeDns()
    dns.srv("_sip._udp.example.test", (20, 0, 5090, "backup.example.test"),
            (10, 0, 5070, "main.example.test."), ttl=600)
    dns.a("main.example.test", "192.0.2.10", ttl=200)
    dns.a("backup.example.test", "192.0.2.20", "192.0.2.21")
    found = run(dns, "example.test")
    assert found.addresses == (Address("192.0.2.10", 5070, "udp", "example.test"),
                               Address("192.0.2.20", 5090, "udp", "example.test"),
                               Address("192.0.2.21", 5090, "udp", "example.test"))
    assert found.ttl == 200  # the shortest of what was used
    assert dns.asked[0] == ("_sip._udp.example.test", "SRV")
    assert str(found.addresses[0]) == "udp:192.0.2.10:5070 (example.test)"
    assert found.addresses[0].tls_name == "example.test"


def test_each_transport_asks_its_own_srv_name() -> None:
    for transport, name in (("udp", "_sip._udp"), ("tcp", "_sip._tcp"), ("tls", "_sips._tcp")):
        dns = FakeDns()
        run(dns, "example.test", 0, transport)
        assert dns.asked[0] == (f"{name}.example.test", "SRV")


def test_without_srv_records_the_name_itself_on_the_default_port() -> None:
    dns = FakeDns()
    dns.a("example.test", "192.0.2.30")
    assert run(dns, "example.test", 0, "tls").addresses == (
        Address("192.0.2.30", 5061, "tls", "example.test"),)
    assert dns.asked[0] == ("_sips._tcp.example.test", "SRV")


def test_a_target_without_addresses_is_skipped_and_duplicates_kept_once() -> None:
    dns = FakeDns()
    dns.srv("_sip._tcp.example.test", (10, 0, 5060, "gone.example.test"),
            (20, 0, 5060, "a.example.test"), (30, 0, 5060, "b.example.test"))
    dns.a("a.example.test", "192.0.2.40")
    dns.a("b.example.test", "192.0.2.40")
    assert run(dns, "example.test", 0, "tcp").addresses == (
        Address("192.0.2.40", 5060, "tcp", "example.test"),)


def test_failures_say_what_did_not_resolve_and_why() -> None:
    dns = FakeDns()
    nothing = run(dns, "nowhere.test")
    assert nothing.addresses == () and nothing.error == "the name nowhere.test does not resolve"
    dns.srv("_sip._udp.closed.test", (0, 0, 0, "."))
    assert run(dns, "closed.test").error == "closed.test offers no SIP service over UDP"
    dns.failing.add("_sip._udp.slow.test")
    assert run(dns, "slow.test").error == "cannot look slow.test up: DNS did not answer"
    dns.failing.add("down.test")
    assert run(dns, "down.test", 5060).error == "cannot look down.test up: DNS did not answer"


def test_a_huge_answer_is_cut_to_eight_addresses() -> None:
    dns = FakeDns()
    dns.a("many.test", *(f"192.0.2.{n}" for n in range(1, 40)))
    assert len(run(dns, "many.test", 5060).addresses) == 8


def test_the_system_resolver_without_a_config_says_so(tmp_path: object) -> None:
    missing = SystemDns(path="/nonexistent/resolv.conf")
    answer = asyncio.run(missing.query("example.test", "A"))
    assert answer.records == () and answer.error is not None and "missing" in answer.error
