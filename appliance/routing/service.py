"""The SIP part of the daemon: transport, transactions and the routing policy, wired.

Each message goes: guard (size, ban, flood) -> parse (malformed: 400, or dropped if it cannot
be answered) -> guard (scanner, Request-URI length) -> transaction layer -> router. Bindings
are written to the store in group commits before a REGISTER is answered (a failed write is
answered 500 and undone in memory), loaded at start, and dropped when an
``extension.freed`` / ``employee.dismissed`` event arrives. Bans are published to the store
as they start and restored at start; a ``sip.unban`` event lifts one. Retired credentials
are reloaded per extension on ``extension.*`` events. Register connections are registered
with their providers (``calls/trunk_manager.py``), in step with ``connection.*`` events.
Phones' message lamps (``routing/mwi.py``) follow ``voicemail.changed`` events.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ipaddress
import logging
import secrets
import socket
import ssl
from collections.abc import Callable
from typing import Any, Protocol

from appliance.calls.b2bua import B2BUA
from appliance.calls.callbacks import Callbacks
from appliance.calls.features import FeatureCodes, StorePresence
from appliance.calls.history_writer import CallLog
from appliance.calls.plans import CHANGES, PlanCache
from appliance.calls.trunk_manager import TrunkManager
from appliance.config import Listen
from appliance.directory import Directory, call_history
from appliance.directory.voicemail import CHANGED_EVENT, VoicemailDirectory
from appliance.errors import SipParseError
from appliance.events import Event
from appliance.routing import bans, bindings
from appliance.routing.changes import DirectoryChanges
from appliance.routing.extensions import ExtensionCache
from appliance.routing.guard import Ban, Guard
from appliance.routing.media_wiring import wire_media
from appliance.routing.mwi import MessageWaiting, StoreCounts
from appliance.routing.registrar import Change, Registrar
from appliance.routing.retired import RetiredCache
from appliance.routing.router import Router
from appliance.service import ServiceContext
from appliance.sip.auth import DigestAuth
from appliance.sip.message import (
    Request,
    Response,
    SipUri,
    Via,
    make_request,
    parse,
    salvage,
)
from appliance.sip.transaction import (
    ClientTransaction,
    Message,
    Peer,
    TransactionLayer,
    top_via,
)
from appliance.sip.transport import Transport
from appliance.workers import Workers

log = logging.getLogger(__name__)

SWEEP_SECONDS = 30.0
RELOAD_SECONDS = 300.0
GROUP_COMMIT_WINDOW = 0.01
# REGISTERs waiting for their binding write, at most; more are answered 503 (a few hundred
# wait at 3,000 a second: the cap only bites when the store falls behind).
MAX_PENDING_WRITES = 1024
UNREGISTER_WAIT = 2.0  # at shutdown, how long trunk un-REGISTERs may take


class Registration(Protocol):
    """A client of the SIP part's sockets, such as a trunk registration (``calls/``)."""

    def start(self) -> object:
        """Begin (send the first request)."""
        ...

    def stop(self, then: Callable[[], None] | None = None) -> None:
        """Wind down (un-register), then call ``then``."""
        ...


class LoopTimers:
    """Transaction timers on the running event loop; a failing callback is logged, not fatal."""

    def call_later(self, delay: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        """Run ``callback`` after ``delay`` seconds."""
        return asyncio.get_running_loop().call_later(delay, _safe, callback)


def _safe(callback: Callable[[], None]) -> None:
    """A timer's callback; a failure is logged (no closure per timer: there are thousands)."""
    try:
        callback()
    except Exception:
        log.exception("sip timer failed")


class _Notified:
    """The client user of a check-sync NOTIFY: completes a future with the outcome."""

    def __init__(self, future: asyncio.Future[None]) -> None:
        self.future = future

    def on_response(self, txn: ClientTransaction, response: Response) -> None:
        if response.status >= 200 and not self.future.done():
            self.future.set_result(None)

    def on_timeout(self, txn: ClientTransaction) -> None:
        if not self.future.done():
            self.future.set_exception(TimeoutError("no answer to NOTIFY"))


class SipService:
    """The registrar and proxy of the box.

    ``send_notify(host, port, event)`` (or ``send_notify(host, port, user, event)``) sends an
    out-of-dialog NOTIFY such as ``Event: check-sync`` to a phone over UDP, retransmitted until
    answered. From the event loop it returns an asyncio future to await (it finishes when the
    phone answers and raises TimeoutError after 32 s); from another thread it is scheduled on
    the loop and returns a ``concurrent.futures.Future`` at once.
    """

    def __init__(self, ctx: ServiceContext) -> None:
        """Build every layer from ``ctx.config.sip``; nothing is bound until ``start``."""
        self.ctx = ctx
        self.cfg = cfg = ctx.config.sip
        self.store = ctx.store
        self.cache = ExtensionCache(Directory(ctx.store, actor="sip"))
        self.registrar = Registrar(cfg)
        self.guard = Guard(cfg, on_ban=self._publish_ban)
        self.retired = RetiredCache(ctx.store, cfg.effective_realm, cfg.retired_grace)
        self.auth = DigestAuth(cfg.effective_realm, lifetime=cfg.nonce_lifetime,
                               algorithms=cfg.digest_algorithms)
        self.transport = Transport(self.on_data, keep=self.registrar.has_flow, idle=cfg.tcp_idle,
                                   per_source=cfg.tcp_per_source)
        self.router = Router(registrar=self.registrar, auth=self.auth, guard=self.guard,
                             extensions=self.cache, locals_=self, send=self.send,
                             persist=self.persist, md5_only_agents=cfg.md5_only_agents,
                             retired_of=self.retired, too_long=bindings.too_long,
                             overloaded=self.overloaded)
        self.layer = TransactionLayer(self.send, LoopTimers(), self.router,
                                      send_bytes=self.transport.send)
        self.router.layer = self.layer
        self.router.ring_timeout = cfg.ring_timeout
        # The SIP part's store work (binding writes first) on threads of its own, never queued
        # behind a boot storm's renders or a sweep in asyncio's shared pool.
        self.workers = Workers("sip-store", 2)
        # Calls to and from the office's connections: the B2BUA over the same layer, with
        # the call plan kept loaded from the store.
        self.plans = PlanCache(ctx.store, self.workers)
        self.b2bua = B2BUA(routing=self.plans, extensions=self.cache, contacts=self.registrar,
                           locals_=self, registry=self.router.registry,
                           ring_timeout=cfg.ring_timeout)
        self.b2bua.layer = self.layer
        self.media_workers = wire_media(self.b2bua, ctx)
        self.b2bua.features = FeatureCodes(StorePresence(ctx.store, self.workers))
        self.callbacks = Callbacks(ctx.store, self.workers, self.b2bua)
        self.router.outside = self.b2bua
        # Every call into the history, the live ones published (calls/history_writer.py).
        self.call_log = CallLog(ctx.store, self.router.control, self.cache)
        # A registration per register connection in the store, kept in step by its events.
        self.trunks = TrunkManager(self, ctx.store, self.workers)
        self.b2bua.addresses = self.trunks.resolved
        self.b2bua.servers_failed = lambda conn: self.trunks.servers.failed(conn.servers)
        # Message lamps (RFC 3842): subscriptions and unsolicited NOTIFYs, the counts read on
        # the SIP part's store threads.
        counts = StoreCounts(VoicemailDirectory(ctx.store, actor="sip"), self.workers)
        self.mwi = MessageWaiting(locals_=self, bindings=self.registrar, extensions=self.cache,
                                  read_counts=counts, domain=cfg.domain)
        self.mwi.layer = self.layer
        self.router.mwi = self.mwi
        self.changes = DirectoryChanges(store=ctx.store, cache=self.cache,
                                        registrar=self.registrar, control=self.router.control,
                                        persist=self.persist, key=lambda: self.router.signer.key,
                                        workers=self.workers)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._queue: list[tuple[list[Change], Callable[[bool], None]]] = []
        self._writing = 0  # REGISTERs in the batch being written now
        self._unwritten: list[Change] = []  # deletions a failed write left in the store
        self._background: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._toward: dict[str, str] = {}
        self._registrations: set[Registration] = set()

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> dict[str, Listen]:
        """Load extensions and bindings, bind the sockets, start the background tasks."""
        self.loop = asyncio.get_running_loop()
        await self.workers.run(self.cache.reload)
        self.router.signer.key = await self.workers.run(bindings.box_key, self.store)
        await self.workers.run(self.retired.reload)
        await self.plans.reload()
        self.guard.restore(await self.workers.run(bans.load, self.store))
        await self._reload_desk_hosts()
        stored = await self.workers.run(bindings.load_all, self.store)
        self.registrar.load(stored)
        live = {(b.aor, b.contact) for b in self.registrar.all()}
        expired = [Change(b, delete=True) for b in stored if (b.aor, b.contact) not in live]
        await self.workers.run(bindings.apply, self.store, expired)
        cfg = self.cfg
        context = None
        if cfg.tls_listen is not None and cfg.tls_cert and cfg.tls_key:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cfg.tls_cert, cfg.tls_key)
        bound = await self.transport.start(cfg.listen, cfg.tcp_listen, cfg.tls_listen, context)
        for prefix in ("extension.", "employee."):
            self.ctx.bus.subscribe(prefix, self.on_event)
        self.ctx.bus.subscribe("phone.", lambda _event: self._reload_desk_hosts())
        self.ctx.bus.subscribe("phone.disabled", self.on_event)
        self.ctx.bus.subscribe("extension.", self._on_credentials)
        self.ctx.bus.subscribe(bans.UNBAN_EVENT, self._on_unban)
        for prefix in (CHANGED_EVENT, "extension.", "employee."):  # after the cache's refresh
            self.ctx.bus.subscribe(prefix, self.mwi.on_event)
        for prefix in CHANGES:
            self.ctx.bus.subscribe(prefix, self.plans.on_event)
        await self.trunks.start()
        self.ctx.bus.subscribe("connection.", self.trunks.on_event)
        await self.call_log.start()
        await self.callbacks.start()
        self.ctx.bus.subscribe(call_history.HANGUP_EVENT, self.call_log.on_hangup)
        self._tasks = [asyncio.create_task(self._writer(), name="sip-bindings"),
                       asyncio.create_task(self._housekeeping(), name="sip-housekeeping")]
        log.info("sip: realm %r, %d extensions, %d bindings restored", self.auth.realm,
                 len(self.cache.numbers), len(self.registrar.all()))
        return {f"sip_{name}": listen for name, listen in bound.items()}

    async def stop(self) -> None:
        """Un-register trunks (for up to UNREGISTER_WAIT s), write pending bindings, close
        the sockets."""
        await self.trunks.stop()
        await self.callbacks.stop()
        if self.media_workers is not None:
            self.media_workers.close()
        if self._registrations:
            await asyncio.wait([self.stop_registration(r) for r in list(self._registrations)],
                               timeout=UNREGISTER_WAIT)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._flush()
        await self.call_log.stop()
        await self.transport.stop()
        self.workers.close()

    # -- the pipeline -------------------------------------------------------------------------

    def on_data(self, data: bytes, peer: Peer) -> None:
        """One datagram or stream message from ``peer``: never raises."""
        try:
            self._receive(data, peer)
        except Exception:
            log.exception("sip: unexpected error on a message from %s", peer.host)

    def _receive(self, data: bytes, peer: Peer) -> None:
        if not self.guard.admit(data, peer.host):
            return
        try:
            message = parse(data, datagram=peer.transport == "udp")
        except SipParseError as exc:
            request = salvage(data)
            if request is not None:
                status = 505 if "version" in str(exc) else 400
                log.debug("sip: %d to %s: %s", status, peer.host, exc)
                self.router.answer_stateless(request, status, peer)
            return
        if isinstance(message, Request):
            verdict = self.guard.screen(message)
            if verdict == 0:
                return
            if verdict is not None:
                self.router.answer_stateless(message, verdict, peer)
                return
            _mark_received(message, peer)
        self.layer.receive(message, peer)

    def send(self, message: Message, peer: Peer) -> None:
        """Serialise and send ``message`` to ``peer``."""
        try:
            data = message.to_bytes()
        except ValueError:
            log.warning("sip: unsendable message dropped")
            return
        self.transport.send(data, peer)

    # -- Locals (for the router) --------------------------------------------------------------

    def sent_by(self, transport: str, toward: str) -> tuple[str, int]:
        """Our address on ``transport`` as seen from ``toward`` (wildcard binds resolved)."""
        listen = self.transport.bound.get(transport) or self.transport.bound["udp"]
        host = listen.host
        if host in ("0.0.0.0", "::"):  # noqa: S104 (comparing, not binding)
            host = self._toward.get(toward) or self._local_toward(toward)
        return host, listen.port

    def _local_toward(self, toward: str) -> str:
        family = socket.AF_INET6 if ":" in toward else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as probe:
                probe.connect((toward, 9))  # no packet is sent: this only picks a route
                local = str(probe.getsockname()[0])
        except OSError:
            local = "127.0.0.1"
        if len(self._toward) < 4096:
            self._toward[toward] = local
        return local

    def is_ours(self, uri: SipUri) -> bool:
        """Whether ``uri`` names this box: our domain, or one of our addresses and ports."""
        host = uri.host.lower()
        ports = {listen.port for listen in self.transport.bound.values()}
        if self.cfg.domain and host == self.cfg.domain:
            return uri.port is None or uri.port in ports
        port = uri.port or (5061 if uri.scheme == "sips" else 5060)
        if port not in ports:
            return False
        hosts = {listen.host for listen in self.transport.bound.values()}
        if host in hosts:
            return True
        wildcard = bool(hosts & {"0.0.0.0", "::"})  # noqa: S104 (comparing, not binding)
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return wildcard and (address.is_loopback or host in self._toward.values())

    def has(self, transport: str) -> bool:
        """Whether we listen on ``transport``."""
        return transport in self.transport.bound

    # -- bindings: group commit, expiry, events -----------------------------------------------

    def persist(self, changes: list[Change], then: Callable[[bool], None]) -> None:
        """Write ``changes`` (batched with other REGISTERs), then call ``then`` with whether
        the write succeeded."""
        if not changes:
            then(True)
            return
        self._queue.append((changes, then))
        self._wake.set()

    def overloaded(self) -> bool:
        """True when MAX_PENDING_WRITES REGISTERs already wait for the store."""
        return len(self._queue) + self._writing >= MAX_PENDING_WRITES

    async def _writer(self) -> None:
        while True:
            await self._wake.wait()
            # Linger a moment so that a burst of REGISTERs shares one transaction: a write
            # takes about as much CPU time, under the GIL, for one row as for twenty.
            await asyncio.sleep(GROUP_COMMIT_WINDOW)
            await self._flush()

    async def _flush(self) -> None:
        self._wake.clear()
        batch, self._queue = self._queue, []
        if not batch:
            return
        self._writing = len(batch)
        try:
            await self.workers.run(bindings.apply, self.store,
                                    [c for changes, _ in batch for c in changes])
            outcomes = [True] * len(batch)
        except Exception:
            log.exception("sip: writing %d binding changes failed", len(batch))
            # One bad row must not fail the others: each is tried again on its own.
            outcomes = [await self._write_alone(changes) for changes, _ in batch] \
                if len(batch) > 1 else [False]
        self._writing = 0
        for (changes, then), ok in zip(batch, outcomes, strict=True):
            if not ok and all(c.delete for c in changes):
                self._unwritten.extend(changes)  # retried by the housekeeping sweep
            try:
                then(ok)
            except Exception:
                log.exception("sip: answering after a binding write failed")

    async def _write_alone(self, changes: list[Change]) -> bool:
        try:
            await self.workers.run(bindings.apply, self.store, changes)
        except Exception:
            return False
        return True

    async def _housekeeping(self) -> None:
        elapsed = 0.0
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            retry, self._unwritten = self._unwritten, []
            self.persist(self.registrar.expire() + retry, lambda ok: None)
            await self.workers.run(self._sweep_store)
            elapsed += SWEEP_SECONDS
            await self._reload_desk_hosts()  # phones change address with DHCP, no event
            if elapsed >= RELOAD_SECONDS:
                elapsed = 0.0
                await self.workers.run(self.cache.reload)

    async def _reload_desk_hosts(self) -> None:
        """Refresh the addresses of assigned desk phones from the inventory."""
        self.registrar.desk_hosts = await self.workers.run(bindings.desk_hosts, self.store)

    async def on_event(self, event: Event) -> None:
        """Keep the extension cache fresh; drop the bindings and end the calls a directory
        change invalidates (``routing/changes.py``)."""
        await self.changes.on_event(event)

    # -- the guard's bans and retired credentials ---------------------------------------------

    def _publish_ban(self, ban: Ban) -> None:
        """Write a new ban to the store (for ``appliance sip bans`` and the web page)."""
        task = asyncio.get_running_loop().create_task(self._save_ban(ban))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _save_ban(self, ban: Ban) -> None:
        try:
            await self.workers.run(bans.save, self.store, ban)
        except Exception:
            log.exception("sip: publishing the ban of %s failed", ban.source)

    def _on_unban(self, event: Event) -> None:
        """``sip.unban``: an admin lifted a ban (CLI or web page)."""
        address = event.payload.get("address")
        if isinstance(address, str) and self.guard.lift(address):
            log.info("sip: ban on %s lifted", address)

    async def _on_credentials(self, event: Event) -> None:
        """Reload the retired credentials of the extension an event names."""
        payload = event.payload
        number = payload.get("number") or payload.get("target")
        if isinstance(number, str) and number.isdigit():
            await self.workers.run(self.retired.refresh, number)

    def _sweep_store(self) -> None:
        """Forget ended bans and credentials past the grace period."""
        try:
            bans.sweep(self.store)
            self.retired.sweep()
        except Exception:
            log.exception("sip: sweeping bans and retired credentials failed")

    # -- trunk registrations (appliance/calls/registration.py) ------------------------------

    def start_registration(self, registration: Registration) -> None:
        """Start ``registration`` on our sockets and transaction layer (on the loop, after
        ``start``); the SIP part un-registers it when it stops."""
        self._registrations.add(registration)
        registration.start()

    def stop_registration(self, registration: Registration) -> asyncio.Future[None]:
        """Stop ``registration`` (it un-registers); the future ends when it has."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._registrations.discard(registration)

        def done() -> None:
            if not future.done():
                future.set_result(None)
        registration.stop(done)
        return future

    # -- check-sync NOTIFY --------------------------------------------------------------------

    def send_notify(self, host: str, port: int, *fields: str) -> Any:
        """Send ``NOTIFY`` with ``Event: <event>`` to ``host:port``; see the class docstring."""
        if len(fields) not in (1, 2):
            raise TypeError("send_notify(host, port, event) or (host, port, user, event)")
        user, event = (fields[0], fields[1]) if len(fields) == 2 else ("", fields[0])
        assert self.loop is not None
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            return self._notify(host, port, user, event)
        result: concurrent.futures.Future[None] = concurrent.futures.Future()

        def start() -> None:
            future = self._notify(host, port, user, event)
            future.add_done_callback(lambda f: _settle(f, result))
        self.loop.call_soon_threadsafe(start)
        return result

    def _notify(self, host: str, port: int, user: str, event: str) -> asyncio.Future[None]:
        assert self.loop is not None
        future: asyncio.Future[None] = self.loop.create_future()
        peer = Peer("udp", host, port)
        local, local_port = self.sent_by("udp", host)
        target = f"{_bracket(host)}:{port}"
        uri = f"sip:{user}@{target}" if user else f"sip:{target}"
        me = f"{_bracket(local)}:{local_port}"
        request = make_request(
            "NOTIFY", uri, via=f"SIP/2.0/UDP {me};branch=z9hG4bK-{secrets.token_hex(10)};rport",
            from_=f"<sip:provisioning@{me}>;tag={secrets.token_hex(6)}", to=f"<{uri}>",
            call_id=f"{secrets.token_hex(12)}@{_bracket(local)}", cseq=1,
            contact=f"<sip:provisioning@{me}>",
            headers=[("Event", event), ("Subscription-State", "terminated")])
        self.layer.client(request, peer, _Notified(future))
        return future


def _settle(done: asyncio.Future[None], result: concurrent.futures.Future[None]) -> None:
    error = done.exception()
    if error is None:
        result.set_result(None)
    else:
        result.set_exception(error)


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _mark_received(request: Request, peer: Peer) -> None:
    """RFC 3261 §18.2.1 and RFC 3581: note the real source in the top Via."""
    via = top_via(request)
    params = dict(via.params)
    if via.host != peer.host:
        params["received"] = peer.host
    if "rport" in params and params["rport"] is None:
        params["rport"] = str(peer.port)
    if params != via.params:
        marked = Via(via.transport, via.host, via.port, params, via.protocol)
        request.headers.replace_first("via", str(marked))
        request.headers.parsed["top-via"] = marked  # what the new value parses to


def create(ctx: ServiceContext) -> SipService:
    """The SIP part for ``ctx``."""
    return SipService(ctx)
