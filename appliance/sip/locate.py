"""Locating a SIP server (RFC 3263 §4) for the box's own requests: a configured host, port and
transport become the addresses to try, in order.

- An IP literal is itself, on its port or the transport's default (5060, 5061 for TLS).
- A name with a port: its A records, then its AAAA records (§4.2).
- A name without a port (port 0): the SRV records of ``_sip._udp``, ``_sip._tcp`` or
  ``_sips._tcp`` (the transport is configured, so NAPTR, which would choose one, is not
  asked), ordered by priority and weight (RFC 2782, ``srv_order``), each target's A then
  AAAA; no SRV records: the name's own A/AAAA on the default port.

Every address keeps the host as configured (``Address.name``): what a TLS certificate must
name (RFC 5922 §4.1: the domain asked for, not an SRV target DNS gave). The lookups go
through a ``Dns`` (``SystemDns``: dnspython's asyncio resolver over /etc/resolv.conf), so
the ordering and fallbacks are unit-tested on a fake. ``Located.ttl`` is the shortest TTL
seen; failures are texts ("the name X does not resolve"), never exceptions.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import os
import random as random_mod
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import dns.asyncresolver
import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver

from appliance.sip.transaction import Peer
from appliance.sip.uri import format_host

TRANSPORTS = ("udp", "tcp", "tls")
DEFAULT_PORTS = {"udp": 5060, "tcp": 5060, "tls": 5061}
SRV_PREFIXES = {"udp": "_sip._udp", "tcp": "_sip._tcp", "tls": "_sips._tcp"}
MAX_ADDRESSES = 8  # per configured server: a huge answer must not make a huge failover list
NEGATIVE_TTL = 60.0  # a "no such records" answer without a usable SOA is kept this long
RESOLV_CONF = "/etc/resolv.conf"
LIFETIME = 5.0  # seconds one lookup may take, every nameserver and retry included
_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")


class Address(NamedTuple):
    """Where to send: an IP literal, its port, ``udp``/``tcp``/``tls``; ``name`` the host name
    it was found from ("" for a configured address: the IP itself is what TLS checks)."""

    host: str
    port: int = 5060
    transport: str = "udp"
    name: str = ""

    @property
    def peer(self) -> Peer:
        """The transport's peer for this address."""
        return Peer(self.transport, self.host, self.port)

    @property
    def tls_name(self) -> str:
        """What the server's certificate must name: the host name, else the IP."""
        return self.name or self.host

    def __str__(self) -> str:
        where = f"{self.transport}:{format_host(self.host)}:{self.port}"
        return f"{where} ({self.name})" if self.name else where


class SrvRecord(NamedTuple):
    """One SRV record (RFC 2782); ``target`` without its final dot."""

    priority: int
    weight: int
    port: int
    target: str


@dataclass(frozen=True)
class Answer:
    """What one DNS query gave: the records (IP texts or ``SrvRecord``), how long they hold,
    and ``error`` when DNS gave no answer at all (no records is not an error)."""

    records: tuple[str | SrvRecord, ...] = ()
    ttl: float = NEGATIVE_TTL
    error: str | None = None


class Dns(Protocol):
    """A DNS client: one query, never raising."""

    async def query(self, name: str, rdtype: str) -> Answer:
        """The ``rdtype`` (A, AAAA, SRV) records of the absolute ``name``."""
        ...


@dataclass(frozen=True)
class Located:
    """The addresses of one configured server, in the order to try them, how long that holds
    (``math.inf`` for an IP literal), and why there are none (``error``)."""

    addresses: tuple[Address, ...]
    ttl: float
    error: str | None = None


def is_literal(host: str) -> bool:
    """Whether ``host`` is an IP address (no lookup needed)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def literal(host: str, port: int, transport: str) -> Address | None:
    """The address of an IP-literal server (port 0: the transport's default), else None."""
    if not is_literal(host):
        return None
    return Address(str(ipaddress.ip_address(host)), port or DEFAULT_PORTS[transport], transport)


def srv_order(records: Sequence[SrvRecord], draw: Callable[[], float]) -> list[SrvRecord]:
    """The order to try ``records`` in (RFC 2782): lowest priority first; within a priority, a
    weighted random pick each time (``draw`` uniform in [0, 1)), zero weights first in line."""
    ordered: list[SrvRecord] = []
    for priority in sorted({r.priority for r in records}):
        group = sorted((r for r in records if r.priority == priority), key=lambda r: r.weight != 0)
        while group:
            total = sum(r.weight for r in group)
            pick, running, chosen = draw() * total, 0, len(group) - 1
            for index, record in enumerate(group):
                running += record.weight
                if running >= pick:
                    chosen = index
                    break
            ordered.append(group.pop(chosen))
    return ordered


async def _addresses(dns: Dns, name: str) -> tuple[list[str], float, str | None]:
    """The A then AAAA addresses of ``name``, the shorter TTL, the first error (if any)."""
    answers = await asyncio.gather(dns.query(name, "A"), dns.query(name, "AAAA"))
    found = [str(r) for a in answers for r in a.records if isinstance(r, str)]
    errors = [a.error for a in answers if a.error]
    return found, min(a.ttl for a in answers), errors[0] if errors else None


async def locate(dns: Dns, host: str, port: int, transport: str,
                 draw: Callable[[], float] = random_mod.random) -> Located:
    """The addresses of server ``host`` (port 0: not given) over ``transport``; see the module
    docstring. Never raises for DNS trouble: ``Located.error`` says what went wrong."""
    address = literal(host, port, transport)
    if address is not None:
        return Located((address,), math.inf)
    name = host.lower().rstrip(".")
    targets: list[tuple[str, int]] = [(name, port or DEFAULT_PORTS[transport])]
    ttl = math.inf
    if not port:
        srv = await dns.query(f"{SRV_PREFIXES[transport]}.{name}", "SRV")
        if srv.error:
            return Located((), srv.ttl, f"cannot look {name} up: {srv.error}")
        records = [r for r in srv.records if isinstance(r, SrvRecord)]
        ttl = srv.ttl
        if records and all(r.target in ("", ".") for r in records):  # RFC 2782: "." = none
            return Located((), ttl, f"{name} offers no SIP service over {transport.upper()}")
        if records:
            targets = [(r.target.rstrip(".").lower(), r.port) for r in srv_order(records, draw)
                       if r.target not in ("", ".")]
    found: list[Address] = []
    error = None
    for target, target_port in targets:
        ips, target_ttl, why = await _addresses(dns, target)
        ttl = min(ttl, target_ttl)
        error = error or why
        for ip in ips:
            item = Address(ip, target_port, transport, name)
            if item not in found and len(found) < MAX_ADDRESSES:
                found.append(item)
    if not found:
        return Located((), ttl, f"cannot look {name} up: {error}" if error
                       else f"the name {name} does not resolve")
    return Located(tuple(found), ttl)


class SystemDns:
    """Queries through the system's resolver: the nameservers of ``path`` (re-read when the
    file changes), no search domains, no cache (the caller keeps what it found for its TTL)."""

    def __init__(self, path: str = RESOLV_CONF, lifetime: float = LIFETIME) -> None:
        """Read ``path`` on the first query."""
        self.path = path
        self.lifetime = lifetime
        self._resolver: dns.asyncresolver.Resolver | None = None
        self._stamp: tuple[int, int] | None = None

    def _current(self) -> dns.asyncresolver.Resolver | str:
        """The resolver for the file as it is now, or why there is none."""
        try:
            info = os.stat(self.path)
        except OSError:
            return f"no DNS server configured ({self.path} is missing)"
        stamp = (info.st_mtime_ns, info.st_ino)
        if self._resolver is None or stamp != self._stamp:
            try:
                resolver = dns.asyncresolver.Resolver(filename=self.path)
            except dns.exception.DNSException:
                return f"no DNS server configured in {self.path}"
            resolver.lifetime = self.lifetime
            resolver.timeout = min(2.0, self.lifetime)
            self._resolver, self._stamp = resolver, stamp
        return self._resolver

    async def query(self, name: str, rdtype: str) -> Answer:
        """See ``Dns.query``."""
        resolver = self._current()
        if isinstance(resolver, str):
            return Answer(error=resolver)
        try:
            answer = await resolver.resolve(dns.name.from_text(name), rdtype,
                                            raise_on_no_answer=False)
        except dns.exception.DNSException as exc:
            return _failed(exc)
        rrset = answer.rrset
        if rrset is None:
            return Answer()
        records: list[str | SrvRecord] = []
        for rdata in rrset:
            if rdata.rdtype == dns.rdatatype.SRV:
                records.append(SrvRecord(int(rdata.priority), int(rdata.weight),
                                         int(rdata.port),
                                         rdata.target.to_text(omit_final_dot=True)))
            elif rdata.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
                records.append(str(rdata.address))
        return Answer(tuple(records), float(rrset.ttl))


def _failed(exc: dns.exception.DNSException) -> Answer:
    """A query's exception as an answer: no such name is no records, the rest an error."""
    if isinstance(exc, dns.resolver.NXDOMAIN):
        return Answer()
    if isinstance(exc, dns.resolver.NoNameservers):
        return Answer(error="the DNS servers failed")
    if isinstance(exc, dns.exception.Timeout):
        return Answer(error="DNS did not answer")
    return Answer(error=f"DNS error: {type(exc).__name__}")
