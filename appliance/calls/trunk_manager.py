"""Trunk registrations kept in step with the store: one ``TrunkRegistration`` per
register-based connection, started with the SIP part, restarted when the connection changes
(a ``connection.updated`` that changes what it registers with), stopped (un-REGISTER) when it
is removed or becomes an ``ip`` connection. A connection the engine cannot serve yet (a
server given by name, TLS) gets the status ``unsupported`` with why, never silence.

Each status change is published in the store (``directory/trunk_status.py``) by one writer
that lingers a moment and writes the latest status of each connection in one transaction,
so the CLI and the web page (other processes) can show it. Events only wake a task: the
event bus never waits on an un-REGISTER.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from appliance.callplan.model import Connection
from appliance.calls.registration import (
    RegistrationStatus,
    Server,
    TrunkRegistration,
    TrunkTarget,
)
from appliance.directory import trunk_status
from appliance.directory.office import CallPlanDirectory
from appliance.directory.trunk_status import ConnectionStatus
from appliance.errors import ConfigError
from appliance.events import Event
from appliance.sip.transaction import TransactionLayer
from appliance.store import Store
from appliance.workers import Workers

log = logging.getLogger(__name__)

WRITE_LINGER = 0.2  # seconds a status waits so that changes in a burst share one write
RETRY_WRITE = 5.0  # seconds before a failed status write is tried again
RESTART_WAIT = 5.0  # how long a restart waits for the old registration's un-REGISTER
UNSUPPORTED = "unsupported"


class SipPart(Protocol):
    """What the manager needs of the SIP part (``routing/service.py``)."""

    layer: TransactionLayer

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
    """What a register connection registers with, or why the engine cannot serve it yet
    (text starting ``not supported yet:``)."""
    for server in conn.servers:
        if server.transport == "tls":
            return ("not supported yet: TLS (the provider's certificate check is not "
                    "written); use udp or tcp")
        try:
            ipaddress.ip_address(server.host)
        except ValueError:
            return (f"not supported yet: server {server.host!r} is a name (names are not "
                    "resolved yet); give its IP address")
    if not conn.servers or not conn.username or not conn.password:
        return "not supported yet: a register connection needs servers, username, password"
    try:
        return TrunkTarget(
            conn.name, tuple(Server(s.host, s.port, s.transport) for s in conn.servers),
            conn.username, conn.password, conn.domain or conn.servers[0].host,
            conn.auth_username or "", conn.expires)
    except ConfigError as exc:
        return f"not supported yet: {exc}"


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
                 clock: Callable[[], float] = time.time) -> None:
        """Registrations on ``sip``'s sockets; the store read and written on ``workers``."""
        self.sip = sip
        self.store = store
        self.workers = workers
        self.clock = clock
        self.directory = CallPlanDirectory(store, actor="sip")
        self.running: dict[str, TrunkRegistration] = {}
        self.unsupported: dict[str, str] = {}  # connection name -> why
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
        await self._flush()

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
        wanted: dict[str, TrunkTarget | str] = {
            c.name: target_of(c) for c in connections if c.kind == "register"}
        for name in [n for n in (*self.running, *self.unsupported) if n not in wanted]:
            if name in self.running:
                await self._end(name)
                log.info("trunk %s: no longer a register connection; un-registered", name)
            self.unsupported.pop(name, None)
            self._publish(name, None)
        for name, target in wanted.items():
            current = self.running.get(name)
            if (current is not None and current.target == target) \
                    or self.unsupported.get(name) == target:
                continue
            if current is not None:
                await self._end(name)
            self.unsupported.pop(name, None)
            if isinstance(target, str):
                log.warning("trunk %s: %s", name, target)
                self.unsupported[name] = target
                self._publish(name, published(RegistrationStatus(
                    name, UNSUPPORTED, None, target, self.clock(), None, None)))
                continue
            registration = TrunkRegistration(self.sip.layer, target, self.sip.sent_by,
                                             clock=self.clock)
            registration.on_change = functools.partial(self._changed, registration)
            self.running[name] = registration
            self.sip.start_registration(registration)

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
