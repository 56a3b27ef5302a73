"""The addresses of the connections' servers, kept fresh (``sip/locate.py`` over the system's
DNS), for registrations, calls out and matching calls in.

A server given by IP is its own address at once. A server given by name gets a task that
looks it up, keeps the answer for its TTL (clamped to ``TTL_FLOOR``..``TTL_CEILING``) and
looks it up again; a failover (``failed``) asks again sooner, at most every
``FAILOVER_FLOOR`` s. A name that does not resolve keeps its last good addresses (a DNS
hiccup must not drop a working trunk) and is tried again with backoff (``RETRY_BASE``
doubling to ``RETRY_CAP``); with none ever found, ``error`` says why ("the name X does not
resolve"). ``resolved(conn)`` is synchronous: what the calls use is read from this cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random as random_mod
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from appliance.callplan.model import Connection, Server
from appliance.sip.locate import Address, Dns, Located, SystemDns, literal, locate
from appliance.sip.uri import format_host

log = logging.getLogger(__name__)

TTL_FLOOR = 30.0
TTL_CEILING = 3600.0
FAILOVER_FLOOR = 10.0
RETRY_BASE = 5.0
RETRY_CAP = 300.0

Key = tuple[str, int, str]  # a configured server: host, port (0: not given), transport


def key_of(server: Server | Address) -> Key:
    """The configured server as a key."""
    return (server.host, server.port, server.transport)


def keep_for(ttl: float) -> float:
    """Seconds an answer with ``ttl`` is kept before the next lookup."""
    return min(TTL_CEILING, max(TTL_FLOOR, ttl))


def retry_after(failures: int) -> float:
    """Seconds before a name that failed ``failures`` times in a row is looked up again."""
    return min(RETRY_CAP, RETRY_BASE * 2.0 ** min(max(failures, 1) - 1, 16))


def configured(conn: Connection) -> list[Address]:
    """The addresses of ``conn``'s servers given by IP, in order (no lookup: what a caller
    without a ``ServerBook`` can use)."""
    found = [literal(s.host, s.port, s.transport) for s in conn.servers]
    return [a for a in found if a is not None]


def uri_host(address: Address) -> str:
    """The host part a request through ``address`` names (Request-URI, To, From): the
    server's name when it was found by DNS (RFC 3263: the name is the target, the address
    only where it is sent), else ``ip:port``."""
    return address.name or f"{format_host(address.host)}:{address.port}"


@dataclass
class _Entry:
    key: Key
    addresses: tuple[Address, ...] = ()
    error: str | None = None
    looked_up: float | None = None  # monotonic time of the latest lookup
    failures: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class ServerBook:
    """The addresses of every configured server; see the module docstring."""

    def __init__(self, dns: Dns | None = None, *,
                 on_change: Callable[[Key], None] | None = None,
                 draw: Callable[[], float] = random_mod.random,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """Lookups through ``dns`` (default: the system's resolver); ``on_change(key)`` when
        a server's addresses or error change; ``draw`` orders SRV records of equal
        priority."""
        self.dns: Dns = dns or SystemDns()
        self.on_change = on_change
        self.draw = draw
        self.clock = clock
        self.failover_floor = FAILOVER_FLOOR
        self._entries: dict[Key, _Entry] = {}

    def keep(self, servers: Iterable[Server | Address]) -> None:
        """Follow exactly these servers' names (on the running loop): new ones are looked up
        at once, others forgotten."""
        self._keep({key_of(s) for s in servers if literal(s.host, s.port, s.transport) is None})

    def _keep(self, wanted: set[Key]) -> None:
        for key in [k for k in self._entries if k not in wanted]:
            entry = self._entries.pop(key)
            if entry.task is not None:
                entry.task.cancel()
        for key in wanted - set(self._entries):
            entry = _Entry(key)
            self._entries[key] = entry
            entry.task = asyncio.get_running_loop().create_task(
                self._follow(entry), name=f"dns-{key[0]}")

    async def close(self) -> None:
        """Stop every lookup task."""
        tasks = [e.task for e in self._entries.values() if e.task is not None]
        self._entries.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def addresses(self, servers: Sequence[Server | Address]) -> tuple[Address, ...]:
        """The addresses of ``servers`` in order (each server's own order kept), none twice;
        a name not looked up yet has none."""
        found: list[Address] = []
        for server in servers:
            address = literal(server.host, server.port, server.transport)
            entry = None if address is not None else self._entries.get(key_of(server))
            items = (address,) if address is not None else entry.addresses if entry else ()
            found.extend(a for a in items if a not in found)
        return tuple(found)

    def error(self, servers: Sequence[Server | Address]) -> str | None:
        """Why ``servers`` have no address (the first server's reason), or None: they have
        some, or their lookups have not ended yet."""
        if self.addresses(servers):
            return None
        errors = [e.error for s in servers if (e := self._entries.get(key_of(s))) and e.error]
        return errors[0] if errors else None

    def pending(self, servers: Sequence[Server | Address]) -> bool:
        """Whether a name among ``servers`` has not been looked up even once yet."""
        return any((e := self._entries.get(key_of(s))) is not None and e.looked_up is None
                   for s in servers)

    def resolved(self, conn: Connection) -> list[Address]:
        """The addresses to send ``conn``'s requests to, in failover order (synchronous:
        from the cache; a name not looked up yet gives none, and is looked up)."""
        self._ensure(conn.servers)
        return list(self.addresses(conn.servers))

    def failed(self, servers: Sequence[Server | Address]) -> None:
        """Every address of ``servers`` failed: look their names up again soon."""
        for server in servers:
            entry = self._entries.get(key_of(server))
            if entry is not None:
                entry.wake.set()

    def _ensure(self, servers: Sequence[Server]) -> None:
        """Start following names not followed yet (a connection newer than the last
        ``keep``), when a loop runs."""
        missing = {key_of(s) for s in servers if literal(s.host, s.port, s.transport) is None
                   and key_of(s) not in self._entries}
        if not missing:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        self._keep(set(self._entries) | missing)

    async def _follow(self, entry: _Entry) -> None:
        host, port, transport = entry.key
        while True:
            try:
                located = await locate(self.dns, host, port, transport, self.draw)
            except Exception:  # a resolver bug must not end the trunk's lookups
                log.exception("dns: looking up %s failed", host)
                located = Located((), math.inf, f"cannot look {host} up")
            entry.looked_up = self.clock()
            delay = self._take(entry, located)
            entry.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(entry.wake.wait(), delay)
            if entry.wake.is_set():  # a failover: soon, but not in a loop
                await asyncio.sleep(max(0.0, entry.looked_up + self.failover_floor - self.clock()))

    def _take(self, entry: _Entry, located: Located) -> float:
        """Keep what a lookup found; the seconds until the next one."""
        before = (entry.addresses, entry.error)
        if located.addresses:
            entry.addresses, entry.error, entry.failures = located.addresses, None, 0
            delay = keep_for(located.ttl)
        else:
            entry.failures += 1
            entry.error = located.error
            delay = retry_after(entry.failures)
            level = logging.WARNING if entry.failures == 1 else logging.DEBUG
            log.log(level, "dns: %s%s; again in %.0f s", located.error,
                    " (keeping the addresses found before)" if entry.addresses else "", delay)
        if (entry.addresses, entry.error) != before:
            if located.addresses:
                log.info("dns: %s is %s", entry.key[0],
                         ", ".join(f"{a.host}:{a.port}" for a in entry.addresses))
            if self.on_change is not None:
                self.on_change(entry.key)
        return delay
