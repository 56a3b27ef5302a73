"""The SIP core's security bar against the running daemon: dismissal, brute force bans,
identical answers for unknown users and wrong passwords, scanners, oversize messages."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import RunningDaemon, appliance
from tests.integration.sip_helpers import (
    Account,
    UdpClient,
    add_accounts,
    address,
    bindings_of,
    credentials,
    free_port,
    register,
    sip_config,
    start_sip_daemon,
    wait_until,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[Path, RunningDaemon, dict[str, Account]]]:
    config = sip_config(tmp_path, 'digest_algorithms = ["MD5", "SHA-256"]\nban_failures = 5')
    accounts = add_accounts(config, "101", "102")
    daemon = start_sip_daemon(config)
    yield config, daemon, accounts
    daemon.stop()


def _register(client: UdpClient, user: str, password: str | None) -> bytes:
    """REGISTER as ``user``; answer the challenge with ``password``; the final bytes."""
    uri = f"sip:{client.target[0]}:{client.target[1]}"
    client.send(client.request("REGISTER", uri, user=user, call_id="reg-" + user))
    challenge = client.final()
    assert challenge is not None and challenge.status == 401
    if password is None:
        return challenge.to_bytes()
    client.send(client.request("REGISTER", uri, user=user, call_id="reg-" + user, cseq=2,
                               headers=credentials(challenge, "REGISTER", uri, user, password)))
    raw = client.receive()
    assert raw is not None
    return raw


def _normalised(raw: bytes) -> bytes:
    """Tags, branches, nonces and Call-IDs blanked: what must not differ is left."""
    text = re.sub(rb"(tag|branch|nonce)=\"?[^;,\"\r\n]+\"?", rb"\1=X", raw)
    text = re.sub(rb"Call-ID: [^\r\n]+", b"Call-ID: X", text)
    return re.sub(rb"rport=[0-9]+", b"rport=X", text)


def test_unknown_user_and_wrong_password_get_the_same_answer(running: tuple[
        Path, RunningDaemon, dict[str, Account]]) -> None:
    _, daemon, _ = running
    client = UdpClient(address(daemon))
    try:
        wrong = _register(client, "101", "wrong-password-123")
        unknown = _register(client, "999", "wrong-password-123")
    finally:
        client.close()
    assert wrong.startswith(b"SIP/2.0 401 ")
    assert _normalised(wrong) == _normalised(unknown.replace(b"999", b"101"))


def test_brute_force_is_banned_per_source(running: tuple[
        Path, RunningDaemon, dict[str, Account]]) -> None:
    _, daemon, accounts = running
    attacker = UdpClient(address(daemon))
    attacker.sock.close()
    attacker.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    attacker.sock.bind(("127.0.0.2", 0))
    attacker.port = attacker.sock.getsockname()[1]
    office = UdpClient(address(daemon))
    try:
        for attempt in range(5):
            assert _register(attacker, "101", f"guess-{attempt}").startswith(b"SIP/2.0 401")
        attacker.send(attacker.request("OPTIONS", "sip:office.test"))
        assert attacker.receive(1.0) is None  # banned: silence
        ok = _register(office, "101", accounts["101"].password)
        assert ok.startswith(b"SIP/2.0 200 "), ok
    finally:
        attacker.close()
        office.close()


def test_dismissal_drops_bindings_refuses_calls_and_old_credentials(running: tuple[
        Path, RunningDaemon, dict[str, Account]], tmp_path: Path) -> None:
    config, daemon, accounts = running
    target = address(daemon)
    assert register(target, accounts["102"], port=free_port(), cwd=tmp_path).returncode == 0
    assert len(bindings_of(config, "102")) == 1
    appliance(config, "employee", "dismiss", str(accounts["102"].employee_id))
    # The events tail runs every 0.1 s here; 2 s is the bar the issue sets.
    assert wait_until(lambda: not bindings_of(config, "102"), timeout=2.0)
    caller = UdpClient(target)
    try:
        uri = f"sip:102@{target[0]}:{target[1]}"
        caller.send(caller.request("INVITE", uri, user="101", call_id="call-102"))
        challenge = caller.final()
        assert challenge is not None and challenge.status == 407
        caller.send(caller.request("INVITE", uri, user="101", call_id="call-102", cseq=2,
                                   headers=credentials(challenge, "INVITE", uri, "101",
                                                       accounts["101"].password)))
        refused = caller.final()
        assert refused is not None and refused.status == 410
        assert _register(caller, "102", accounts["102"].password).startswith(b"SIP/2.0 401")
    finally:
        caller.close()
    assert register(target, accounts["102"], cwd=tmp_path).returncode != 0


def test_scanners_oversize_and_long_uris(running: tuple[
        Path, RunningDaemon, dict[str, Account]]) -> None:
    _, daemon, _ = running
    client = UdpClient(address(daemon))
    try:
        client.send(client.request("OPTIONS", "sip:office.test",
                                   headers="User-Agent: friendly-scanner"))
        assert client.receive(1.0) is None
        client.send(client.request("OPTIONS", "sip:office.test", headers="X-Pad: " + "a" * 17000))
        assert client.receive(1.0) is None
        client.send(client.request("OPTIONS", "sip:" + "a" * 600 + "@office.test"))
        answer = client.final()
        assert answer is not None and answer.status == 414
        client.send(client.request("OPTIONS", "sip:office.test"))
        alive = client.final()
        assert alive is not None and alive.status == 200
    finally:
        client.close()
