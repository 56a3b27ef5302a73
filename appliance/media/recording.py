"""A call's recording, pure: rtpengine's per-call pcap in, a stereo WAV out (a voicemail's:
mono, with how much of it holds sound).

rtpengine (measured on 10.5, ``recording-method = pcap``, ``recording-format = eth``) writes one
classic libpcap file per call: version 2.4, snaplen 65535, link type 1 (Ethernet with all-zero
MACs, IPv4), holding every RTP packet it RECEIVED from each party (not what it played itself).
A packet's UDP destination port is rtpengine's own port facing the party that sent it, which
the caller knows. Both byte orders, the nanosecond magic, link types 101 (raw IP) and 0 (NULL),
and IPv6 are read too; a truncated file header, a wrong magic or another link type raise
``RecordingError``, while malformed records and packets (truncated, not UDP, not RTP version 2,
an empty payload) are skipped.

``stereo_wav`` makes a 16-bit 8000 Hz WAV: LEFT the packets sent to ``left_port`` (the caller),
RIGHT every other packet, or only those to ``right_port`` (the employee). Payload types 0 (PCMU)
and 8 (PCMA) are decoded per ITU-T G.711 (256-entry tables built at import); any other
(telephone-event, G.722, comfort noise...) gives no samples: silence where it is. RTP headers
per RFC 3550: CSRCs and an extension are skipped, padding dropped, the marker ignored.

Timing: a stream (destination port and SSRC) starts at its first packet's capture time, offset
from the earliest capture time of the packets taken, so both channels keep wall-clock time; its
packets are then placed by RTP timestamp (8 kHz clock, 32-bit wrap-around) relative to that
first packet. An SSRC change so starts a new stream placed by capture time. Duplicates (same
SSRC, sequence number and timestamp) are ignored; a later packet overwrites no sample written
before it (first writer wins); gaps are silence. Output stops at ``max_seconds`` and a packet
placed beyond it is ignored, so a hostile file cannot exhaust memory.
"""

from __future__ import annotations

import io
import json
import struct
import sys
import wave
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from appliance.errors import RecordingError

RATE = 8000  # Hz: G.711, and the RTP clock of every payload type decoded here
PCMU, PCMA = 0, 8  # RFC 3551 static payload types
_MAGICS = {b"\xd4\xc3\xb2\xa1": ("<", 1000), b"\xa1\xb2\xc3\xd4": (">", 1000),
           b"\x4d\x3c\xb2\xa1": ("<", 1), b"\xa1\xb2\x3c\x4d": (">", 1)}  # order, ns per unit
_ETHERNET, _RAW, _NULL = 1, 101, 0
_IPV4, _IPV6, _VLAN = 0x0800, 0x86DD, 0x8100
_UDP = 17
VOICED_DBFS = -45.0  # a 20 ms frame louder than this holds sound (a line's hiss is below)


def ulaw_to_linear(code: int) -> int:
    """The 16-bit sample of a G.711 µ-law code (ITU-T G.711, as in the G.191 reference)."""
    code = ~code & 0xFF
    magnitude = (((code & 0x0F) << 3) + 0x84) << ((code & 0x70) >> 4)
    return 0x84 - magnitude if code & 0x80 else magnitude - 0x84


def alaw_to_linear(code: int) -> int:
    """The 16-bit sample of a G.711 A-law code (ITU-T G.711, as in the G.191 reference)."""
    code ^= 0x55
    segment = (code & 0x70) >> 4
    magnitude = ((code & 0x0F) << 4) + (8 if segment == 0 else 0x108)
    if segment > 1:
        magnitude <<= segment - 1
    return magnitude if code & 0x80 else -magnitude


ULAW: tuple[int, ...] = tuple(ulaw_to_linear(code) for code in range(256))
ALAW: tuple[int, ...] = tuple(alaw_to_linear(code) for code in range(256))


def _byte_tables(table: tuple[int, ...]) -> tuple[bytes, bytes]:
    """``bytes.translate`` tables giving the low and the high byte of each code's sample."""
    little = [(sample & 0xFFFF).to_bytes(2, "little") for sample in table]
    return bytes(pair[0] for pair in little), bytes(pair[1] for pair in little)


_DECODE = {PCMU: _byte_tables(ULAW), PCMA: _byte_tables(ALAW)}


def decode(payload_type: int, payload: bytes) -> bytes:
    """A G.711 payload as 16-bit little-endian samples; b"" for any other payload type."""
    tables = _DECODE.get(payload_type)
    if tables is None:
        return b""
    samples = bytearray(2 * len(payload))
    samples[0::2] = payload.translate(tables[0])
    samples[1::2] = payload.translate(tables[1])
    return bytes(samples)


@dataclass(frozen=True)
class Recorded:
    """A call's stereo WAV, its length in seconds, and the RTP packets taken per channel."""

    wav: bytes
    seconds: float
    left_packets: int
    right_packets: int


class _Rtp(NamedTuple):
    """One RTP packet of the pcap: capture time (ns), UDP destination port, RTP fields."""

    time: int
    port: int
    ssrc: int
    seq: int
    timestamp: int
    payload_type: int
    payload: bytes


def _records(pcap: bytes) -> Iterator[tuple[int, int, memoryview]]:
    """Each record's link type (the file's), capture time (ns) and bytes; stops at a cut one."""
    if len(pcap) < 24:
        raise RecordingError("the recording is no pcap: its header is truncated")
    magic = _MAGICS.get(pcap[:4])
    if magic is None:
        raise RecordingError(f"the recording is no pcap: magic {pcap[:4].hex()}")
    order, unit = magic
    linktype = struct.unpack_from(order + "I", pcap, 20)[0] & 0xFFFF
    if linktype not in (_ETHERNET, _RAW, _NULL):
        raise RecordingError(f"the recording's pcap link type {linktype} is not read")
    view, offset = memoryview(pcap), 24
    while offset + 16 <= len(pcap):
        seconds, fraction, length, _ = struct.unpack_from(order + "IIII", pcap, offset)
        offset += 16
        if length > len(pcap) - offset:
            return
        yield linktype, seconds * 1_000_000_000 + fraction * unit, view[offset:offset + length]
        offset += length


def _udp(linktype: int, frame: memoryview) -> memoryview | None:
    """The UDP datagram (header included) a frame carries, None when it carries none."""
    if linktype == _ETHERNET:
        if len(frame) < 14:
            return None
        ethertype, start = struct.unpack_from("!H", frame, 12)[0], 14
        if ethertype == _VLAN and len(frame) >= 18:
            ethertype, start = struct.unpack_from("!H", frame, 16)[0], 18
        if ethertype not in (_IPV4, _IPV6):
            return None
        frame = frame[start:]
    elif linktype == _NULL:
        frame = frame[4:]
    if len(frame) >= 20 and frame[0] >> 4 == 4:
        header, total = (frame[0] & 0x0F) * 4, struct.unpack_from("!H", frame, 2)[0]
        fragment = struct.unpack_from("!H", frame, 6)[0] & 0x3FFF
        if header < 20 or not header <= total <= len(frame) or frame[9] != _UDP or fragment:
            return None
        return frame[header:total]
    if len(frame) >= 40 and frame[0] >> 4 == 6:
        end = 40 + struct.unpack_from("!H", frame, 4)[0]
        return frame[40:end] if frame[6] == _UDP and end <= len(frame) else None
    return None


def _rtp(time: int, udp: memoryview) -> _Rtp | None:
    """The RTP packet (RFC 3550) in a UDP datagram, None when it is none or has no payload."""
    if len(udp) < 8 + 12:
        return None
    port, length = struct.unpack_from("!2xHH", udp)
    if not 8 + 12 <= length <= len(udp):
        return None
    rtp = udp[8:length]
    if rtp[0] >> 6 != 2:
        return None
    start, end = 12 + 4 * (rtp[0] & 0x0F), len(rtp)
    if rtp[0] & 0x10:  # extension: 16-bit profile word, 16-bit length in 32-bit words
        if start + 4 > end:
            return None
        start += 4 + 4 * struct.unpack_from("!H", rtp, start + 2)[0]
    if rtp[0] & 0x20:  # padding: its length is the last byte
        end -= rtp[-1]
    if (rtp[0] & 0x20 and rtp[-1] == 0) or start >= end:
        return None
    seq, timestamp, ssrc = struct.unpack_from("!HII", rtp, 2)
    return _Rtp(time, port, ssrc, seq, timestamp, rtp[1] & 0x7F, bytes(rtp[start:end]))


def _packets(pcap: bytes) -> Iterator[_Rtp]:
    """Every well-formed RTP packet of a pcap, in file order."""
    for linktype, time, frame in _records(pcap):
        udp = _udp(linktype, frame)
        packet = _rtp(time, udp) if udp is not None else None
        if packet is not None:
            yield packet


def _write(channel: bytearray, written: bytearray, at: int, samples: bytes, limit: int) -> None:
    """Put samples at sample index ``at`` (none past ``limit``) where none was written before."""
    if at < 0:
        samples, at = samples[-2 * at:], 0
    end = min(at + len(samples) // 2, limit)
    if end <= at:
        return
    if end > len(written):
        channel.extend(bytes(2 * (end - len(written))))
        written.extend(bytes(end - len(written)))
    if written.find(1, at, end) < 0:
        channel[2 * at:2 * end] = samples[:2 * (end - at)]
    else:
        for index in range(at, end):
            if not written[index]:
                channel[2 * index:2 * index + 2] = samples[2 * (index - at):2 * (index - at) + 2]
    written[at:end] = b"\x01" * (end - at)


def _channels(pcap: bytes, side: Callable[[_Rtp], int | None],
              max_seconds: float) -> tuple[tuple[bytearray, bytearray], list[int], int]:
    """Each side's 16-bit samples (see the module's timing rules), the packets taken per
    side, and the frames the longer side has."""
    limit = max(0, int(max_seconds * RATE))
    first = min((p.time for p in _packets(pcap) if side(p) is not None), default=0)
    channels, written = (bytearray(), bytearray()), (bytearray(), bytearray())
    counts = [0, 0]
    streams: dict[tuple[int, int], tuple[int, int]] = {}  # first packet's sample index, stamp
    seen: dict[tuple[int, int], set[int]] = {}
    for packet in _packets(pcap):
        which = side(packet)
        if which is None:
            continue
        key = (packet.port, packet.ssrc)
        if key not in streams:
            start = ((packet.time - first) * RATE + 500_000_000) // 1_000_000_000
            streams[key] = (start, packet.timestamp)
        start, timestamp = streams[key]
        at = start + (packet.timestamp - timestamp + 2**31) % 2**32 - 2**31  # signed difference
        identity = packet.seq << 32 | packet.timestamp
        if at >= limit or identity in seen.setdefault(key, set()):
            continue
        seen[key].add(identity)
        counts[which] += 1
        samples = decode(packet.payload_type, packet.payload)
        if samples:
            _write(channels[which], written[which], at, samples, limit)
    frames = max(len(written[0]), len(written[1]))
    for channel in channels:
        channel.extend(bytes(2 * frames - len(channel)))
    return channels, counts, frames


def _wav(frames: bytes, channels: int) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(frames)
    return out.getvalue()


def stereo_wav(pcap: bytes, left_port: int, right_port: int | None = None,
               max_seconds: float = 4 * 3600) -> Recorded:
    """The stereo WAV of a call's pcap: LEFT what was sent to ``left_port``, RIGHT the rest."""
    def side(packet: _Rtp) -> int | None:
        if packet.port == left_port:
            return 0
        return 1 if right_port is None or packet.port == right_port else None

    channels, counts, frames = _channels(pcap, side, max_seconds)
    stereo = bytearray(4 * frames)
    for which, channel in enumerate(channels):
        stereo[2 * which::4] = channel[0::2]
        stereo[2 * which + 1::4] = channel[1::2]
    return Recorded(_wav(bytes(stereo), 2), frames / RATE, counts[0], counts[1])


def mono_wav(pcap: bytes, port: int, max_seconds: float = 600.0) -> Recorded:
    """The mono WAV of what was sent to ``port`` (a voicemail: the caller alone)."""
    channels, counts, frames = _channels(
        pcap, lambda packet: 0 if packet.port == port else None, max_seconds)
    return Recorded(_wav(bytes(channels[0]), 1), frames / RATE, counts[0], 0)


def voiced_seconds(wav: bytes, threshold_dbfs: float = VOICED_DBFS) -> float:
    """The seconds of a 16-bit WAV's first channel whose 20 ms frames are louder than
    ``threshold_dbfs`` (RMS): how much of a message holds sound, whatever its length."""
    with wave.open(io.BytesIO(wav), "rb") as reader:
        width, channels, rate = reader.getsampwidth(), reader.getnchannels(), reader.getframerate()
        data = reader.readframes(reader.getnframes())
    if width != 2 or rate <= 0:
        raise RecordingError("not a 16-bit WAV")
    samples = array("h")
    samples.frombytes(data[:len(data) - len(data) % 2])
    if sys.byteorder == "big":
        samples.byteswap()
    samples = samples[::channels]
    step = max(1, rate // 50)
    floor = (32768 * 10 ** (threshold_dbfs / 20)) ** 2 * step
    voiced = sum(1 for at in range(0, len(samples) - step + 1, step)
                 if sum(v * v for v in samples[at:at + step]) > floor)
    return voiced * step / rate


def main(argv: list[str]) -> int:
    """``python -m appliance.media.recording PCAP WAV LEFT_PORT [--mono]``: write the WAV
    (stereo; ``--mono``: what was sent to the port alone), print ``{"seconds": S, "bytes": N,
    "voiced": V}``; run apart from the daemon, so that a long call's conversion never grows
    the daemon's memory. Exit 2 on a pcap it cannot read."""
    pcap, wav, port = Path(argv[0]), Path(argv[1]), int(argv[2])
    mono = "--mono" in argv[3:]
    try:
        made = mono_wav(pcap.read_bytes(), port) if mono else stereo_wav(pcap.read_bytes(), port)
        voiced = voiced_seconds(made.wav) if mono else made.seconds
    except RecordingError as exc:
        print(f"recording: {exc}", file=sys.stderr)
        return 2
    wav.write_bytes(made.wav)
    print(json.dumps({"seconds": made.seconds, "bytes": len(made.wav), "voiced": voiced}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
