"""TFTP packets and option negotiation (RFC 1350, 2347, 2348, 2349), without sockets."""

from __future__ import annotations

import struct

from tftpy.TftpPacketFactory import TftpPacketFactory

from appliance.provisioning.tftp import (
    data_packet,
    error_packet,
    negotiate,
    netascii,
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
