"""The call history and live calls against the running daemon, with SIPp as the phones and
as the carrier (an IP-authenticated connection on 127.0.0.2): the history row of an answered
call, a cancelled and a missed one, calls in and out across the connection, and a live call
shown by ``appliance calls --live`` and hung up by ``appliance calls hangup`` (both ends get
the box's BYE), its row kept with the callee's name after a dismissal; a call across the
connection hung up the same way on both its legs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import RunningDaemon, appliance, appliance_json
from tests.integration.sip_helpers import (
    Account,
    add_accounts,
    address,
    free_port,
    need,
    register,
    sip_config,
    start_sip_daemon,
    wait_until,
)
from tests.integration.test_calls_outside import (
    CARRIER_HOST,
    DID,
    add_connection,
    carrier_sipp,
    finish,
    free_port_on,
    phone_sipp,
)
from tests.integration.test_sip_calls import Sipp, sipp, uac

pytestmark = pytest.mark.integration

Office = tuple[Path, dict[str, Account], int, RunningDaemon]


@pytest.fixture()
def office(tmp_path: Path) -> Iterator[Office]:
    """101 (may call anywhere), 102, and a carrier connection whose DID rings 102; a ring
    limit of 5 s."""
    need("sipp")
    config = sip_config(tmp_path, 'digest_algorithms = ["MD5", "SHA-256"]\nring_timeout = 5')
    accounts = add_accounts(config, "101", permission="international")
    accounts |= add_accounts(config, "102")
    carrier_port = free_port_on(CARRIER_HOST)
    add_connection(config, carrier_port)
    daemon = start_sip_daemon(config)
    yield config, accounts, carrier_port, daemon
    daemon.stop()


def history(config: Path, *args: str, count: int = 1) -> list[dict[str, Any]]:
    """``appliance calls --json`` once it lists ``count`` calls (the daemon writes within a
    second of a call's end)."""
    found: list[dict[str, Any]] = []

    def enough() -> bool:
        found[:] = appliance_json(config, "calls", *args)
        return len(found) >= count
    wait_until(enough, timeout=5.0)
    return found


def test_an_answered_call_is_kept_with_its_parties_and_times(office: Office,
                                                             tmp_path: Path) -> None:
    config, accounts, _, daemon = office
    target, uas_port = address(daemon), free_port()
    assert register(target, accounts["102"], port=uas_port, cwd=tmp_path).returncode == 0
    callee = Sipp(sipp("uas_call.xml", target, "-s", "102", port=uas_port), tmp_path)
    time.sleep(0.3)
    caller = uac(target, accounts["101"], "uac_call.xml", tmp_path, "-d", "1500")
    assert caller.wait(30).startswith("0:") and callee.wait(30).startswith("0:")
    row, = history(config)
    assert {k: row[k] for k in ("direction", "caller", "callee", "dialled", "answered_by",
                                "outcome", "status", "reason", "connection")} == {
        "direction": "internal", "caller": "101", "callee": "102", "dialled": "102",
        "answered_by": "102", "outcome": "answered", "status": 200, "reason": "bye",
        "connection": None}
    assert (row["caller_name"], row["callee_name"]) == ("Employee 101", "Employee 102")
    assert 1.0 <= row["talk_seconds"] <= 10.0 and row["started_at"].endswith("+00:00")
    table = appliance(config, "calls").stdout
    assert "101 (Employee 101)" in table and "answered" in table and "+00:00" not in table
    assert appliance_json(config, "calls", "--outcome", "missed") == []
    assert len(appliance_json(config, "calls", "--ext", "102", "--direction",
                              "internal")) == 1
    csv = appliance(config, "calls", "--csv").stdout.splitlines()
    assert csv[0].startswith("id,started_at,direction") and ",internal,101," in csv[1]


def test_a_cancelled_and_a_missed_call(office: Office, tmp_path: Path) -> None:
    config, accounts, _, daemon = office
    target, uas_port = address(daemon), free_port()
    assert register(target, accounts["102"], port=uas_port, cwd=tmp_path).returncode == 0
    callee = Sipp(sipp("uas_cancel.xml", target, "-s", "102", port=uas_port), tmp_path)
    time.sleep(0.3)
    caller = uac(target, accounts["101"], "uac_cancel.xml", tmp_path)
    assert caller.wait(30).startswith("0:") and callee.wait(30).startswith("0:")
    cancelled, = history(config)
    assert (cancelled["outcome"], cancelled["status"], cancelled["answered_by"]) == (
        "cancelled", 487, None)
    # Rings past the 5 s ring limit: the box CANCELs the callee and answers 480.
    callee = Sipp(sipp("uas_cancel.xml", target, "-s", "102", port=uas_port), tmp_path)
    time.sleep(0.3)
    # -nd: no BYE of SIPp's own when its scenario fails on the 480 (only the history
    # matters here).
    caller = uac(target, accounts["101"], "uac_call.xml", tmp_path, "-nd")
    caller.wait(30)
    assert callee.wait(30).startswith("0:")
    missed = history(config, "--outcome", "missed")
    assert [(r["callee"], r["status"], r["talk_seconds"]) for r in missed] == [("102", 480, 0)]
    assert 4.5 <= missed[0]["ring_seconds"] <= 7.0


def test_calls_in_and_out_across_the_connection(office: Office, tmp_path: Path) -> None:
    config, accounts, carrier_port, daemon = office
    target, phone_port = address(daemon), free_port()
    assert register(target, accounts["102"], port=phone_port, cwd=tmp_path).returncode == 0
    phone = phone_sipp("uas_call.xml", target, phone_port, tmp_path, "-s", "102")
    time.sleep(0.3)
    carrier = carrier_sipp("carrier_uac_call.xml", target, carrier_port, tmp_path,
                           "-s", "842873001234", "-d", "500")
    assert finish(carrier)[0] == 0 and finish(phone)[0] == 0
    inbound, = history(config, "--direction", "inbound")
    assert {k: inbound[k] for k in ("caller", "callee", "dialled", "connection", "answered_by",
                                    "answered_by_name", "outcome")} == {
        "caller": "0909123456", "callee": "102", "dialled": DID, "connection": "carrier",
        "answered_by": "102", "answered_by_name": "Employee 102", "outcome": "answered"}
    carrier = carrier_sipp("uas_call.xml", target, carrier_port, tmp_path)
    time.sleep(0.3)
    phone = phone_sipp("uac_call.xml", target, free_port(), tmp_path, "-s", "0912345678",
                       "-key", "caller", "101", "-au", "101", "-ap", accounts["101"].password,
                       "-d", "500")
    assert finish(phone)[0] == 0 and finish(carrier)[0] == 0
    outbound, = history(config, "--direction", "outbound")
    assert {k: outbound[k] for k in ("caller", "caller_name", "callee", "dialled", "connection",
                                     "answered_by", "outcome")} == {
        "caller": "101", "caller_name": "Employee 101", "callee": "84912345678",
        "dialled": "0912345678", "connection": "carrier", "answered_by": "84912345678",
        "outcome": "answered"}
    assert len(appliance_json(config, "calls", "--ext", "102")) == 1  # the call in, answered


def test_a_live_call_is_listed_and_hung_up_from_the_cli(office: Office,
                                                        tmp_path: Path) -> None:
    config, accounts, _, daemon = office
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
        live: list[dict[str, Any]] = []

        def established() -> bool:
            live[:] = appliance_json(config, "calls", "--live")
            return bool(live) and live[0]["state"] == "established"
        assert wait_until(established, timeout=5.0), live
        call, = live
        assert (call["caller"], call["callee"], call["callee_name"]) == (
            "101", "102", "Employee 102")
        assert call["ref"] in appliance(config, "calls", "--live").stdout
        done = appliance(config, "calls", "hangup", call["ref"])
        assert f"call {call['ref']} ended" in done.stdout
        # Both ends got the box's BYE and answered it: each SIPp ends its scenario.
        assert wait_until(lambda: caller.process.poll() is not None  # type: ignore[union-attr]
                          and callee.process.poll() is not None, timeout=3.0)
        assert caller.wait(5).startswith("0:") and callee.wait(5).startswith("0:")
    finally:
        callee.kill()
        if caller is not None:
            caller.kill()
    assert appliance_json(config, "calls", "--live") == []
    gone = appliance(config, "calls", "hangup", call["ref"], check=False)
    assert gone.returncode == 1 and "no such call in progress" in gone.stderr
    appliance(config, "employee", "dismiss", str(accounts["102"].employee_id))
    row, = history(config, "--employee", str(accounts["102"].employee_id))
    assert (row["ref"], row["reason"], row["callee_name"], row["outcome"]) == (
        call["ref"], "hung up", "Employee 102", "answered")
    actions = [a["action"] for a in appliance_json(config, "audit", "--search", "call")]
    assert "call.hangup" in actions and "sip.call_ended" in actions


def test_a_call_across_the_connection_is_hung_up_on_both_legs(office: Office,
                                                              tmp_path: Path) -> None:
    config, accounts, carrier_port, daemon = office
    target, phone_port = address(daemon), free_port()
    assert register(target, accounts["102"], port=phone_port, cwd=tmp_path).returncode == 0
    phone = phone_sipp("uas_call.xml", target, phone_port, tmp_path, "-s", "102")
    time.sleep(0.3)
    carrier = carrier_sipp("carrier_uac_hungup.xml", target, carrier_port, tmp_path,
                           "-s", DID)
    live: list[dict[str, Any]] = []

    def established() -> bool:
        live[:] = appliance_json(config, "calls", "--live")
        return bool(live) and live[0]["state"] == "established"
    try:
        assert wait_until(established, timeout=10.0), live
        assert (live[0]["direction"], live[0]["connection"], live[0]["callee"]) == (
            "inbound", "carrier", "102")
        appliance(config, "calls", "hangup", live[0]["ref"])
        carrier_rc, carrier_err = finish(carrier, timeout=30)
        phone_rc, phone_err = finish(phone, timeout=30)
    finally:
        for process in (carrier, phone):
            if process.poll() is None:
                process.kill()
                process.wait()
    assert carrier_rc == 0, carrier_err  # the outside leg got the box's BYE
    assert "BYE sip:" in (tmp_path / "carrier-carrier_uac_hungup.xml.log").read_text(
        errors="replace")
    assert phone_rc == 0, phone_err  # and the phone's leg
    row, = history(config, "--direction", "inbound")
    assert (row["ref"], row["reason"], row["outcome"]) == (live[0]["ref"], "hung up",
                                                            "answered")
