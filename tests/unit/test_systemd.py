"""sd_notify messages reach a real datagram socket; the watchdog interval is half WatchdogSec."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from appliance import systemd


def test_notify_sends_to_a_path_and_an_abstract_socket(tmp_path: Path) -> None:
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        assert systemd.notify("READY=1", {"NOTIFY_SOCKET": str(path)})
        assert server.recv(100) == b"READY=1"
    name = f"appliance-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind("\0" + name)
        assert systemd.notify("WATCHDOG=1", {"NOTIFY_SOCKET": "@" + name})
        assert server.recv(100) == b"WATCHDOG=1"


def test_notify_without_systemd_is_a_no_op(tmp_path: Path) -> None:
    assert not systemd.notify("READY=1", {})
    assert not systemd.notify("READY=1", {"NOTIFY_SOCKET": "relative"})
    assert not systemd.notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "absent")})


def test_watchdog_interval() -> None:
    assert systemd.watchdog_interval({}) is None
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "20000000"}) == 10.0
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "0"}) is None
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "5", "WATCHDOG_PID": "1"}) is None
