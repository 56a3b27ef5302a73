"""SIPp against the running daemon: REGISTER with digest, a call and a CANCELed call through
the proxy, and a restart that keeps the bindings."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.conftest import appliance, appliance_json
from tests.integration.sip_helpers import (
    Account,
    add_accounts,
    address,
    bindings_of,
    free_port,
    register,
    run_sipp,
    sip_config,
    sipp_command,
    start_sip_daemon,
)

pytestmark = pytest.mark.integration


def _call(target: tuple[str, int], accounts: dict[str, Account], folder: Path,
          scenario: str, uas_port: int) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run the UAS (already registered on ``uas_port``) and the UAC for ``scenario``."""
    uas = subprocess.Popen(sipp_command(f"uas_{scenario}.xml", target, "-s", "102",
                                        port=uas_port), cwd=folder, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL)
    try:
        time.sleep(0.3)  # let the UAS bind its port; the UAC retransmits anyway
        uac = run_sipp(f"uac_{scenario}.xml", target, "-s", "102", "-key", "caller", "101",
                       "-au", "101", "-ap", accounts["101"].password, cwd=folder)
        _, err = uas.communicate(timeout=60)
    finally:
        if uas.poll() is None:
            uas.kill()
            uas.wait()
    assert uac.returncode == 0, uac.stderr[-2000:]
    return uac, f"{uas.returncode}: {err[-2000:]}"


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_sipp_register_with_digest(tmp_path: Path, transport: str) -> None:
    config = sip_config(tmp_path)
    accounts = add_accounts(config, "101")
    daemon = start_sip_daemon(config)
    try:
        args = ("-t", "t1") if transport == "tcp" else ()
        result = run_sipp("register.xml", address(daemon, transport), *args, "-s", "101",
                          "-au", "101", "-ap", accounts["101"].password,
                          "-key", "expires", "600", cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
        rows = bindings_of(config, "101")
        assert len(rows) == 1 and rows[0]["via"].startswith(transport)  # type: ignore[union-attr]
        assert 0 < int(rows[0]["expires_in"]) <= 600  # type: ignore[call-overload]
        status = appliance_json(config, "status")
        assert [r["extension"] for r in status["registrations"]] == ["101"]
        shown = appliance_json(config, "ext", "show", "101")
        assert shown["contacts"][0]["contact"] == rows[0]["contact"]
        assert "101 sip:101@127.0.0.1" in appliance(config, "status").stdout
        wrong = Account("101", "not-the-password", accounts["101"].employee_id)
        assert register(address(daemon), wrong, cwd=tmp_path).returncode != 0
    finally:
        daemon.stop()


def test_sipp_call_and_cancel_through_the_appliance(tmp_path: Path) -> None:
    config = sip_config(tmp_path)
    accounts = add_accounts(config, "101", "102")
    daemon = start_sip_daemon(config)
    try:
        target = address(daemon)
        uas_port = free_port()
        assert register(target, accounts["102"], port=uas_port, cwd=tmp_path).returncode == 0
        _, uas = _call(target, accounts, tmp_path, "call", uas_port)
        assert uas.startswith("0:"), uas
        _, uas = _call(target, accounts, tmp_path, "cancel", uas_port)
        assert uas.startswith("0:"), uas
    finally:
        daemon.stop()


def test_restart_keeps_bindings(tmp_path: Path) -> None:
    config = sip_config(tmp_path, udp=free_port(), tcp=free_port(socket.SOCK_STREAM))
    accounts = add_accounts(config, "101", "102")
    daemon = start_sip_daemon(config)
    uas_port = free_port()
    try:
        assert register(address(daemon), accounts["102"], port=uas_port,
                        cwd=tmp_path).returncode == 0
    finally:
        daemon.stop()
    daemon = start_sip_daemon(config)
    try:
        assert "1 bindings restored" in daemon.log()
        _, uas = _call(address(daemon), accounts, tmp_path, "call", uas_port)
        assert uas.startswith("0:"), uas
    finally:
        daemon.stop()


def test_a_provisioned_phone_registers_as_a_desk_phone(tmp_path: Path) -> None:
    # SIPp's User-Agent names no desk-phone vendor; its address is an assigned phone's.
    config = sip_config(tmp_path)
    accounts = add_accounts(config, "101", receive="desk")
    appliance(config, "phone", "assign", "00:15:65:12:34:56", "101")
    from appliance.config import load
    from appliance.directory import Directory
    from appliance.store import open_store

    Directory(open_store(load(config, {}).store.url)).record_sighting(
        "001565123456", "tftp", ip="127.0.0.1")
    daemon = start_sip_daemon(config)
    try:
        result = run_sipp("register.xml", address(daemon), "-s", "101", "-au", "101",
                          "-ap", accounts["101"].password, "-key", "expires", "600",
                          cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
        assert [row["kind"] for row in bindings_of(config, "101")] == ["desk"]
    finally:
        daemon.stop()
