"""DTMF the callers press: RFC 4733 events rtpengine reports, and SIP INFO bodies.

rtpengine sends one JSON datagram per event it saw in a call's RTP to its ``dtmf-log-dest``
(measured on 10.5: ``{"callid": ..., "source_tag": ..., "tags": [...], "type": "DTMF",
"event": 5, "duration": 80, ...}``). ``parse_report`` turns one into a ``Digit`` (sans-I/O);
``DtmfListener`` is the thin socket that hears them on loopback. ``parse_info`` reads the
``application/dtmf-relay`` and ``application/dtmf`` bodies phones send in SIP INFO instead.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("appliance.media")

# RFC 4733 §3.2: events 0-9 are the digits, 10 is *, 11 is #, 12-15 are A-D.
EVENTS = "0123456789*#ABCD"
MAX_REPORT = 4096  # bytes; rtpengine's reports are ~200


@dataclass(frozen=True)
class Digit:
    """One key pressed in call ``call_id`` by the participant ``tag`` ("" when unknown)."""

    call_id: str
    tag: str
    key: str


def event_key(event: int) -> str | None:
    """The key of an RFC 4733 event number, None for events that are no key."""
    return EVENTS[event] if 0 <= event < len(EVENTS) else None


def parse_report(datagram: bytes) -> Digit | None:
    """The digit of one rtpengine DTMF report, None for anything else (malformed, other
    types, events that are no key)."""
    if len(datagram) > MAX_REPORT:
        return None
    try:
        report = json.loads(datagram)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(report, dict) or report.get("type", "DTMF") != "DTMF":
        return None
    call_id, tag, event = report.get("callid"), report.get("source_tag", ""), \
        report.get("event")
    if not isinstance(call_id, str) or not isinstance(tag, str) or \
            not isinstance(event, int) or isinstance(event, bool):
        return None
    key = event_key(event)
    return None if key is None else Digit(call_id, tag, key)


def parse_info(content_type: str, body: bytes) -> str | None:
    """The key a SIP INFO body carries (``application/dtmf-relay``: ``Signal=5``;
    ``application/dtmf``: ``5``), None when it carries none."""
    kind = content_type.split(";", 1)[0].strip().lower()
    text = body.decode("ascii", "replace").strip()
    if kind == "application/dtmf-relay":
        for line in text.splitlines():
            name, _, value = line.partition("=")
            if name.strip().lower() == "signal":
                text = value.strip()
                break
        else:
            return None
    elif kind != "application/dtmf":
        return None
    if text.isdigit() and len(text) <= 2:  # some phones send the event number
        return event_key(int(text)) if len(text) == 2 else text
    return text.upper() if len(text) == 1 and text.upper() in EVENTS else None


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, listener: DtmfListener) -> None:
        self.listener = listener

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.listener.received(data, addr[0])


class DtmfListener:
    """The loopback socket rtpengine reports DTMF to; each digit handed to ``handler``."""

    def __init__(self, handler: Callable[[Digit], None], host: str = "127.0.0.1") -> None:
        """Bind now (the port goes into rtpengine's config before it starts)."""
        self.handler = handler
        self.host = host
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.setblocking(False)
        self.port: int = self.sock.getsockname()[1]
        self._transport: asyncio.DatagramTransport | None = None

    async def start(self) -> None:
        """Start hearing reports on the bound socket."""
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self), sock=self.sock)

    def received(self, data: bytes, source: str) -> None:
        """One datagram: only rtpengine on our own address is heard."""
        if source != self.host:
            return
        digit = parse_report(data)
        if digit is None:
            log.debug("media: DTMF report not understood (%d bytes)", len(data))
            return
        try:
            self.handler(digit)
        except Exception:
            log.exception("media: DTMF handler failed")

    def close(self) -> None:
        """Stop listening."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        else:
            self.sock.close()
