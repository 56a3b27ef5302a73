"""The SIP guard against the running daemon: a stale device never bans an office's address,
an attacker trying many usernames is banned, listed and lifted (CLI, audited), one host cannot
take every TCP slot, keep-alives hold only registered connections, and a binding the store
refused is answered 500 and kept nowhere."""

from __future__ import annotations

import contextlib
import json
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.sip.framing import StreamFramer
from appliance.sip.message import Response, parse
from tests.integration.conftest import RunningDaemon, appliance, appliance_json
from tests.integration.sip_helpers import (
    Account,
    UdpClient,
    add_accounts,
    address,
    bindings_of,
    credentials,
    sip_config,
    start_sip_daemon,
    wait_until,
)

pytestmark = pytest.mark.integration
Running = tuple[Path, RunningDaemon, dict[str, Account]]


def _start(tmp_path: Path, tcp_idle: int) -> Iterator[Running]:
    config = sip_config(tmp_path, 'digest_algorithms = ["MD5", "SHA-256"]\nban_failures = 5\n'
                                  f"ban_usernames = 4\ntcp_idle = {tcp_idle}")
    accounts = add_accounts(config, "101", "102", "103")
    daemon = start_sip_daemon(config)
    yield config, daemon, accounts
    daemon.stop()


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    yield from _start(tmp_path, 1)


@pytest.fixture
def patient(tmp_path: Path) -> Iterator[Running]:
    """Idle streams are kept a minute: a slow machine opening 200 of them is not raced."""
    yield from _start(tmp_path, 60)


def _udp_from(daemon: RunningDaemon, host: str) -> UdpClient:
    client = UdpClient(address(daemon))
    client.sock.close()
    client.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.sock.bind((host, 0))
    client.port = int(client.sock.getsockname()[1])
    return client


def _register(client: UdpClient, user: str, password: str, tag: str = "",
              contact: str = "") -> Response:
    """REGISTER ``user`` (401, then the digest with ``password``); the final answer."""
    uri = f"sip:{client.target[0]}:{client.target[1]}"
    call_id = f"reg-{user}-{tag}-{client.port}"
    extra = f"Contact: {contact}" if contact else ""
    client.send(client.request("REGISTER", uri, user=user, call_id=call_id, headers=extra))
    challenge = client.final()
    assert challenge is not None and challenge.status == 401
    client.send(client.request("REGISTER", uri, user=user, call_id=call_id, cseq=2, headers=(
        credentials(challenge, "REGISTER", uri, user, password) + ("\n" + extra if extra
                                                                    else ""))))
    final = client.final()
    assert final is not None
    return final


def _bans(config: Path) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = appliance_json(config, "sip", "bans")
    return rows


def test_a_dismissed_softphone_retrying_never_locks_out_the_office(running: Running) -> None:
    config, daemon, accounts = running
    office = UdpClient(address(daemon))  # 127.0.0.1: every phone of the office shares it
    stale = UdpClient(address(daemon))
    try:
        assert _register(stale, "102", accounts["102"].password, "before").status == 200
        appliance(config, "employee", "dismiss", str(accounts["102"].employee_id))
        assert wait_until(lambda: not bindings_of(config, "102"), timeout=2.0)
        time.sleep(0.5)  # the retired credentials are reloaded on the same event
        appliance(config, "ext", "passwd", "103")  # 103's phone keeps its old password too
        time.sleep(0.5)
        answers = []
        for attempt in range(12):
            answers.append(_register(stale, "102", accounts["102"].password, str(attempt)))
            answers.append(_register(stale, "103", accounts["103"].password, str(attempt)))
            if attempt % 4 == 0:
                assert _register(office, "101", accounts["101"].password,
                                 str(attempt)).status == 200
        assert {a.status for a in answers} == {401}
        # Same answer as a wrong password: the stale device learns nothing new.
        assert all('realm="office.test"' in (a.headers.get("www-authenticate") or "")
                   for a in answers)
        assert _bans(config) == []
        assert _register(office, "101", accounts["101"].password, "after").status == 200
        daemon.wait_for_log("still uses a retired password of 102")
        log = daemon.log()
        assert accounts["102"].password not in log and accounts["103"].password not in log
        # A guesser from the same address is still banned.
        for attempt in range(5):
            assert _register(stale, "101", f"guess-{attempt}", f"g{attempt}").status == 401
        assert wait_until(lambda: [b["address"] for b in _bans(config)] == ["127.0.0.1"], 5.0)
    finally:
        office.close()
        stale.close()


def test_many_usernames_ban_the_source_listed_lifted_and_audited(running: Running) -> None:
    config, daemon, accounts = running
    attacker = _udp_from(daemon, "127.0.0.3")
    office = UdpClient(address(daemon))
    try:
        for user in ("201", "202", "203", "204"):
            assert _register(attacker, user, "letmein", user).status == 401
        attacker.send(attacker.request("OPTIONS", "sip:office.test"))
        assert attacker.receive(1.0) is None  # banned: silence
        assert wait_until(lambda: bool(_bans(config)), 5.0)
        (ban,) = _bans(config)
        assert ban["address"] == "127.0.0.3" and ban["reason"] == "usernames"
        assert ban["usernames"] == 4 and 0 < int(str(ban["seconds_left"])) <= 900
        text = appliance(config, "sip", "bans").stdout
        assert "127.0.0.3" in text and "usernames" in text
        assert _register(office, "101", accounts["101"].password).status == 200
        refused = appliance(config, "sip", "unban", "127.0.0.9", check=False)
        assert refused.returncode == 1 and "not banned" in refused.stderr
        appliance(config, "sip", "unban", "127.0.0.3")
        assert _bans(config) == []

        def answered() -> bool:
            attacker.send(attacker.request("OPTIONS", "sip:office.test"))
            final = attacker.final(0.3)
            return final is not None and final.status == 200
        assert wait_until(answered, 3.0)
        audit = appliance_json(config, "audit", "--search", "sip.unbanned")
        assert [(a["action"], a["target"]) for a in audit] == [("sip.unbanned", "127.0.0.3")]
        assert json.dumps(audit).count("cli:") == 1
    finally:
        attacker.close()
        office.close()


def test_a_ban_survives_a_restart(tmp_path: Path) -> None:
    config = sip_config(tmp_path, 'digest_algorithms = ["MD5", "SHA-256"]\nban_usernames = 3')
    daemon = start_sip_daemon(config)
    try:
        attacker = _udp_from(daemon, "127.0.0.4")
        for user in ("201", "202", "203"):
            assert _register(attacker, user, "letmein", user).status == 401
        assert wait_until(lambda: bool(_bans(config)), 5.0)
        attacker.close()
        daemon.stop()
        daemon = start_sip_daemon(config)
        attacker = _udp_from(daemon, "127.0.0.4")
        attacker.send(attacker.request("OPTIONS", "sip:office.test"))
        assert attacker.receive(1.0) is None
        attacker.close()
    finally:
        daemon.stop()


# -- TCP ----------------------------------------------------------------------------------------

class TcpClient:
    """A SIP client over one TCP connection, from ``host``."""

    def __init__(self, target: tuple[str, int], host: str = "127.0.0.1") -> None:
        self.target = target
        self.sock = socket.create_connection(target, timeout=5, source_address=(host, 0))
        self.host, self.port = self.sock.getsockname()[:2]
        self.framer = StreamFramer()
        self.ready: list[bytes] = []

    def close(self) -> None:
        self.sock.close()

    def request(self, method: str, user: str, call_id: str, cseq: int = 1,
                headers: str = "") -> bytes:
        uri = f"sip:{self.target[0]}:{self.target[1]};transport=tcp"
        lines = [f"{method} {uri} SIP/2.0",
                 f"Via: SIP/2.0/TCP {self.host}:{self.port};branch=z9hG4bK{call_id}{cseq}",
                 "Max-Forwards: 70", f"From: <sip:{user}@office.test>;tag=t{cseq}",
                 f"To: <sip:{user}@office.test>", f"Call-ID: {call_id}",
                 f"CSeq: {cseq} {method}",
                 f"Contact: <sip:{user}@{self.host}:{self.port};transport=tcp>"]
        lines += [h for h in headers.split("\n") if h]
        self.sock.sendall("\r\n".join([*lines, "Content-Length: 0", "", ""]).encode())
        return uri.encode()

    def final(self, timeout: float = 5.0) -> Response | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while self.ready:
                message = parse(self.ready.pop(0), datagram=False)
                if isinstance(message, Response) and message.status >= 200:
                    return message
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                return None
            if not data:
                return None
            self.ready += [m for m in self.framer.feed(data) if m.strip()]
        return None

    def register(self, user: str, password: str) -> Response | None:
        call_id = f"tcp-{user}-{self.port}"
        uri = self.request("REGISTER", user, call_id).decode()
        challenge = self.final()
        assert challenge is not None and challenge.status == 401
        self.request("REGISTER", user, call_id, 2,
                     credentials(challenge, "REGISTER", uri, user, password))
        return self.final()

    def is_open(self) -> bool:
        """Whether the daemon still holds the connection (no FIN or RST arrived); what was
        waiting to be read (keep-alive answers) is kept for ``final``."""
        self.sock.setblocking(False)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return False
                self.ready += [m for m in self.framer.feed(data) if m.strip()]
        except BlockingIOError:
            return True
        except OSError:
            return False
        finally:
            self.sock.setblocking(True)


def test_one_host_cannot_take_every_tcp_slot(patient: Running) -> None:
    _, daemon, accounts = patient
    target = address(daemon, "tcp")
    hog: list[socket.socket] = []
    try:
        for _ in range(200):
            hog.append(socket.create_connection(target, timeout=5,
                                                source_address=("127.0.0.1", 0)))
        other = TcpClient(target, "127.0.0.2")
        try:
            answer = other.register("101", accounts["101"].password)
            assert answer is not None and answer.status == 200, answer
        finally:
            other.close()
        time.sleep(0.3)
        still = 0
        for sock in hog:
            sock.setblocking(False)
            try:
                still += sock.recv(1, socket.MSG_PEEK) != b""
            except BlockingIOError:
                still += 1
            except OSError:
                pass
        assert still == 32  # sip.tcp_per_source, the default
    finally:
        for sock in hog:
            sock.close()


def test_keep_alives_hold_only_a_registered_connection(running: Running) -> None:
    _, daemon, accounts = running
    target = address(daemon, "tcp")
    idle = TcpClient(target)
    registered = TcpClient(target)
    try:
        answer = registered.register("101", accounts["101"].password)
        assert answer is not None and answer.status == 200
        deadline = time.monotonic() + 3.5  # sip.tcp_idle is 1 s here
        while time.monotonic() < deadline:
            for client in (idle, registered):
                with contextlib.suppress(OSError):  # the idle one may be closed already
                    client.sock.sendall(b"\r\n\r\n")
            time.sleep(0.3)
        assert not idle.is_open()
        assert registered.is_open()
        registered.request("OPTIONS", "101", "still-there")
        alive = registered.final()
        assert alive is not None and alive.status == 200
    finally:
        idle.close()
        registered.close()


# -- a failed write -----------------------------------------------------------------------------

def _database(config: Path) -> Path:
    from appliance import config as config_mod

    url = config_mod.load(config, {}).store.url
    assert url.startswith("sqlite:///")
    return Path(url.removeprefix("sqlite:///"))


def test_a_binding_the_store_refuses_is_answered_500_and_kept_nowhere(running: Running) -> None:
    config, daemon, accounts = running
    client = UdpClient(address(daemon))
    try:
        assert _register(client, "101", accounts["101"].password, "ok").status == 200
        kept = bindings_of(config, "101")
        with sqlite3.connect(_database(config)) as db:
            db.execute("CREATE TRIGGER refuse BEFORE INSERT ON sip_bindings "
                       "BEGIN SELECT RAISE(ABORT, 'disk says no'); END")
        failed = _register(client, "102", accounts["102"].password, "fail")
        assert failed.status == 500 and b"disk says no" not in failed.to_bytes()
        moved = _register(client, "101", accounts["101"].password, "moved",
                          contact=f"<sip:101@127.0.0.1:{client.port + 1}>")
        assert moved.status == 500
        assert bindings_of(config, "102") == [] and bindings_of(config, "101") == kept
        # Nothing in memory either: a call to 102 finds no phone.
        uri = f"sip:102@{client.target[0]}:{client.target[1]}"
        client.send(client.request("INVITE", uri, user="101", call_id="call-102"))
        challenge = client.final()
        assert challenge is not None and challenge.status == 407
        client.send(client.request("INVITE", uri, user="101", call_id="call-102", cseq=2,
                                   headers=credentials(challenge, "INVITE", uri, "101",
                                                       accounts["101"].password)))
        refused = client.final()
        assert refused is not None and refused.status == 480
        with sqlite3.connect(_database(config)) as db:
            db.execute("DROP TRIGGER refuse")
        assert _register(client, "102", accounts["102"].password, "again").status == 200
        assert len(bindings_of(config, "102")) == 1
    finally:
        client.close()
    assert daemon.process.poll() is None


def test_an_oversized_contact_is_refused_and_not_stored(running: Running) -> None:
    config, daemon, accounts = running
    client = UdpClient(address(daemon))
    try:
        long = f"<sip:101@127.0.0.1:{client.port};x={'a' * 600}>"
        refused = _register(client, "101", accounts["101"].password, "long", contact=long)
        assert refused.status == 400 and refused.reason == "Contact Too Long"
        assert bindings_of(config, "101") == []
    finally:
        client.close()
