"""A supervisor's listen-in, the I/O: the call's two parties forked by rtpengine to sockets
of the daemon, mixed every 20 ms (``media.mixer``) and sent to the supervisor's phone.

``Listening.open`` takes rtpengine's subscription offer (one ``m=`` line per party) and the
phone's offer: it binds one UDP socket per party and one toward the phone on ``address``
(the media plane's own address, so rtpengine and the phones reach it), and returns the
answer for rtpengine (receive-only) and the one for the phone (send-only, in the phone's
first G.711 codec). Packets come in as RFC 3550 RTP from the party's rtpengine port only;
each party keeps at most ``BACKLOG`` frames (a late burst is dropped, never queued up), and
a party silent for a tick adds silence. ``close`` stops the clock and closes the sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from appliance.errors import MediaError
from appliance.media import mixer
from appliance.media.recording import PCMU

log = logging.getLogger(__name__)

TICK = 0.02  # seconds of audio per packet sent to the phone
BACKLOG = 5  # frames kept per party: 100 ms of jitter


@dataclass(frozen=True)
class Answers:
    """What ``Listening.open`` answers: to rtpengine's subscription, and to the phone."""

    to_plane: str
    to_phone: str


class _Party(asyncio.DatagramProtocol):
    """One party's stream from rtpengine: RTP payloads kept in arrival order."""

    def __init__(self, source: tuple[str, int]) -> None:
        self.source = source
        self.frames: deque[tuple[int, bytes]] = deque(maxlen=BACKLOG)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) < 12 or data[0] >> 6 != 2 or addr[0] != self.source[0]:
            return
        count, extension, padding = data[0] & 0x0F, data[0] & 0x10, data[0] & 0x20
        start = 12 + 4 * count
        if extension and len(data) >= start + 4:
            start += 4 + 4 * struct.unpack("!H", data[start + 2:start + 4])[0]
        end = len(data) - (data[-1] if padding and data[-1] else 0)
        if start < end:
            self.frames.append((data[1] & 0x7F, data[start:end]))


def _factory(party: _Party) -> Callable[[], _Party]:
    return lambda: party


class Listening:
    """One listen-in; see the module docstring."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.parties: list[_Party] = []
        self.transports: list[asyncio.DatagramTransport] = []
        self.phone: tuple[str, int] | None = None
        self.out_type = PCMU
        self._clock: asyncio.Task[None] | None = None
        self._seq = int.from_bytes(os.urandom(2), "big")
        self._stamp = int.from_bytes(os.urandom(4), "big")
        self._ssrc = os.urandom(4)

    async def open(self, plane_offer: str, phone_offer: str) -> Answers:
        """Bind the sockets and answer both offers; MediaError when either is unusable."""
        streams = mixer.offered(plane_offer)
        phone = mixer.offered(phone_offer)[0]
        self.phone, self.out_type = (phone.host, phone.port), phone.payload_type
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        try:
            for stream in [*streams, None]:
                party = _Party((stream.host, stream.port) if stream else ("", 0))
                transport, _ = await loop.create_datagram_endpoint(
                    _factory(party), local_addr=(self.address, 0), family=family)
                self.transports.append(transport)
                if stream is not None:
                    self.parties.append(party)
        except OSError as exc:
            self.close()
            raise MediaError(f"listen-in sockets not bound on {self.address}: {exc}") from exc
        ports = [t.get_extra_info("sockname")[1] for t in self.transports]
        self._clock = loop.create_task(self._run())
        return Answers(
            mixer.answer(self.address, [(port, s.payload_type)
                                        for port, s in zip(ports, streams, strict=False)],
                         "recvonly"),
            mixer.answer(self.address, [(ports[-1], self.out_type)], "sendonly"))

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            due += TICK
            await asyncio.sleep(max(0.0, due - loop.time()))
            if loop.time() - due > 10 * TICK:  # the loop was held up: no catch-up burst
                due = loop.time()
            self.send([p.frames.popleft() if p.frames else None for p in self.parties])

    def send(self, frames: list[tuple[int, bytes] | None]) -> None:
        """Mix one tick's ``frames`` and send them to the phone."""
        if self.phone is None or not self.transports:
            return
        payload = mixer.mix(frames, self.out_type)
        header = struct.pack("!BBHI", 0x80, self.out_type, self._seq, self._stamp) + self._ssrc
        self._seq = (self._seq + 1) & 0xFFFF
        self._stamp = (self._stamp + mixer.FRAME) & 0xFFFFFFFF
        with contextlib.suppress(OSError):
            self.transports[-1].sendto(header + payload, self.phone)

    def close(self) -> None:
        """Stop mixing; every socket closed (twice is harmless)."""
        if self._clock is not None:
            self._clock.cancel()
            self._clock = None
        for transport in self.transports:
            transport.close()
        self.transports = []
