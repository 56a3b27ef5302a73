"""Recordings: rtpengine's per-call pcap (built here as rtpengine 10.5 writes it) into a stereo
WAV; G.711 per the ITU reference decode; timing by capture time and RTP timestamp; what is
malformed skipped; a file that is no pcap refused; the length capped."""

from __future__ import annotations

import bisect
import io
import itertools
import math
import struct
import wave
from array import array

import pytest

from appliance.errors import MediaError, RecordingError
from appliance.media.recording import (
    ALAW,
    PCMA,
    PCMU,
    ULAW,
    Recorded,
    alaw_to_linear,
    decode,
    stereo_wav,
    ulaw_to_linear,
)

CALLER, EMPLOYEE = 30000, 30002
LE, BE = b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4"
LE_NS = b"\x4d\x3c\xb2\xa1"
_SORTED = {pt: sorted((v, c) for c, v in enumerate(t)) for pt, t in ((PCMU, ULAW), (PCMA, ALAW))}


# --- building pcaps -------------------------------------------------------------------------

def encode(payload_type: int, samples: list[int]) -> bytes:
    """G.711 by the nearest table value (good enough to make test tones)."""
    table = _SORTED[payload_type]
    out = bytearray()
    for sample in samples:
        i = bisect.bisect_left(table, (sample, -1))
        near = [table[j] for j in (i - 1, i) if 0 <= j < len(table)]
        out.append(min(near, key=lambda vc: abs(vc[0] - sample))[1])
    return bytes(out)


def tone(freq: float, count: int, phase: int = 0) -> list[int]:
    return [int(8000 * math.sin(2 * math.pi * freq * (phase + n) / 8000)) for n in range(count)]


def rtp(seq: int, ts: int, ssrc: int, pt: int, payload: bytes, *, csrcs: int = 0,
        extension: bytes | None = None, padding: int = 0, version: int = 2) -> bytes:
    first = version << 6 | (0x20 if padding else 0) | (0x10 if extension is not None else 0)
    head = struct.pack("!BBHII", first | csrcs, pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc)
    head += b"\x00\x00\x00\x07" * csrcs
    if extension is not None:
        head += struct.pack("!HH", 0xBEDE, len(extension) // 4) + extension
    pad = bytes(padding - 1) + bytes([padding]) if padding else b""
    return head + payload + pad


def udp(port: int, data: bytes) -> bytes:
    return struct.pack("!HHHH", 40000, port, 8 + len(data), 0) + data


def ipv4(data: bytes, proto: int = 17, options: bytes = b"") -> bytes:
    ihl = (20 + len(options)) // 4
    return struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, 20 + len(options) + len(data), 0, 0x4000,
                       64, proto, 0, bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])) + options + data


def ipv6(data: bytes, proto: int = 17) -> bytes:
    return struct.pack("!IHBB16s16s", 6 << 28, len(data), proto, 64, bytes(16), bytes(16)) + data


def ether(ip: bytes, ethertype: int | None = None) -> bytes:
    if ethertype is None:
        ethertype = 0x86DD if ip[0] >> 4 == 6 else 0x0800
    return bytes(12) + struct.pack("!H", ethertype) + ip


def pcap(records: list[tuple[float, bytes]], linktype: int = 1, magic: bytes = LE) -> bytes:
    order = "<" if magic in (LE, LE_NS) else ">"
    unit = 1_000_000_000 if magic == LE_NS else 1_000_000
    out = bytearray(magic + struct.pack(order + "HHiIII", 2, 4, 0, 0, 65535, linktype))
    for time, frame in records:
        whole = round(time * unit)
        out += struct.pack(order + "IIII", whole // unit, whole % unit, len(frame), len(frame))
        out += frame
    return bytes(out)


def stream(port: int, pt: int, freq: float, start: float, *, packets: int = 50, ts: int = 1000,
           ssrc: int = 0x1111, seq: int = 7) -> list[tuple[float, int, bytes]]:
    """(capture time, port, RTP packet) of a tone, 160 samples every 20 ms."""
    return [(start + 0.02 * n, port,
             rtp(seq + n, ts + 160 * n, ssrc, pt, encode(pt, tone(freq, 160, 160 * n))))
            for n in range(packets)]


def call(*streams: list[tuple[float, int, bytes]], wrap=ether, ip=ipv4,
         linktype: int = 1, magic: bytes = LE) -> bytes:
    packets = sorted((p for s in streams for p in s), key=lambda p: p[0])
    return pcap([(t, wrap(ip(udp(port, data)))) for t, port, data in packets], linktype, magic)


def caller() -> list[tuple[float, int, bytes]]:
    return stream(CALLER, PCMA, 440, 100.0)


def employee() -> list[tuple[float, int, bytes]]:
    return stream(EMPLOYEE, PCMU, 1000, 100.5, ts=4_000_000_000, ssrc=0x2222, seq=65530)


def channels(recorded: Recorded) -> tuple[array[int], array[int]]:
    with wave.open(io.BytesIO(recorded.wav), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, 8000)
        frames = array("h", w.readframes(w.getnframes()))
    assert len(frames) / 2 / 8000 == recorded.seconds
    return frames[0::2], frames[1::2]


def frequency(samples: array[int]) -> float:
    crossings = sum(1 for a, b in itertools.pairwise(samples) if (a < 0) != (b < 0))
    return crossings / 2 / (len(samples) / 8000)


REFERENCE = call(caller(), employee())


# --- G.711 ------------------------------------------------------------------------------------

def test_g711_decodes_as_the_itu_reference() -> None:
    assert (ULAW[0xFF], ULAW[0x00], ULAW[0x80], ULAW[0x7F], ULAW[0x01]) == (0, -32124, 32124, 0,
                                                                            -31100)
    assert (ALAW[0xD5], ALAW[0x55], ALAW[0x2A], ALAW[0xAA], ALAW[0x00], ALAW[0x01], ALAW[0x80]) \
        == (8, -8, -32256, 32256, -5504, -5248, 5504)
    assert [ulaw_to_linear(c) for c in range(256)] == list(ULAW)
    assert [alaw_to_linear(c) for c in range(256)] == list(ALAW)
    for table in (ULAW, ALAW):  # odd symmetry: the sign bit flips the sample
        assert all(table[c] == -table[c ^ 0x80] for c in range(256))
    assert len(set(ULAW)) == 255 and len(set(ALAW)) == 256  # µ-law has +0 and -0
    assert array("h", decode(PCMU, b"\x00\xff\x80")).tolist() == [-32124, 0, 32124]
    assert array("h", decode(PCMA, b"\x2a\xd5")).tolist() == [-32256, 8]
    assert decode(9, b"\x00\x01") == b"" and decode(101, b"\x00") == b""


# --- the call ---------------------------------------------------------------------------------

def test_a_call_becomes_a_stereo_wav_in_wall_clock_time() -> None:
    recorded = stereo_wav(REFERENCE, CALLER)
    assert (recorded.seconds, recorded.left_packets, recorded.right_packets) == (1.5, 50, 50)
    left, right = channels(recorded)
    assert 420 < frequency(left[:8000]) < 460
    assert 960 < frequency(right[4000:]) < 1040
    assert not any(right[:4000]) and any(right[4000:4010])
    assert not any(left[8000:]) and all(left[7990:8000])
    assert stereo_wav(REFERENCE, CALLER, EMPLOYEE) == recorded
    only_left = stereo_wav(REFERENCE, CALLER, 30004)
    assert (only_left.seconds, only_left.right_packets) == (1.0, 0)
    swapped = channels(stereo_wav(REFERENCE, EMPLOYEE, CALLER))
    assert (swapped[0], swapped[1][:8000]) == (right, left[:8000])


def test_dtmf_and_other_payload_types_add_no_sound() -> None:
    dtmf = [(101.0 + 0.02 * n, CALLER, rtp(57 + n, 9000 + 160 * n, 0x1111, 101,
                                          bytes([5, 0x0A, 0, 160]))) for n in range(25)]
    g722 = [(101.0 + 0.02 * n, 30004, rtp(n, 160 * n, 0x3333, 9, b"\x55" * 160))
            for n in range(25)]
    recorded = stereo_wav(call(caller(), employee(), dtmf, g722), CALLER, EMPLOYEE)
    assert (recorded.wav, recorded.seconds) == (stereo_wav(REFERENCE, CALLER).wav, 1.5)
    assert (recorded.left_packets, recorded.right_packets) == (75, 50)
    silent = stereo_wav(call(dtmf), CALLER)
    assert (silent.seconds, silent.left_packets) == (0.0, 25)
    with wave.open(io.BytesIO(silent.wav), "rb") as w:
        assert (w.getnchannels(), w.getnframes()) == (2, 0)


def test_duplicates_are_ignored() -> None:
    recorded = stereo_wav(call(caller(), caller(), employee(), employee()[::3]), CALLER)
    assert recorded == stereo_wav(REFERENCE, CALLER)


def test_a_timestamp_wrap_keeps_continuity() -> None:
    near_wrap = stream(CALLER, PCMA, 440, 100.0, ts=2**32 - 800)  # wraps after 5 packets
    assert stereo_wav(call(near_wrap, employee()), CALLER) == stereo_wav(REFERENCE, CALLER)


def test_packets_go_by_timestamp_not_by_arrival() -> None:
    jittered = [(t + (0.013 if n % 2 else 0.0) + (0.3 if n == 10 else 0.0), port, data)
                for n, (t, port, data) in enumerate(caller())]
    assert stereo_wav(call(jittered, employee()), CALLER) == stereo_wav(REFERENCE, CALLER)


def test_an_ssrc_change_continues_by_capture_time() -> None:
    first, second = caller()[:25], caller()[25:]
    second = [(t, port, rtp(100 + n, 5_000_000 + 160 * n, 0x9999, PCMA, data[12:]))
              for n, (t, port, data) in enumerate(second)]  # same tone, new SSRC, sequence, clock
    recorded = stereo_wav(call(first, second, employee()), CALLER)
    assert recorded == stereo_wav(REFERENCE, CALLER)


def test_the_first_writer_wins() -> None:
    loud = [(100.0 + 0.02 * n, CALLER, rtp(n, 160 * n, 1, PCMU, b"\x00" * 160)) for n in range(4)]
    late = [(100.1, CALLER, rtp(9, 80, 1, PCMU, b"\x80" * 480))]  # comes last, covers 80..560
    left, _ = channels(stereo_wav(call(loud, late), CALLER))
    assert len(left) == 640 and set(left) == {-32124}
    left, _ = channels(stereo_wav(call(loud[::2], late), CALLER))  # loud at 0..160, 320..480
    assert left.tolist() == [-32124] * 160 + [32124] * 160 + [-32124] * 160 + [32124] * 80


def test_rtp_headers_are_read_per_rfc_3550() -> None:
    payload = bytes(range(160))
    packet = rtp(1, 0, 5, PCMU, payload, csrcs=2, extension=b"\x01\x02\x03\x04", padding=4)
    left, _ = channels(stereo_wav(call([(1.0, CALLER, packet)]), CALLER))
    assert left.tobytes() == decode(PCMU, payload)


def test_malformed_records_and_packets_are_skipped() -> None:
    voice = rtp(1, 0, 1, PCMU, b"\x00" * 160)
    good = [(t, ether(ipv4(udp(port, data)))) for t, port, data in sorted(
        caller() + employee(), key=lambda p: p[0])]
    bad = [
        b"", b"\x00" * 10, b"garbage" * 20,
        ether(ipv4(udp(CALLER, voice)), ethertype=0x0806),  # ARP
        ether(ipv4(udp(CALLER, voice), proto=6)),  # TCP
        ether(ipv4(udp(CALLER, voice))[:-10]),  # IP cut short
        ether(ipv4(udp(CALLER, voice)[:-10])),  # UDP longer than its datagram
        ether(ipv4(udp(CALLER, rtp(1, 0, 1, PCMU, voice[12:], version=1)))),
        ether(ipv4(udp(CALLER, rtp(2, 0, 1, PCMU, b"")))),  # no payload
        ether(ipv4(udp(CALLER, voice[:11]))),  # shorter than an RTP header
        ether(ipv4(udp(CALLER, rtp(3, 0, 1, PCMU, b"\x00", padding=1)[:-1] + b"\x0a"))),
        ether(ipv4(udp(CALLER, rtp(3, 0, 1, PCMU, b"\x00", padding=1)[:-1] + b"\x00"))),
        ether(ipv4(udp(CALLER, rtp(4, 0, 1, PCMU, b"", csrcs=15)))),
        ether(ipv4(udp(CALLER, bytes([0x90]) + voice[1:12] + b"\xbe\xde\xff\xff" + voice))),
    ]
    fragment = bytearray(ether(ipv4(udp(CALLER, voice))))
    fragment[20] |= 0x20  # more fragments
    bad.append(bytes(fragment))
    noisy = pcap(good[:10] + [(100.1, frame) for frame in bad] + good[10:])
    truncated = noisy + struct.pack("<IIII", 200, 0, 500, 500) + b"\x00" * 100
    assert stereo_wav(truncated, CALLER) == stereo_wav(REFERENCE, CALLER)
    assert stereo_wav(REFERENCE + b"\x00" * 15, CALLER) == stereo_wav(REFERENCE, CALLER)


def test_other_link_types_ip_versions_and_byte_orders() -> None:
    reference = stereo_wav(REFERENCE, CALLER)
    variants = [
        call(caller(), employee(), wrap=lambda ip: ip, linktype=101),
        call(caller(), employee(), wrap=lambda ip: struct.pack("<I", 2) + ip, linktype=0),
        call(caller(), employee(), ip=ipv6),
        call(caller(), employee(), ip=ipv6, wrap=lambda ip: ip, linktype=101),
        call(caller(), employee(), ip=lambda d: ipv4(d, options=b"\x01" * 8)),  # IHL 7
        call(caller(), employee(), wrap=lambda ip: bytes(12) + b"\x81\x00\x00\x05\x08\x00" + ip),
        call(caller(), employee(), magic=BE),
        call(caller(), employee(), magic=LE_NS),
    ]
    for variant in variants:
        assert stereo_wav(variant, CALLER) == reference


def test_a_file_that_is_no_pcap_is_refused() -> None:
    assert issubclass(RecordingError, MediaError)
    for bad in (b"", REFERENCE[:23], b"\x0a\x0d\x0d\x0a" + REFERENCE[4:], b"RIFF" + bytes(40)):
        with pytest.raises(RecordingError):
            stereo_wav(bad, CALLER)
    with pytest.raises(RecordingError, match="link type"):
        stereo_wav(REFERENCE[:20] + struct.pack("<I", 113) + REFERENCE[24:], CALLER)
    empty = stereo_wav(REFERENCE[:24], CALLER)
    assert (empty.seconds, empty.left_packets, empty.right_packets) == (0.0, 0, 0)


def test_max_seconds_caps_the_output() -> None:
    capped = stereo_wav(REFERENCE, CALLER, max_seconds=0.75)
    assert (capped.seconds, capped.left_packets, capped.right_packets) == (0.75, 38, 13)
    left, right = channels(capped)
    full_left, full_right = channels(stereo_wav(REFERENCE, CALLER))
    assert (left, right) == (full_left[:6000], full_right[:6000])
    far = [(100.1, CALLER, rtp(99, 1000 + 2**31 - 1, 0x1111, PCMA, b"\x55" * 160)),
           (100.2, CALLER, rtp(98, 1000 + 2**30, 0x1111, PCMA, b"\x55" * 160)),
           (100.3, 30004, rtp(1, 0, 0x4444, PCMU, b"\x00" * 160))]
    far.append((20_000.0, CALLER, rtp(1, 0, 0x5555, PCMU, b"\x00" * 160)))  # starts past the cap
    hostile = stereo_wav(call(caller(), employee(), far), CALLER, EMPLOYEE, max_seconds=3600)
    assert hostile == stereo_wav(REFERENCE, CALLER)
    assert stereo_wav(REFERENCE, CALLER, max_seconds=0).seconds == 0.0
