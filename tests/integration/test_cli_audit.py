"""The CLI as an admin reads it: the audit log in sentences, holders' names in ``ext list``,
times in the box's zone, and a second daemon refused with where the first one runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from appliance.config import load, with_overrides
from appliance.store import open_store
from appliance.web import overrides
from tests.integration.conftest import RunningDaemon, appliance, appliance_json


def _rows(out: str) -> list[str]:
    return out.splitlines()[1:]


def test_audit_prints_sentences_not_dicts(config: Path) -> None:
    appliance(config, "employee", "add", "Nguyễn Văn An", "--mobile", "84912345678")
    appliance(config, "ext", "add", "101", "--permission", "mobile")
    appliance(config, "ext", "assign", "101", "1")
    appliance(config, "ext", "edit", "101", "--description", "Sales desk")
    out = appliance(config, "audit").stdout
    header, *rows = out.splitlines()
    assert header.split() == ["AT", "WHO", "WHAT", "TARGET", "DETAILS"]
    assert "{" not in out and "'" not in out and "employee_id" not in out
    assert "Extension changed" in rows[0] and "Changed: description." in rows[0]
    assert "Extension assigned" in rows[1]
    assert "extension 101 · Nguyễn Văn An (#1)" in rows[1]
    assert "Given to Nguyễn Văn An (#1), with a new SIP password." in rows[1]
    assert "(command line)" in rows[1]
    # the search matches what is shown: a name, a sentence, without accents
    found = _rows(appliance(config, "audit", "--search", "nguyen van an").stdout)
    assert len(found) == 2 and all("Nguyễn Văn An" in r for r in found)
    assert len(_rows(appliance(config, "audit", "--search", "changed: description").stdout)) == 1
    # --json: the raw entries in UTC, with the same text beside them
    raw = appliance_json(config, "audit", "--limit", "2")
    assert raw[0]["action"] == "extension.updated"
    assert raw[0]["detail"] == {"number": "101", "fields": ["description"]}
    assert raw[0]["at"].endswith("+00:00")
    assert raw[1]["target_name"] == "extension 101 · Nguyễn Văn An (#1)"


def test_ext_list_shows_holders(config: Path) -> None:
    appliance(config, "employee", "add", "Trần Thị Bình")
    appliance(config, "ext", "add", "101")
    appliance(config, "ext", "add", "102")
    appliance(config, "ext", "assign", "102", "1")
    header, *rows = appliance(config, "ext", "list").stdout.splitlines()
    assert header.split()[:4] == ["NUMBER", "HOLDER", "EMPLOYEE_ID", "REGISTERED"]
    assert rows[0].split()[:2] == ["101", "-"]
    assert rows[1].startswith("102") and "Trần Thị Bình" in rows[1]
    listed = appliance_json(config, "ext", "list")
    assert [x["holder"] for x in listed] == [None, "Trần Thị Bình"]
    assert listed[0]["receive"] == "both"  # new extensions ring desk phone and app


def test_tables_show_the_box_time_zone_json_stays_utc(config: Path) -> None:
    appliance(config, "employee", "add", "An")
    cfg = load(config, {})
    store = open_store(cfg.store.url)
    try:
        overrides.apply(cfg, cfg, with_overrides(
            cfg, {"provisioning": {"timezone": "Asia/Ho_Chi_Minh"}}),
            {"provisioning": {"timezone": "Asia/Ho_Chi_Minh"}}, store, "test")
    finally:
        store.dispose()
    raw = appliance_json(config, "audit", "--search", "employee added")[0]["at"]
    local = datetime.fromisoformat(raw).astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    table = appliance(config, "audit", "--search", "employee added").stdout
    assert local.strftime("%Y-%m-%d %H:%M:%S") in table
    assert "Time zone: Asia/Ho_Chi_Minh." in appliance(config, "audit").stdout


def test_second_daemon_says_one_already_runs(daemon: RunningDaemon, config: Path) -> None:
    second = subprocess.run([sys.executable, "-m", "appliance", "run", "--config", str(config)],
                            capture_output=True, text=True, timeout=30, check=False,
                            env={**os.environ, "NOTIFY_SOCKET": ""})
    assert second.returncode == 1
    assert "already runs" in second.stderr
    assert f"pid {daemon.process.pid}" in second.stderr
    assert f"http://{daemon.ports['web']}/" in second.stderr
    assert daemon.process.poll() is None  # the first one is untouched
    assert load(config, {}).run_dir.joinpath("ports.json").exists()


def test_run_banner_ends_with_url_and_token(tmp_path: Path, config: Path) -> None:
    started = start_daemon_with_banner(config)
    try:
        log = started.log()
        banner = log[log.index("appliance ready"):]
        assert "Admin page:   http://" + started.ports["web"] + "/" in banner
        token = (load(config, {}).paths.data / "run" / "setup-token").read_text().strip()
        assert f"Setup token:  {token}" in banner
    finally:
        started.stop()


def start_daemon_with_banner(config: Path) -> RunningDaemon:
    """``appliance run --banner`` (the daemon helper runs it without the flag)."""
    log_path = config.parent / "banner.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "appliance", "run", "--banner", "--config", str(config)],
            stdout=log, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "NOTIFY_SOCKET": ""})
    daemon = RunningDaemon(process, config, log_path)
    try:
        daemon.wait_for_log("Stop it with Ctrl-C.", timeout=30)
    except AssertionError:
        daemon.stop()
        raise
    daemon.ports = json.loads((load(config, {}).run_dir / "ports.json").read_text())
    return daemon

