"""Two real softphones (baresip) register two extensions through the appliance and talk.

Each baresip is driven over ``ctrl_tcp``; audio is a 440 Hz sine (``ausine``) and ``sndfile``
writes what each side decoded, so the test knows media flowed after the SIP signalling that
went through the appliance (INVITE with digest, 180, 200, ACK and BYE along Record-Route).
The default digest settings are used: baresip 1.0 gets MD5 alone (``sip.md5_only_agents``).
"""

from __future__ import annotations

import array
import contextlib
import json
import socket
import subprocess
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import RunningDaemon
from tests.integration.sip_helpers import (
    Account,
    add_accounts,
    address,
    bindings_of,
    free_port,
    need,
    sip_config,
    start_sip_daemon,
    wait_until,
)

pytestmark = pytest.mark.integration


class Baresip:
    """One baresip process and its ctrl_tcp connection (netstring JSON)."""

    def __init__(self, home: Path, account: Account | None, registrar: tuple[str, int], *,
                 host: str = "127.0.0.1", sip_port: int | None = None,
                 user: str = "outside") -> None:
        """A phone registering ``account`` at ``registrar``; without an account, ``user`` on
        ``host``:``sip_port`` registering nowhere (an outside caller or callee)."""
        home.mkdir()
        self.home = home
        ctrl = free_port(socket.SOCK_STREAM)
        self.sip_port = sip_port or free_port()
        (home / "config").write_text(f"""
poll_method epoll
sip_listen {host}:{self.sip_port}
ctrl_tcp_listen 127.0.0.1:{ctrl}
audio_player aubridge,nil
audio_source ausine,440
audio_alert aubridge,nil
ausrc_srate 48000
auplay_srate 48000
ausrc_channels 2
auplay_channels 2
rtp_ports 20000-29999
module_path /usr/lib/baresip/modules
module g711.so
module ausine.so
module aubridge.so
module sndfile.so
snd_path {home}
module_app account.so
module_app menu.so
module_app ctrl_tcp.so
""", encoding="utf-8")
        target, port = registrar
        (home / "accounts").write_text(
            f"<sip:{account.number}@{target}:{port};transport=udp>;auth_pass={account.password};"
            "regint=600\n" if account is not None else
            f"<sip:{user}@{host}:{self.sip_port};transport=udp>;regint=0\n", encoding="utf-8")
        self.log = (home / "out.log").open("w")
        self.process = subprocess.Popen([need("baresip"), "-f", str(home), "-n", host],
                                        stdout=self.log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
        self.buffer = b""
        deadline = time.monotonic() + 10
        while True:
            try:
                self.ctrl = socket.create_connection(("127.0.0.1", ctrl), timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise AssertionError(self.output()) from None
                time.sleep(0.05)

    def output(self) -> str:
        return (self.home / "out.log").read_text(errors="replace")

    def command(self, name: str, params: str = "") -> None:
        data = json.dumps({"command": name, "params": params, "token": name}).encode()
        self.ctrl.sendall(str(len(data)).encode() + b":" + data + b",")

    def event(self, kind: str, timeout: float = 15.0) -> dict[str, Any]:
        """The next event of ``kind``; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while b":" in self.buffer:
                size, _, rest = self.buffer.partition(b":")
                if len(rest) <= int(size):
                    break
                message = json.loads(rest[:int(size)])
                self.buffer = rest[int(size) + 1:]
                if message.get("type") == kind:
                    return message  # type: ignore[no-any-return]
            self.ctrl.settimeout(max(0.05, deadline - time.monotonic()))
            with contextlib.suppress(TimeoutError):
                self.buffer += self.ctrl.recv(65536)
        raise AssertionError(f"no {kind} event:\n{self.output()}")

    def decoded_peak(self) -> int:
        """The loudest sample this phone decoded from the call (0: silence or nothing)."""
        peak = 0
        for path in self.home.glob("dump-*-dec.wav"):
            with wave.open(str(path)) as audio:
                samples = array.array("h", audio.readframes(audio.getnframes()))
            peak = max([peak, *map(abs, samples)])
        return peak

    def stop(self) -> None:
        self.ctrl.close()
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@pytest.fixture
def phones(tmp_path: Path) -> Iterator[tuple[RunningDaemon, Baresip, Baresip, Path]]:
    need("baresip")
    config = sip_config(tmp_path, "")  # the default digest settings
    accounts = add_accounts(config, "101", "102", receive="app")
    daemon = start_sip_daemon(config)
    started: list[Baresip] = []
    try:
        for number in ("101", "102"):
            started.append(Baresip(tmp_path / f"baresip-{number}", accounts[number],
                                   address(daemon)))
        yield daemon, started[0], started[1], config
    finally:
        for phone in started:
            phone.stop()
        daemon.stop()


def test_two_softphones_register_and_talk(phones: tuple[RunningDaemon, Baresip, Baresip,
                                                        Path]) -> None:
    daemon, caller, callee, config = phones
    assert wait_until(lambda: len(bindings_of(config)) == 2, timeout=15), caller.output()
    assert {row["kind"] for row in bindings_of(config)} == {"app"}
    host, port = address(daemon)
    caller.command("dial", f"sip:102@{host}:{port}")
    callee.event("CALL_INCOMING")
    callee.command("accept")
    caller.event("CALL_ESTABLISHED")
    callee.event("CALL_ESTABLISHED")
    time.sleep(1.5)  # let audio flow: the check below is on content, not on timing
    callee.command("hangup")
    caller.event("CALL_CLOSED")
    time.sleep(0.3)
    assert caller.decoded_peak() > 1000 and callee.decoded_peak() > 1000
    assert "Traceback" not in daemon.log()
