"""A listen-in's audio, pure: both parties of a call mixed into one G.711 stream.

rtpengine 10.5 forks a call's media to a subscriber (``subscribe request``) but cannot mix:
its answer has one ``m=`` line per party, which a desk phone does not play. So the daemon
takes both streams itself and mixes them, 20 ms at a time: each party's payload decoded to
16-bit linear (``media.recording.decode``: PCMU, PCMA; anything else is silence), summed,
clipped, and encoded again (ITU-T G.711, tables built at import) in the supervisor's codec.

SDP here is only what a listen-in needs: the payload type of each offered ``m=audio`` line
the box can decode, and the answers (receive-only toward rtpengine, send-only toward the
supervisor's phone). Anything that is no usable offer raises ``MediaError``.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from appliance.errors import MediaError
from appliance.media.recording import PCMA, PCMU, decode

FRAME = 160  # samples in 20 ms at 8 kHz: one RTP packet of G.711
_AUDIO = re.compile(r"^m=audio (\d+) RTP/AVP ([\d ]+)", re.M)
_CONNECTION = re.compile(r"^c=IN IP[46] (\S+)", re.M)
_G711 = {PCMU: "PCMU", PCMA: "PCMA"}


def _ulaw(sample: int) -> int:
    sign = 0x80 if sample < 0 else 0
    magnitude = min(-sample if sample < 0 else sample, 32635) + 0x84
    exponent = max(0, magnitude.bit_length() - 8)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | exponent << 4 | mantissa) & 0xFF


def _alaw(sample: int) -> int:
    sign = 0x80 if sample >= 0 else 0
    magnitude = min(-sample - 1 if sample < 0 else sample, 32767) >> 3
    if magnitude < 32:
        code = magnitude >> 1
    else:
        exponent = magnitude.bit_length() - 5
        code = exponent << 4 | (magnitude >> exponent) & 0x0F
    return (sign | code) ^ 0x55


# Encoders by the top 14 bits of a 16-bit sample (a 16384-entry table per codec).
_ENCODE = {pt: bytes(encode((index << 2) - 32768) for index in range(16384))
           for pt, encode in ((PCMU, _ulaw), (PCMA, _alaw))}


def encode(payload_type: int, linear: bytes) -> bytes:
    """16-bit little-endian linear samples as G.711 of ``payload_type``."""
    table = _ENCODE[payload_type]
    count = len(linear) // 2
    return bytes(table[(s + 32768) >> 2] for s in struct.unpack(f"<{count}h", linear[:2 * count]))


def mix(frames: Sequence[tuple[int, bytes] | None], out_type: int) -> bytes:
    """One 20 ms payload in ``out_type`` from each party's (payload type, payload), None
    where a party sent nothing (silence)."""
    total = [0] * FRAME
    for frame in frames:
        if frame is None:
            continue
        samples = decode(frame[0], frame[1][:FRAME])
        for index, value in enumerate(struct.unpack(f"<{len(samples) // 2}h", samples)):
            total[index] += value
    clipped = [max(-32768, min(32767, v)) for v in total]
    return encode(out_type, struct.pack(f"<{FRAME}h", *clipped))


@dataclass(frozen=True)
class Offered:
    """One offered ``m=audio`` line: where it sends from, and the G.711 type chosen."""

    host: str
    port: int
    payload_type: int


def offered(sdp: str) -> list[Offered]:
    """Each ``m=audio`` line of ``sdp`` with the first G.711 type it lists (its own ``c=``
    line, else the session's); MediaError when one has none, or there is none."""
    session = _CONNECTION.search(sdp.split("\nm=", 1)[0])
    found: list[Offered] = []
    for section in re.split(r"\r?\n(?=m=)", sdp)[1:]:
        audio = _AUDIO.match(section)
        if audio is None:
            continue
        host = _CONNECTION.search(section) or session
        types = [int(t) for t in audio.group(2).split()]
        usable = next((t for t in types if t in _G711), None)
        if host is None or usable is None:
            raise MediaError("the offer has an audio line without G.711")
        found.append(Offered(host.group(1), int(audio.group(1)), usable))
    if not found:
        raise MediaError("the offer has no audio line")
    return found


def answer(address: str, lines: Sequence[tuple[int, int]], direction: str) -> str:
    """An SDP answer from ``address``: one ``m=audio`` line per (port, payload type), each
    ``direction`` (``recvonly``, ``sendonly``)."""
    body = ["v=0", f"o=appliance 1 1 IN IP{6 if ':' in address else 4} {address}",
            "s=listen-in", f"c=IN IP{6 if ':' in address else 4} {address}", "t=0 0"]
    for port, payload_type in lines:
        body += [f"m=audio {port} RTP/AVP {payload_type}",
                 f"a=rtpmap:{payload_type} {_G711[payload_type]}/8000", "a=ptime:20",
                 f"a={direction}"]
    return "\r\n".join(body) + "\r\n"
