"""Connections and office numbers through the CLI, with the running daemon registering a
register connection at a real carrier: Kamailio (tests/data/kamailio/carrier.cfg, started
as test_trunk_registration.py does) on 127.0.0.1. ``appliance trunk add`` in one process, the
daemon's registration within seconds, ``trunk show --json`` reading the status it published;
a wrong password failing with 401 and since when; ``trunk remove`` un-registering (the
carrier's binding gone); ``number add`` refusals; the password nowhere but its column.

Most commands run in this process (``cli_inproc.run``, click's CliRunner) against the same
store the daemon reads; the first ``trunk add`` (the daemon registering what a separate
process saved), ``trunk list`` and one ``number show`` are separate ``python -m appliance``
processes."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from appliance.config import load
from appliance.store import open_store
from appliance.store.tables import audit, events
from tests.integration import cli_inproc
from tests.integration.conftest import RunningDaemon, appliance
from tests.integration.sip_helpers import free_port, sip_config, start_sip_daemon
from tests.integration.test_trunk_registration import (
    DOMAIN,
    USERS,
    Carrier,
    _install_kamailio,
    start_carrier,
    stop_carrier,
)

pytestmark = pytest.mark.integration

USER, PASSWORD = USERS["refresh"]
WRONG = "Wr0ng-trunk-pw"


@pytest.fixture(scope="module")
def carrier(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Carrier]:
    _install_kamailio()
    started = start_carrier(tmp_path_factory.mktemp("carrier") / "md5", "MD5")
    yield started
    stop_carrier(started)


@pytest.fixture()
def office(tmp_path: Path) -> Iterator[tuple[Path, RunningDaemon]]:
    config = sip_config(tmp_path)
    daemon = start_sip_daemon(config)
    yield config, daemon
    daemon.stop()


def cli(config: Path, *args: str, stdin: str | None = None, check: bool = True,
        process: bool = False) -> subprocess.CompletedProcess[str]:
    """``appliance ARGS --config CONFIG``, with ``stdin`` as its standard input: in this
    process, or with ``process`` as a separate one."""
    if process:
        result = subprocess.run(
            [sys.executable, "-m", "appliance", *args, "--config", str(config)],
            input=stdin, capture_output=True, text=True, timeout=60, check=False)
    else:
        result = cli_inproc.run(config, *args, stdin=stdin, check=False)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def show(config: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(cli(config, "trunk", "show", name, "--json").stdout)
    return data


def wait_for(config: Path, name: str, state: str, seconds: float) -> dict[str, Any]:
    """``trunk show NAME --json`` once its registration is in ``state``."""
    deadline = time.monotonic() + seconds
    while True:
        shown = show(config, name)
        registration = shown["registration"] or {}
        if registration.get("state") == state:
            return shown
        if time.monotonic() > deadline:
            raise AssertionError(f"not {state} within {seconds} s: {shown}")
        time.sleep(0.2)


def test_a_connection_added_in_the_cli_registers_fails_and_unregisters(
        office: tuple[Path, RunningDaemon], carrier: Carrier) -> None:
    config, daemon = office
    outputs: list[str] = []
    added = cli(config, "trunk", "add", "carrier", "--server", f"127.0.0.1:{carrier.port}",
                "--username", USER, "--domain", DOMAIN, "--expires", "60",
                "--did", "02873009000", "--caller-id", "02873009000", "--password-stdin",
                stdin=PASSWORD + "\n", process=True)  # saved by a separate process
    outputs.append(added.stdout + added.stderr)
    assert "password_set        True" in added.stdout
    started = time.monotonic()
    shown = wait_for(config, "carrier", "registered", 10)
    assert time.monotonic() - started < 10
    registration = shown["registration"]
    assert registration["server"] == f"udp:127.0.0.1:{carrier.port}"
    assert registration["last_answer"] == "200 OK" and registration["expires_at"]
    assert shown["status"].startswith("registered until")
    assert shown["dids"] == ["+842873009000"] and shown["password_set"] is True
    assert "trunk-" in carrier.binding(USER)
    listed = cli(config, "trunk", "list", process=True)
    outputs.append(listed.stdout)
    assert "registered until" in listed.stdout

    # A wrong password: the daemon re-registers at once and fails with the provider's 401.
    cli(config, "trunk", "edit", "carrier", "--password-stdin", stdin=WRONG + "\n")
    failing = wait_for(config, "carrier", "failing", 10)
    assert failing["registration"]["last_answer"] == "401 Unauthorized"
    assert failing["status"].startswith("failing: 401 Unauthorized since ")
    assert failing["registration"]["since"]
    assert carrier.binding(USER) == ""  # the old binding was un-registered first

    # The right one again, then removed: un-registered at the carrier.
    cli(config, "trunk", "edit", "carrier", "--password-stdin", stdin=PASSWORD + "\n")
    wait_for(config, "carrier", "registered", 10)
    assert "trunk-" in carrier.binding(USER)
    refused = cli(config, "trunk", "remove", "carrier", check=False)
    assert refused.returncode == 1 and "+842873009000" in refused.stderr  # its number first
    cli(config, "number", "remove", "02873009000")
    cli(config, "trunk", "remove", "carrier")
    deadline = time.monotonic() + 10
    while carrier.binding(USER) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert carrier.binding(USER) == ""
    gone = cli(config, "trunk", "show", "carrier", check=False)
    assert gone.returncode == 1 and gone.stderr.count("\n") == 1

    # Neither password in any output, log line, audit entry or event.
    outputs.append(cli(config, "audit", "--limit", "1000").stdout)
    outputs.append(daemon.log())
    store = open_store(load(config, {}).store.url, create=False)
    try:
        with store.read() as db:
            outputs += [json.dumps(row.detail) for row in db.execute(select(audit))]
            outputs += [json.dumps(row.payload) for row in db.execute(select(events))]
    finally:
        store.dispose()
    text = "\n".join(outputs)
    assert "trunk.test" in text or "carrier" in text
    assert PASSWORD not in text and WRONG not in text


def test_a_connection_that_cannot_register_says_why(
        office: tuple[Path, RunningDaemon]) -> None:
    config, _ = office
    port = free_port(socket.SOCK_STREAM)  # nothing listens there
    cli(config, "trunk", "add", "secure", "--server", f"127.0.0.1:{port};transport=tls",
        "--username", "u2", "--password-stdin", stdin="tls-pw\n")
    shown = wait_for(config, "secure", "failing", 10)
    assert shown["status"].startswith("failing: cannot connect: Connection refused since ")
    assert shown["registration"]["server"] == f"tls:127.0.0.1:{port}"
    assert shown["servers"] == [f"127.0.0.1:{port};transport=tls"]
    # No port: an address gets its transport's default (TLS 5061); a name keeps none (SRV).
    default = show_added(config, "default", "127.0.0.9;transport=tls")
    assert default["servers"] == ["127.0.0.9:5061;transport=tls"]
    ip = cli(config, "trunk", "add", "pbx", "--kind", "ip", "--server", "127.0.0.9",
             "--source", "127.0.0.9").stdout
    assert "ip (no registration)" in ip and "password_set        False" in ip


def show_added(config: Path, name: str, server: str) -> dict[str, Any]:
    """An ip connection with ``server`` added, as ``trunk show --json`` reads it back."""
    cli(config, "trunk", "add", name, "--kind", "ip", "--server", server, "--source",
        "127.0.0.10")
    return show(config, name)


def test_number_add_refusals_are_one_line_naming_the_field(
        office: tuple[Path, RunningDaemon]) -> None:
    config, _ = office
    cli(config, "trunk", "add", "pbx", "--kind", "ip", "--server", "127.0.0.9", "--source",
        "127.0.0.9/32")
    cli(config, "number", "add", "02873001111", "--connection", "pbx",
        "--destination", "outside:+842873002222")
    for args, wanted in (
            (("02873003333", "--connection", "nope"), "connection: no connection named 'nope'"),
            (("09-not-a-number", "--connection", "pbx"), "did: a telephone number"),
            (("02873002222", "--connection", "pbx", "--destination", "outside:02873001111"),
             "routing: this change makes a cycle"),
            (("02873004444", "--connection", "pbx", "--destination", "extension:999"),
             "destination: no extension 999")):
        result = cli(config, "number", "add", *args, check=False)
        assert result.returncode == 1, (args, result.stdout)
        assert result.stderr.startswith("Error: ") and wanted in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1
    listed = json.loads(cli(config, "number", "list", "--json").stdout)
    assert [n["did"] for n in listed] == ["+842873001111"]
    assert listed[0]["destination"] == "outside:+842873002222"
    edited = json.loads(cli(config, "number", "edit", "+842873001111", "--destination",
                            "hangup", "--no-to-header", "--ring-timeout", "30",
                            "--json").stdout)
    assert edited["destination"] == "hangup" and edited["to_header"] is False
    assert edited["ring_timeout"] == 30
    appliance(config, "number", "show", "02873001111")
