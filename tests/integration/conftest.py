"""Real processes: the ``appliance`` CLI and daemon, on 127.0.0.1 with OS-chosen ports."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

STARTUP_SECONDS = 30


def write_config(folder: Path, extra: str = "", *, web: bool = True,
                 provisioning: bool = False, host: str = "127.0.0.1",
                 sip: bool = False, sip_listen: str = "127.0.0.1:0", sip_extra: str = "") -> Path:
    """A config for a test: data in ``folder``, listeners on ``host`` with port 0, SIP and
    provisioning only when asked, ``sip_extra`` in [sip], ``extra`` TOML after [provisioning]."""
    on = {True: "true", False: "false"}
    path = folder / "appliance.toml"
    path.write_text(f"""
[paths]
data = "{folder / 'data'}"
[events]
poll_interval = 0.1
[web]
enabled = {on[web]}
listen = "127.0.0.1:0"
[sip]
enabled = {on[sip]}
listen = "{sip_listen}"
{sip_extra}
[provisioning]
enabled = {on[provisioning]}
tftp_listen = "{host}:0"
http_listen = "{host}:0"
{extra}
""", encoding="utf-8")
    return path


def appliance(config: Path, *args: str, check: bool = True,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``appliance ARGS --config CONFIG`` as a separate process."""
    result = subprocess.run(
        [sys.executable, "-m", "appliance", *args, "--config", str(config)],
        capture_output=True, text=True, timeout=60, env=env, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"appliance {' '.join(args)} failed {result.returncode}: "
                             f"{result.stderr}")
    return result


def appliance_json(config: Path, *args: str) -> Any:
    """Run a CLI command with ``--json`` and parse its output."""
    return json.loads(appliance(config, *args, "--json").stdout)


@dataclass
class RunningDaemon:
    """A started ``appliance run`` process and what it wrote."""

    process: subprocess.Popen[str]
    config: Path
    log_path: Path
    ports: dict[str, Any] = field(default_factory=dict)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_log(self, text: str, timeout: float = 10.0) -> float:
        """Seconds until ``text`` shows in the log; fail after ``timeout``."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if text in self.log():
                return time.monotonic() - start
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not in the daemon log:\n{self.log()}")

    def stop(self, timeout: float = 20.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        return self.process.returncode


def start_daemon(config: Path, env: dict[str, str] | None = None,
                 wrap: list[str] | None = None) -> RunningDaemon:
    """Start the daemon (inside ``wrap``, e.g. ``ip netns exec NS``) and wait (bounded)
    until it wrote ``ports.json`` and said it is ready."""
    data = config.parent / "data"
    ports = data / "run" / "ports.json"
    log_path = config.parent / f"daemon-{time.monotonic_ns()}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([*(wrap or []), sys.executable, "-m", "appliance", "run",
                                    "--config", str(config)], stdout=log,
                                   stderr=subprocess.STDOUT, text=True, env=env)
    daemon = RunningDaemon(process, config, log_path)
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"daemon exited {process.returncode}:\n{daemon.log()}")
        try:
            daemon.ports = json.loads(ports.read_text())
            if daemon.ports.get("pid") == process.pid:
                try:
                    daemon.wait_for_log("appliance ready")
                except AssertionError:
                    daemon.stop()  # never leave a half-started daemon behind
                    raise
                return daemon
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    daemon.stop()
    raise AssertionError(f"daemon did not start in {STARTUP_SECONDS} s:\n{daemon.log()}")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A test config, with its store initialised."""
    path = write_config(tmp_path)
    appliance(path, "init")
    return path


@pytest.fixture
def daemon(config: Path) -> Iterator[RunningDaemon]:
    """The real daemon on 127.0.0.1, stopped after the test."""
    running = start_daemon(config, env={**os.environ, "NOTIFY_SOCKET": ""})
    yield running
    running.stop()
