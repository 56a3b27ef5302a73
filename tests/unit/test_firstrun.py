"""``appliance run`` refusing a second daemon: only a live appliance process counts."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from appliance import firstrun
from appliance.config import Config, load


def _box(tmp_path: Path, pid: int, state: str, command: bytes) -> tuple[Config, Path]:
    config = load(None, {})
    config = replace(config, paths=replace(config.paths, data=tmp_path / "data"))
    config.run_dir.mkdir(parents=True)
    (config.run_dir / "ports.json").write_text(json.dumps({"pid": pid, "web": "127.0.0.1:8000"}))
    proc = tmp_path / "proc" / str(pid)
    proc.mkdir(parents=True)
    (proc / "stat").write_text(f"{pid} (python3 x) {state} 1 2 3")
    (proc / "cmdline").write_bytes(command)
    return config, tmp_path / "proc"


def test_a_live_appliance_is_found_and_named(tmp_path: Path) -> None:
    config, proc = _box(tmp_path, 4242, "S", b"/usr/bin/python3\0-m\0appliance\0run\0")
    found = firstrun.running(config, proc)
    assert found is not None and found["pid"] == 4242
    line = firstrun.already_running(config, found)
    assert "pid 4242" in line and "http://127.0.0.1:8000/" in line and "already runs" in line


def test_a_stale_file_does_not_count(tmp_path: Path) -> None:
    zombie, proc = _box(tmp_path / "z", 4242, "Z", b"python3\0-m\0appliance\0run\0")
    assert firstrun.running(zombie, proc) is None
    reused, proc = _box(tmp_path / "r", 4243, "S", b"/usr/sbin/cron\0")
    assert firstrun.running(reused, proc) is None
    gone, _ = _box(tmp_path / "g", 4244, "S", b"appliance")
    assert firstrun.running(gone, tmp_path / "nowhere") is None
