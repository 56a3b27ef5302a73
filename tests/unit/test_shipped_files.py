"""The shipped systemd unit and example config are valid and say what the box needs."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

from appliance.config import load

ROOT = Path(__file__).resolve().parents[2]


def test_example_config_loads_with_box_values() -> None:
    cfg = load(ROOT / "systemd" / "appliance.toml", {})
    assert cfg.paths.data == Path("/var/lib/appliance")
    assert cfg.provisioning.tftp_listen.port == 69 and cfg.sip.listen.port == 5060
    assert cfg.discovery.pnp and cfg.discovery.neighbors


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(ROOT / "systemd" / "appliance.service")
    return parser


def test_unit_is_notify_with_watchdog_own_user_and_hardening() -> None:
    service = unit()["Service"]
    assert service["Type"] == "notify" and int(service["WatchdogSec"]) > 0
    assert service["Restart"] == "on-failure" and service["User"] == "appliance"
    assert service["StateDirectory"] == "appliance"
    assert service["AmbientCapabilities"] == "CAP_NET_BIND_SERVICE"
    for key in ("ProtectSystem", "PrivateTmp", "NoNewPrivileges"):
        assert service[key] in ("strict", "yes"), key


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing")
def test_systemd_analyze_finds_nothing_but_the_missing_binary() -> None:
    result = subprocess.run(["systemd-analyze", "verify",
                             str(ROOT / "systemd" / "appliance.service")],
                            capture_output=True, text=True, timeout=60, check=False)
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if line.strip() and "/opt/appliance/venv/bin/appliance" not in line]
    assert problems == []
