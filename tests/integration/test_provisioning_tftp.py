"""The TFTP server's lock-step against the running daemon, packet by packet from a raw
socket: options acknowledged, a duplicate ACK answered with nothing (no Sorcerer's
Apprentice), a stranger to the transfer gets error 5 and changes nothing, an unACKed block is
sent again after the timeout and then given up, an ERROR from the client ends the transfer."""

from __future__ import annotations

import os
import socket
import struct
import time
from collections.abc import Iterator

import pytest

from tests.integration.conftest import RunningDaemon, start_daemon
from tests.integration.provisioning_helpers import port_of, prov_config, tftp_get

pytestmark = pytest.mark.integration

COMMON = "y000000000108.cfg"
BLKSIZE = 64


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    running = start_daemon(prov_config(tmp_path_factory.mktemp("tftp")),
                           env={**os.environ, "NOTIFY_SOCKET": ""})
    yield running
    running.stop()


def _client(source: str = "127.0.0.30") -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((source, 0))
    sock.settimeout(3)
    return sock


def _rrq(sock: socket.socket, port: int) -> tuple[bytes, tuple[str, int]]:
    sock.sendto(struct.pack("!H", 1) + COMMON.encode() + b"\x00octet\x00blksize\x00"
                + str(BLKSIZE).encode() + b"\x00", ("127.0.0.1", port))
    return sock.recvfrom(2048)


def _silent(sock: socket.socket, seconds: float) -> bool:
    """True when nothing arrives on ``sock`` for ``seconds``."""
    sock.settimeout(seconds)
    try:
        sock.recvfrom(2048)
    except TimeoutError:
        return True
    finally:
        sock.settimeout(3)
    return False


def test_lock_step_with_a_duplicate_ack_and_a_stranger(daemon: RunningDaemon) -> None:
    port = port_of(daemon.ports["tftp"])
    whole = tftp_get(port, COMMON, "curl")
    assert whole is not None and len(whole) > 3 * BLKSIZE
    sock, stranger = _client(), _client("127.0.0.31")
    try:
        oack, tid = _rrq(sock, port)
        assert oack[:2] == b"\x00\x06" and b"blksize\x0064\x00" in oack and tid[1] != port
        received, block = b"", 0
        while True:
            sock.sendto(struct.pack("!HH", 4, block), tid)
            if block == 1:  # the same ACK again: ignored, not a second DATA 2
                sock.sendto(struct.pack("!HH", 4, block), tid)
                stranger.sendto(struct.pack("!HH", 4, block), tid)
                error, _ = stranger.recvfrom(2048)
                assert struct.unpack_from("!HH", error) == (5, 5)  # unknown transfer ID
            data, sender = sock.recvfrom(2048)
            assert sender == tid and struct.unpack_from("!HH", data) == (3, block + 1)
            received += data[4:]
            block += 1
            if block == 2:
                assert _silent(sock, 0.5)  # no duplicate of DATA 2 (the timeout is 1 s)
            if len(data) - 4 < BLKSIZE:
                sock.sendto(struct.pack("!HH", 4, block), tid)
                break
        assert received == whole
        assert _silent(sock, 1.5)  # the last ACK ended it: no DATA again, no empty block
    finally:
        sock.close()
        stranger.close()


def test_an_unacked_block_is_sent_again_then_given_up(daemon: RunningDaemon) -> None:
    port = port_of(daemon.ports["tftp"])
    sock = _client()
    try:
        _oack, tid = _rrq(sock, port)
        sock.sendto(struct.pack("!HH", 4, 0), tid)
        first, _ = sock.recvfrom(2048)
        started = time.monotonic()
        again, sender = sock.recvfrom(2048)  # no ACK: the same block after the timeout
        assert again == first and sender == tid and 0.8 < time.monotonic() - started < 2.0
        sends = 2
        sock.settimeout(2.5)
        with pytest.raises(TimeoutError):
            while True:
                sock.recvfrom(2048)
                sends += 1
        assert sends == 6  # the first send and five retries, then silence
    finally:
        sock.close()


def test_a_one_block_file_ends_at_its_ack(daemon: RunningDaemon) -> None:
    port = port_of(daemon.ports["tftp"])
    sock = _client()
    try:
        sock.sendto(struct.pack("!H", 1) + COMMON.encode() + b"\x00octet\x00blksize\x00"
                    + b"1428\x00", ("127.0.0.1", port))
        _oack, tid = sock.recvfrom(2048)
        sock.sendto(struct.pack("!HH", 4, 0), tid)
        data, _ = sock.recvfrom(2048)
        assert struct.unpack_from("!HH", data) == (3, 1) and len(data) - 4 < 1428
        sock.sendto(struct.pack("!HH", 4, 1), tid)
        assert _silent(sock, 1.5)
    finally:
        sock.close()


def test_an_error_from_the_client_ends_the_transfer(daemon: RunningDaemon) -> None:
    port = port_of(daemon.ports["tftp"])
    sock = _client()
    try:
        _oack, tid = _rrq(sock, port)
        sock.sendto(struct.pack("!HH", 5, 0) + b"disk full\x00", tid)
        assert _silent(sock, 1.5)  # the OACK is not sent again
    finally:
        sock.close()
    assert tftp_get(port, COMMON, "tftp") is not None
    assert daemon.process.poll() is None
