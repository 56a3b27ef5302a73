"""The media plane against the real rtpengine (Debian's rtpengine-daemon), all on 127.0.0.1:
started by the runner with its own config on free ports, offer/answer, RTP really relayed
(and transcoded), a WAV played into a one-legged call without echoing the caller, errors and
timeouts, a lost request resent, a killed rtpengine restarted, a leftover one stopped, and
the daemon's [media] part."""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import random
import re
import shutil
import signal
import socket
import struct
import time
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import pytest

from appliance.config import Listen
from appliance.errors import MediaProtocolError, MediaTimeoutError, MediaUnavailableError
from appliance.media.codecs import codec_policy, sdp_codecs
from appliance.media.ng import NgClient
from appliance.media.plane import MediaFlags, RtpenginePlane
from appliance.media.rtpengine import RtpengineRunner, RtpengineSettings
from tests.integration.conftest import appliance, start_daemon, write_config

RTPENGINE = Path("/usr/bin/rtpengine")
pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not RTPENGINE.exists(), reason="needs rtpengine-daemon "
                                 "(make deps-test installs it)")]
HOST = "127.0.0.1"
RANGE = 40  # RTP ports per test: 10 two-sided calls
OUR_SSRC = struct.pack("!I", 0x1234ABCD)  # the SSRC of the test's own RTP packets


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def free_range(size: int = RANGE) -> tuple[int, int]:
    """An even first port with ``size`` free UDP ports, below the OS's ephemeral range."""
    for _ in range(200):
        low = random.randrange(10_000, 32_000 - size, 2)
        held = []
        try:
            for port in range(low, low + size):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                held.append(s)
                s.bind((HOST, port))
            return low, low + size - 1
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise AssertionError("no free UDP port range")


def settings(folder: Path) -> RtpengineSettings:
    low, high = free_range()
    return RtpengineSettings(binary=RTPENGINE, ng=Listen(HOST, free_udp_port()), interface=HOST,
                             port_min=low, port_max=high, folder=folder)


@asynccontextmanager
async def rtpengine(folder: Path) -> AsyncIterator[RtpengineRunner]:
    runner = RtpengineRunner(settings(folder), backoff=(0.2,))
    await runner.start()
    try:
        yield runner
    finally:
        pid = runner.pid
        await runner.stop()
        assert pid is None or not alive(pid)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait is missing


def endpoint() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((HOST, 0))
    s.setblocking(False)
    return s


def sdp(port: int, payloads: str = "0 101", session: str = "1") -> str:
    lines = ["v=0", f"o=phone {session} 1 IN IP4 {HOST}", "s=-", f"c=IN IP4 {HOST}", "t=0 0",
             f"m=audio {port} RTP/AVP {payloads}", "a=rtpmap:101 telephone-event/8000",
             "a=ptime:20", "a=sendrecv"]
    return "\r\n".join(lines) + "\r\n"


def media_port(body: str) -> tuple[str, int, tuple[int, ...]]:
    """The c= address, the audio port and its payload types of an SDP body."""
    address = re.search(r"^c=IN IP4 (\S+)", body, re.M)
    m = re.search(r"^m=audio (\d+) RTP/AVP ([\d ]+)", body, re.M)
    assert address and m, body
    return address.group(1), int(m.group(1)), tuple(int(p) for p in m.group(2).split())


def rtp(seq: int, payload_type: int = 0, payload: bytes = b"\xff" * 160) -> bytes:
    return struct.pack("!BBHI", 0x80, payload_type, seq, seq * 160) + OUR_SSRC + payload


async def receive(sock: socket.socket, seconds: float) -> list[bytes]:
    """Every datagram ``sock`` gets within ``seconds``."""
    loop = asyncio.get_running_loop()
    got: list[bytes] = []
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        with suppress(TimeoutError):
            got.append(await asyncio.wait_for(loop.sock_recv(sock, 2048), left))
    return got


async def send_stream(sock: socket.socket, to: int, count: int, payload_type: int = 0) -> None:
    for seq in range(count):
        sock.sendto(rtp(seq, payload_type), (HOST, to))
        await asyncio.sleep(0.02)


def write_tone(path: Path, seconds: float = 2.0, rate: int = 8000) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
                               for i in range(int(seconds * rate))))
    return path


def test_offer_answer_relays_rtp_both_ways(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with rtpengine(tmp_path) as runner:
            s = runner.settings
            client = NgClient(HOST, s.ng.port)
            await client.ping()
            plane = RtpenginePlane(client, 10)
            caller, callee = endpoint(), endpoint()
            to_callee = await plane.offer("call-1", "tag-a", sdp(caller.getsockname()[1]))
            address, port_b, payloads = media_port(to_callee)
            assert address == HOST and s.port_min <= port_b <= s.port_max
            assert payloads == (0, 101) and "a=sendrecv" in to_callee
            to_caller = await plane.answer("call-1", "tag-a", "tag-b",
                                           sdp(callee.getsockname()[1], session="2"))
            address, port_a, _ = media_port(to_caller)
            assert address == HOST and s.port_min <= port_a <= s.port_max and port_a != port_b
            assert (await client.query("call-1")).tags == ("tag-a", "tag-b")

            got_b, _ = await asyncio.gather(receive(callee, 2.0),
                                            send_stream(caller, port_a, 50))
            got_a, _ = await asyncio.gather(receive(caller, 2.0),
                                            send_stream(callee, port_b, 50))
            for got in (got_b, got_a):
                assert len(got) >= 45, len(got)  # loopback: nothing should be lost
                assert {p[1] & 0x7F for p in got} == {0} and got[0][12:] == b"\xff" * 160
            await plane.delete("call-1")
            assert plane.sessions == 0
            with pytest.raises(MediaProtocolError) as gone:
                await client.query("call-1")
            assert gone.value.reason == "Unknown call-id"
            caller.sendto(rtp(99), (HOST, port_a))  # the ports are closed: nothing relayed
            assert await receive(callee, 0.5) == []
            client.close()

    asyncio.run(scenario())


def test_codec_policy_transcodes_pcmu_to_pcma(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with rtpengine(tmp_path) as runner:
            client = NgClient(HOST, runner.settings.ng.port)
            plane = RtpenginePlane(client, 10)
            phone, trunk = endpoint(), endpoint()
            offer = sdp(phone.getsockname()[1])
            ops = codec_policy(sdp_codecs(offer), ["PCMA"])
            assert ops is not None and ops.transcodes
            to_trunk = await plane.offer("call-t", "a", offer, MediaFlags(codecs=ops))
            _, port_trunk, payloads = media_port(to_trunk)
            assert 8 in payloads and 0 not in payloads
            answer = sdp(trunk.getsockname()[1], payloads="8 101", session="7")
            _, port_phone, payloads = media_port(
                await plane.answer("call-t", "a", "b", answer))
            assert payloads[0] == 0  # the phone keeps its PCMU
            got, _ = await asyncio.gather(receive(trunk, 2.0), send_stream(phone, port_phone, 50))
            assert len(got) >= 40 and {p[1] & 0x7F for p in got} == {8}
            # µ-law silence (0xFF) comes out as A-law silence (0xD5, or 0x55 for -0)
            assert set(got[-1][12:]) <= {0xD5, 0x55}
            back, _ = await asyncio.gather(receive(phone, 2.0),
                                           send_stream(trunk, port_trunk, 50, payload_type=8))
            assert len(back) >= 40 and {p[1] & 0x7F for p in back} == {0}
            await plane.delete("call-t")
            client.close()

    asyncio.run(scenario())


def test_play_into_a_one_legged_call(tmp_path: Path) -> None:
    tone = write_tone(tmp_path / "tone.wav", seconds=2.0)

    def tone_packets(got: list[bytes]) -> list[bytes]:
        return [p for p in got if p[8:12] != OUR_SSRC and set(p[12:]) - {0xFF, 0x7F}]

    async def scenario() -> None:
        async with rtpengine(tmp_path / "rtp") as runner:
            client = NgClient(HOST, runner.settings.ng.port)
            plane = RtpenginePlane(client, 10)
            # A fact of rtpengine this relies on: on an offer alone, what the caller sends to
            # the port of the SDP it was answered with comes back to it.
            echo = endpoint()
            _, port, _ = media_port(await plane.offer("plain", "caller",
                                                      sdp(echo.getsockname()[1])))
            got, _ = await asyncio.gather(receive(echo, 1.0), send_stream(echo, port, 10))
            assert len(got) >= 8 and {p[8:12] for p in got} == {OUR_SSRC}
            await plane.delete("plain")

            caller = endpoint()
            here = await plane.answer_here("greeting", "caller", sdp(caller.getsockname()[1]))
            _, port, _ = media_port(here.caller)
            duration = await plane.play("greeting", "caller", tone)
            assert duration == pytest.approx(2.0, abs=0.05)
            got, _ = await asyncio.gather(receive(caller, 1.0), send_stream(caller, port, 20))
            assert all(p[8:12] != OUR_SSRC for p in got)  # no echo of the caller
            assert len(tone_packets(got)) >= 40, len(got)  # ~50 a second of 20 ms PCMU
            assert {p[1] & 0x7F for p in got} == {0}
            seqs = [struct.unpack("!H", p[2:4])[0] for p in got]
            assert all((b - a) % 65536 == 1 for a, b in itertools.pairwise(seqs))
            await plane.stop("greeting", "caller")
            await asyncio.sleep(0.2)
            assert len(await receive(caller, 0.5)) <= 2  # stopped (one in flight at most)
            with pytest.raises(MediaProtocolError):
                await plane.play("greeting", "caller", tmp_path / "missing.wav")
            await plane.delete("greeting")
            client.close()

    asyncio.run(scenario())


def test_session_limit_and_error_replies(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with rtpengine(tmp_path) as runner:
            client = NgClient(HOST, runner.settings.ng.port)
            plane = RtpenginePlane(client, 2, running=lambda: runner.running)
            for call in ("c1", "c2"):
                await plane.offer(call, "a", sdp(free_udp_port()))
            with pytest.raises(MediaUnavailableError, match="limit"):
                await plane.offer("c3", "a", sdp(free_udp_port()))
            with pytest.raises(MediaProtocolError) as refused:
                await plane.answer("nobody", "a", "b", sdp(free_udp_port()))
            assert refused.value.reason == "Unknown call-id"
            assert "Unknown" not in str(refused.value)  # the reason is for logs only
            with pytest.raises(MediaProtocolError) as unknown:
                await client.request({"command": "no such command"})
            assert unknown.value.reason == "Unrecognized command"
            await plane.delete("never-offered")  # forgiven
            client.close()

    asyncio.run(scenario())


def test_no_answer_is_a_timeout_within_the_budget() -> None:
    async def scenario() -> None:
        client = NgClient(HOST, free_udp_port())
        start = time.monotonic()
        with pytest.raises(MediaTimeoutError, match="3 tries"):
            await client.ping()
        assert 3.4 <= time.monotonic() - start <= 5.0  # 0.5 + 1 + 2 s, and a busy machine
        client.close()

    asyncio.run(scenario())


def test_a_lost_request_is_resent_with_the_same_cookie(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with rtpengine(tmp_path) as runner:
            loop = asyncio.get_running_loop()
            relay = endpoint()
            seen: list[bytes] = []

            async def lossy() -> None:  # drops the first request, relays the rest
                upstream = endpoint()
                while True:
                    data, client_addr = await loop.sock_recvfrom(relay, 65535)
                    seen.append(data)
                    if len(seen) == 1:
                        continue
                    upstream.sendto(data, (HOST, runner.settings.ng.port))
                    reply = await loop.sock_recv(upstream, 65535)
                    relay.sendto(reply, client_addr)

            task = asyncio.create_task(lossy())
            client = NgClient(HOST, relay.getsockname()[1], timeouts=(0.3, 0.6))
            start = time.monotonic()
            await client.ping()
            assert time.monotonic() - start >= 0.3 and len(seen) == 2 and seen[0] == seen[1]
            task.cancel()
            client.close()

    asyncio.run(scenario())


def test_killed_rtpengine_is_restarted(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with rtpengine(tmp_path) as runner:
            client = NgClient(HOST, runner.settings.ng.port)
            plane = RtpenginePlane(client, 5, running=lambda: runner.running)
            runner.on_restart.append(plane.forget_all)
            await plane.offer("before", "a", sdp(free_udp_port()))
            first = runner.pid
            assert first is not None and runner.running
            os.kill(first, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while runner.restarts < 1 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert runner.restarts == 1 and runner.running and runner.pid not in (None, first)
            assert plane.sessions == 0 and not alive(first)
            await client.ping()
            await plane.offer("after", "a", sdp(free_udp_port()))
            client.close()

    asyncio.run(scenario())


def test_leftover_rtpengine_of_ours_is_stopped_first(tmp_path: Path) -> None:
    async def scenario() -> None:
        runner = RtpengineRunner(settings(tmp_path))
        await runner.start()
        old = runner.pid
        assert old is not None
        # The daemon dies hard: its rtpengine lives on. A new runner on the same folder:
        for task in runner._tasks:
            task.cancel()
        fresh = RtpengineRunner(runner.settings)
        await fresh.start()
        assert not alive(old) and fresh.pid not in (None, old)
        await NgClient(HOST, runner.settings.ng.port).ping()
        await fresh.stop()

    asyncio.run(scenario())


def test_start_failures_are_clear(tmp_path: Path) -> None:
    async def scenario() -> None:
        base = settings(tmp_path)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
            taken.bind((HOST, base.ng.port))
            with pytest.raises(OSError, match=f"ng port {HOST}:{base.ng.port}: Address already"):
                await RtpengineRunner(base).start()
        elsewhere = RtpengineSettings(**{**base.__dict__, "interface": "192.0.2.1"})
        with pytest.raises(OSError, match=r"RTP address 192\.0\.2\.1: Cannot assign"):
            await RtpengineRunner(elsewhere).start()  # rtpengine would start, fail every offer
        false = RtpengineSettings(**{**base.__dict__, "binary": Path(shutil.which("false")
                                                                      or "/bin/false")})
        with pytest.raises(MediaUnavailableError, match="exited with 1 at start"):
            await RtpengineRunner(false, ready_timeout=5).start()

    asyncio.run(scenario())


def test_daemon_runs_rtpengine_when_media_is_enabled(tmp_path: Path) -> None:
    low, high = free_range()
    port = free_udp_port()
    config = write_config(tmp_path, f"""
[media]
enabled = true
ng_listen = "{HOST}:{port}"
rtp_port_min = {low}
rtp_port_max = {high}
max_sessions = 10
""", web=False)
    appliance(config, "init")
    daemon = start_daemon(config, env={**os.environ, "NOTIFY_SOCKET": ""})
    try:
        assert daemon.ports["media_ng"] == f"{HOST}:{port}"
        pid = int((tmp_path / "data" / "media" / "rtpengine.pid").read_text())
        assert alive(pid)
        conf = (tmp_path / "data" / "media" / "rtpengine.conf").read_text()
        assert "table = -1" in conf and f"port-min = {low}" in conf
        asyncio.run(NgClient(HOST, port).ping())
        status = appliance(config, "status").stdout
        assert f"{HOST}:{port}" in status
    finally:
        assert daemon.stop() == 0
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid), "rtpengine outlived the daemon"


def test_an_offer_after_answering_here_takes_a_connections_codecs(tmp_path: Path) -> None:
    """A call the box answered itself (a greeting) goes on to a connection that takes only
    PCMA: the onward offer is made again with its codec policy, the caller keeps the port it
    was answered with, and each side gets its own codec (transcoded)."""
    async def scenario() -> None:
        async with rtpengine(tmp_path) as runner:
            client = NgClient(HOST, runner.settings.ng.port)
            plane = RtpenginePlane(client, 10)
            caller, far = endpoint(), endpoint()
            offer = sdp(caller.getsockname()[1], "0 101")
            here = await plane.answer_here("here-1", "tag-a", offer)
            _, to_caller, _ = media_port(here.caller)
            ops = codec_policy(sdp_codecs(offer), ["PCMA"])
            onward = await plane.offer("here-1", "tag-a", offer, MediaFlags(codecs=ops))
            _, to_far, payloads = media_port(onward)
            assert payloads == (8, 101), onward
            await plane.bridge_here("here-1", "tag-a", sdp(far.getsockname()[1], "8 101", "2"))
            got_far, _ = await asyncio.gather(receive(far, 1.5),
                                              send_stream(caller, to_caller, 50, 0))
            got_caller, _ = await asyncio.gather(receive(caller, 1.5),
                                                 send_stream(far, to_far, 50, 8))
            assert len(got_far) >= 45 and {p[1] & 0x7F for p in got_far} == {8}
            assert len(got_caller) >= 45 and {p[1] & 0x7F for p in got_caller} == {0}
            await plane.delete("here-1")
            client.close()

    asyncio.run(scenario())
