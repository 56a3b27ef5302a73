"""Boot storm: N phones fetch common + per-MAC files over TFTP at once; the appliance against
Debian's tftpd-hpa serving the same files pre-rendered, in the same run, on 127.0.0.1.

Run: .venv/bin/python bench/boot_storm.py [--phones 500] [--rounds 2]
Needs tftpd-hpa's in.tftpd (installed by this script with apt-get when missing, as root).
Reports files/s, p50 and p99 fetch time, failures for both, the ratio, and the daemon's peak
RSS. Not a test: figures vary with the machine; only the ratio in one run means much.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from appliance.directory import Directory  # noqa: E402
from appliance.store import open_store, upgrade  # noqa: E402

COMMON = "y000000000108.cfg"
TIMEOUT, RETRIES = 1.0, 5
RETRANSMITS = [0]


class Fetch(asyncio.DatagramProtocol):
    """One RRQ, lock-step ACKs, retransmission on timeout; result in ``done``."""

    def __init__(self, server: tuple[str, int], name: str) -> None:
        self.server, self.name = server, name
        self.done: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        self.data = bytearray()
        self.block = 0
        self.tid: tuple[str, int] | None = None
        self.last = b""
        self.timer: asyncio.TimerHandle | None = None
        self.tries = 0
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.last = struct.pack("!H", 1) + self.name.encode() + b"\x00octet\x00"
        self._send(self.server)

    def _send(self, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(self.last, addr)
        if self.timer:
            self.timer.cancel()
        self.timer = asyncio.get_running_loop().call_later(TIMEOUT, self._timeout, addr)

    def _timeout(self, addr: tuple[str, int]) -> None:
        self.tries += 1
        RETRANSMITS[0] += 1
        if self.tries > RETRIES:
            self._finish(None)
        else:
            self._send(addr)

    def _finish(self, result: bytes | None) -> None:
        if self.timer:
            self.timer.cancel()
        if not self.done.done():
            self.done.set_result(result)
        if self.transport:
            self.transport.close()

    def datagram_received(self, packet: bytes, addr: tuple[str, int]) -> None:
        if self.tid is None:
            self.tid = addr
        elif addr != self.tid:
            return
        opcode, block = struct.unpack_from("!HH", packet)
        if opcode == 5:
            self._finish(None)
            return
        if opcode != 3:
            return
        if block == (self.block + 1) & 0xFFFF:
            self.block += 1
            self.data += packet[4:]
            self.tries = 0
            self.last = struct.pack("!HH", 4, block)
            if len(packet) - 4 < 512:
                assert self.transport is not None
                self.transport.sendto(self.last, addr)
                self._finish(bytes(self.data))
                return
        self._send(addr)


async def fetch(server: tuple[str, int], name: str) -> tuple[bytes | None, float]:
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    _, proto = await loop.create_datagram_endpoint(lambda: Fetch(server, name),
                                                   local_addr=("127.0.0.1", 0))
    result = await proto.done
    return result, time.perf_counter() - start


async def storm(server: tuple[str, int], macs: list[str]) -> dict[str, float]:
    times: list[float] = []
    failures = 0

    async def phone(mac: str) -> None:
        nonlocal failures
        for name in (COMMON, f"{mac}.cfg"):
            data, took = await fetch(server, name)
            if not data:
                failures += 1
            else:
                times.append(took)

    start = time.perf_counter()
    RETRANSMITS[0] = 0
    drops = udp_rcvbuf_errors()
    await asyncio.gather(*(phone(mac) for mac in macs))
    wall = time.perf_counter() - start
    times.sort()

    def pct(q: float) -> float:
        return times[min(len(times) - 1, int(q * len(times)))] if times else float("nan")

    return {"files_per_s": len(times) / wall, "p50": pct(0.50), "p99": pct(0.99),
            "failures": failures, "files": len(times), "wall": wall,
            "retransmits": RETRANSMITS[0], "drops": udp_rcvbuf_errors() - drops}


def udp_rcvbuf_errors() -> int:
    """The kernel's count of UDP datagrams dropped on a full receive buffer."""
    lines = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines()
             if line.startswith("Udp:")]
    return int(lines[1][lines[0].index("RcvbufErrors")])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_tftpd() -> str:
    path = shutil.which("in.tftpd")
    if path:
        return path
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "tftpd-hpa"],
                   check=True, env=env)
    return shutil.which("in.tftpd") or "/usr/sbin/in.tftpd"


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def setup(folder: Path, phones: int) -> tuple[Path, list[str]]:
    config = folder / "appliance.toml"
    config.write_text(f"""
[paths]
data = "{folder / 'data'}"
[log]
level = "warning"
[web]
enabled = false
[sip]
enabled = false
listen = "127.0.0.1:5060"
[provisioning]
tftp_listen = "127.0.0.1:0"
http_listen = "127.0.0.1:0"
ban_misses = 0
macs_per_source = 0
neighbor_check = false
""")
    store = open_store(f"sqlite:///{folder / 'data' / 'appliance.db'}")
    upgrade(store)
    directory = Directory(store, actor="bench")
    macs = []
    for n in range(phones):
        mac = f"001565{n:06x}"
        employee = directory.add_employee(f"Phone {n}")
        directory.add_extension(str(1000 + n))
        directory.assign_extension(str(1000 + n), employee.id)
        directory.assign_phone(mac, str(1000 + n))
        macs.append(mac)
    store.dispose()
    return config, macs


async def main_async(args: argparse.Namespace) -> None:
    tftpd = ensure_tftpd()
    with tempfile.TemporaryDirectory(prefix="boot-storm-") as tmp:
        folder = Path(tmp)
        os.chmod(folder, 0o755)
        print(f"setting up {args.phones} assigned phones...", flush=True)
        config, macs = setup(folder, args.phones)
        daemon = subprocess.Popen([sys.executable, "-m", "appliance", "run", "--config",
                                   str(config)], cwd=ROOT, stderr=subprocess.DEVNULL)
        ports = folder / "data" / "run" / "ports.json"
        deadline = time.monotonic() + 60
        while not ports.exists() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        ours = ("127.0.0.1", int(json.loads(ports.read_text())["tftp"].rsplit(":", 1)[1]))
        files = folder / "files"
        files.mkdir(mode=0o755)
        for name in [COMMON] + [f"{mac}.cfg" for mac in macs]:  # pre-render for tftpd-hpa
            data, _ = await fetch(ours, name)
            assert data, name
            (files / name).write_bytes(data)
            os.chmod(files / name, 0o644)
        peer_port = free_port()
        peer = subprocess.Popen([tftpd, "--foreground", "--address",
                                 f"127.0.0.1:{peer_port}", "--secure", str(files)])
        await asyncio.sleep(0.5)
        results: dict[str, list[dict[str, float]]] = {"tftpd-hpa": [], "appliance": []}
        try:
            for _round in range(args.rounds):
                for label, server in (("tftpd-hpa", ("127.0.0.1", peer_port)),
                                      ("appliance", ours)):
                    await asyncio.sleep(1.0)
                    results[label].append(await storm(server, macs))
            rss = peak_rss_kib(daemon.pid)
        finally:
            peer.send_signal(signal.SIGTERM)
            daemon.send_signal(signal.SIGTERM)
            peer.wait(10)
            daemon.wait(30)
        for label, rounds in results.items():
            for n, r in enumerate(rounds, 1):
                print(f"{label:10s} round {n}: {r['files']:.0f} files in {r['wall']:.2f} s = "
                      f"{r['files_per_s']:.0f} files/s, p50 {r['p50'] * 1000:.0f} ms, "
                      f"p99 {r['p99'] * 1000:.0f} ms, failures {r['failures']:.0f}, "
                      f"client retransmissions {r['retransmits']:.0f}, "
                      f"UDP receive-buffer drops {r['drops']:.0f}")
        best = {k: max(r["files_per_s"] for r in v) for k, v in results.items()}
        print(f"ratio (best round each): {best['appliance'] / best['tftpd-hpa']:.2f}x "
              f"tftpd-hpa's files/s")
        print(f"appliance daemon peak RSS: {rss / 1024:.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--phones", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
