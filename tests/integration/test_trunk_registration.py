"""Trunk registration against a real carrier: Kamailio (Debian's package) as the provider's
registrar on 127.0.0.1, with digest users in a db_text table (one instance challenging with
MD5, one with SHA-256), and the appliance's SIP part in process with its real UDP socket.

No config surface for connections exists yet, so the SIP part is started in process (as in
test_sip_notify.py) and the registration is started through ``register_trunk``. Each
Kamailio runs with its own config (tests/data/kamailio/carrier.cfg) in a temporary folder,
``-DD -E -m 64``, its log captured, and is stopped by its PID.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from appliance import config as config_mod
from appliance.calls.registration import (
    Server,
    TrunkRegistration,
    TrunkTarget,
    register_trunk,
)
from appliance.events import EventBus
from appliance.routing.service import SipService, create
from appliance.service import ServiceContext
from appliance.sip.message import Response, parse
from appliance.sip.transaction import Timing
from appliance.store import Store
from tests.integration.sip_helpers import free_port

pytestmark = pytest.mark.integration

CARRIER_CFG = Path(__file__).resolve().parents[1] / "data" / "kamailio" / "carrier.cfg"
MODULES = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules")
DOMAIN = "trunk.test"
# The carrier's subscribers: (username, password).
USERS = {"refresh": ("84281000001", "md5-trunk-pw-1"), "wrong": ("84281000002", "right-pw-2"),
         "failover": ("84281000003", "sha-trunk-pw-3"), "tcp": ("84281000004", "tcp-pw-4"),
         "calls": ("842873009999", "calls-pw-5")}
REGISTER_LINE = re.compile(r"carrier-register user=(\S+) callid=(\S+) cseq=(\d+) "
                           r"expires=(\S+) auth=(.*)$")


@dataclass
class Carrier:
    """A running Kamailio registrar."""

    process: subprocess.Popen[bytes]
    port: int
    folder: Path
    log: Path
    ctl: Path
    host: str = "127.0.0.1"

    @property
    def server(self) -> Server:
        return Server(self.host, self.port, "udp")

    @property
    def tcp_server(self) -> Server:
        return Server(self.host, self.port, "tcp")

    def registers(self, call_id: str) -> list[tuple[int, str, str]]:
        """(CSeq, Expires, Authorization) of each REGISTER it received with ``call_id``."""
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            match = REGISTER_LINE.search(line)
            if match and match.group(2) == call_id:
                found.append((int(match.group(3)), match.group(4), match.group(5)))
        return found

    def binding(self, user: str) -> str:
        """What ``kamcmd ul.lookup`` says of ``user``'s AOR ("" when it has no binding)."""
        # "s:": kamcmd would send a number-like user name as an integer.
        result = subprocess.run(["kamcmd", "-s", f"unix:{self.ctl}", "ul.lookup", "location",
                                 f"s:{user}"], capture_output=True, text=True, timeout=10,
                                check=False)
        text = result.stdout + result.stderr
        if "AOR not found" in text:
            return ""
        assert "Contact" in text, text
        return text


def _install_kamailio() -> None:
    if shutil.which("kamailio") is None and os.geteuid() == 0:
        subprocess.run(["apt-get", "-o", "DPkg::Lock::Timeout=600", "install", "-y", "-q",
                        "--no-install-recommends", "kamailio"], check=False,
                       capture_output=True, timeout=900)
    if shutil.which("kamailio") is None or shutil.which("kamcmd") is None:
        pytest.skip("kamailio not installed (Debian package kamailio; run as root to install)")


def start_carrier(folder: Path, algorithm: str, *, cfg_template: Path = CARRIER_CFG,
                  host: str = "127.0.0.1", values: dict[str, str] | None = None) -> Carrier:
    """Kamailio from ``cfg_template`` on a free UDP port of ``host``, challenging with
    ``algorithm``; ``values`` fill the template's further @NAMES@."""
    folder.mkdir(parents=True)
    db = folder / "db"
    db.mkdir()
    (db / "version").write_text("table_name(str) table_version(int)\nsubscriber:7\n")
    rows = "".join(f"{n}:{user}:{DOMAIN}:{password}:::\n"
                   for n, (user, password) in enumerate(USERS.values(), 1))
    (db / "subscriber").write_text("id(int,auto) username(str) domain(str) password(str) "
                                   "ha1(str,null) ha1b(str,null) email_address(str,null)\n"
                                   + rows)
    port = free_port()
    ctl = folder / "ctl"
    cfg = folder / "kamailio.cfg"
    text = cfg_template.read_text()
    for name, value in (("PORT", str(port)), ("MODULES", f"{MODULES}/"), ("CTL", str(ctl)),
                        ("DB", str(db)), ("ALGORITHM", algorithm), ("HOST", host),
                        *(values or {}).items()):
        text = text.replace(f"@{name}@", value)
    cfg.write_text(text)
    log = folder / "kamailio.log"
    with log.open("wb") as out:
        process = subprocess.Popen(["kamailio", "-f", str(cfg), "-DD", "-E", "-m", "64",
                                    "-P", str(folder / "kamailio.pid")],
                                   stdout=out, stderr=subprocess.STDOUT)
    carrier = Carrier(process, port, folder, log, ctl, host)
    deadline = time.monotonic() + 15
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        probe.settimeout(0.3)
        while time.monotonic() < deadline and process.poll() is None:
            probe.sendto(b"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:"
                         + str(probe.getsockname()[1]).encode()
                         + b";branch=z9hG4bKprobe" + secrets.token_hex(4).encode()
                         + b"\r\nFrom: <sip:p@x>;tag=1\r\nTo: <sip:p@x>\r\nCall-ID: p\r\n"
                         b"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
                         (host, port))
            try:
                probe.recv(4096)
            except TimeoutError:
                continue
            if ctl.exists():
                return carrier
    stop_carrier(carrier)
    raise AssertionError("kamailio did not start:\n" + log.read_text(errors="replace"))


def stop_carrier(carrier: Carrier) -> None:
    """Stop that Kamailio by its PID."""
    if carrier.process.poll() is None:
        carrier.process.terminate()
        try:
            carrier.process.wait(10)
        except subprocess.TimeoutExpired:
            carrier.process.kill()
            carrier.process.wait(5)


@pytest.fixture(scope="module")
def carriers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Carrier]]:
    """Two carriers: one challenging with MD5, one with SHA-256."""
    _install_kamailio()
    root = tmp_path_factory.mktemp("carriers")
    started: dict[str, Carrier] = {}
    try:
        for algorithm in ("MD5", "SHA-256"):
            started[algorithm] = start_carrier(root / algorithm, algorithm)
        yield started
    finally:
        for carrier in started.values():
            stop_carrier(carrier)


def run_with_sip(tmp_path: Path, store: Store,
                 scenario: Callable[[SipService], Awaitable[None]]) -> None:
    """Start the SIP part (UDP on 127.0.0.1, OS-chosen port), run ``scenario``, stop it."""
    path = tmp_path / "appliance.toml"
    path.write_text('[sip]\nlisten = "127.0.0.1:0"\ntcp_listen = "127.0.0.1:0"\n',
                    encoding="utf-8")
    config = config_mod.load(path, {})

    async def main() -> None:
        service = create(ServiceContext(config, store, EventBus()))
        await service.start()
        try:
            await scenario(service)
        finally:
            await service.stop()

    asyncio.run(main())


def trunk(name: str, servers: tuple[Server, ...], *, password: str | None = None,
          expires: int = 60) -> TrunkTarget:
    user, right = USERS[name]
    return TrunkTarget(name, servers, user, right if password is None else password, DOMAIN,
                       expires=expires)


async def until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        await asyncio.sleep(0.05)


async def options_via(carrier: Carrier, user: str) -> Response:
    """An OPTIONS for ``sip:user@domain`` sent to the carrier, as an outside caller would:
    the carrier relays it to the registered contact. Returns the final response."""
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as caller:
        caller.bind(("127.0.0.1", 0))
        caller.setblocking(False)
        port = caller.getsockname()[1]
        call_id = secrets.token_hex(8)
        message = (f"OPTIONS sip:{user}@{DOMAIN} SIP/2.0\r\n"
                   f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{secrets.token_hex(6)}\r\n"
                   f"From: <sip:caller@127.0.0.1:{port}>;tag=c1\r\nTo: <sip:{user}@{DOMAIN}>\r\n"
                   f"Call-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
                   "Content-Length: 0\r\n\r\n").encode()
        await loop.sock_sendto(caller, message, ("127.0.0.1", carrier.port))
        while True:
            data, _ = await asyncio.wait_for(loop.sock_recvfrom(caller, 65536), 5)
            response = parse(data)
            if isinstance(response, Response) and response.status >= 200:
                return response


def test_registers_with_md5_is_reachable_refreshes_and_unregisters(
        tmp_path: Path, store: Store, carriers: dict[str, Carrier]) -> None:
    carrier = carriers["MD5"]
    user = USERS["refresh"][0]

    async def scenario(sip: SipService) -> None:
        reg = register_trunk(sip, trunk("refresh", (carrier.server,), expires=20))
        await until(lambda: reg.status.state == "registered", 5, "registered")
        status = reg.status
        assert status.server == carrier.server and status.last_answer == "200 OK"
        assert status.expires_at is not None and 15 <= status.expires_at - time.time() <= 21
        local = sip.transport.bound["udp"]
        binding = carrier.binding(user)
        assert f"sip:{reg.contact_user}@127.0.0.1:{local.port}" in binding, binding
        first = carrier.registers(reg.call_id)
        assert len(first) == 2 and "algorithm=MD5" in first[1][2]  # challenged, then answered
        # An outside caller's request for the AOR reaches the box through the carrier.
        answer = await options_via(carrier, user)
        assert answer.status == 200 and "REGISTER" in answer.headers.get_all("allow")
        # Granted 20 s: the refresh goes out after 10 s, same Call-ID, higher CSeq.
        await until(lambda: len(carrier.registers(reg.call_id)) >= 4, 16, "a refresh")
        seen = carrier.registers(reg.call_id)
        assert [cseq for cseq, _, _ in seen] == list(range(seen[0][0], seen[0][0] + len(seen)))
        assert {expires for _, expires, _ in seen} == {"20"}
        await asyncio.sleep(0.5)
        assert reg.status.state == "registered" and reg.status.since == status.since
        await asyncio.wait_for(sip.stop_registration(reg), 5)
        assert reg.status.state == "stopped" and reg.status.last_answer == "200 OK"
        assert carrier.registers(reg.call_id)[-1][1] == "0"
        assert carrier.binding(user) == ""
        assert (await options_via(carrier, user)).status == 404

    run_with_sip(tmp_path, store, scenario)


def test_a_wrong_password_is_failing_with_401_and_backs_off(
        tmp_path: Path, store: Store, carriers: dict[str, Carrier]) -> None:
    carrier = carriers["MD5"]
    user = USERS["wrong"][0]

    async def scenario(sip: SipService) -> None:
        started = time.monotonic()
        reg = register_trunk(sip, trunk("wrong", (carrier.server,), password="not-the-pw"))
        await until(lambda: reg.status.state == "failing", 5, "failing")
        status = reg.status
        assert status.last_answer == "401 Unauthorized" and status.server == carrier.server
        assert status.next_at is not None and status.next_at > time.time()
        await asyncio.sleep(12 - (time.monotonic() - started))
        # Rounds at 0 s, after 3.75-5 s, after another 7.5-10 s: two REGISTERs each.
        count = len(carrier.registers(reg.call_id))
        assert 4 <= count <= 6, count
        assert reg.status.state == "failing" and reg.status.since == status.since
        assert carrier.binding(user) == ""
        await asyncio.wait_for(sip.stop_registration(reg), 5)
        assert len(carrier.registers(reg.call_id)) == count  # nothing to un-register
        assert "not-the-pw" not in repr(reg) + str(reg.status) + repr(reg.target)

    run_with_sip(tmp_path, store, scenario)


def test_a_dead_first_server_fails_over_to_the_second_with_sha256(
        tmp_path: Path, store: Store, carriers: dict[str, Carrier]) -> None:
    carrier = carriers["SHA-256"]
    user = USERS["failover"][0]
    dead = Server("127.0.0.1", free_port(), "udp")  # nothing listens there
    registrations: list[TrunkRegistration] = []

    async def scenario(sip: SipService) -> None:
        # Transactions time out after 64*T1: 3.2 s here instead of 32 s, to keep the test short.
        sip.layer.timing = Timing(t1=0.05, t2=0.4, t4=0.5)
        reg = register_trunk(sip, trunk("failover", (dead, carrier.server)))
        registrations.append(reg)
        await asyncio.sleep(1)
        assert reg.status.state == "registering" and reg.status.server == dead
        await until(lambda: reg.status.state == "registered", 8, "registered at the second")
        assert reg.status.server == carrier.server
        seen = carrier.registers(reg.call_id)
        assert len(seen) == 2 and "algorithm=SHA-256" in seen[1][2]
        assert reg.contact_user in carrier.binding(user)
        assert (await options_via(carrier, user)).status == 200

    run_with_sip(tmp_path, store, scenario)
    # The SIP part's stop un-registered it.
    assert registrations[0].status.state == "stopped"
    assert carrier.binding(user) == ""


def test_registers_over_tcp(tmp_path: Path, store: Store, carriers: dict[str, Carrier]) -> None:
    carrier = carriers["MD5"]
    user = USERS["tcp"][0]

    async def scenario(sip: SipService) -> None:
        reg = register_trunk(sip, trunk("tcp", (carrier.tcp_server,)))
        await until(lambda: reg.status.state == "registered", 8, "registered over TCP")
        binding = carrier.binding(user)
        local = sip.transport.bound["tcp"]
        assert f"sip:{reg.contact_user}@127.0.0.1:{local.port};transport=tcp" in binding, binding
        assert "tcp:127.0.0.1" in binding.lower()  # the socket it came in on
        assert (await options_via(carrier, user)).status == 200
        await asyncio.wait_for(sip.stop_registration(reg), 5)
        assert carrier.binding(user) == ""

    run_with_sip(tmp_path, store, scenario)
