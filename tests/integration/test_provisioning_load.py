"""Memory and transfer caps against the running daemon: a netascii firmware fetch is streamed
(RSS measured from /proc, an outcome check), concurrent TFTP transfers are capped per source."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import RunningDaemon, appliance_json, start_daemon
from tests.integration.provisioning_helpers import port_of, prov_config, tftp_get

pytestmark = pytest.mark.integration

COMMON = "y000000000108.cfg"
IMAGE_MIB = 48


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    """A memory figure of process ``pid`` from /proc, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[RunningDaemon]:
    config = prov_config(tmp_path, "tftp_transfers_per_source = 2\ntftp_transfers = 50\n")
    running = start_daemon(config, env={**os.environ, "NOTIFY_SOCKET": ""})
    yield running
    running.stop()


def test_netascii_firmware_fetch_is_streamed(daemon: RunningDaemon, tmp_path: Path) -> None:
    image = tmp_path / "T46U-108.86.0.200.rom"
    block = (bytes(range(256)) * 4096)  # 1 MiB holding CR and LF bytes, which netascii grows
    with image.open("wb") as stream:
        for _ in range(IMAGE_MIB):
            stream.write(block)
    added = appliance_json(daemon.config, "firmware", "add", str(image), "--vendor", "yealink",
                           "--model", "SIP-T46U", "--version", "108.86.0.200")
    pid, port = daemon.process.pid, port_of(daemon.ports["tftp"])
    assert tftp_get(port, COMMON, "curl") is not None  # warmed up: what a served file costs
    baseline = rss_kib(pid)
    peak = [baseline]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib(pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out = tmp_path / "received"
    try:
        result = subprocess.run(
            ["curl", "-s", "-f", "--max-time", "240", "--tftp-blksize", "65464", "-o", str(out),
             f"tftp://127.0.0.1:{port}/firmware/{added['filename']};mode=netascii"],
            capture_output=True, timeout=300, check=False)
    finally:
        done.set()
        sampler.join(5)
    assert result.returncode == 0, result.stderr
    size = image.stat().st_size
    # netascii: each CR became CR NUL, each LF CR LF (curl keeps the bytes as sent)
    grown = size + 2 * IMAGE_MIB * 4096
    assert out.stat().st_size == grown
    with out.open("rb") as got:
        assert got.read(16) == bytes(range(10)) + b"\r\n\x0b\x0c\r\x00"
    print(f"RSS baseline {baseline} KiB, peak {peak[0]} KiB, file {size // 1024} KiB")
    assert peak[0] - baseline < size // 1024 // 8, (baseline, peak[0], size)  # < 1/8 of it
    assert daemon.process.poll() is None


def _hold(port: int, source: str) -> socket.socket:
    """An RRQ for the common file from ``source`` whose DATA is never ACKed: a transfer held
    open (the server retransmits until it gives up)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((source, 0))
    sock.settimeout(5)
    sock.sendto(struct.pack("!H", 1) + COMMON.encode() + b"\x00octet\x00", ("127.0.0.1", port))
    data, _ = sock.recvfrom(2048)
    assert struct.unpack_from("!HH", data) == (3, 1)
    return sock


def test_the_transfer_cap_refuses_the_next_transfer_from_one_source(
        daemon: RunningDaemon) -> None:
    port = port_of(daemon.ports["tftp"])
    held = [_hold(port, "127.0.0.20") for _ in range(2)]
    try:
        extra = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        extra.bind(("127.0.0.20", 0))
        extra.settimeout(5)
        extra.sendto(struct.pack("!H", 1) + COMMON.encode() + b"\x00octet\x00",
                     ("127.0.0.1", port))
        reply, sender = extra.recvfrom(2048)
        extra.close()
        opcode, code = struct.unpack_from("!HH", reply)
        assert (opcode, code) == (5, 0) and b"busy" in reply  # a clean TFTP error
        assert sender[1] == port  # from the listening port: no transfer was started
        # A real client from the same source is refused the same way, others are served.
        assert subprocess.run(["curl", "-s", "-f", "--interface", "127.0.0.20", "-o",
                               "/dev/null", "--max-time", "10", f"tftp://127.0.0.1:{port}/{COMMON}"],
                              timeout=30, check=False).returncode != 0
        assert tftp_get(port, COMMON, "tftp") is not None
        # The held transfers go on undisturbed: ACKed now, each ends normally.
        for sock in held:
            data, tid = sock.recvfrom(2048)  # a retransmission of block 1
            assert struct.unpack_from("!HH", data) == (3, 1)
            sock.sendto(struct.pack("!HH", 4, 1), tid)
    finally:
        for sock in held:
            sock.close()
    # Their slots are free again: the source is served.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if subprocess.run(["curl", "-s", "-f", "--interface", "127.0.0.20", "-o", "/dev/null",
                           "--max-time", "10", f"tftp://127.0.0.1:{port}/{COMMON}"],
                          timeout=30, check=False).returncode == 0:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the source stayed refused after its transfers ended")
    assert daemon.process.poll() is None
