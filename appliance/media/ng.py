"""rtpengine's ng control protocol: a sans-I/O codec and an asyncio UDP client.

A datagram is a cookie, one space, and a bencoded dictionary; the reply carries the same
cookie. rtpengine caches its reply per cookie, so a retransmission (same cookie) is answered
again rather than done twice. ``result: error`` raises MediaProtocolError (its
``error-reason`` kept in ``.reason`` for the log); ``result: load limit`` and running out of
RTP ports raise MediaUnavailableError; no answer after every try raises MediaTimeoutError.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.errors import MediaProtocolError, MediaTimeoutError, MediaUnavailableError
from appliance.media import bencode
from appliance.media.bencode import Encodable, Value

log = logging.getLogger("appliance.media")

DEFAULT_TIMEOUTS = (0.5, 1.0, 2.0)  # seconds waited after each of the three sends
MAX_DATAGRAM = 65_507  # the largest UDP payload over IPv4
Options = Mapping[str, Encodable]
OUT_OF_PORTS = "Ran out of ports"  # the RTP port range is used up (or the address is not ours)


# -- the codec (no I/O) -----------------------------------------------------------------------

def new_cookie() -> str:
    """A fresh random cookie (hex, no spaces)."""
    return secrets.token_hex(8)


def encode_request(cookie: str, command: Mapping[str, Encodable]) -> bytes:
    """The datagram for ``command`` (a dict with a ``command`` key) under ``cookie``."""
    if not cookie or any(c.isspace() for c in cookie) or not cookie.isascii():
        raise ValueError(f"ng cookie must be ASCII without spaces, got {cookie!r}")
    data = cookie.encode("ascii") + b" " + bencode.encode(command)
    if len(data) > MAX_DATAGRAM:
        raise MediaProtocolError(f"ng request of {len(data)} bytes does not fit one datagram")
    return data


def split_cookie(datagram: bytes) -> tuple[str, bytes]:
    """(cookie, body) of a datagram; MediaProtocolError when it has no cookie."""
    cookie, sep, body = datagram.partition(b" ")
    if not sep or not cookie or len(cookie) > 64 or not cookie.isascii() or not body:
        raise MediaProtocolError("ng: datagram without a cookie and a body")
    return cookie.decode("ascii"), body


def decode_body(body: bytes) -> dict[str, Value]:
    """The reply dictionary with its top-level keys as text."""
    value = bencode.decode(body)
    if not isinstance(value, dict):
        raise MediaProtocolError("ng: the reply is not a dictionary")
    try:
        return {key.decode("utf-8"): item for key, item in value.items()}
    except UnicodeDecodeError:
        raise MediaProtocolError("ng: a reply key is not UTF-8") from None


def text(reply: Mapping[str, Value], key: str) -> str | None:
    """``reply[key]`` as text, None when absent; MediaProtocolError when not a string."""
    value = reply.get(key)
    if value is None:
        return None
    if not isinstance(value, bytes):
        raise MediaProtocolError(f"ng: {key!r} in the reply is not a string")
    return value.decode("utf-8", errors="replace")


def integer(reply: Mapping[str, Value], key: str) -> int | None:
    """``reply[key]`` as an int, None when absent; MediaProtocolError when not an int."""
    value = reply.get(key)
    if value is None:
        return None
    if not isinstance(value, int):
        raise MediaProtocolError(f"ng: {key!r} in the reply is not an integer")
    return value


def check_result(command: str, reply: Mapping[str, Value]) -> None:
    """Raise for a reply that is not a success of ``command``."""
    result = text(reply, "result")
    if result == "error":
        reason = text(reply, "error-reason") or "no reason given"
        if reason == OUT_OF_PORTS:
            raise MediaUnavailableError(f"rtpengine refused {command!r}: {reason}")
        raise MediaProtocolError(f"rtpengine refused {command!r}", reason=reason)
    if result == "load limit":
        raise MediaUnavailableError(f"rtpengine refused {command!r}: {text(reply, 'message')}")
    if result not in (("pong",) if command == "ping" else ("ok",)):
        raise MediaProtocolError(f"rtpengine answered {command!r} with result {result!r}")


@dataclass(frozen=True)
class SdpReply:
    """An offer's or answer's reply: the rewritten SDP, and rtpengine's warning if any."""

    sdp: str
    warning: str | None = None


@dataclass(frozen=True)
class PlayReply:
    """A play media reply: the length of one pass of the file in seconds, when known."""

    duration: float | None


@dataclass(frozen=True)
class CallInfo:
    """A query reply: when rtpengine made the call and last saw signalling, and its tags."""

    created: int | None
    last_signal: int | None
    tags: tuple[str, ...]


def sdp_reply(reply: Mapping[str, Value]) -> SdpReply:
    """The SdpReply of an offer or answer reply."""
    sdp = text(reply, "sdp")
    if not sdp:
        raise MediaProtocolError("ng: the reply carries no SDP")
    return SdpReply(sdp, text(reply, "warning"))


def play_reply(reply: Mapping[str, Value]) -> PlayReply:
    """The PlayReply of a play media reply (duration in milliseconds on the wire)."""
    ms = integer(reply, "duration")
    return PlayReply(None if ms is None or ms < 0 else ms / 1000.0)


def call_info(reply: Mapping[str, Value]) -> CallInfo:
    """The CallInfo of a query reply."""
    tags = reply.get("tags", {})
    if not isinstance(tags, dict):
        raise MediaProtocolError("ng: 'tags' in the query reply is not a dictionary")
    return CallInfo(integer(reply, "created"), integer(reply, "last signal"),
                    tuple(sorted(t.decode("utf-8", errors="replace") for t in tags)))


def _call(command: str, call_id: str, **keys: Encodable | None) -> dict[str, Encodable]:
    body: dict[str, Encodable] = {"command": command, "call-id": call_id}
    body.update({k.replace("_", "-"): v for k, v in keys.items() if v is not None})
    return body


def offer_request(call_id: str, from_tag: str, sdp: str,
                  options: Options | None = None) -> dict[str, Encodable]:
    """An offer: ``options`` are further ng keys (flags, replace, codec, ICE...)."""
    return {**(options or {}), **_call("offer", call_id, from_tag=from_tag, sdp=sdp)}


def answer_request(call_id: str, from_tag: str, to_tag: str, sdp: str,
                   options: Options | None = None) -> dict[str, Encodable]:
    """An answer to the offer made under ``from_tag``, from ``to_tag``."""
    return {**(options or {}),
            **_call("answer", call_id, from_tag=from_tag, to_tag=to_tag, sdp=sdp)}


def delete_request(call_id: str, from_tag: str | None = None) -> dict[str, Encodable]:
    """Delete the whole call, or one participant's branch with ``from_tag``."""
    return _call("delete", call_id, from_tag=from_tag)


def play_request(call_id: str, from_tag: str, file: Path | str,
                 repeat: int = 1) -> dict[str, Encodable]:
    """Play ``file`` (WAV, MP3...) to the participant ``from_tag``, ``repeat`` times."""
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat}")
    return _call("play media", call_id, from_tag=from_tag, file=str(file), repeat_times=repeat)


def participant_request(command: str, call_id: str,
                        from_tag: str | None = None) -> dict[str, Encodable]:
    """stop media, block media, unblock media, query: the call, or one participant."""
    return _call(command, call_id, from_tag=from_tag)


# -- the client (asyncio over UDP) ------------------------------------------------------------

class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, client: NgClient) -> None:
        self.client = client

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.client._received(data, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("media: ng socket error %s", exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.client._lost()


class NgClient:
    """Requests to one rtpengine's ng port; answers matched by cookie, retried on silence."""

    def __init__(self, host: str, port: int,
                 timeouts: Sequence[float] = DEFAULT_TIMEOUTS) -> None:
        address = ipaddress.ip_address(host)  # ValueError for a name: the config gives an IP
        if not 0 < port < 65536:
            raise ValueError(f"ng port must be 1 to 65535, got {port}")
        if not timeouts or any(t <= 0 for t in timeouts):
            raise ValueError(f"timeouts must be positive seconds, got {timeouts!r}")
        self.address = (str(address), port)
        self.timeouts = tuple(timeouts)
        self._transport: asyncio.DatagramTransport | None = None
        self._opening: asyncio.Lock = asyncio.Lock()
        self._pending: dict[str, asyncio.Future[dict[str, Value]]] = {}

    async def _open(self) -> asyncio.DatagramTransport:
        async with self._opening:
            if self._transport is None or self._transport.is_closing():
                local = "::1" if ":" in self.address[0] else "127.0.0.1"
                if not ipaddress.ip_address(self.address[0]).is_loopback:
                    local = "::" if ":" in self.address[0] else "0.0.0.0"  # noqa: S104
                transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                    lambda: _Protocol(self), local_addr=(local, 0))
                self._transport = transport
            return self._transport

    def close(self) -> None:
        """Close the socket; requests still waiting fail with MediaUnavailableError."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        self._lost()

    def _lost(self) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(MediaUnavailableError("the ng socket was closed"))

    def _received(self, data: bytes, addr: Any) -> None:
        if (addr[0], addr[1]) != self.address:
            log.debug("media: ng datagram from %s ignored (not rtpengine)", addr[0])
            return
        try:
            cookie, body = split_cookie(data)
        except MediaProtocolError:
            log.warning("media: ng datagram without a cookie ignored")
            return
        future = self._pending.get(cookie)
        if future is None or future.done():
            log.debug("media: late or repeated ng reply %s ignored", cookie)
            return
        try:
            future.set_result(decode_body(body))
        except MediaProtocolError as exc:
            future.set_exception(exc)

    async def request(self, command: Mapping[str, Encodable]) -> dict[str, Value]:
        """Send ``command`` and return the reply checked for success."""
        name = str(command.get("command"))
        cookie = new_cookie()
        data = encode_request(cookie, command)
        transport = await self._open()
        future: asyncio.Future[dict[str, Value]] = asyncio.get_running_loop().create_future()
        self._pending[cookie] = future
        try:
            for timeout in self.timeouts:
                transport.sendto(data, self.address)
                with contextlib.suppress(TimeoutError):
                    reply = await asyncio.wait_for(asyncio.shield(future), timeout)
                    break
            else:
                raise MediaTimeoutError(
                    f"rtpengine at {self.address[0]}:{self.address[1]} did not answer "
                    f"{name!r} in {len(self.timeouts)} tries ({sum(self.timeouts):g} s)")
        finally:
            self._pending.pop(cookie, None)
            if not future.done():
                future.cancel()
        check_result(name, reply)
        warning = text(reply, "warning")
        if warning:
            log.info("media: rtpengine warns on %r: %s", name, warning)
        return reply

    async def ping(self) -> None:
        """Succeed when rtpengine answers ``pong``."""
        await self.request({"command": "ping"})

    async def offer(self, call_id: str, from_tag: str, sdp: str,
                    options: Options | None = None) -> SdpReply:
        """Offer ``sdp`` for the participant ``from_tag``; return the SDP to send on."""
        return sdp_reply(await self.request(offer_request(call_id, from_tag, sdp, options)))

    async def answer(self, call_id: str, from_tag: str, to_tag: str, sdp: str,
                     options: Options | None = None) -> SdpReply:
        """Answer the offer of ``from_tag`` with ``to_tag``'s ``sdp``; return the SDP to send."""
        return sdp_reply(await self.request(
            answer_request(call_id, from_tag, to_tag, sdp, options)))

    async def delete(self, call_id: str, from_tag: str | None = None) -> str | None:
        """Delete the call (or one branch); rtpengine's warning, e.g. for an unknown call."""
        return text(await self.request(delete_request(call_id, from_tag)), "warning")

    async def query(self, call_id: str) -> CallInfo:
        """What rtpengine knows of the call; MediaProtocolError for an unknown one."""
        return call_info(await self.request(participant_request("query", call_id)))

    async def play_media(self, call_id: str, from_tag: str, file: Path | str,
                         repeat: int = 1) -> PlayReply:
        """Play ``file`` to the participant ``from_tag``."""
        return play_reply(await self.request(play_request(call_id, from_tag, file, repeat)))

    async def stop_media(self, call_id: str, from_tag: str) -> None:
        """Stop what play media started for ``from_tag``."""
        await self.request(participant_request("stop media", call_id, from_tag))

    async def subscribe(self, call_id: str, from_tags: list[str]) -> tuple[str, str]:
        """Fork the media ``from_tags`` send to a new subscriber: its tag and the offer
        (one ``m=`` line per party, send-only)."""
        reply = await self.request({"command": "subscribe request", "call-id": call_id,
                                    "from-tags": list(from_tags)})
        tag = text(reply, "to-tag")
        if not tag:
            raise MediaProtocolError("ng: the subscription reply carries no to-tag")
        return tag, sdp_reply(reply).sdp

    async def subscribe_answer(self, call_id: str, to_tag: str, sdp: str) -> None:
        """The subscriber ``to_tag``'s answer: the forked media flows to it."""
        await self.request({"command": "subscribe answer", "call-id": call_id,
                            "to-tag": to_tag, "sdp": sdp})

    async def unsubscribe(self, call_id: str, to_tag: str) -> None:
        """End the subscription ``to_tag``."""
        await self.request({"command": "unsubscribe", "call-id": call_id, "to-tag": to_tag})

    async def block_media(self, call_id: str, from_tag: str | None = None) -> None:
        """Drop the media ``from_tag`` sends (the whole call's without it); DTMF passes."""
        await self.request(participant_request("block media", call_id, from_tag))

    async def unblock_media(self, call_id: str, from_tag: str | None = None) -> None:
        """Undo block media."""
        await self.request(participant_request("unblock media", call_id, from_tag))
