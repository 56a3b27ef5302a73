"""The connections' servers kept resolved (``calls/servers.py``) on a table DNS: addresses at
once for IPs, a name looked up when followed, TTLs clamped, the last good addresses kept
when DNS fails, a failover asking again, a name that never resolved saying why, and a call
in from an address DNS gave matched to its connection."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from appliance.callplan.inbound import Routing
from appliance.callplan.model import Connection, Server
from appliance.calls.servers import (
    RETRY_CAP,
    TTL_CEILING,
    TTL_FLOOR,
    ServerBook,
    configured,
    keep_for,
    retry_after,
    uri_host,
)
from appliance.calls.trunks import connection_from
from appliance.sip.locate import Address
from tests.unit.dns_fakes import FakeDns

NAMED = Server("sip.example.test", 0, "udp")
CONN = Connection(1, "carrier", "register", (NAMED, Server("192.0.2.99", 5080, "tcp")))


async def until(check: Callable[[], bool]) -> None:
    for _ in range(200):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not reached")


def test_ttls_are_clamped_and_failures_back_off() -> None:
    assert keep_for(1) == TTL_FLOOR and keep_for(600) == 600
    assert keep_for(10**9) == TTL_CEILING
    assert [retry_after(n) for n in (1, 2, 3)] == [5, 10, 20]
    assert retry_after(50) == RETRY_CAP


def test_an_ip_server_needs_no_lookup_and_a_name_is_looked_up_once_followed() -> None:
    assert configured(CONN) == [Address("192.0.2.99", 5080, "tcp")]
    assert uri_host(Address("192.0.2.99", 5080, "tcp")) == "192.0.2.99:5080"
    assert uri_host(Address("2001:db8::9", 5060)) == "[2001:db8::9]:5060"
    assert uri_host(Address("192.0.2.1", 5070, "udp", "sip.example.test")) == "sip.example.test"
    dns = FakeDns()
    dns.srv("_sip._udp.sip.example.test", (10, 0, 5070, "a.example.test"))
    dns.a("a.example.test", "192.0.2.1")
    changes: list[tuple[str, int, str]] = []

    async def main() -> None:
        book = ServerBook(dns, on_change=changes.append)
        assert book.addresses(CONN.servers) == (Address("192.0.2.99", 5080, "tcp"),)
        book.keep(CONN.servers)
        assert book.pending(CONN.servers)
        await until(lambda: len(book.addresses(CONN.servers)) == 2)
        assert book.resolved(CONN) == [Address("192.0.2.1", 5070, "udp", "sip.example.test"),
                                       Address("192.0.2.99", 5080, "tcp")]
        assert not book.pending(CONN.servers) and book.error(CONN.servers) is None
        assert changes == [("sip.example.test", 0, "udp")]
        await book.close()

    asyncio.run(main())


def test_resolved_starts_following_a_name_it_has_not_seen() -> None:
    dns = FakeDns()
    dns.a("sip.example.test", "192.0.2.5")

    async def main() -> None:
        book = ServerBook(dns)
        assert book.resolved(CONN) == [Address("192.0.2.99", 5080, "tcp")]
        await until(lambda: len(book.resolved(CONN)) == 2)
        assert book.resolved(CONN)[0] == Address("192.0.2.5", 5060, "udp", "sip.example.test")
        await book.close()

    asyncio.run(main())


def test_a_failing_lookup_keeps_the_last_addresses_and_a_failover_asks_again() -> None:
    dns = FakeDns()
    dns.a("sip.example.test", "192.0.2.5")

    async def main() -> None:
        book = ServerBook(dns)
        book.failover_floor = 0.0
        book.keep([NAMED])
        await until(lambda: bool(book.addresses([NAMED])))
        asked = len(dns.asked)
        dns.failing.add("_sip._udp.sip.example.test")
        book.failed([NAMED])
        await until(lambda: len(dns.asked) > asked)
        await asyncio.sleep(0.05)
        assert book.addresses([NAMED]) == (Address("192.0.2.5", 5060, "udp", "sip.example.test"),)
        assert book.error([NAMED]) is None  # it has addresses to use
        # DNS back with a new address: the next failover finds it.
        dns.failing.clear()
        dns.a("sip.example.test", "192.0.2.6")
        book.failed([NAMED])
        await until(lambda: book.addresses([NAMED])[0].host == "192.0.2.6")
        await book.close()

    asyncio.run(main())


def test_a_name_that_never_resolved_says_why_and_forgotten_names_stop() -> None:
    dns = FakeDns()

    async def main() -> None:
        book = ServerBook(dns)
        book.keep([NAMED])
        await until(lambda: book.error([NAMED]) is not None)
        assert book.error([NAMED]) == "the name sip.example.test does not resolve"
        assert book.addresses([NAMED]) == ()
        book.keep([])
        asked = len(dns.asked)
        book.failed([NAMED])
        await asyncio.sleep(0.05)
        assert len(dns.asked) == asked and book.error([NAMED]) is None
        await book.close()

    asyncio.run(main())


def test_a_call_from_an_address_dns_gave_a_connection_s_name_is_from_that_connection() -> None:
    dns = FakeDns()
    dns.a("sip.example.test", "192.0.2.5", "2001:db8::5")
    other = Connection(2, "pbx", "ip", (Server("192.0.2.50"),), allowed_sources=("192.0.2.50",))
    routing = Routing(connections={1: CONN, 2: other})

    async def main() -> None:
        book = ServerBook(dns)
        book.keep(CONN.servers)
        await until(lambda: len(book.resolved(CONN)) == 3)
        assert connection_from(routing, "192.0.2.5", book.resolved) is CONN
        assert connection_from(routing, "2001:db8:0::5", book.resolved) is CONN
        assert connection_from(routing, "192.0.2.99", book.resolved) is CONN  # configured IP
        assert connection_from(routing, "192.0.2.50", book.resolved) is other
        assert connection_from(routing, "192.0.2.6", book.resolved) is None
        assert connection_from(routing, "192.0.2.5") is None  # without the book: IPs only
        await book.close()

    asyncio.run(main())
