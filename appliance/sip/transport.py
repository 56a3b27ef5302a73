"""SIP over UDP, TCP and TLS on asyncio: receive bytes, hand them on, send what comes back.

Thin by design: each datagram, or each message the ``StreamFramer`` cuts from a stream, goes
to ``on_message(data, peer)``; ``send(data, peer)`` writes to the peer's open stream (or
opens one) or sends a datagram. Streams are closed on a framing error, when idle for
``idle`` seconds (unless ``keep(peer)`` says a registration uses them), or when a partial
message stalls for ``slow`` seconds. A double-CRLF keep-alive is answered with a CRLF, but
counts as activity only on a stream that carries a registration (RFC 5626 §4.4.1: it keeps
a flow alive, not a connection that nobody uses). At most MAX_STREAMS streams in all and
``per_source`` from one address, so one host cannot take every slot.

TLS streams the box opens: to a peer given to ``pin`` (a connection's provider) only after
its certificate verified with that peer's context and names the pinned name (the hostname
check; for an IP, its IP address SAN), and such a stream stays open while the pin holds;
``open`` says why one could not be opened ("certificate not trusted: ..."), so nothing is
ever sent over an unchecked stream to such a peer. To anyone else (phones, whose
certificates are self-signed) without verification: the flow, not the name, is trusted.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any

from appliance.config import Listen
from appliance.sip.framing import KEEPALIVE, FramingError, StreamFramer
from appliance.sip.message import MAX_MESSAGE
from appliance.sip.transaction import Peer

log = logging.getLogger(__name__)

OnMessage = Callable[[bytes, Peer], None]
MAX_STREAMS = 4096
READ_BATCH = 64
MAX_BACKLOG = 4096
RECEIVE_BUFFER = 4 * 1024 * 1024
CONNECT_TIMEOUT = 5.0
# Linux values (<linux/in.h>, <linux/in6.h>); Python's socket module does not export them.
IP_MULTICAST_ALL = getattr(socket, "IP_MULTICAST_ALL", 49)
IPV6_MULTICAST_ALL = getattr(socket, "IPV6_MULTICAST_ALL", 29)


class _Datagrams:
    """A UDP socket read in batches: one wake-up of the loop drains up to READ_BATCH datagrams
    (asyncio's datagram transport reads one per wake-up, which costs a loop turn each)."""

    def __init__(self, sock: socket.socket, on_message: OnMessage) -> None:
        self.sock = sock
        self.on_message = on_message
        self.backlog: collections.deque[tuple[bytes, tuple[str, int]]] = collections.deque()
        self.loop = asyncio.get_running_loop()
        self.loop.add_reader(sock.fileno(), self._read_ready)

    def _read_ready(self) -> None:
        recvfrom, deliver = self.sock.recvfrom, self.on_message
        for _ in range(READ_BATCH):
            try:
                # One octet over the limit: a longer datagram arrives cut, and the guard
                # refuses it as too large.
                data, addr = recvfrom(MAX_MESSAGE + 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # an ICMP error for an earlier send, reported here
                log.debug("sip udp: %s", exc)
                continue
            deliver(data, Peer("udp", str(addr[0]), int(addr[1])))

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        """Send now, or queue while the socket's send buffer is full (bounded)."""
        if not self.backlog:
            try:
                self.sock.sendto(data, addr)
                return
            except (BlockingIOError, InterruptedError):
                self.loop.add_writer(self.sock.fileno(), self._write_ready)
            except OSError as exc:
                log.debug("sip udp: sending to %s: %s", addr[0], exc)
                return
        if len(self.backlog) < MAX_BACKLOG:
            self.backlog.append((data, addr))

    def _write_ready(self) -> None:
        while self.backlog:
            data, addr = self.backlog[0]
            try:
                self.sock.sendto(data, addr)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.debug("sip udp: sending to %s: %s", addr[0], exc)
            self.backlog.popleft()
        self.loop.remove_writer(self.sock.fileno())

    def close(self) -> None:
        """Stop reading and close the socket."""
        self.loop.remove_reader(self.sock.fileno())
        self.loop.remove_writer(self.sock.fileno())
        self.sock.close()


def _share_port_with_multicast(sock: socket.socket, family: int) -> None:
    """Let the SIP PnP responder's socket (bound to 224.0.1.75:5060) share the port, and
    keep the groups' datagrams away from this one.

    On Linux a wildcard bind and a group bind of one port coexist only when both set
    SO_REUSEADDR; a wildcard socket then also receives every group any socket of the host
    joined, unless IP_MULTICAST_ALL (IPV6_MULTICAST_ALL) is off: with it off, only groups
    this socket joined itself (none) reach it.
    """
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    with contextlib.suppress(OSError):  # not Linux: the options do not exist
        sock.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)  # also a dual-stack v6 socket
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_MULTICAST_ALL, 0)


def _refuse_taken(family: int, address: tuple[Any, ...]) -> None:
    """Raise EADDRINUSE when any socket holds the port: SO_REUSEADDR alone would let this
    socket share it with another program (or a second daemon) that also set the option."""
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.bind(address)


def _udp_socket(listen: Listen) -> socket.socket:
    """A bound non-blocking UDP socket with a receive buffer for bursts of REGISTERs."""
    family, kind, proto, _, address = socket.getaddrinfo(
        listen.host, listen.port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        # The kernel caps this at net.core.rmem_max; the default (~200 KiB) holds only a
        # few hundred datagrams, which a boot storm fills in a fraction of a second.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        if family == socket.AF_INET6:  # "[::]" takes IPv4 too, whatever bindv6only says
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        _share_port_with_multicast(sock, family)
        sock.setblocking(False)
        if listen.port:
            _refuse_taken(family, address)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


class _Stream(asyncio.Protocol):
    """One TCP or TLS connection."""

    def __init__(self, owner: Transport, transport_name: str) -> None:
        self.owner = owner
        self.name = transport_name
        self.framer = StreamFramer()
        self.transport: asyncio.Transport | None = None
        self.peer: Peer | None = None
        self.last = time.monotonic()
        self.partial_since: float | None = None
        self.checker: asyncio.TimerHandle | None = None
        self.counted = False  # holds one of the owner's stream slots
        self.verified: str | None = None  # the name the server's certificate was checked for

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        host, port = transport.get_extra_info("peername")[:2]
        self.peer = Peer(self.name, str(host), int(port))
        if not self.owner.take_slot(self.peer.host):
            transport.abort()
            return
        self.counted = True
        self.owner.streams[self.peer] = self
        self._schedule()

    def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        self.checker = loop.call_later(min(self.owner.slow, self.owner.idle) / 2, self._check)

    def _check(self) -> None:
        now = time.monotonic()
        assert self.transport is not None and self.peer is not None
        stalled = self.partial_since is not None and now - self.partial_since > self.owner.slow
        idle = now - self.last > self.owner.idle and not self.owner.keep(self.peer) \
            and not self.owner.pinned_to(self.peer, self.verified)
        if stalled or idle:
            log.debug("sip %s: closing %s stream from %s", self.name,
                      "stalled" if stalled else "idle", self.peer.host)
            self.transport.close()
            return
        self._schedule()

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None and self.peer is not None
        now = time.monotonic()
        try:
            messages = self.framer.feed(data)
        except FramingError as exc:
            log.debug("sip %s: %s from %s; closing", self.name, exc, self.peer.host)
            self.transport.close()
            return
        self.partial_since = None if not self.framer.pending else (self.partial_since or now)
        if self.framer.pending or any(m != KEEPALIVE for m in messages) \
                or self.owner.keep(self.peer):
            self.last = now
        for message in messages:
            if message == KEEPALIVE:
                self.transport.write(b"\r\n")
            else:
                self.owner.on_message(message, self.peer)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.checker is not None:
            self.checker.cancel()
        if self.peer is not None and self.owner.streams.get(self.peer) is self:
            del self.owner.streams[self.peer]
        if self.counted and self.peer is not None:
            self.counted = False
            self.owner.free_slot(self.peer.host)


class Transport:
    """The SIP sockets of the box."""

    def __init__(self, on_message: OnMessage, *, keep: Callable[[Peer], bool] = lambda p: False,
                 idle: float = 900.0, slow: float = 10.0, per_source: int = 32) -> None:
        """Deliver to ``on_message``; ``keep(peer)`` pins a stream open while it is idle;
        at most ``per_source`` streams per address."""
        self.on_message = on_message
        self.keep = keep
        self.idle = idle
        self.slow = slow
        self.per_source = per_source
        self.streams: dict[Peer, _Stream] = {}
        self.per_host: dict[str, int] = {}
        self.slots = 0  # streams open in all
        self.bound: dict[str, Listen] = {}
        self._udp: _Datagrams | None = None
        self._servers: list[asyncio.Server] = []
        self._client_tls: ssl.SSLContext | None = None
        self._pending: dict[Peer, list[bytes]] = {}
        self._pinned: dict[Peer, tuple[str, ssl.SSLContext]] = {}
        self._connecting: dict[Peer, asyncio.Future[str | None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def take_slot(self, host: str) -> bool:
        """Count a new stream from ``host``; False (nothing counted) when a cap is reached."""
        held = self.per_host.get(host, 0)
        if self.slots >= MAX_STREAMS or held >= self.per_source:
            log.debug("sip: stream from %s refused (%d open from it, %d in all)", host, held,
                      self.slots)
            return False
        self.per_host[host] = held + 1
        self.slots += 1
        return True

    def free_slot(self, host: str) -> None:
        """A stream from ``host`` ended."""
        self.slots -= 1
        held = self.per_host.get(host, 0) - 1
        if held > 0:
            self.per_host[host] = held
        else:
            self.per_host.pop(host, None)

    async def start(self, udp: Listen, tcp: Listen | None, tls: Listen | None = None,
                    tls_context: ssl.SSLContext | None = None) -> dict[str, Listen]:
        """Bind every configured socket; return the bound addresses by transport."""
        loop = asyncio.get_running_loop()
        self._udp = _Datagrams(_udp_socket(udp), self.on_message)
        self.bound["udp"] = _bound(self._udp.sock.getsockname())
        for name, listen, context in (("tcp", tcp, None), ("tls", tls, tls_context)):
            if listen is None:
                continue
            server = await loop.create_server(lambda n=name: _Stream(self, n),
                                              listen.host, listen.port, ssl=context,
                                              reuse_address=True)
            self._servers.append(server)
            self.bound[name] = _bound(server.sockets[0].getsockname())
        if tls is not None:
            # Phones present self-signed certificates; the flow, not the name, is trusted.
            self._client_tls = ssl.create_default_context()
            self._client_tls.check_hostname = False
            self._client_tls.verify_mode = ssl.CERT_NONE
        return dict(self.bound)

    def pin(self, peers: Mapping[Peer, tuple[str, ssl.SSLContext]]) -> None:
        """From now on a TLS stream to each of ``peers`` is opened only when its certificate
        verifies with the peer's context and names the peer's name; replaces the previous
        pins. A stream open to such a peer without that check is closed."""
        self._pinned = dict(peers)
        for peer in self._pinned:
            self._usable(peer)

    def pinned_to(self, peer: Peer, name: str | None) -> bool:
        """Whether ``peer`` is pinned to ``name``."""
        pinned = self._pinned.get(peer)
        return pinned is not None and name is not None and pinned[0] == name

    async def open(self, peer: Peer) -> str | None:
        """Have a stream to ``peer`` open (nothing sent on it): None when it is, else why
        not, e.g. "certificate not trusted: ..." for a pinned peer whose check failed."""
        if peer.transport == "udp" or self._usable(peer) is not None:
            return None
        if not self._may_connect(peer):
            return f"no {peer.transport.upper()} here"
        future = self._connecting.get(peer) or self._start_connect(peer)
        return await asyncio.shield(future)

    def send(self, data: bytes, peer: Peer) -> None:
        """Send to ``peer``: a datagram, or over its stream (opened on demand)."""
        if peer.transport == "udp":
            if self._udp is not None:
                self._udp.sendto(data, (peer.host, peer.port))
            return
        stream = self._usable(peer)
        if stream is not None and stream.transport is not None:
            stream.transport.write(data)
            return
        queued = self._pending.get(peer)
        if queued is not None:
            queued.append(data)
            return
        if not self._may_connect(peer):
            return
        self._pending[peer] = [data]
        if peer not in self._connecting:
            self._start_connect(peer)

    def _usable(self, peer: Peer) -> _Stream | None:
        """The open stream to ``peer`` that may carry its messages; an unchecked stream to
        a pinned peer is closed instead."""
        stream = self.streams.get(peer)
        if stream is None or stream.transport is None or stream.transport.is_closing():
            return None
        pinned = self._pinned.get(peer) if peer.transport == "tls" else None
        if pinned is not None and stream.verified != pinned[0]:
            log.info("sip tls: closing a stream to %s not checked as %s", peer.host, pinned[0])
            stream.transport.abort()
            return None
        return stream

    def _may_connect(self, peer: Peer) -> bool:
        if peer.transport == "tls" and peer in self._pinned:
            return True
        return peer.transport in self.bound

    def _start_connect(self, peer: Peer) -> asyncio.Future[str | None]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str | None] = loop.create_future()
        self._connecting[peer] = future
        task = loop.create_task(self._connect(peer, future))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return future

    async def _connect(self, peer: Peer, future: asyncio.Future[str | None]) -> None:
        """Open a stream to ``peer``, send what waited for it, and tell ``future`` why not."""
        pinned = self._pinned.get(peer) if peer.transport == "tls" else None
        why = await self._dial(peer, pinned)
        self._connecting.pop(peer, None)
        queued = self._pending.pop(peer, [])
        stream = None if why else self._usable(peer)
        if why is None and stream is None:
            why = "cannot connect: too many streams"
        if why is not None:
            log.info("sip %s: cannot connect to %s:%d: %s", peer.transport, peer.host,
                     peer.port, why)
        elif stream is not None and stream.transport is not None:
            for data in queued:
                stream.transport.write(data)
        if not future.done():
            future.set_result(why)

    async def _dial(self, peer: Peer, pinned: tuple[str, ssl.SSLContext] | None) -> str | None:
        """Connect (and for TLS shake hands, checking a pinned peer's certificate); why not."""
        loop = asyncio.get_running_loop()
        context = pinned[1] if pinned else self._client_tls if peer.transport == "tls" else None
        if peer.transport == "tls" and context is None:
            return "TLS is not set up"
        extra: dict[str, Any] = {"server_hostname": pinned[0]} if pinned else {}
        try:
            _, stream = await asyncio.wait_for(loop.create_connection(
                lambda: _Stream(self, peer.transport), peer.host, peer.port, ssl=context,
                **extra), timeout=CONNECT_TIMEOUT)
        except ssl.SSLCertVerificationError as exc:
            return f"certificate not trusted: {exc.verify_message or exc.reason}"
        except ssl.SSLError as exc:
            return f"TLS handshake failed: {exc.reason or type(exc).__name__}"
        except TimeoutError:
            return f"cannot connect: no answer in {CONNECT_TIMEOUT:.0f} s"
        except OSError as exc:
            # asyncio's text names the address; the errno's says what happened.
            return f"cannot connect: {os.strerror(exc.errno) if exc.errno else 'failed'}"
        stream.verified = pinned[0] if pinned else None
        return None

    async def stop(self) -> None:
        """Close every socket and stream."""
        if self._udp is not None:
            self._udp.close()
        for server in self._servers:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        for stream in list(self.streams.values()):
            if stream.transport is not None:
                stream.transport.abort()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), timeout=2)


def _bound(sockname: tuple[str | int, ...]) -> Listen:
    return Listen(str(sockname[0]), int(sockname[1]))
