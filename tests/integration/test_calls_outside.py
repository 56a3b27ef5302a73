"""Calls to and from the outside through the running daemon's B2BUA, with SIPp as the
carrier (on 127.0.0.2, an IP-authenticated connection) and as the phones (127.0.0.1): a
carrier call rung on a registered phone, a phone's call out, the toll-fraud refusals, a
CANCEL while the outside rings, and a dismissal ending both legs."""

from __future__ import annotations

import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.callplan.model import Server
from appliance.config import load
from appliance.directory.office import CallPlanDirectory
from appliance.sip.message import Response, parse
from appliance.store import open_store
from tests.integration.conftest import RunningDaemon, appliance
from tests.integration.sip_helpers import (
    Account,
    UdpClient,
    add_accounts,
    address,
    credentials,
    free_port,
    need,
    register,
    sip_config,
    sipp_command,
    start_sip_daemon,
)

pytestmark = pytest.mark.integration

CARRIER_HOST = "127.0.0.2"
STRANGER_HOST = "127.0.0.3"
DID = "+842873001234"


def free_port_on(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def add_connection(config: Path, carrier_port: int, **fields: object) -> None:
    """An IP-authenticated connection at the carrier's address, its DID ringing 102."""
    store = open_store(load(config, {}).store.url, create=False)
    try:
        plan = CallPlanDirectory(store, actor="test")
        plan.add_connection("carrier", kind="ip", servers=[Server(CARRIER_HOST, carrier_port)],
                            allowed_sources=[f"{CARRIER_HOST}/32"], caller_id=DID,
                            number_format="intl_digits", **fields)
        plan.add_number(DID, "carrier", "extension:102", contacts_map=False)
    finally:
        store.dispose()


def carrier_sipp(scenario: str, target: tuple[str, int], port: int, folder: Path,
                 *args: str) -> subprocess.Popen[str]:
    """SIPp as the carrier on CARRIER_HOST, logging every message it sees."""
    command = sipp_command(scenario, target, *args, port=port)
    command[command.index("-i") + 1] = CARRIER_HOST
    command += ["-trace_msg", "-message_file", str(folder / f"carrier-{scenario}.log")]
    return subprocess.Popen(command, cwd=folder, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)


def phone_sipp(scenario: str, target: tuple[str, int], port: int, folder: Path,
               *args: str) -> subprocess.Popen[str]:
    command = sipp_command(scenario, target, *args, port=port)
    command += ["-trace_msg", "-message_file", str(folder / f"phone-{scenario}.log")]
    return subprocess.Popen(command, cwd=folder, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)


def finish(process: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str]:
    try:
        _, err = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, err[-2000:]


def received_invite(log: Path) -> str:
    """The first INVITE a SIPp instance received, from its message log."""
    text = log.read_text(errors="replace")
    match = re.search(r"received \[\d+\] bytes :\s*\n\s*(INVITE .*?)(?:\n-{10,}|\Z)", text,
                      re.S)
    assert match, text[-2000:]
    return match.group(1)


@pytest.fixture()
def office(tmp_path: Path) -> Iterator[tuple[Path, dict[str, Account], int, RunningDaemon]]:
    need("sipp")
    config = sip_config(tmp_path)
    accounts = add_accounts(config, "101", "103", permission="international")
    accounts |= add_accounts(config, "102")
    accounts |= add_accounts(config, "104", permission="mobile")
    carrier_port = free_port_on(CARRIER_HOST)
    add_connection(config, carrier_port)
    daemon = start_sip_daemon(config)
    yield config, accounts, carrier_port, daemon
    daemon.stop()


def test_a_carrier_call_rings_the_phone_and_bye_ends_both_legs(
        office: tuple[Path, dict[str, Account], int, RunningDaemon], tmp_path: Path) -> None:
    _, accounts, carrier_port, daemon = office
    target = address(daemon)
    phone_port = free_port()
    assert register(target, accounts["102"], port=phone_port, cwd=tmp_path).returncode == 0
    phone = phone_sipp("uas_call.xml", target, phone_port, tmp_path, "-s", "102")
    time.sleep(0.3)
    carrier = carrier_sipp("carrier_uac_call.xml", target, carrier_port, tmp_path,
                           "-s", "842873001234", "-d", "500")
    carrier_rc, carrier_err = finish(carrier)
    phone_rc, phone_err = finish(phone)
    assert carrier_rc == 0, carrier_err
    assert phone_rc == 0, phone_err
    invite = received_invite(tmp_path / "phone-uas_call.xml.log")
    assert re.search(r'From: "Khach Hang" <sip:0909123456@', invite), invite
    assert "m=audio" in invite and "PCMA" in invite  # the carrier's SDP, end to end
    assert "sip: call from connection carrier for +842873001234" in daemon.log()


def test_a_delayed_offer_gets_its_answer_across_in_the_ack(
        office: tuple[Path, dict[str, Account], int, RunningDaemon], tmp_path: Path) -> None:
    """The carrier's INVITE without SDP: the phone offers in its 200, the carrier answers in
    its ACK, and that answer reaches the phone in the box's ACK (RFC 3264 §4)."""
    _, accounts, carrier_port, daemon = office
    target = address(daemon)
    phone_port = free_port()
    assert register(target, accounts["102"], port=phone_port, cwd=tmp_path).returncode == 0
    phone = phone_sipp("uas_delayed.xml", target, phone_port, tmp_path, "-s", "102")
    time.sleep(0.3)
    carrier = carrier_sipp("carrier_uac_delayed.xml", target, carrier_port, tmp_path,
                           "-s", "842873001234", "-d", "500")
    carrier_rc, carrier_err = finish(carrier)
    phone_rc, phone_err = finish(phone)
    assert carrier_rc == 0, carrier_err
    assert phone_rc == 0, phone_err


def test_a_phone_calls_out_with_the_office_number(
        office: tuple[Path, dict[str, Account], int, RunningDaemon], tmp_path: Path) -> None:
    _, accounts, carrier_port, daemon = office
    target = address(daemon)
    carrier = carrier_sipp("uas_call.xml", target, carrier_port, tmp_path)
    time.sleep(0.3)
    phone = phone_sipp("uac_call.xml", target, free_port(), tmp_path, "-s", "0912345678",
                       "-key", "caller", "101", "-au", "101", "-ap", accounts["101"].password,
                       "-d", "500")
    phone_rc, phone_err = finish(phone)
    carrier_rc, carrier_err = finish(carrier)
    assert phone_rc == 0, phone_err
    assert carrier_rc == 0, carrier_err
    invite = received_invite(tmp_path / "carrier-uas_call.xml.log")
    assert invite.startswith(f"INVITE sip:84912345678@{CARRIER_HOST}:{carrier_port}"), invite
    assert re.search(r"From: <sip:842873001234@", invite), invite
    assert "P-Asserted-Identity: <sip:842873001234@" in invite
    assert re.search(r"To: <sip:84912345678@", invite) and "m=audio" in invite


def _dial(client: UdpClient, number: str, account: Account) -> Response | None:
    """An authenticated INVITE from ``account`` to ``number``; its final answer."""
    uri = f"sip:{number}@office.test"
    call_id = f"fraud-{number}"
    client.send(client.request("INVITE", uri, user=account.number, call_id=call_id))
    challenge = client.final()
    assert challenge is not None and challenge.status == 407
    line = credentials(challenge, "INVITE", uri, account.number, account.password)
    client.send(client.request("INVITE", uri, user=account.number, call_id=call_id, cseq=2,
                               headers=line))
    return client.final()


def _silent(sock: socket.socket, seconds: float = 1.0) -> bool:
    """Whether no request arrives on ``sock`` for ``seconds`` (retransmitted answers to its
    own unacknowledged INVITE may)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except TimeoutError:
            return True
        if not isinstance(parse(data), Response):
            return False
    return True


def test_toll_fraud_and_strangers_are_refused_and_nothing_goes_out(
        office: tuple[Path, dict[str, Account], int, RunningDaemon]) -> None:
    _, accounts, carrier_port, daemon = office
    target = address(daemon)
    carrier = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    carrier.bind((CARRIER_HOST, carrier_port))
    phone = UdpClient(target)
    try:
        refused = _dial(phone, "0044770090012", accounts["104"])
        assert refused is not None and (refused.status, refused.reason) == (
            403, "Call Not Permitted")
        assert _silent(carrier)
        # An INVITE for the office number from an address not in the connection's list.
        stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        stranger.bind((STRANGER_HOST, 0))
        port = stranger.getsockname()[1]
        stranger.sendto(_carrier_invite(STRANGER_HOST, port, DID), target)
        stranger.settimeout(5)
        answer = parse(stranger.recv(65536))
        assert isinstance(answer, Response) and answer.status == 403
        stranger.close()
        # The carrier's INVITE for a number that is not the office's: 404, never sent out.
        carrier.sendto(_carrier_invite(CARRIER_HOST, carrier_port, "+84912000111"), target)
        carrier.settimeout(5)
        statuses = []
        while True:
            message = parse(carrier.recv(65536))
            assert isinstance(message, Response)  # nothing but answers to the carrier
            statuses.append(message.status)
            if message.status >= 200:
                break
        assert statuses[-1] == 404
        assert _silent(carrier) and _silent(phone.sock, 0.2)
    finally:
        carrier.close()
        phone.close()


def _carrier_invite(host: str, port: int, number: str) -> bytes:
    return (f"INVITE sip:{number}@127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK-{number[-4:]}{port};rport\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:0909123456@carrier>;tag=o1\r\n"
            f"To: <sip:{number}@127.0.0.1>\r\nCall-ID: stranger-{number}-{port}\r\n"
            f"CSeq: 1 INVITE\r\nContact: <sip:0909123456@{host}:{port}>\r\n"
            "Content-Length: 0\r\n\r\n").encode()


def test_cancel_while_the_outside_rings(
        office: tuple[Path, dict[str, Account], int, RunningDaemon], tmp_path: Path) -> None:
    _, accounts, carrier_port, daemon = office
    target = address(daemon)
    carrier = carrier_sipp("uas_cancel.xml", target, carrier_port, tmp_path)
    time.sleep(0.3)
    phone = phone_sipp("uac_cancel.xml", target, free_port(), tmp_path, "-s", "0912345678",
                       "-key", "caller", "101", "-au", "101", "-ap", accounts["101"].password)
    phone_rc, phone_err = finish(phone)
    carrier_rc, carrier_err = finish(carrier)
    assert phone_rc == 0, phone_err  # its CANCEL answered 200, then 487 to its INVITE
    assert carrier_rc == 0, carrier_err  # the outside got the box's CANCEL


def test_dismissal_ends_an_outside_call_on_both_legs(
        office: tuple[Path, dict[str, Account], int, RunningDaemon], tmp_path: Path) -> None:
    config, accounts, carrier_port, daemon = office
    target = address(daemon)
    phone_port = free_port()
    assert register(target, accounts["102"], port=phone_port, cwd=tmp_path).returncode == 0
    phone = phone_sipp("uas_call.xml", target, phone_port, tmp_path, "-s", "102")
    time.sleep(0.3)
    carrier = carrier_sipp("carrier_uac_hungup.xml", target, carrier_port, tmp_path,
                           "-s", DID)
    log = tmp_path / "carrier-carrier_uac_hungup.xml.log"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (
            log.exists() and "ACK sip:" in log.read_text(errors="replace")):
        time.sleep(0.1)
    assert carrier.poll() is None and phone.poll() is None  # the call is up
    appliance(config, "employee", "dismiss", str(accounts["102"].employee_id))
    dismissed = time.monotonic()
    # Both legs get their BYE within 2 s of the dismissal (each SIPp then waits 0.5 s).
    while time.monotonic() - dismissed < 3 and (carrier.poll() is None or phone.poll() is None):
        time.sleep(0.05)
    waited = time.monotonic() - dismissed
    carrier_rc, carrier_err = finish(carrier, timeout=30)
    phone_rc, phone_err = finish(phone, timeout=30)
    assert carrier_rc == 0, carrier_err
    assert phone_rc == 0, phone_err
    assert waited < 3, waited
    assert "BYE sip:" in log.read_text(errors="replace")
