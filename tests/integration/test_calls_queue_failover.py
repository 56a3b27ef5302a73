"""Queue groups through the running daemon: SIPp as the carrier on 127.0.0.2 calls the office
number routed to a queue; SIPp phones registered as its members ring in the strategy's order,
one on break (set in the store, or by dialling *70 on the phone) is skipped, the call history
names who answered. And a call out that fails over from a connection's silent first server to
its second (SIPp on 127.0.0.4)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.callplan.model import Server
from appliance.config import load
from appliance.directory.office import CallPlanDirectory
from appliance.store import open_store
from tests.integration.conftest import RunningDaemon, appliance_json
from tests.integration.sip_helpers import (
    Account,
    UdpClient,
    add_accounts,
    address,
    free_port,
    need,
    register,
    sip_config,
    sipp_command,
    start_sip_daemon,
    wait_until,
)
from tests.integration.test_calls_outside import (
    CARRIER_HOST,
    DID,
    _dial,
    carrier_sipp,
    finish,
    free_port_on,
    phone_sipp,
)

pytestmark = pytest.mark.integration


def plan(config: Path, carrier_port: int, strategy: str, on_break: int | None = None) -> None:
    """The carrier's connection, its number routed to queue ``support`` (101 then 102, 5 s
    each, 20 s in all, then hang up); ``on_break``: an employee on a break."""
    store = open_store(load(config, {}).store.url, create=False)
    try:
        office = CallPlanDirectory(store, actor="test")
        office.add_connection("carrier", kind="ip", servers=[Server(CARRIER_HOST, carrier_port)],
                              allowed_sources=[f"{CARRIER_HOST}/32"], caller_id=DID,
                              number_format="intl_digits")
        office.add_queue("support", ["101", "102"], strategy=strategy, ring_time=5, timeout=20)
        office.add_number(DID, "carrier", "queue:support", contacts_map=False)
        if on_break is not None:
            office.set_presence(on_break, "on_break")
    finally:
        store.dispose()


@pytest.fixture()
def members(tmp_path: Path) -> Iterator[tuple[Path, dict[str, Account], int]]:
    need("sipp")
    config = sip_config(tmp_path)
    yield config, add_accounts(config, "101", "102"), free_port_on(CARRIER_HOST)


def _start(config: Path, accounts: dict[str, Account], folder: Path
           ) -> tuple[RunningDaemon, dict[str, int]]:
    daemon = start_sip_daemon(config)
    ports = {n: free_port() for n in accounts}
    for number, account in accounts.items():
        assert register(address(daemon), account, port=ports[number], cwd=folder
                        ).returncode == 0
    return daemon, ports


def test_in_order_rings_the_first_member_then_the_next_who_answers(
        members: tuple[Path, dict[str, Account], int], tmp_path: Path) -> None:
    config, accounts, carrier_port = members
    plan(config, carrier_port, "in_order")
    daemon, ports = _start(config, accounts, tmp_path)
    try:
        target = address(daemon)
        first = phone_sipp("uas_cancel.xml", target, ports["101"], tmp_path, "-s", "101")
        second = phone_sipp("uas_call.xml", target, ports["102"], tmp_path, "-s", "102")
        time.sleep(0.3)
        started = time.monotonic()
        carrier = carrier_sipp("carrier_uac_call.xml", target, carrier_port, tmp_path,
                               "-s", "842873001234", "-d", "500")
        carrier_rc, carrier_err = finish(carrier)
        assert carrier_rc == 0, carrier_err
        assert time.monotonic() - started >= 5  # 101 rang its 5 s first
        assert finish(first)[0] == 0  # 101 rang, then got the box's CANCEL
        assert finish(second)[0] == 0  # 102 answered, then the carrier's BYE
        assert wait_until(lambda: appliance_json(config, "calls"), 5)
        row, = appliance_json(config, "calls")
        assert row["direction"] == "inbound" and row["outcome"] == "answered"
        assert row["answered_by"] == "102", row
        assert "queue support, 4 round(s)" in daemon.log()
    finally:
        daemon.stop()


def test_a_member_on_break_is_not_rung(
        members: tuple[Path, dict[str, Account], int], tmp_path: Path) -> None:
    config, accounts, carrier_port = members
    plan(config, carrier_port, "ring_all", on_break=accounts["101"].employee_id)
    daemon, ports = _start(config, accounts, tmp_path)
    try:
        target = address(daemon)
        idle = phone_sipp("uas_cancel.xml", target, ports["101"], tmp_path, "-s", "101",
                          "-timeout", "8s")
        answering = phone_sipp("uas_call.xml", target, ports["102"], tmp_path, "-s", "102")
        time.sleep(0.3)
        carrier = carrier_sipp("carrier_uac_call.xml", target, carrier_port, tmp_path,
                               "-s", "842873001234", "-d", "500")
        carrier_rc, carrier_err = finish(carrier)
        assert carrier_rc == 0, carrier_err
        assert finish(answering)[0] == 0
        finish(idle)
        log = tmp_path / "phone-uas_cancel.xml.log"
        assert not log.exists() or "INVITE sip:" not in log.read_text(errors="replace")
        assert "queue support, 1 round(s)" in daemon.log()
    finally:
        daemon.stop()


def test_star_70_on_the_phone_takes_a_member_out_of_the_queue_and_star_71_back(
        members: tuple[Path, dict[str, Account], int], tmp_path: Path) -> None:
    config, accounts, carrier_port = members
    plan(config, carrier_port, "ring_all")
    daemon, ports = _start(config, accounts, tmp_path)
    try:
        target = address(daemon)
        phone = UdpClient(target)
        try:
            answer = _dial(phone, "*70", accounts["101"])
            assert answer is not None and (answer.status, answer.reason) == (603, "On Break")
        finally:
            phone.close()
        employee = accounts["101"].employee_id
        assert {p["employee_id"]: p["state"] for p in appliance_json(
            config, "presence", "list")}[employee] == "on_break"
        audit = appliance_json(config, "audit", "--search", "presence")
        assert audit and audit[0]["actor"] == "extension 101", audit
        time.sleep(1.0)  # the event reaches the daemon's call plan (the outbox tail)
        idle = phone_sipp("uas_cancel.xml", target, ports["101"], tmp_path, "-s", "101",
                          "-timeout", "8s")
        answering = phone_sipp("uas_call.xml", target, ports["102"], tmp_path, "-s", "102")
        time.sleep(0.3)
        carrier = carrier_sipp("carrier_uac_call.xml", target, carrier_port, tmp_path,
                               "-s", "842873001234", "-d", "500")
        carrier_rc, carrier_err = finish(carrier)
        assert carrier_rc == 0, carrier_err
        assert finish(answering)[0] == 0
        finish(idle)
        log = tmp_path / "phone-uas_cancel.xml.log"
        assert not log.exists() or "INVITE sip:" not in log.read_text(errors="replace")
        back = UdpClient(target)
        try:
            answer = _dial(back, "*71", accounts["101"])
            assert answer is not None and (answer.status, answer.reason) == (
                603, "Back At Work")
        finally:
            back.close()
        assert {p["employee_id"]: p["state"] for p in appliance_json(
            config, "presence", "list")}[employee] == "working"
    finally:
        daemon.stop()


BACKUP_HOST = "127.0.0.4"


def test_a_call_out_fails_over_to_the_connections_second_server(tmp_path: Path) -> None:
    need("sipp")
    config = sip_config(tmp_path)
    accounts = add_accounts(config, "101", permission="international")
    dead, backup = free_port_on(CARRIER_HOST), free_port_on(BACKUP_HOST)
    store = open_store(load(config, {}).store.url, create=False)
    try:
        CallPlanDirectory(store, actor="test").add_connection(
            "carrier", kind="ip", servers=[Server(CARRIER_HOST, dead), Server(BACKUP_HOST, backup)],
            allowed_sources=[f"{CARRIER_HOST}/32", f"{BACKUP_HOST}/32"], caller_id=DID,
            number_format="intl_digits", default=True)
    finally:
        store.dispose()
    daemon = start_sip_daemon(config)
    try:
        target = address(daemon)
        command = sipp_command("uas_call.xml", target, port=backup)
        command[command.index("-i") + 1] = BACKUP_HOST  # SIPp as the second server
        carrier = subprocess.Popen(command, cwd=tmp_path, text=True, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        time.sleep(0.3)
        started = time.monotonic()
        phone = phone_sipp("uac_call.xml", target, free_port(), tmp_path, "-s", "0912345678",
                           "-key", "caller", "101", "-au", "101",
                           "-ap", accounts["101"].password, "-d", "500")
        phone_rc, phone_err = finish(phone)
        assert phone_rc == 0, phone_err  # answered by the second server
        assert time.monotonic() - started >= 4  # after the first had 4 s to say anything
        assert finish(carrier)[0] == 0
        assert "carrier server 127.0.0.2" in daemon.log() and "trying the next" in daemon.log()
    finally:
        daemon.stop()
