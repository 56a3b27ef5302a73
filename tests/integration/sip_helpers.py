"""Helpers for the SIP integration tests: a config with SIP on, extensions, SIPp, raw UDP."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from appliance.directory import Directory
from appliance.sip.message import Response, parse
from appliance.store import open_store
from tests.integration.conftest import RunningDaemon, appliance, start_daemon, write_config

SIPP_DATA = Path(__file__).resolve().parents[1] / "data" / "sipp"
TORTURE = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "rfc4475"


def need(program: str) -> str:
    """The path of ``program``, or skip the test (with the Debian package to install)."""
    path = shutil.which(program)
    if path is None:
        package = {"sipp": "sip-tester", "baresip": "baresip-core"}.get(program, program)
        pytest.skip(f"{program} not installed (Debian package {package})")
    return path


# SIPp 3.6.1 answers only the first challenge and knows only MD5, so SIPp tests offer MD5
# first; the default (SHA-256 first, RFC 8760) is tested with baresip and in unit tests.
SIPP_DIGEST = 'digest_algorithms = ["MD5", "SHA-256"]'


def sip_config(folder: Path, sip_extra: str = SIPP_DIGEST, udp: int = 0, tcp: int = 0) -> Path:
    """An initialised test config with the SIP core on, UDP and TCP on 127.0.0.1 (port 0:
    chosen by the OS), domain office.test, the web and provisioning off."""
    path = write_config(folder, web=False, sip=True, sip_listen=f"127.0.0.1:{udp}",
                        sip_extra=f'tcp_listen = "127.0.0.1:{tcp}"\ndomain = "office.test"\n'
                                  f"{sip_extra}")
    appliance(path, "init")
    return path


@dataclass(frozen=True)
class Account:
    """An assigned extension and its SIP credentials."""

    number: str
    password: str
    employee_id: int


def add_accounts(config: Path, *numbers: str, receive: str = "both",
                 permission: str = "internal") -> dict[str, Account]:
    """Create an employee and an assigned extension for each number, in the store directly."""
    from appliance import config as config_mod

    cfg = config_mod.load(config, {})
    store = open_store(cfg.store.url, create=False)
    directory = Directory(store, actor="test")
    accounts = {}
    for number in numbers:
        employee = directory.add_employee(f"Employee {number}")
        directory.add_extension(number, permission=permission, receive=receive)
        ext = directory.assign_extension(number, employee.id)
        accounts[number] = Account(number, ext.sip_password, employee.id)
    store.dispose()
    return accounts


def start_sip_daemon(config: Path) -> RunningDaemon:
    """Start the daemon with SIP on (no systemd notify)."""
    return start_daemon(config, env={**os.environ, "NOTIFY_SOCKET": ""})


def address(daemon: RunningDaemon, transport: str = "udp") -> tuple[str, int]:
    """The daemon's bound SIP address for ``transport``."""
    host, _, port = daemon.ports[f"sip_{transport}"].rpartition(":")
    return host, int(port)


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    """A port the OS says is free on 127.0.0.1 now (SIPp needs a number up front)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sipp_command(scenario: str, target: tuple[str, int], *args: str, port: int | None = None,
                 calls: int = 1) -> list[str]:
    """A SIPp command line on 127.0.0.1 for a scenario in tests/data/sipp."""
    sipp = need("sipp")
    return [sipp, f"{target[0]}:{target[1]}", "-sf", str(SIPP_DATA / scenario),
            "-i", "127.0.0.1", "-p", str(port or free_port()), "-m", str(calls),
            "-timeout", "15s", "-timeout_error", "-nostdin", "-trace_err",
            "-max_recv_loops", "1000", *args]


def run_sipp(scenario: str, target: tuple[str, int], *args: str, port: int | None = None,
             calls: int = 1, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run SIPp to completion (bounded by its own -timeout and ours)."""
    return subprocess.run(sipp_command(scenario, target, *args, port=port, calls=calls),
                          capture_output=True, text=True, timeout=90, check=False,
                          stdin=subprocess.DEVNULL, cwd=cwd)


def register(target: tuple[str, int], account: Account, *, expires: int = 3600,
             port: int | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """REGISTER ``account`` with SIPp (401 then 200)."""
    return run_sipp("register.xml", target, "-s", account.number, "-au", account.number,
                    "-ap", account.password, "-key", "expires", str(expires), port=port, cwd=cwd)


class UdpClient:
    """A raw SIP client socket for hand-written requests."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, self.target)

    def receive(self, timeout: float = 5.0) -> bytes | None:
        """The next datagram, or None after ``timeout`` (a bound wait, never an assertion)."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(65536)
        except TimeoutError:
            return None

    def final(self, timeout: float = 5.0) -> Response | None:
        """The next final response, skipping provisional ones."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = self.receive(max(0.05, deadline - time.monotonic()))
            if data is None:
                return None
            message = parse(data)
            if isinstance(message, Response) and message.status >= 200:
                return message
        return None

    def request(self, method: str, uri: str, *, user: str = "100", headers: str = "",
                call_id: str | None = None, cseq: int = 1, body: str = "") -> bytes:
        """A minimal request from this socket."""
        call_id = call_id or secrets.token_hex(8)
        lines = [f"{method} {uri} SIP/2.0",
                 f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bK{secrets.token_hex(6)};"
                 "rport",
                 "Max-Forwards: 70", f"From: <sip:{user}@office.test>;tag={secrets.token_hex(4)}",
                 f"To: <{uri}>" if method != "REGISTER" else f"To: <sip:{user}@office.test>",
                 f"Call-ID: {call_id}", f"CSeq: {cseq} {method}",
                 f"Contact: <sip:{user}@127.0.0.1:{self.port}>"]
        lines += [h for h in headers.split("\n") if h]
        lines += [f"Content-Length: {len(body)}", "", body]
        return "\r\n".join(lines).encode()


def credentials(challenge: Response, method: str, uri: str, user: str, password: str,
                nc: int = 1) -> str:
    """The Authorization / Proxy-Authorization line answering the first challenge we know."""
    from appliance.digest import ha1, parse_digest, response

    name = "WWW-Authenticate" if challenge.status == 401 else "Proxy-Authenticate"
    params = parse_digest(challenge.headers.get_all(name)[0])
    assert params is not None
    algorithm, realm, nonce = params["algorithm"], params["realm"], params["nonce"]
    count = f"{nc:08x}"
    answer = response(algorithm, ha1(algorithm, user, realm, password), nonce, method, uri,
                      nc=count, cnonce="0a4f113b")
    header = "Authorization" if challenge.status == 401 else "Proxy-Authorization"
    return (f'{header}: Digest username="{user}", realm="{realm}", nonce="{nonce}", '
            f'uri="{uri}", response="{answer}", algorithm={algorithm}, qop=auth, '
            f'nc={count}, cnonce="0a4f113b"')


def bindings_of(config: Path, number: str | None = None) -> list[dict[str, object]]:
    """The live registrations in the store (what ``appliance status`` lists)."""
    from appliance import config as config_mod
    from appliance.routing.bindings import report

    cfg = config_mod.load(config, {})
    store = open_store(cfg.store.url, create=False)
    try:
        return report(store, number)
    finally:
        store.dispose()


def wait_until(predicate: object, timeout: float) -> bool:
    """Poll ``predicate()`` every 50 ms for at most ``timeout`` seconds; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = bool(predicate())  # type: ignore[operator]
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(0.05)
