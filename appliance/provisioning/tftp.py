"""A read-only TFTP server on asyncio: RFC 1350 with options (RFC 2347/2348/2349).

Requests are decoded with tftpy's packet classes; each transfer gets its own ephemeral
socket (its transfer ID, RFC 1350 §4), sends DATA in lock-step with retransmission on
timeout (never on a duplicate ACK: no Sorcerer's Apprentice), and answers packets from a
wrong TID with error 5. Write requests are always refused with error 2 and nothing is
written. File contents come from an async ``resolve(path, peer)``. Files are sent block by
block (netascii converted on the fly), never read whole; transfers at once are capped in all
and per source, and a request over a cap gets one error packet.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any, BinaryIO, cast

from tftpy.TftpPacketFactory import TftpPacketFactory
from tftpy.TftpPacketTypes import TftpPacketERR, TftpPacketOACK, TftpPacketRRQ

from appliance.config import Listen
from appliance.lan import addresses
from appliance.provisioning.resolver import File, Peer, Result

log = logging.getLogger(__name__)

RRQ, WRQ, DATA, ACK, ERROR, OACK = 1, 2, 3, 4, 5, 6
NOT_FOUND, ACCESS_VIOLATION, ILLEGAL, UNKNOWN_TID, BAD_OPTIONS = 1, 2, 4, 5, 8
MIN_BLKSIZE, MAX_BLKSIZE, DEFAULT_BLKSIZE = 8, 65464, 512
RECV_BUFFER = 4 * 1024 * 1024
READ_SIZE = 64 * 1024  # bytes read from a file at a time when counting its netascii size
BUSY = struct.pack("!HH", ERROR, 0) + b"Server busy, try again later\x00"

Resolve = Callable[[str, Peer], Awaitable[Result]]


def error_packet(code: int) -> bytes:
    """An ERROR packet with the standard message for ``code``."""
    packet = TftpPacketERR()
    packet.errorcode = code
    return bytes(packet.encode().buffer)


def oack_packet(options: dict[str, str]) -> bytes:
    """An OACK packet carrying the accepted ``options``."""
    packet = TftpPacketOACK()
    packet.options = options
    return bytes(packet.encode().buffer)


def data_packet(block: int, payload: bytes) -> bytes:
    """A DATA packet (block numbers wrap at 65536)."""
    return struct.pack("!HH", DATA, block & 0xFFFF) + payload


def negotiate(requested: dict[str, str], size: int | None) -> tuple[dict[str, str], int, float]:
    """Accepted options, block size and timeout for ``requested`` (unknown ones ignored)."""
    accepted: dict[str, str] = {}
    blksize, timeout = DEFAULT_BLKSIZE, 0.0
    wanted = {k.lower(): v for k, v in requested.items()}
    if wanted.get("blksize", "").isdigit():
        blksize = max(MIN_BLKSIZE, min(MAX_BLKSIZE, int(wanted["blksize"])))
        accepted["blksize"] = str(blksize)
    if "tsize" in wanted and size is not None:
        accepted["tsize"] = str(size)
    if wanted.get("timeout", "").isdigit() and 1 <= int(wanted["timeout"]) <= 255:
        timeout = float(wanted["timeout"])
        accepted["timeout"] = wanted["timeout"]
    return accepted, blksize, timeout


def netascii(data: bytes) -> bytes:
    """``data`` in netascii: CR as CR NUL, LF as CR LF (byte by byte, so chunks convert
    independently)."""
    return data.replace(b"\r", b"\r\x00").replace(b"\n", b"\r\n")


def netascii_size(stream: BinaryIO) -> int:
    """The netascii length of what ``stream`` holds, read in chunks to its end."""
    total = 0
    while chunk := stream.read(READ_SIZE):
        total += len(chunk) + chunk.count(b"\r") + chunk.count(b"\n")
    return total


class Blocks:
    """A file's DATA payloads of ``blksize`` bytes, read (and netascii converted) as sent:
    never more than about two blocks are held."""

    def __init__(self, stream: BinaryIO, blksize: int, convert: bool) -> None:
        self.stream = stream
        self.blksize = blksize
        self.convert = convert
        self._pending = bytearray()
        self._eof = False

    def next(self) -> bytes:
        """The next payload; shorter than ``blksize`` (maybe empty) for the last one."""
        while len(self._pending) < self.blksize and not self._eof:
            raw = self.stream.read(self.blksize)
            if not raw:
                self._eof = True
                break
            self._pending += netascii(raw) if self.convert else raw
        chunk = bytes(self._pending[:self.blksize])
        del self._pending[:self.blksize]
        return chunk


class _Listener(asyncio.DatagramProtocol):
    def __init__(self, server: TftpServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.server.request(data, addr, self.transport)


class _Transfer(asyncio.DatagramProtocol):
    """One transfer's socket: hands the awaited ACK to the sender, rejects strangers."""

    def __init__(self, peer: tuple[Any, ...]) -> None:
        self.peer = peer[:2]
        self.transport: asyncio.DatagramTransport | None = None
        self.expected = -1
        self.acked: asyncio.Future[None] | None = None
        self.failed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        if addr[:2] != self.peer:
            if self.transport is not None:
                self.transport.sendto(error_packet(UNKNOWN_TID), addr)
            return
        if len(data) < 4:
            return
        opcode, block = struct.unpack_from("!HH", data)
        if opcode == ACK and block == self.expected & 0xFFFF:
            if self.acked is not None and not self.acked.done():
                self.acked.set_result(None)
        elif opcode == ERROR:
            self.failed = True
            if self.acked is not None and not self.acked.done():
                self.acked.set_result(None)

    def error_received(self, exc: Exception) -> None:
        log.debug("tftp transfer socket error: %s", exc)


class TftpServer:
    """Serves ``resolve``d files; ``start`` binds (port 0 allowed), ``stop`` ends it all."""

    def __init__(self, resolve: Resolve, listen: Listen, timeout: float = 1.0,
                 retries: int = 5, max_transfers: int = 1000, per_source: int = 8) -> None:
        self.resolve = resolve
        self.listen = listen
        self.timeout = timeout
        self.retries = retries
        self.max_transfers = max_transfers
        self.per_source = per_source
        self.transport: asyncio.DatagramTransport | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.running: set[tuple[Any, ...]] = set()  # the peers' TIDs with a transfer under way
        self.by_source: dict[str, int] = {}
        self.factory = TftpPacketFactory()
        self.bound = listen

    async def start(self) -> Listen:
        """Bind and serve; return the bound address."""
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in self.listen.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            for option in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
                if option is not None:
                    with contextlib.suppress(OSError):
                        sock.setsockopt(socket.SOL_SOCKET, option, RECV_BUFFER)
                        break
            if family == socket.AF_INET6:  # "[::]" takes IPv4 too, whatever bindv6only says
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind((self.listen.host, self.listen.port))
        except OSError:
            sock.close()
            raise
        transport, _ = await loop.create_datagram_endpoint(lambda: _Listener(self), sock=sock)
        self.transport = transport
        host, port = sock.getsockname()[:2]
        self.bound = Listen(str(host), int(port))
        return self.bound

    async def stop(self) -> None:
        """Close the listening socket and cancel every transfer."""
        if self.transport is not None:
            self.transport.close()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    def request(self, data: bytes, addr: tuple[Any, ...],
                transport: asyncio.DatagramTransport | None) -> None:
        """Handle one datagram to the listening port."""
        if len(data) < 4 or transport is None:
            return
        opcode = struct.unpack_from("!H", data)[0]
        if opcode == WRQ:
            transport.sendto(error_packet(ACCESS_VIOLATION), addr)
            log.info("tftp: write request from %s refused", addr[0])
            return
        if opcode != RRQ:
            return
        try:
            packet = self.factory.parse(data)
            assert isinstance(packet, TftpPacketRRQ)
            filename, mode, options = str(packet.filename), str(packet.mode), dict(packet.options)
        except Exception:  # any malformed request: one error packet, nothing else
            transport.sendto(error_packet(NOT_FOUND), addr)
            return
        if mode not in ("octet", "netascii"):
            transport.sendto(error_packet(ILLEGAL), addr)
            return
        tid, ip = tuple(addr[:2]), str(addr[0]).removeprefix("::ffff:")
        if self._admit(tid, ip, transport):
            task = asyncio.get_running_loop().create_task(
                self._transfer(filename, mode, options, addr))
            self.tasks.add(task)
            self.running.add(tid)
            self.by_source[ip] = self.by_source.get(ip, 0) + 1
            task.add_done_callback(lambda t: self._done(t, tid, ip))

    def _admit(self, tid: tuple[Any, ...], ip: str, transport: asyncio.DatagramTransport) -> bool:
        """May a transfer to ``tid`` start now? A re-sent RRQ of one under way is ignored; over
        a cap (in all, or from ``ip``) the client gets one error packet."""
        if tid in self.running:
            return False
        if len(self.tasks) >= self.max_transfers or self.by_source.get(ip, 0) >= self.per_source:
            transport.sendto(BUSY, tid)
            log.debug("tftp: %s refused, too many transfers at once", ip)
            return False
        return True

    def _done(self, task: asyncio.Task[None], tid: tuple[Any, ...], ip: str) -> None:
        self.tasks.discard(task)
        self.running.discard(tid)
        left = self.by_source.get(ip, 1) - 1
        if left > 0:
            self.by_source[ip] = left
        else:
            self.by_source.pop(ip, None)

    async def _transfer(self, filename: str, mode: str, options: dict[str, str],
                        addr: tuple[Any, ...]) -> None:
        ip = str(addr[0]).removeprefix("::ffff:")
        try:
            result = await self.resolve(filename, Peer(ip, int(addr[1]), "tftp",
                                                       local_ip=self._local_toward(ip)))
        except Exception:
            log.exception("tftp: resolving a request from %s failed", ip)
            result = None
        loop = asyncio.get_running_loop()
        transport, proto = await loop.create_datagram_endpoint(
            lambda: _Transfer(addr), local_addr=(self.bound.host, 0))
        try:
            if not isinstance(result, File):
                transport.sendto(error_packet(NOT_FOUND), addr)
                return
            await self._send(result, mode, options, transport, proto, addr)
        except Exception:
            log.exception("tftp: transfer of a file to %s failed", ip)
        finally:
            transport.close()

    def _local_toward(self, ip: str) -> str:
        """The box's address toward ``ip``: the bound one, or on a wildcard bind the one the
        routes pick (what the transfer socket, bound to the wildcard, sends from)."""
        host = self.bound.host
        return addresses.toward(ip) if addresses.is_wildcard(host) else host

    async def _exchange(self, packet: bytes, block: int, transport: asyncio.DatagramTransport,
                        proto: _Transfer, addr: tuple[Any, ...], timeout: float) -> bool:
        """Send ``packet`` until ACK ``block`` arrives; False when the peer gave up or vanished."""
        loop = asyncio.get_running_loop()
        proto.expected = block
        for _attempt in range(self.retries + 1):
            proto.acked = loop.create_future()
            transport.sendto(packet, addr)
            try:
                await asyncio.wait_for(asyncio.shield(proto.acked), timeout)
            except TimeoutError:
                continue
            return not proto.failed
        return False

    async def _send(self, file: File, mode: str, options: dict[str, str],
                    transport: asyncio.DatagramTransport, proto: _Transfer,
                    addr: tuple[Any, ...]) -> None:
        stream: BinaryIO = file.path.open("rb") if file.path is not None else io.BytesIO(
            file.data)
        try:
            size: int | None = None
            if any(k.lower() == "tsize" for k in options):
                size = file.size if mode == "octet" else netascii_size(stream)
                stream.seek(0)
            accepted, blksize, timeout = negotiate(options, size)
            timeout = timeout or self.timeout
            if accepted and not await self._exchange(oack_packet(accepted), 0, transport, proto,
                                                     addr, timeout):
                return
            blocks = Blocks(stream, blksize, mode == "netascii")
            block = 1
            while True:
                chunk = blocks.next()
                if not await self._exchange(data_packet(block, chunk), block, transport, proto,
                                            addr, timeout):
                    return
                if len(chunk) < blksize:
                    return
                block += 1
        finally:
            stream.close()
