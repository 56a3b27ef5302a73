"""TFTP packets and option negotiation (RFC 1350, 2347, 2348, 2349), without sockets."""

from __future__ import annotations

import io
import struct

from tftpy.TftpPacketFactory import TftpPacketFactory

from appliance.provisioning.tftp import (
    Blocks,
    data_packet,
    error_packet,
    negotiate,
    netascii,
    netascii_size,
    oack_packet,
)


def test_options_are_clamped_and_unknown_ones_ignored() -> None:
    accepted, blksize, timeout = negotiate({"BLKSIZE": "1468", "tsize": "0", "timeout": "3",
                                            "windowsize": "8"}, 2048)
    assert accepted == {"blksize": "1468", "tsize": "2048", "timeout": "3"}
    assert (blksize, timeout) == (1468, 3.0)
    assert negotiate({"blksize": "4"}, 10)[1] == 8
    assert negotiate({"blksize": "99999"}, 10)[1] == 65464
    assert negotiate({"blksize": "x", "timeout": "0"}, 10) == ({}, 512, 0.0)
    assert negotiate({}, 10) == ({}, 512, 0.0)


def test_packets_round_trip_through_tftpy() -> None:
    factory = TftpPacketFactory()
    oack = factory.parse(oack_packet({"blksize": "1024", "tsize": "7"}))
    assert oack.options == {"blksize": "1024", "tsize": "7"}
    err = factory.parse(error_packet(2))
    assert err.errorcode == 2
    assert data_packet(65537, b"ab") == struct.pack("!HH", 3, 1) + b"ab"


def test_netascii() -> None:
    assert netascii(b"a\nb\rc") == b"a\r\nb\r\x00c"


class CountingStream(io.BytesIO):
    """A stream that remembers the largest single read asked of it."""

    largest = 0

    def read(self, size: int | None = -1) -> bytes:
        self.largest = max(self.largest, size if size is not None and size >= 0 else 1 << 62)
        return super().read(size)


def test_blocks_stream_netascii_a_block_at_a_time() -> None:
    data = (b"line one\nline\rtwo\r\n" * 500) + b"\r"  # a CR last, split across blocks
    for blksize in (8, 512, 1468):
        stream = CountingStream(data)
        blocks = Blocks(stream, blksize, convert=True)
        out, payloads = bytearray(), []
        while True:
            chunk = blocks.next()
            payloads.append(chunk)
            out += chunk
            if len(chunk) < blksize:
                break
        assert bytes(out) == netascii(data)
        assert all(len(p) == blksize for p in payloads[:-1])
        assert stream.largest <= blksize  # never the whole file at once
        assert netascii_size(io.BytesIO(data)) == len(netascii(data))


def test_blocks_octet_and_an_exact_multiple_ends_with_an_empty_block() -> None:
    blocks = Blocks(io.BytesIO(b"x" * 1024), 512, convert=False)
    assert [len(blocks.next()) for _ in range(3)] == [512, 512, 0]
