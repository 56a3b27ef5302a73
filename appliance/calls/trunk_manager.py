"""Trunk registrations kept in step with the store: one ``TrunkRegistration`` per
register-based connection, started with the SIP part, restarted when the connection changes
(a ``connection.updated`` that changes what it registers with), stopped (un-REGISTER) when it
is removed or becomes an ``ip`` connection. A register connection that lacks what a
registration needs is ``failing`` with why, never silent.

Every connection's servers are kept resolved in ``servers`` (``calls/servers.py``: names by
DNS, RFC 3263); a registration gets its addresses from there as they change, and a failed
round asks for the names again. ``resolved(conn)`` gives calls out the same addresses. TLS
addresses are pinned in the transport with the trunks' client context (``client_context``:
the system's CAs, plus ``sip.trunk_ca_file``; hostname checked against the server as
configured, an IP against its IP SAN), so a registration or a call never goes over a stream
whose certificate did not verify.

Each status change is published in the store (``directory/trunk_status.py``) by one writer
that lingers a moment and writes the latest status of each connection in one transaction,
so the CLI and the web page (other processes) can show it. Events only wake a task: the
event bus never waits on an un-REGISTER.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from appliance.callplan.model import Connection
from appliance.calls.registration import (
    RegistrationStatus,
    Server,
    TrunkRegistration,
    TrunkTarget,
)
from appliance.calls.servers import Key, ServerBook, key_of
from appliance.config import SipConfig
from appliance.directory import trunk_status
from appliance.directory.office import CallPlanDirectory
from appliance.directory.trunk_status import ConnectionStatus
from appliance.errors import ConfigError
from appliance.events import Event
from appliance.sip.locate import Address, Dns
from appliance.sip.transaction import Peer, TransactionLayer
from appliance.store import Store
from appliance.workers import Workers

log = logging.getLogger(__name__)

WRITE_LINGER = 0.2  # seconds a status waits so that changes in a burst share one write
RETRY_WRITE = 5.0  # seconds before a failed status write is tried again
RESTART_WAIT = 5.0  # how long a restart waits for the old registration's un-REGISTER


class Streams(Protocol):
    """What the manager needs of the SIP transport (``sip/transport.py``)."""

    def pin(self, peers: Mapping[Peer, tuple[str, ssl.SSLContext]]) -> None:
        """TLS peers whose certificates must verify for the name given."""
        ...

    async def open(self, peer: Peer) -> str | None:
        """Open a stream to ``peer``; None, or why not."""
        ...


class SipPart(Protocol):
    """What the manager needs of the SIP part (``routing/service.py``)."""

    layer: TransactionLayer

    @property
    def cfg(self) -> SipConfig:
        """The SIP config (``trunk_ca_file``)."""
        ...

    @property
    def transport(self) -> Streams:
        """The SIP sockets."""
        ...

    def sent_by(self, transport: str, toward: str) -> tuple[str, int]:
        """Our address on ``transport`` as ``toward`` sees it."""
        ...

    def start_registration(self, registration: TrunkRegistration) -> None:
        """Start it on the SIP part's sockets."""
        ...

    def stop_registration(self, registration: TrunkRegistration) -> asyncio.Future[None]:
        """Stop it (un-REGISTER); the future ends when it has."""
        ...


def target_of(conn: Connection) -> TrunkTarget | str:
    """What a register connection registers with, or why it cannot register."""
    if not conn.servers or not conn.username or not conn.password:
        return "a register connection needs servers, a username and a password"
    try:
        return TrunkTarget(
            conn.name, tuple(Server(s.host, s.port, s.transport) for s in conn.servers),
            conn.username, conn.password, conn.domain or conn.servers[0].host,
            conn.auth_username or "", conn.expires)
    except ConfigError as exc:
        return str(exc)


def client_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """The TLS client context of the trunks: the provider's certificate must verify against
    the system's CAs (and ``ca_file``'s, when given) and name the server; TLS 1.2 at least."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as exc:
            log.error("trunks: sip.trunk_ca_file %s unusable (%s); the system's CAs alone",
                      ca_file, exc)
    return context


def _when(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def published(status: RegistrationStatus) -> ConnectionStatus:
    """A registration's status as the store keeps it."""
    since = _when(status.since)
    assert since is not None
    return ConnectionStatus(status.name, status.state,
                            None if status.server is None else str(status.server),
                            status.last_answer, since, _when(status.expires_at),
                            _when(status.next_at))


class TrunkManager:
    """The registrations of the store's register connections; see the module docstring."""

    def __init__(self, sip: SipPart, store: Store, workers: Workers, *,
                 clock: Callable[[], float] = time.time, dns: Dns | None = None,
                 tls: ssl.SSLContext | None = None) -> None:
        """Registrations on ``sip``'s sockets; the store read and written on ``workers``;
        names looked up through ``dns`` (default: the system's resolver); TLS checked with
        ``tls`` (default: ``client_context`` of ``sip.cfg.trunk_ca_file``)."""
        self.sip = sip
        self.store = store
        self.workers = workers
        self.clock = clock
        self.directory = CallPlanDirectory(store, actor="sip")
        self.servers = ServerBook(dns, on_change=self._moved)
        self.tls = tls or client_context(sip.cfg.trunk_ca_file)
        self.connections: list[Connection] = []
        self.running: dict[str, TrunkRegistration] = {}
        self.invalid: dict[str, str] = {}  # connection name -> why it cannot register
        self._opening: set[asyncio.Task[None]] = set()
        self._pending: dict[str, ConnectionStatus | None] = {}
        self._wake = asyncio.Event()
        self._dirty = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start a registration for each register connection, publish every status, and
        begin following ``connection.*`` events (``on_event``)."""
        connections = await self.workers.run(self.directory.list_connections)
        await self.workers.run(trunk_status.keep_only, self.store,
                               [c.name for c in connections])
        await self._sync(connections)
        self._tasks = [asyncio.create_task(self._writer(), name="trunk-status"),
                       asyncio.create_task(self._follower(), name="trunk-sync")]

    async def stop(self) -> None:
        """Un-register every connection (bounded by the SIP part's wait) and write the last
        statuses."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        stopping = [self.sip.stop_registration(r) for r in self.running.values()]
        if stopping:
            await asyncio.wait(stopping, timeout=RESTART_WAIT)
        await self.servers.close()
        await self._flush()

    def resolved(self, conn: Connection) -> list[Address]:
        """The addresses to send ``conn``'s requests to now, in failover order (from the
        cache: a name not looked up yet has none)."""
        return self.servers.resolved(conn)

    def on_event(self, event: Event) -> None:
        """A connection changed: bring the registrations in step soon (never waits)."""
        self._dirty.set()

    # -- keeping in step ----------------------------------------------------------------------

    async def _follower(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                await self._sync(await self.workers.run(self.directory.list_connections))
            except Exception:
                log.exception("trunks: bringing the registrations in step failed")

    async def _sync(self, connections: list[Connection]) -> None:
        """Start, restart or stop registrations so that they match ``connections``."""
        self.connections = connections
        self.servers.keep(s for c in connections for s in c.servers)
        self._pin()
        wanted: dict[str, TrunkTarget | str] = {
            c.name: target_of(c) for c in connections if c.kind == "register"}
        for name in [n for n in (*self.running, *self.invalid) if n not in wanted]:
            if name in self.running:
                await self._end(name)
                log.info("trunk %s: no longer a register connection; un-registered", name)
            self.invalid.pop(name, None)
            self._publish(name, None)
        for name, target in wanted.items():
            current = self.running.get(name)
            if (current is not None and current.target == target) \
                    or self.invalid.get(name) == target:
                continue
            if current is not None:
                await self._end(name)
            self.invalid.pop(name, None)
            if isinstance(target, str):
                log.warning("trunk %s: %s", name, target)
                self.invalid[name] = target
                self._publish(name, published(RegistrationStatus(
                    name, "failing", None, target, self.clock(), None, None)))
                continue
            servers = target.servers
            registration = TrunkRegistration(
                self.sip.layer, target, self.sip.sent_by, clock=self.clock,
                secure=self._secure,
                on_round_failed=functools.partial(self.servers.failed, servers))
            registration.on_change = functools.partial(self._changed, registration)
            if target.literal_addresses is None:
                registration.use(self.servers.addresses(servers), self.servers.error(servers))
            self.running[name] = registration
            self.sip.start_registration(registration)

    # -- addresses and TLS --------------------------------------------------------------------

    def _moved(self, key: Key) -> None:
        """A server's addresses (or why it has none) changed: pin, and tell registrations."""
        self._pin()
        for registration in self.running.values():
            servers = registration.target.servers
            if key in {key_of(s) for s in servers}:
                registration.use(self.servers.addresses(servers), self.servers.error(servers))

    def _pin(self) -> None:
        """Every TLS address of every connection pinned to its server's name."""
        self.sip.transport.pin({
            a.peer: (a.tls_name, self.tls) for c in self.connections
            for a in self.servers.addresses(c.servers) if a.transport == "tls"})

    def _secure(self, address: Address, done: Callable[[str | None], None]) -> None:
        """Open the checked TLS stream to ``address``, then ``done(why not)``."""
        async def opening() -> None:
            try:
                why = await self.sip.transport.open(address.peer)
            except Exception:
                log.exception("trunks: opening TLS to %s failed", address)
                why = "TLS connection failed"
            done(why)
        task = asyncio.get_running_loop().create_task(opening())
        self._opening.add(task)
        task.add_done_callback(self._opening.discard)

    async def _end(self, name: str) -> None:
        """Stop the registration of ``name`` and wait (bounded) for its un-REGISTER, so that
        it cannot arrive after a new REGISTER of the same contact."""
        registration = self.running.pop(name)
        done = self.sip.stop_registration(registration)
        try:
            await asyncio.wait_for(asyncio.shield(done), RESTART_WAIT)
        except TimeoutError:
            log.info("trunk %s: un-REGISTER still under way; going on", name)

    def _changed(self, registration: TrunkRegistration, status: RegistrationStatus) -> None:
        """A registration's status changed (one replaced or removed no longer counts)."""
        if self.running.get(status.name) is registration:
            self._publish(status.name, published(status))

    # -- publishing ---------------------------------------------------------------------------

    def _publish(self, name: str, status: ConnectionStatus | None) -> None:
        self._pending[name] = status
        self._wake.set()

    async def _writer(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(WRITE_LINGER)
            if not await self._flush():
                await asyncio.sleep(RETRY_WRITE)
                self._wake.set()

    async def _flush(self) -> bool:
        """Write the pending statuses; False (and kept for later) when that failed."""
        self._wake.clear()
        batch, self._pending = self._pending, {}
        if not batch:
            return True
        try:
            await self.workers.run(trunk_status.write, self.store, batch,
                                   datetime.now(UTC))
        except Exception:
            log.exception("trunks: writing %d statuses failed; trying again", len(batch))
            self._pending = {**batch, **self._pending}
            return False
        return True
