"""Cut SIP messages out of a byte stream (TCP, TLS) by their Content-Length (RFC 3261 §18.3).

Sans-I/O: ``StreamFramer.feed(data)`` returns every complete message found so far and keeps
a partial one for the next call. CRLF keep-alives (RFC 5626 §3.5.1) between messages are
reported as ``KEEPALIVE`` so the transport can answer a double CRLF with a single one.
Framing errors (no or bad Content-Length, a head or message over the size limit) raise
``FramingError``: a stream cannot be resynchronised, so the transport closes it.
"""

from __future__ import annotations

import re

from appliance.errors import SipError
from appliance.sip.message import MAX_MESSAGE

KEEPALIVE = b"\r\n\r\n"
_LENGTH_RE = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*)\r?$", re.I | re.M)


class FramingError(SipError):
    """A stream that cannot be cut into messages; close the connection."""


class StreamFramer:
    """Accumulate stream bytes and cut them into whole messages."""

    def __init__(self, max_size: int = MAX_MESSAGE) -> None:
        """A framer refusing messages (head plus body) larger than ``max_size`` octets."""
        self.max_size = max_size
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Octets received but not yet part of a whole message."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """Add ``data``; return the whole messages (or KEEPALIVE) now available, in order."""
        self._buffer += data
        out: list[bytes] = []
        while True:
            message = self._next()
            if message is None:
                return out
            out.append(message)

    def _next(self) -> bytes | None:
        buf = self._buffer
        if buf.startswith(b"\r\n"):
            if buf.startswith(KEEPALIVE):
                del buf[:4]
                return KEEPALIVE
            if len(buf) < 4 and KEEPALIVE.startswith(bytes(buf)):
                return None
            # A lone CRLF (RFC 5626 pong, or noise before a start line) is dropped.
            del buf[:2]
            return self._next()
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > self.max_size:
                raise FramingError("header section too large")
            return None
        head = bytes(buf[:end])
        lengths = _LENGTH_RE.findall(head)
        if not lengths:
            length = 0  # §18.3 demands it on streams; a bodiless message is forgiven
        elif len(lengths) > 1 or not lengths[0].strip().isdigit() or len(lengths[0]) > 9:
            raise FramingError("repeated or bad Content-Length")
        else:
            length = int(lengths[0].strip())
        total = end + 4 + length
        if total > self.max_size:
            raise FramingError("message too large")
        if len(buf) < total:
            return None
        message = bytes(buf[:total])
        del buf[:total]
        return message
