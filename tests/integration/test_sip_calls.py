"""The call core knows its calls, against the running daemon with SIPp and raw sockets: a
call that rings 40 s, the ring limit, no relay for dialogs the box did not set up, hang-ups
on dismissal (established and ringing), a restart in mid-call, and bindings dropped by
``phone disable`` and ``ext passwd``."""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.sip.message import Response
from tests.integration.conftest import RunningDaemon, appliance, appliance_json
from tests.integration.sip_helpers import (
    SIPP_DATA,
    Account,
    UdpClient,
    add_accounts,
    address,
    bindings_of,
    credentials,
    free_port,
    need,
    register,
    sip_config,
    start_sip_daemon,
    wait_until,
)

pytestmark = pytest.mark.integration


def sipp(scenario: str, target: tuple[str, int], *args: str, port: int, seconds: int = 30,
         ip: str = "127.0.0.1") -> list[str]:
    """A SIPp command line for one call of ``scenario``, bounded by ``seconds``."""
    return [need("sipp"), f"{target[0]}:{target[1]}", "-sf", str(SIPP_DATA / scenario),
            "-i", ip, "-p", str(port), "-m", "1", "-timeout", f"{seconds}s", "-timeout_error",
            "-nostdin", "-trace_err", "-max_recv_loops", "1000", *args]


class Sipp:
    """A SIPp process in the background, always reaped."""

    def __init__(self, command: list[str], cwd: Path) -> None:
        self.process = subprocess.Popen(command, cwd=cwd, text=True, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)

    def wait(self, timeout: float) -> str:
        """``"rc: stderr tail"`` once SIPp ended (killed after ``timeout`` seconds)."""
        try:
            _, err = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        return f"{self.process.returncode}: {err[-1500:]}"

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


def uac(target: tuple[str, int], caller: Account, scenario: str, folder: Path,
        *args: str, seconds: int = 30) -> Sipp:
    """SIPp calling 102 as ``caller``."""
    return Sipp(sipp(scenario, target, "-s", "102", "-key", "caller", caller.number,
                     "-au", caller.number, "-ap", caller.password, *args, port=free_port(),
                     seconds=seconds), folder)


def answer(client: UdpClient, timeout: float = 5.0) -> Response | None:
    """The next final response but a 407 (the first INVITE's challenge is never ACKed here,
    so the box retransmits it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        final = client.final(max(0.05, deadline - time.monotonic()))
        if final is None or final.status != 407:
            return final
    return None


def start_call(client: UdpClient, target: tuple[str, int], caller: Account,
               callee: str = "102") -> None:
    """INVITE ``callee`` from a raw socket and answer the 407 with credentials."""
    uri = f"sip:{callee}@{target[0]}:{target[1]}"
    call_id = secrets.token_hex(8)
    client.send(client.request("INVITE", uri, user=caller.number, call_id=call_id))
    challenge = client.final()
    assert challenge is not None and challenge.status == 407
    client.send(client.request("INVITE", uri, user=caller.number, call_id=call_id, cseq=2,
                               headers=credentials(challenge, "INVITE", uri, caller.number,
                                                   caller.password)))


def raw(method: str, uri: str, source: tuple[str, int], *, to_tag: str | None = None,
        routes: str = "", user: str = "101", auth: str = "", call_id: str = "") -> bytes:
    """A hand-made request from ``source`` (with a Route set and a To tag when given)."""
    lines = [f"{method} {uri} SIP/2.0",
             f"Via: SIP/2.0/UDP {source[0]}:{source[1]};branch=z9hG4bK{secrets.token_hex(6)};"
             "rport", "Max-Forwards: 70",
             f"From: \"CEO\" <sip:{user}@office.test>;tag={secrets.token_hex(4)}",
             f"To: <{uri}>" + (f";tag={to_tag}" if to_tag else ""),
             f"Call-ID: {call_id or secrets.token_hex(8)}", f"CSeq: 1 {method}",
             f"Contact: <sip:{user}@{source[0]}:{source[1]}>"]
    lines += [f"Route: {routes}"] if routes else []
    lines += [auth] if auth else []
    lines += ["Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode()


def listener(host: str, port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, port))
    sock.settimeout(0.2)
    return sock


def heard(sock: socket.socket, seconds: float) -> list[bytes]:
    """Everything ``sock`` received within ``seconds`` (a bounded wait)."""
    got, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            got.append(sock.recv(65536))
        except TimeoutError:
            continue
    return got


Box = tuple[Path, RunningDaemon, dict[str, Account]]


def start_box(folder: Path, ring_timeout: int = 60) -> Box:
    """A daemon on fixed ports (so it can restart) with extensions 101 and 102."""
    config = sip_config(folder, f'digest_algorithms = ["MD5", "SHA-256"]\n'
                                f"ring_timeout = {ring_timeout}", udp=free_port(),
                        tcp=free_port(socket.SOCK_STREAM))
    accounts = add_accounts(config, "101", "102")
    return config, start_sip_daemon(config), accounts


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Box]:
    """``start_box`` with the default ring limit, stopped after the test."""
    started = start_box(tmp_path)
    yield started
    started[1].stop()


def test_a_call_rings_40_s_then_is_answered(tmp_path: Path) -> None:
    _, daemon, accounts = start_box(tmp_path, ring_timeout=50)
    try:
        _ring_long(daemon, accounts, tmp_path)
    finally:
        daemon.stop()


def _ring_long(daemon: RunningDaemon, accounts: dict[str, Account], tmp_path: Path) -> None:
    target, uas_port = address(daemon), free_port()
    assert register(target, accounts["102"], port=uas_port, cwd=tmp_path).returncode == 0
    callee = Sipp(sipp("uas_ring_long.xml", target, "-s", "102", "-d", "40000", port=uas_port,
                       seconds=80), tmp_path)
    try:
        time.sleep(0.3)
        caller = uac(target, accounts["101"], "uac_call.xml", tmp_path, seconds=80)
        assert caller.wait(90).startswith("0:")  # 180, then the 200 after 40 s: no 408
        assert callee.wait(30).startswith("0:")  # and the ACK and BYE reached the callee
    finally:
        callee.kill()


def test_the_ring_limit_cancels_the_callee_and_answers_480(tmp_path: Path) -> None:
    _, daemon, accounts = start_box(tmp_path, ring_timeout=5)
    try:
        _ring_out(daemon, accounts, tmp_path)
    finally:
        daemon.stop()


def _ring_out(daemon: RunningDaemon, accounts: dict[str, Account], tmp_path: Path) -> None:
    target, uas_port = address(daemon), free_port()
    assert register(target, accounts["102"], port=uas_port, cwd=tmp_path).returncode == 0
    callee = Sipp(sipp("uas_cancel.xml", target, "-s", "102", port=uas_port), tmp_path)
    client = UdpClient(target)
    try:
        time.sleep(0.3)
        start_call(client, target, accounts["101"])
        final = answer(client, 15.0)
        assert final is not None and final.status == 480
        assert callee.wait(15).startswith("0:")  # the CANCEL reached the ringing callee
    finally:
        client.close()
        callee.kill()


def test_no_relay_for_dialogs_the_box_did_not_set_up(box: Box, tmp_path: Path) -> None:
    _, daemon, accounts = box
    target, phone_port = address(daemon), free_port()
    assert register(target, accounts["102"], port=phone_port, cwd=tmp_path).returncode == 0
    phone = listener("127.0.0.1", phone_port)  # 102's registered contact, now a bare socket
    outside = listener("127.0.0.5")  # an "outside" address
    outside_at = f"127.0.0.5:{outside.getsockname()[1]}"
    box_route = f"<sip:{target[0]}:{target[1]};lr>"
    attacker = UdpClient(target)
    attacker.sock.close()
    attacker.sock = listener("127.0.0.2")  # never registered
    attacker.port = attacker.sock.getsockname()[1]
    source = ("127.0.0.2", attacker.port)
    phone_uri = f"sip:102@127.0.0.1:{phone_port}"
    office = UdpClient(target)  # 101, registered phone with internal permission
    try:
        answers = []
        for message in (
                raw("INVITE", phone_uri, source, routes=f"{box_route}, <{phone_uri};lr>"),
                raw("INVITE", phone_uri, source, to_tag="invented", routes=box_route),
                raw("BYE", phone_uri, source, to_tag="invented",
                    routes=f"<sip:{target[0]}:{target[1]};lr;sig=00112233aabbccdd>"),
                raw("INVITE", f"sip:0912345678@{outside_at}", source, to_tag="x",
                    routes=f"{box_route}, <sip:{outside_at};lr>")):
            attacker.send(message)
            answer = attacker.final(3.0)
            answers.append(answer.status if answer else None)
        assert answers == [407, 481, 481, 481]
        # 101 is a registered phone, authenticated: the dial plan still decides.
        uri = f"sip:0912345678@{outside_at}"
        call_id = secrets.token_hex(8)
        routes = f"{box_route}, <sip:{outside_at};lr>"
        office.send(raw("INVITE", uri, ("127.0.0.1", office.port), routes=routes,
                        call_id=call_id))
        challenge = office.final()
        assert challenge is not None and challenge.status == 407
        office.send(raw("INVITE", uri, ("127.0.0.1", office.port), routes=routes,
                        call_id=call_id, auth=credentials(challenge, "INVITE", uri, "101",
                                                          accounts["101"].password)))
        refused = office.final()
        assert refused is not None and refused.status == 403
        office.send(raw("INVITE", uri, ("127.0.0.1", office.port), routes=routes, to_tag="y"))
        unknown = office.final()
        assert unknown is not None and unknown.status == 481
        assert heard(phone, 1.0) == [] and heard(outside, 0.5) == []
    finally:
        for sock in (phone, outside):
            sock.close()
        attacker.close()
        office.close()


def test_dismissal_hangs_up_an_established_call(box: Box, tmp_path: Path) -> None:
    config, daemon, accounts = box
    target, uas_port = address(daemon), free_port()
    assert register(target, accounts["102"], port=uas_port, cwd=tmp_path).returncode == 0
    mark = tmp_path / "established"
    callee = Sipp(sipp("uas_hold.xml", target, "-s", "102", "-key", "mark", str(mark),
                       port=uas_port, seconds=60), tmp_path)
    caller = None
    try:
        time.sleep(0.3)
        caller = uac(target, accounts["101"], "uac_hold.xml", tmp_path, seconds=60)
        assert wait_until(mark.exists, timeout=10.0)
        appliance(config, "employee", "dismiss", str(accounts["102"].employee_id))
        # Both ends got the box's BYE and answered it: each SIPp ends its scenario.
        assert wait_until(lambda: caller.process.poll() is not None  # type: ignore[union-attr]
                          and callee.process.poll() is not None, timeout=2.0)
        assert caller.wait(5).startswith("0:") and callee.wait(5).startswith("0:")
        assert not bindings_of(config, "102")
        audit = {a["action"] for a in appliance_json(config, "audit", "--search", "sip.")}
        assert {"sip.call_ended", "sip.bindings_dropped"} <= audit
    finally:
        callee.kill()
        if caller is not None:
            caller.kill()


def test_unassigning_the_callee_cancels_a_ringing_call(box: Box, tmp_path: Path) -> None:
    config, daemon, accounts = box
    target, uas_port = address(daemon), free_port()
    assert register(target, accounts["102"], port=uas_port, cwd=tmp_path).returncode == 0
    callee = Sipp(sipp("uas_cancel.xml", target, "-s", "102", port=uas_port), tmp_path)
    client = UdpClient(target)
    try:
        time.sleep(0.3)
        start_call(client, target, accounts["101"])
        ringing = client.receive(5.0)
        while ringing is not None and b" 180 " not in ringing.split(b"\r\n")[0]:
            ringing = client.receive(5.0)
        assert ringing is not None
        appliance(config, "ext", "unassign", "102")
        final = answer(client, 3.0)
        assert final is not None and final.status == 410
        assert callee.wait(5).startswith("0:")  # CANCELed
    finally:
        client.close()
        callee.kill()


def test_a_call_survives_a_restart_and_its_bye_goes_through(box: Box, tmp_path: Path) -> None:
    config, daemon, accounts = box
    target, uas_port = address(daemon), free_port()
    assert register(target, accounts["102"], port=uas_port, cwd=tmp_path).returncode == 0
    mark = tmp_path / "established"
    callee = Sipp(sipp("uas_hold.xml", target, "-s", "102", "-key", "mark", str(mark),
                       port=uas_port, seconds=60), tmp_path)
    caller = None
    try:
        time.sleep(0.3)
        # The caller hangs up 10 s after the ACK: the daemon is restarted in between.
        caller = uac(target, accounts["101"], "uac_call.xml", tmp_path, "-d", "10000",
                     seconds=60)
        assert wait_until(mark.exists, timeout=10.0)
        daemon.stop()
        restarted = start_sip_daemon(config)
        try:
            assert caller.wait(40).startswith("0:")  # its BYE was answered 200
            assert callee.wait(10).startswith("0:")  # through the restarted box
        finally:
            restarted.stop()
    finally:
        callee.kill()
        if caller is not None:
            caller.kill()


def test_phone_disable_drops_the_bindings_from_that_phone(box: Box, tmp_path: Path) -> None:
    config, daemon, accounts = box
    from appliance.config import load
    from appliance.directory import Directory
    from appliance.store import open_store

    appliance(config, "phone", "assign", "00:15:65:12:34:56", "102")
    store = open_store(load(config, {}).store.url)
    Directory(store).record_sighting("001565123456", "tftp", ip="127.0.0.5")
    store.dispose()
    target = address(daemon)
    desk = subprocess.run(sipp("register.xml", target, "-s", "102", "-au", "102", "-ap",
                               accounts["102"].password, "-key", "expires", "600",
                               port=free_port(), ip="127.0.0.5"),
                          capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False)
    assert desk.returncode == 0, desk.stderr[-1500:]
    assert register(target, accounts["102"], port=free_port(), cwd=tmp_path).returncode == 0
    assert {str(r["via"]).split(":")[1] for r in bindings_of(config, "102")} == {
        "127.0.0.5", "127.0.0.1"}
    appliance(config, "phone", "disable", "00:15:65:12:34:56")
    assert wait_until(lambda: len(bindings_of(config, "102")) == 1, timeout=2.0)
    assert str(bindings_of(config, "102")[0]["via"]).startswith("udp:127.0.0.1:")


def test_a_new_password_drops_the_bindings_of_the_old_one(box: Box, tmp_path: Path) -> None:
    config, daemon, accounts = box
    target = address(daemon)
    assert register(target, accounts["102"], port=free_port(), cwd=tmp_path).returncode == 0
    assert len(bindings_of(config, "102")) == 1
    password = json.loads(appliance(config, "ext", "passwd", "102", "--json").stdout)[
        "sip_password"]
    assert wait_until(lambda: not bindings_of(config, "102"), timeout=2.0)
    again = Account("102", password, accounts["102"].employee_id)
    assert register(target, again, port=free_port(), cwd=tmp_path).returncode == 0
    assert len(bindings_of(config, "102")) == 1
