"""Backups: the manifest's checks, the archive's checks, nightly timing and rotation, the
version string, the backup keys of the config."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import tarfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from appliance import backup, nightly
from appliance.config import Config, ConfigError, load
from appliance.directory import Directory
from appliance.store import Store, head_revision
from appliance.store.migrate import known_revisions
from appliance.version import app_version, setup_cfg_version

KNOWN = {"0001", "0002"}


def _manifest(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "format": 1, "app_version": "0.1.0", "created": "2025-01-02T03:00:00+00:00",
        "store": {"dialect": "sqlite", "revisions": ["0002"], "file": "store/appliance.db"},
        "folders": ["firmware"],
        "files": [{"path": "store/appliance.db", "size": 10, "sha256": "a" * 64},
                  {"path": "data/firmware/yealink/t46.rom", "size": 3, "sha256": "b" * 64}]}
    data.update(changes)
    return data


def test_a_good_manifest_parses() -> None:
    manifest = backup.parse_manifest(_manifest(), KNOWN)
    assert manifest.revisions == ("0002",) and manifest.store_file == "store/appliance.db"
    assert manifest.created == datetime(2025, 1, 2, 3, tzinfo=UTC)
    assert backup.parse_manifest(manifest.to_json(), KNOWN) == manifest


@pytest.mark.parametrize(("changes", "error"), [
    ({"format": 2}, "newer appliance"),
    ({"format": "1"}, "no valid format"),
    ({"store": {"dialect": "sqlite", "revisions": ["0003z"], "file": "store/appliance.db"}},
     "newer than this software"),
    ({"store": {"dialect": "sqlite", "revisions": [], "file": "store/appliance.db"}},
     "newer than this software"),
    ({"files": [{"path": "store/appliance.db", "size": 1, "sha256": "a" * 64},
                {"path": "data/firmware/../../etc/passwd", "size": 1, "sha256": "a" * 64}]},
     "unsafe path"),
    ({"files": [{"path": "data/firmware/x", "size": 1, "sha256": "a" * 64}]}, "no store copy"),
    ({"files": [{"path": "store/appliance.db", "size": 1, "sha256": "short"}]}, "SHA-256"),
    ({"created": "yesterday"}, "incomplete"),
    ({"store": None}, "incomplete"),
])
def test_bad_manifests_are_refused_with_one_line(changes: dict[str, Any], error: str) -> None:
    with pytest.raises(backup.BackupError, match=error) as caught:
        backup.parse_manifest(_manifest(**changes), KNOWN)
    assert "\n" not in str(caught.value)


def test_only_the_format_s_paths_are_safe() -> None:
    assert backup.safe_member("manifest.json")
    assert backup.safe_member("store/appliance.db") and backup.safe_member("store/appliance.sql")
    assert backup.safe_member("data/voicemail/101/msg1.wav")
    for bad in ("store/other.db", "data/firmware", "data/run/ports.json", "/etc/passwd",
                "data/firmware/../x", "data/firmware//x", "data/firmware/./x", "../x",
                "data/firmware/a\\b", "store/appliance.db/x"):
        assert not backup.safe_member(bad), bad


def _config(tmp_path: Path) -> Config:
    base = load(None, {})
    return replace(base, paths=replace(base.paths, data=tmp_path),
                   store=replace(base.store, url=f"sqlite:///{tmp_path / 'appliance.db'}"))


def test_a_backup_reads_back_and_every_byte_is_checked(tmp_path: Path, store: Store) -> None:
    Directory(store, actor="test").add_employee("Nguyễn Văn An")
    (tmp_path / "firmware" / "yealink").mkdir(parents=True)
    (tmp_path / "firmware" / "yealink" / "t46.rom").write_bytes(b"\x00firmware" * 1000)
    (tmp_path / "firmware" / "yealink" / ".t46.rom.tmp").write_bytes(b"half written")
    cfg = _config(tmp_path)
    target = tmp_path / "out" / "b.tar.gz"
    made = backup.make_backup(cfg, target, "test", "cli", store)
    assert target.stat().st_mode & 0o777 == 0o600
    assert not list(target.parent.glob(".*partial"))
    assert made.revisions == tuple(head_revision().split(","))
    assert [e.path for e in made.files] == ["store/appliance.db",
                                            "data/firmware/yealink/t46.rom"]
    staging = tmp_path / "staging"
    read = backup.read_backup(target, staging)
    assert read == made
    assert (staging / "data/firmware/yealink/t46.rom").read_bytes() == b"\x00firmware" * 1000
    audit = Directory(store).audit_log(5, "backup")
    assert audit[0].action == "backup.made" and audit[0].detail["trigger"] == "cli"

    data = target.read_bytes()
    for cut in (len(data) // 3, len(data) - 30):
        (tmp_path / "cut.tar.gz").write_bytes(data[:cut])
        with pytest.raises(backup.BackupError, match="not a complete backup"):
            backup.read_backup(tmp_path / "cut.tar.gz", tmp_path / f"s{cut}")


def _archive(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))


def test_a_tampered_or_foreign_archive_is_refused(tmp_path: Path) -> None:
    import hashlib

    body = b"not a database"
    entry = {"path": "store/appliance.db", "size": len(body),
             "sha256": hashlib.sha256(body).hexdigest()}
    known = sorted(known_revisions())[:1]
    manifest = _manifest(files=[entry], folders=[],
                         store={"dialect": "sqlite", "revisions": known,
                                "file": "store/appliance.db"})
    good = json.dumps(manifest).encode()
    _archive(tmp_path / "ok.tar.gz", {"store/appliance.db": body, "manifest.json": good})
    assert backup.read_backup(tmp_path / "ok.tar.gz", tmp_path / "s1").files[0].size == len(body)
    _archive(tmp_path / "bad.tar.gz", {"store/appliance.db": b"not a databasE",
                                       "manifest.json": good})
    with pytest.raises(backup.BackupError, match="SHA-256"):
        backup.read_backup(tmp_path / "bad.tar.gz", tmp_path / "s2")
    _archive(tmp_path / "extra.tar.gz", {"store/appliance.db": body,
                                         "data/firmware/x": b"x", "manifest.json": good})
    with pytest.raises(backup.BackupError, match="differ from its manifest"):
        backup.read_backup(tmp_path / "extra.tar.gz", tmp_path / "s3")
    _archive(tmp_path / "evil.tar.gz", {"../evil": b"x", "manifest.json": good})
    with pytest.raises(backup.BackupError, match="unexpected entry"):
        backup.read_backup(tmp_path / "evil.tar.gz", tmp_path / "s4")
    assert not (tmp_path / "evil").exists()
    (tmp_path / "junk.tar.gz").write_bytes(b"\x1f\x8b junk")
    with pytest.raises(backup.BackupError, match="not a complete backup"):
        backup.read_backup(tmp_path / "junk.tar.gz", tmp_path / "s5")
    with pytest.raises(backup.BackupError, match="no backup file"):
        backup.read_backup(tmp_path / "missing.tar.gz", tmp_path / "s6")


def test_running_daemon_is_told_from_ports_json(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    assert backup.running_daemon(cfg) is None
    cfg.run_dir.mkdir()
    ports = cfg.run_dir / "ports.json"
    ports.write_text(json.dumps({"pid": 2 ** 22 + 12345}))  # above any pid_max: not alive
    assert backup.running_daemon(cfg) is None
    ports.write_text(json.dumps({"pid": os.getpid()}))  # this very process (the web's download)
    assert backup.running_daemon(cfg) is None
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "appliance"]) as p:
        try:
            ports.write_text(json.dumps({"pid": p.pid}))
            assert backup.running_daemon(cfg) == p.pid
        finally:
            p.kill()
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as p:
        try:
            ports.write_text(json.dumps({"pid": p.pid}))  # a stale file's pid, now reused
            assert backup.running_daemon(cfg) is None
        finally:
            p.kill()
    ports.write_text("{broken")
    assert backup.running_daemon(cfg) is None


# -- nightly ---------------------------------------------------------------------------------

ICT = timezone(timedelta(hours=7))


def test_next_run_is_the_next_local_time() -> None:
    assert nightly.next_run(datetime(2025, 3, 1, 2, 59, tzinfo=ICT), "03:00") == datetime(
        2025, 3, 1, 3, 0, tzinfo=ICT)
    assert nightly.next_run(datetime(2025, 3, 1, 3, 0, tzinfo=ICT), "03:00") == datetime(
        2025, 3, 2, 3, 0, tzinfo=ICT)
    assert nightly.next_run(datetime(2025, 12, 31, 23, 0, tzinfo=ICT), "22:30") == datetime(
        2026, 1, 1, 22, 30, tzinfo=ICT)


def test_the_nightly_clock_is_the_box_zone_set_at_setup(store: Store) -> None:
    from zoneinfo import ZoneInfo

    from appliance.store import settings as kv

    with store.write() as conn:
        kv.put_overrides(conn, {"provisioning": {"timezone": "America/New_York"}})
    now = nightly.box_now(load(None, {}), store)
    assert now.tzinfo == ZoneInfo("America/New_York")
    assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)


def test_rotation_keeps_the_newest_nightly_backups_only() -> None:
    names = [f"nightly-2025010{d}-030000.tar.gz" for d in range(1, 10)]
    others = ["pre-migration-20250101-030000.tar.gz", "mine.tar.gz", "nightly-x.txt"]
    assert nightly.to_prune(names + others, 7) == names[:2]
    assert nightly.to_prune(names[:3], 7) == []


def test_rotate_deletes_files(tmp_path: Path) -> None:
    for d in range(1, 5):
        (tmp_path / f"nightly-2025010{d}-030000.tar.gz").write_bytes(b"x")
    (tmp_path / "pre-migration-20250101-000000.tar.gz").write_bytes(b"x")
    gone = nightly.rotate(tmp_path, 2)
    assert sorted(p.name for p in gone) == ["nightly-20250101-030000.tar.gz",
                                            "nightly-20250102-030000.tar.gz"]
    assert len(list(tmp_path.iterdir())) == 3


def test_the_task_runs_once_a_night_and_skips_a_night_long_missed(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    now = [datetime(2025, 3, 1, 2, 58, tzinfo=ICT)]
    ran: list[datetime] = []

    def job(config: Config, store: Any, at: datetime) -> Path:
        ran.append(at)
        return tmp_path / "x"

    def clock() -> datetime:
        now[0] += timedelta(minutes=1)  # every look at the clock, a minute passes
        if now[0] == datetime(2025, 3, 1, 3, 30, tzinfo=ICT):
            now[0] = datetime(2025, 3, 2, 5, 0, tzinfo=ICT)  # the clock jumps a day
        return now[0]

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(nightly.nightly(cfg, None, stop, clock=clock,  # type: ignore[arg-type]
                                                   wake=0.0005, job=job))
        while now[0] < datetime(2025, 3, 3, 3, 30, tzinfo=ICT):
            await asyncio.sleep(0.001)
        stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(main())
    # 1 March at 03:00; the 2 March run was due before the jump landed at 05:00: skipped
    # (missed by two hours); 3 March at 03:00 again.
    assert [r.date().isoformat() for r in ran] == ["2025-03-01", "2025-03-03"]
    assert all(r.hour == 3 and r.minute <= 1 for r in ran)


# -- version and config ----------------------------------------------------------------------

def test_version_comes_from_the_package_or_setup_cfg(tmp_path: Path) -> None:
    assert app_version() == setup_cfg_version(Path(__file__).parents[2] / "setup.cfg")
    (tmp_path / "setup.cfg").write_text("[metadata]\nname = appliance\nversion = 9.8.7\n")
    assert setup_cfg_version(tmp_path / "setup.cfg") == "9.8.7"
    assert setup_cfg_version(tmp_path / "missing.cfg") == "unknown"


def test_backup_keys(tmp_path: Path) -> None:
    cfg = load(None, {})
    assert (cfg.backup.nightly, cfg.backup.at, cfg.backup.keep, cfg.backup.folder) == (
        True, "03:00", 7, None)
    assert backup.backup_folder(cfg) == cfg.paths.data / "backups"
    path = tmp_path / "a.toml"
    path.write_text('[backup]\nnightly = false\nat = "4:05"\nkeep = 3\nfolder = "bk"\n')
    cfg = load(path, {})
    assert (cfg.backup.nightly, cfg.backup.at, cfg.backup.keep) == (False, "04:05", 3)
    assert backup.backup_folder(cfg) == tmp_path / "bk"
    for bad, key in (('at = "25:00"', "backup.at"), ('at = "3"', "backup.at"),
                     ("keep = 0", "backup.keep"), ("keep = 2.5", "backup.keep"),
                     ('nightly = "yes"', "backup.nightly"), ("when = 1", "backup.when")):
        path.write_text(f"[backup]\n{bad}\n")
        with pytest.raises(ConfigError, match=key):
            load(path, {})
