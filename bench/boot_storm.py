"""Boot storm: N phones fetch common + per-MAC files over TFTP at once; the appliance against
Debian's tftpd-hpa serving the same files pre-rendered, in the same run.

The phones sit on a LAN in network namespaces made here (``_storm_lan``), each with its own
MAC and address, and the daemon runs as on a box: the neighbor check binds each phone to its
files, fetches are recorded as sightings, the guard and the transfer caps at their defaults.
tftpd-hpa serves from the same box namespace, so both are reached the same way.

Run (as root): .venv/bin/python bench/boot_storm.py [--phones 500] [--rounds 2]
Needs tftpd-hpa's in.tftpd (installed by this script with apt-get when missing).
Reports files/s, p50 and p99 fetch time, failures for both, the ratio, and the daemon's peak
RSS. Not a test: figures vary with the machine; only the ratio in one run means much.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from appliance.directory import Directory  # noqa: E402
from appliance.store import open_store, upgrade  # noqa: E402
from bench._storm_lan import BOX_IP, Phone, StormLan, phone_socket, storm_lan  # noqa: E402

COMMON = "y000000000108.cfg"
TIMEOUT, RETRIES = 1.0, 5
TFTPD_PORT = 6970  # in the box's own namespace, where nothing else listens
RETRANSMITS = [0]
ERRORS: dict[str, int] = {}  # TFTP errors the phones got, by message


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
            message = packet[4:].split(b"\x00", 1)[0].decode("ascii", "replace")
            ERRORS[f"{block} {message}"] = ERRORS.get(f"{block} {message}", 0) + 1
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


async def fetch(server: tuple[str, int], name: str, phone: Phone) -> tuple[bytes | None, float]:
    """``name`` fetched by ``phone`` (from its own address and MAC), and the time it took."""
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    _, proto = await loop.create_datagram_endpoint(lambda: Fetch(server, name),
                                                   sock=phone_socket(phone))
    result = await proto.done
    return result, time.perf_counter() - start


def cpu_seconds(pid: int) -> float:
    """User + system CPU time that process ``pid`` (all its threads, and its children that
    ended: tftpd-hpa forks one per transfer) has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU time of this process (the phones) so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def storm(lan: StormLan, server: tuple[str, int], pid: int) -> dict[str, Any]:
    """One round: every phone fetches its two files; ``pid`` is the server's process."""
    times: list[float] = []
    failures = 0

    async def boot(phone: Phone) -> None:
        nonlocal failures
        for name in (COMMON, f"{phone.mac}.cfg"):
            data, took = await fetch(server, name, phone)
            if not data:
                failures += 1
            else:
                times.append(took)

    start = time.perf_counter()
    RETRANSMITS[0] = 0
    ERRORS.clear()
    drops = udp_rcvbuf_errors(lan)
    server_cpu, phones_cpu = cpu_seconds(pid), own_cpu_seconds()
    await asyncio.gather(*(boot(phone) for phone in lan.phones))
    wall = time.perf_counter() - start
    server_cpu, phones_cpu = cpu_seconds(pid) - server_cpu, own_cpu_seconds() - phones_cpu
    times.sort()

    def pct(q: float) -> float:
        return times[min(len(times) - 1, int(q * len(times)))] if times else float("nan")

    return {"files_per_s": len(times) / wall, "p50": pct(0.50), "p99": pct(0.99),
            "failures": failures, "files": len(times), "wall": wall,
            "retransmits": RETRANSMITS[0], "drops": udp_rcvbuf_errors(lan) - drops,
            "server_cpu": server_cpu, "phones_cpu": phones_cpu, "errors": dict(ERRORS)}


def udp_rcvbuf_errors(lan: StormLan) -> int:
    """The box namespace's count of UDP datagrams dropped on a full receive buffer."""
    snmp = subprocess.run(lan.cmd("cat", "/proc/net/snmp"), capture_output=True, text=True,
                          check=True, timeout=30).stdout
    lines = [line.split() for line in snmp.splitlines() if line.startswith("Udp:")]
    return int(lines[1][lines[0].index("RcvbufErrors")])


def ensure_tftpd() -> str:
    path = shutil.which("in.tftpd")
    if path:
        return path
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "tftpd-hpa"],
                   check=True, env=env)
    return shutil.which("in.tftpd") or "/usr/sbin/in.tftpd"


def tftp_sightings(folder: Path) -> int:
    """How many phones the store holds a TFTP sighting of (the daemon has stopped)."""
    store = open_store(f"sqlite:///{folder / 'data' / 'appliance.db'}")
    try:
        return sum(1 for phone in Directory(store, actor="bench").list_phones(
            with_sightings=True) if any(s.method == "tftp" for s in phone.sightings))
    finally:
        store.dispose()


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def setup(folder: Path, phones: list[Phone]) -> Path:
    """The box's config (provisioning as shipped, on the box's LAN address) and a store with
    every phone assigned to an active employee's extension."""
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
listen = "{BOX_IP}:5060"
[provisioning]
tftp_listen = "{BOX_IP}:0"
http_listen = "{BOX_IP}:0"
""")
    store = open_store(f"sqlite:///{folder / 'data' / 'appliance.db'}")
    upgrade(store)
    directory = Directory(store, actor="bench")
    for n, phone in enumerate(phones):
        employee = directory.add_employee(f"Phone {n}")
        directory.add_extension(str(1000 + n))
        directory.assign_extension(str(1000 + n), employee.id)
        directory.assign_phone(phone.mac, str(1000 + n))
    store.dispose()
    return config


async def main_async(args: argparse.Namespace, lan: StormLan, tftpd: str, folder: Path,
                     config: Path) -> None:
    daemon = subprocess.Popen(lan.cmd(sys.executable, "-m", "appliance", "run", "--config",
                                      str(config)), cwd=ROOT, stderr=subprocess.DEVNULL)
    try:
        ports = folder / "data" / "run" / "ports.json"
        deadline = time.monotonic() + 60
        while not ports.exists() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        ours = (BOX_IP, int(json.loads(ports.read_text())["tftp"].rsplit(":", 1)[1]))
        files = folder / "files"
        files.mkdir(mode=0o755)
        for n, phone in enumerate(lan.phones):  # pre-render for tftpd-hpa, as each gets it
            for name in (COMMON, f"{phone.mac}.cfg"):
                data, _ = await fetch(ours, name, phone)
                assert data, name
                (files / name).write_bytes(data)
                os.chmod(files / name, 0o644)
            # the neighbor check bound this phone to its MAC: its account is in its file
            account = f"account.1.enable = 1\naccount.1.label = {1000 + n}\n".encode()
            assert data and account in data, f"{phone.mac}: served without its account"
        peer = subprocess.Popen(lan.cmd(tftpd, "--foreground", "--address",
                                        f"{BOX_IP}:{TFTPD_PORT}", "--secure", str(files)))
    except BaseException:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(30)
        raise
    await asyncio.sleep(0.5)
    results: dict[str, list[dict[str, Any]]] = {"tftpd-hpa": [], "appliance": []}
    profiler = None
    try:
        for _round in range(args.rounds):
            for label, server in (("tftpd-hpa", (BOX_IP, TFTPD_PORT)), ("appliance", ours)):
                await asyncio.sleep(1.0)
                if label == "appliance" and args.profile and profiler is None:
                    profiler = subprocess.Popen(["py-spy", "record", "--pid", str(daemon.pid),
                                                 "--threads", "--gil", "--format", "raw", "--rate",
                                                 "200", "--output", args.profile],
                                                stdout=subprocess.DEVNULL)
                    await asyncio.sleep(1.0)
                pid = peer.pid if label == "tftpd-hpa" else daemon.pid
                results[label].append(await storm(lan, server, pid))
        rss = peak_rss_kib(daemon.pid)
    finally:
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(30)
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
                  f"UDP receive-buffer drops {r['drops']:.0f}, CPU: server "
                  f"{r['server_cpu']:.2f} s, phones {r['phones_cpu']:.2f} s"
                  + (f", errors {r['errors']}" if r["errors"] else ""))
    print(f"sightings recorded: {tftp_sightings(folder)} of {len(lan.phones)} phones")
    best = {k: max(r["files_per_s"] for r in v) for k, v in results.items()}
    print(f"ratio (best round each): {best['appliance'] / best['tftpd-hpa']:.2f}x "
          f"tftpd-hpa's files/s")
    print(f"appliance daemon peak RSS: {rss / 1024:.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--phones", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--profile", metavar="FILE",
                        help="sample the daemon with py-spy (on PATH) during the appliance's "
                             "rounds into FILE (collapsed stacks); slows it down a little")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("boot_storm: run as root (it makes network namespaces for the phones)")
    tftpd = ensure_tftpd()
    with tempfile.TemporaryDirectory(prefix="boot-storm-") as tmp, \
            storm_lan(args.phones) as lan:
        folder = Path(tmp)
        os.chmod(folder, 0o755)
        print(f"setting up {args.phones} assigned phones, each with its own MAC...", flush=True)
        config = setup(folder, lan.phones)
        lan.enter_phones()  # this thread, and the loop's, are the phones from now on
        asyncio.run(main_async(args, lan, tftpd, folder, config))


if __name__ == "__main__":
    main()
