"""The real daemon: ports.json, /healthz, a CLI dismissal reaching it, sd_notify, clean stop."""

from __future__ import annotations

import json
import os
import socket
import urllib.request
from pathlib import Path

from appliance.store import head_revision
from tests.integration.conftest import (
    RunningDaemon,
    appliance,
    appliance_json,
    start_daemon,
    write_config,
)


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read()


def test_daemon_writes_bound_ports_and_serves_health(daemon: RunningDaemon) -> None:
    web = daemon.ports["web"]
    host, port = web.rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0
    status, body = get(f"http://{web}/healthz")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    assert f"admin page: http://{web}/" in daemon.log()
    token = (daemon.config.parent / "data" / "run" / "setup-token").read_text().strip()
    assert f"one-time setup token {token}" in daemon.log()
    assert appliance_json(daemon.config, "status")["listen_web"] == web


def test_cli_dismissal_reaches_a_subscriber_in_the_running_daemon(daemon: RunningDaemon) -> None:
    config = daemon.config
    employee_id = appliance(config, "employee", "add", "Tran Thi B").stdout.strip()
    appliance(config, "ext", "add", "101")
    appliance(config, "ext", "assign", "101", employee_id)
    password = appliance_json(config, "ext", "show", "101")["sip_password"]
    appliance(config, "employee", "dismiss", employee_id)
    seen_after = daemon.wait_for_log('employee.dismissed {"employee_id": 1, "extension": "101"',
                                     timeout=5.0)
    assert seen_after < 5.0
    assert "extension.freed" in daemon.log()
    assert password not in daemon.log()


def test_sigterm_stops_cleanly_and_removes_ports_file(config: Path) -> None:
    running = start_daemon(config, env={**os.environ, "NOTIFY_SOCKET": ""})
    assert running.stop() == 0
    assert "appliance stopped" in running.log()
    assert not (config.parent / "data" / "run" / "ports.json").exists()


def test_notifies_systemd_ready_and_watchdog(config: Path, tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(30)
        env = {**os.environ, "NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "400000"}
        running = start_daemon(config, env=env)
        try:
            received = set()
            while not {"READY=1", "WATCHDOG=1"} <= received:
                received.add(sock.recv(100).decode())
        finally:
            running.stop()
        sock.settimeout(5)
        messages = set()
        try:
            while "STOPPING=1" not in messages:
                messages.add(sock.recv(100).decode())
        except TimeoutError:
            pass
        assert "STOPPING=1" in messages


def test_bad_config_fails_at_start_with_one_line(tmp_path: Path) -> None:
    path = write_config(tmp_path, extra="[discovery]\nsnmp = 1\n")
    result = appliance(path, "run", check=False)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "discovery.snmp" in result.stderr


def test_run_migrates_a_fresh_store_on_start(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    running = start_daemon(path, env={**os.environ, "NOTIFY_SOCKET": ""})
    try:
        assert appliance_json(path, "status")["revision"] == head_revision()
    finally:
        running.stop()


def test_a_taken_port_stops_the_start_with_one_line(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        path = write_config(tmp_path)
        path.write_text(path.read_text().replace('listen = "127.0.0.1:0"\n[sip]',
                                                 f'listen = "127.0.0.1:{port}"\n[sip]'))
        result = appliance(path, "run", check=False)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: web: cannot start:") and "in use" in last
    assert "Traceback" not in result.stderr
