"""Outside calls with the media plane at work: greeting played, recording on, held.

SIPp as the carrier (127.0.0.2, an IP-authenticated connection) sets up ``--calls`` calls at
once to an office number whose calls are recorded and greeted: each caller hears "this call
is recorded" and the greeting, then the routing rings the office's phone, which answers
every call; the caller streams a 440 Hz A-law tone (SIPp ``rtp_stream``) for ``--hold``
seconds through rtpengine to the phone. The phone is this script: a small SIP user agent
(registered by SIPp with digest) with one RTP socket per call, measuring what it receives:
packet loss (from the sequence numbers) and interarrival jitter (RFC 3550 §6.4.1, in ms).
Every second the daemon's and rtpengine's CPU time and RSS are read from /proc.

Targets (issue 12, this 2-core machine): 40 such calls with loss < 0.1 %, jitter p99 < 30 ms,
the daemon's RSS <= 120 MiB. Everything runs on 127.0.0.x.

    python bench/media_calls.py [--calls 40] [--hold 60] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import sip_rate as sr

from appliance.sip.message import Request, make_response, parse
from tests.integration.conftest import appliance
from tests.integration.sip_helpers import start_sip_daemon

CARRIER_HOST = "127.0.0.2"
DID = "+842873001234"
MEDIA = """
[media]
enabled = true
ng_listen = "127.0.0.1:{ng}"
rtp_port_min = 30000
rtp_port_max = 30999
max_sessions = 200
"""
TICKS = 8  # RTP clock ticks per ms (8 kHz)


@dataclass
class Stream:
    """What one call's RTP socket received: sequence numbers and RFC 3550 jitter."""

    first_seq: int | None = None
    highest: int = 0
    received: int = 0
    jitter: float = 0.0  # in RTP ticks
    samples: list[float] = field(default_factory=list)  # jitter in ms, per packet
    last: tuple[float, int] | None = None  # arrival (ticks), RTP timestamp

    def packet(self, data: bytes, now: float) -> None:
        if len(data) < 12 or data[0] >> 6 != 2:
            return
        seq = int.from_bytes(data[2:4], "big")
        timestamp = int.from_bytes(data[4:8], "big")
        if self.first_seq is None:
            self.first_seq, self.highest = seq, seq
        else:
            ahead = (seq - self.highest) % 65536
            if ahead < 32768:
                self.highest += ahead
        self.received += 1
        arrival = now * 1000 * TICKS
        if self.last is not None:
            span = (timestamp - self.last[1] + 2**31) % 2**32 - 2**31  # signed, wraps
            d = (arrival - self.last[0]) - span
            self.jitter += (abs(d) - self.jitter) / 16
            self.samples.append(self.jitter / TICKS)
        self.last = (arrival, timestamp)

    @property
    def expected(self) -> int:
        return 0 if self.first_seq is None else self.highest - self.first_seq + 1


class _Rtp(asyncio.DatagramProtocol):
    def __init__(self, stream: Stream) -> None:
        self.stream = stream

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.stream.packet(data, time.monotonic())


class Phone(asyncio.DatagramProtocol):
    """The office's phone: answers every INVITE with an RTP socket of its own, BYE with 200."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.streams: dict[str, Stream] = {}
        self.sockets: dict[str, asyncio.DatagramTransport] = {}
        self.tags = itertools.count(1)
        self.answered = 0
        self.ended = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            message = parse(data)
        except Exception:
            return
        if isinstance(message, Request):
            asyncio.get_running_loop().create_task(self.request(message, addr))

    async def request(self, request: Request, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        call = request.call_id
        if request.method == "INVITE" and call not in self.streams:
            stream = Stream()
            self.streams[call] = stream
            loop = asyncio.get_running_loop()
            rtp, _ = await loop.create_datagram_endpoint(lambda: _Rtp(stream),
                                                         local_addr=("127.0.0.1", 0))
            self.sockets[call] = rtp
            port = rtp.get_extra_info("sockname")[1]
            sdp = (f"v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
                   f"t=0 0\r\nm=audio {port} RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n"
                   "a=sendrecv\r\n").encode()
            tag = f"phone{next(self.tags)}"
            contact = self.transport.get_extra_info("sockname")
            ok = make_response(request, 200, to_tag=tag, body=sdp, headers=[
                ("Contact", f"<sip:phone@127.0.0.1:{contact[1]}>"),
                ("Content-Type", "application/sdp")])
            self.answered += 1
            self.transport.sendto(ok.to_bytes(), addr)
        elif request.method == "BYE":
            self.transport.sendto(make_response(request, 200).to_bytes(), addr)
            socket = self.sockets.pop(call, None)
            if socket is not None:
                socket.close()
                self.ended += 1


def proc_cpu(pid: int) -> float:
    """Seconds of CPU ``pid`` used so far (user + system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # clock ticks (USER_HZ 100)


async def sample(pids: dict[str, int], seconds: float) -> dict[str, tuple[float, int]]:
    """Over ``seconds``: each process's CPU share (% of one core) and highest RSS (MiB)."""
    start = {name: proc_cpu(pid) for name, pid in pids.items()}
    began = time.monotonic()
    peak = dict.fromkeys(pids, 0)
    while time.monotonic() - began < seconds:
        for name, pid in pids.items():
            peak[name] = max(peak[name], sr.rss_mib(pid))
        await asyncio.sleep(1)
    spent = time.monotonic() - began
    return {name: (100 * (proc_cpu(pid) - start[name]) / spent, peak[name])
            for name, pid in pids.items()}


def office(config: Path, callee: str, carrier_port: int) -> None:
    """The carrier's connection and its number: recorded, greeted, ringing ``callee``."""
    appliance(config, "trunk", "add", "carrier", "--kind", "ip", "--server",
              f"{CARRIER_HOST}:{carrier_port}", "--source", f"{CARRIER_HOST}/32",
              "--caller-id", DID, "--number-format", "intl_digits")
    appliance(config, "number", "add", DID, "--connection", "carrier", "--destination",
              f"extension:{callee}", "--no-contacts-map", "--no-to-header", "--greeting",
              "--greeting-wait", "1", "--record")


async def run(args: argparse.Namespace, folder: Path) -> int:
    config = folder / "appliance" / "appliance.toml"
    config.parent.mkdir()
    config.write_text(sr.APPLIANCE_CONFIG.format(data=config.parent / "data")
                      + MEDIA.format(ng=sr.free_port()), encoding="utf-8")
    appliance(config, "init")
    users = sr.appliance_users(config, 1)
    carrier_port = sr.free_port()
    office(config, users[0][0], carrier_port)
    run_dir = folder / "run"
    run_dir.mkdir()
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-e", "a-law",
                    str(run_dir / "tone440.wav"), "synth", "5", "sine", "440"], check=True)
    daemon = start_sip_daemon(config)
    failed = 0
    try:
        host, _, port = daemon.ports["sip_udp"].rpartition(":")
        target = (host, int(port))
        loop = asyncio.get_running_loop()
        phone_port = sr.free_port()  # SIPp registers from it, then the phone answers on it
        registered = subprocess.run(sr.sipp(
            "register.xml", target, phone_port, "-s", users[0][0], "-au", users[0][0],
            "-ap", users[0][1], "-m", "1", "-key", "expires", "3600"), cwd=run_dir,
            capture_output=True, text=True, timeout=60, check=False)
        if registered.returncode != 0:
            raise SystemExit(f"the phone could not register:\n{registered.stderr[-2000:]}")
        phone = Phone()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: phone, local_addr=("127.0.0.1", phone_port))
        pid_file = config.parent / "data" / "media" / "rtpengine.pid"
        pids = {"daemon": daemon.process.pid,
                "rtpengine": int(pid_file.read_text().strip())}
        command = sr.sipp("carrier_uac_talk.xml", target, carrier_port, "-s", DID.lstrip("+"),
                          "-m", str(args.calls), "-l", str(args.calls), "-r", "10",
                          "-d", str(int(args.hold * 1000)), "-mp", str(sr.free_port()))
        command[command.index("-i") + 1] = CARRIER_HOST
        command += ["-timeout", f"{int(args.hold) + 120}s"]
        carrier = subprocess.Popen(command, cwd=run_dir, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
        print(f"{args.calls} recorded, greeted calls from the carrier, held {args.hold:.0f} s",
              flush=True)
        settle = 15.0  # announcement + greeting + wait, every call answered by the phone
        await asyncio.sleep(settle)
        print(f"  answered by the phone after {settle:.0f} s: {phone.answered}", flush=True)
        used = await sample(pids, max(5.0, args.hold - settle - 5))
        while carrier.poll() is None:
            await asyncio.sleep(0.5)
        _, err = carrier.communicate()
        if carrier.returncode != 0:
            failed = 1
            print(f"  carrier SIPp failed: {err[-800:]}", flush=True)
        await asyncio.sleep(1)
        transport.close()
        streams = [s for s in phone.streams.values() if s.received]
        expected = sum(s.expected for s in streams)
        lost = max(0, expected - sum(s.received for s in streams))
        jitters = sorted(j for s in streams for j in s.samples[50:])  # after the first 1 s
        p99 = jitters[int(0.99 * (len(jitters) - 1))] if jitters else float("nan")
        recordings = config.parent / "data" / "recordings"
        deadline = time.monotonic() + 60 + 5 * args.calls
        while time.monotonic() < deadline and \
                len(list(recordings.rglob("*.wav"))) < args.calls:
            await asyncio.sleep(1)
        kept = len(list(recordings.rglob("*.wav")))
    finally:
        daemon.stop()
    print("\nresult:")
    print(f"  calls answered {phone.answered}, ended {phone.ended}, with audio {len(streams)} "
          f"of {args.calls}")
    print(f"  packets expected {expected}, lost {lost} "
          f"({100 * lost / expected if expected else 0:.3f} %, target < 0.1 %)")
    print(f"  jitter p99 {p99:.1f} ms (target < 30 ms), median "
          f"{statistics.median(jitters) if jitters else float('nan'):.1f} ms")
    for name, (cpu, rss) in used.items():
        print(f"  {name}: CPU {cpu:.0f} % of one core, RSS up to {rss} MiB"
              + (" (target <= 120 MiB)" if name == "daemon" else ""))
    print(f"  recordings kept: {kept} of {args.calls}")
    return failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=40, help="calls at once")
    parser.add_argument("--hold", type=float, default=60.0, help="seconds each call lasts")
    parser.add_argument("--keep", action="store_true", help="keep the run folder")
    args = parser.parse_args()
    for tool in ("sipp", "sox", "espeak-ng", "rtpengine"):
        if shutil.which(tool) is None and not Path("/usr/bin", tool).exists():
            raise SystemExit(f"{tool} missing (make deps-test installs it)")
    folder = Path(tempfile.mkdtemp(prefix="media-bench-"))
    try:
        code = asyncio.run(run(args, folder))
    finally:
        if args.keep:
            print(f"run folder kept: {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    raise SystemExit(code)


if __name__ == "__main__":
    main()
