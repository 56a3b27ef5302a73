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
RECV_SIZE = 4096  # a transfer socket only ever needs ACKs and errors (4+ bytes)
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


class _Sender:
    """One transfer on its own non-blocking socket (its TID): each packet sent until its ACK
    comes, ``retries`` times more at most, driven by the loop's reader and timer callbacks
    (no task or future per block); a stranger gets error 5; ``done`` when it ends."""

    def __init__(self, sock: socket.socket, peer: tuple[Any, ...], blocks: Blocks,
                 oack: bytes | None, timeout: float, retries: int) -> None:
        self.loop = asyncio.get_running_loop()
        self.sock = sock
        self.peer = peer[:2]
        self.addr = peer
        self.blocks = blocks
        self.timeout = timeout
        self.retries = retries
        self.done: asyncio.Future[None] = self.loop.create_future()
        self.last = False  # the packet out is the last DATA
        self.block = 0 if oack is not None else 1
        self.packet = oack if oack is not None else self._data(1)
        self.tries = 0
        self.timer: asyncio.TimerHandle | None = None
        self.closed = False

    def start(self) -> None:
        """Send the first packet (OACK, or DATA 1) and listen for ACKs."""
        self.loop.add_reader(self.sock.fileno(), self._readable)
        self._send()

    def _data(self, block: int) -> bytes:
        chunk = self.blocks.next()
        self.last = len(chunk) < self.blocks.blksize
        return data_packet(block, chunk)

    def _send(self) -> None:
        with contextlib.suppress(OSError):  # unreachable now: the timer tries again
            self.sock.sendto(self.packet, self.addr)
        self.timer = self.loop.call_later(self.timeout, self._expired)

    def _expired(self) -> None:
        self.tries += 1
        if self.tries > self.retries:
            self.close()
        else:
            self._send()

    def _readable(self) -> None:
        while not self.closed:
            try:
                data, addr = self.sock.recvfrom(RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. ICMP port unreachable from an earlier send
                log.debug("tftp transfer socket error: %s", exc)
                continue
            if addr[:2] != self.peer:
                with contextlib.suppress(OSError):
                    self.sock.sendto(error_packet(UNKNOWN_TID), addr)
                continue
            if len(data) < 4:
                continue
            opcode, block = struct.unpack_from("!HH", data)
            if opcode == ERROR:
                self.close()
            elif opcode == ACK and block == self.block & 0xFFFF:
                self._acked()

    def _acked(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.last:
            self.close()
            return
        self.block += 1
        self.tries = 0
        try:
            self.packet = self._data(self.block)
        except OSError:
            log.exception("tftp: reading a file for %s failed", self.peer[0])
            self.close()
            return
        self._send()

    def close(self) -> None:
        """Stop: timer, reader, socket, file; ``done`` resolves."""
        if self.closed:
            return
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()
        self.blocks.stream.close()
        if not self.done.done():
            self.done.set_result(None)


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
        sock = self._transfer_socket()
        if not isinstance(result, File):
            with contextlib.suppress(OSError):
                sock.sendto(error_packet(NOT_FOUND), addr)
            sock.close()
            return
        try:
            sender = self._sender(result, mode, options, sock, addr)
        except Exception:
            sock.close()
            log.exception("tftp: transfer of a file to %s failed", ip)
            return
        try:
            sender.start()
            await sender.done
        finally:
            sender.close()

    def _transfer_socket(self) -> socket.socket:
        """A new non-blocking socket on the bound address and an ephemeral port."""
        family = socket.AF_INET6 if ":" in self.bound.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind((self.bound.host, 0))
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        return sock

    def _sender(self, file: File, mode: str, options: dict[str, str], sock: socket.socket,
                addr: tuple[Any, ...]) -> _Sender:
        """The transfer of ``file`` with the options negotiated (the stream it opens is
        closed by the sender, or here if this fails)."""
        stream: BinaryIO = file.path.open("rb") if file.path is not None else io.BytesIO(
            file.data)
        try:
            size: int | None = None
            if any(k.lower() == "tsize" for k in options):
                size = file.size if mode == "octet" else netascii_size(stream)
                stream.seek(0)
            accepted, blksize, timeout = negotiate(options, size)
            return _Sender(sock, addr, Blocks(stream, blksize, mode == "netascii"),
                           oack_packet(accepted) if accepted else None,
                           timeout or self.timeout, self.retries)
        except BaseException:
            stream.close()
            raise

    def _local_toward(self, ip: str) -> str:
        """The box's address toward ``ip``: the bound one, or on a wildcard bind the one the
        routes pick (what the transfer socket, bound to the wildcard, sends from)."""
        host = self.bound.host
        return addresses.toward(ip) if addresses.is_wildcard(host) else host
