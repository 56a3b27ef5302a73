"""Backup and restore with the real CLI and daemon: a round trip with every table compared,
refusals that change nothing, the backup before a migration, the Settings page's download."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, select, text

from appliance.backup import read_backup
from appliance.store import head_revision, open_store, upgrade
from tests.integration import test_postgres
from tests.integration.conftest import appliance, appliance_json, start_daemon, write_config
from tests.integration.web_client import WebClient

pytestmark = pytest.mark.integration
AN = "Nguyễn Văn An"
PASSWORD = "a long admin password"
pg_url = test_postgres.pg_url  # the private PostgreSQL server on a Unix socket


def tables(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (alembic_version included), each table's rows sorted."""
    store = open_store(url, create=False)
    try:
        meta = MetaData()
        with store.read() as conn:
            meta.reflect(conn)
            return {name: sorted((tuple(str(v) for v in row) for row in
                                  conn.execute(select(table))), key=repr)
                    for name, table in sorted(meta.tables.items())}
    finally:
        store.dispose()


def add_admin(config: Path, name: str = "boss") -> None:
    made = subprocess.run([sys.executable, "-m", "appliance", "admin", "add", name,
                           "--password-stdin", "--config", str(config)], input=PASSWORD + "\n",
                          capture_output=True, text=True, timeout=60, check=False)
    assert made.returncode == 0, made.stderr


def populate(config: Path) -> None:
    """A little of everything: people, extensions, a phone, a web user, settings, firmware."""
    person = appliance(config, "employee", "add", AN, "--mobile", "84912345678").stdout.strip()
    appliance(config, "employee", "add", "Trần Thị Bình")
    appliance(config, "ext", "add", "101", "--name", "an.nguyen", "--permission", "mobile",
              "--receive", "both")
    appliance(config, "ext", "add", "102", "--supervisor", "101", "--description", "Lễ tân")
    appliance(config, "ext", "assign", "101", person)
    appliance(config, "phone", "assign", "00:15:65:12:34:56", "101")
    appliance(config, "employee", "dismiss", "2")
    add_admin(config)
    image = config.parent / "t46u.rom"
    image.write_bytes(os.urandom(300_000))
    appliance(config, "firmware", "add", str(image), "--vendor", "yealink", "--model",
              "SIP-T46U", "--version", "108.86.0.90")


def url_of(config: Path) -> str:
    return f"sqlite:///{config.parent / 'data' / 'appliance.db'}"


def files_of(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()} if folder.exists() else {}


def test_backup_wipe_restore_gives_every_table_back(config: Path, tmp_path: Path) -> None:
    populate(config)
    data = config.parent / "data"
    (data / "voicemail" / "101").mkdir(parents=True)
    (data / "voicemail" / "101" / "msg0001.wav").write_bytes(b"RIFF....WAVE")
    before, firmware = tables(url_of(config)), files_of(data / "firmware")
    assert firmware and before["employees"] and before["firmware_images"]
    made = appliance_json(config, "backup", str(tmp_path / "box.tar.gz"))
    assert made["revision"] == head_revision() and made["files"] == 3
    assert (tmp_path / "box.tar.gz").stat().st_mode & 0o777 == 0o600
    audit = appliance_json(config, "audit", "--search", "backup")
    assert audit[0]["action"] == "backup.made" and audit[0]["actor"].startswith("cli:")

    shutil.rmtree(data)  # the box's disk is replaced
    out = appliance(config, "restore", str(tmp_path / "box.tar.gz"))
    assert "restored" in out.stdout
    after = tables(url_of(config))
    restored_audit = after.pop("audit")
    assert {k: v for k, v in before.items() if k != "audit"} == after
    assert len(restored_audit) == len(before["audit"]) + 1
    assert set(before["audit"]) < set(restored_audit)
    assert files_of(data / "firmware") == firmware
    assert (data / "voicemail" / "101" / "msg0001.wav").read_bytes() == b"RIFF....WAVE"
    assert appliance_json(config, "audit", "--search", "backup.restored")[0]["target"] \
        == "box.tar.gz"
    shown = appliance_json(config, "ext", "show", "101")
    assert shown["employee_id"] == 1 and shown["sip_password"]
    assert appliance_json(config, "employee", "show", "1")["name"] == AN


def _rewrite(source: Path, target: Path, change: Any) -> None:
    """Copy a backup with its manifest changed by ``change`` (hashes stay valid)."""
    with tarfile.open(source, "r:gz") as tar, tarfile.open(target, "w:gz") as out:
        for member in tar:
            body = tar.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "manifest.json":
                manifest = json.loads(body)
                change(manifest)
                body = json.dumps(manifest).encode()
                member.size = len(body)
            out.addfile(member, io.BytesIO(body))


def test_restore_refuses_and_changes_nothing(config: Path, tmp_path: Path) -> None:
    populate(config)
    data = config.parent / "data"
    good = tmp_path / "good.tar.gz"
    appliance(config, "backup", str(good))
    appliance(config, "employee", "add", "Lê Văn Cường")  # made after the backup
    before, firmware = tables(url_of(config)), files_of(data / "firmware")

    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(good.read_bytes()[:good.stat().st_size // 2])
    newer_store = tmp_path / "newer-store.tar.gz"
    _rewrite(good, newer_store, lambda m: m["store"].update(revisions=["0099x"]))
    newer_format = tmp_path / "newer-format.tar.gz"
    _rewrite(good, newer_format, lambda m: m.update(format=2, app_version="9.0.0"))
    for path, why in ((truncated, "not a complete backup"),
                      (newer_store, "newer than this software"),
                      (newer_format, "made by a newer appliance"),
                      (tmp_path / "missing.tar.gz", "no backup file")):
        refused = appliance(config, "restore", str(path), check=False)
        assert refused.returncode == 1, refused.stdout
        assert why in refused.stderr and len(refused.stderr.strip().splitlines()) == 1, \
            refused.stderr
        assert tables(url_of(config)) == before
        assert files_of(data / "firmware") == firmware
    assert not list(data.glob(".restore-*"))

    daemon = start_daemon(config, env={**os.environ, "NOTIFY_SOCKET": ""})
    try:
        refused = appliance(config, "restore", str(good), check=False)
        assert refused.returncode == 1
        assert f"the daemon is running (pid {daemon.process.pid})" in refused.stderr
    finally:
        daemon.stop()
    after = tables(url_of(config))
    assert after["employees"] == before["employees"]
    appliance(config, "restore", str(good))  # stopped: now it works
    assert [e["name"] for e in appliance_json(config, "employee", "list")] == [
        AN, "Trần Thị Bình"]


def test_a_migration_is_preceded_by_a_backup_that_restores_the_old_store(
        tmp_path: Path) -> None:
    config = write_config(tmp_path, web=False)
    store = open_store(url_of(config))
    upgrade(store, "0001")
    with store.write() as conn:
        conn.execute(text("INSERT INTO employees (id, name, status, created_at) "
                          "VALUES (1, 'Old Timer', 'active', '2026-01-02 03:04:05')"))
    store.dispose()
    backups = tmp_path / "data" / "backups"
    out = appliance(config, "init").stdout
    assert "backup before the migration:" in out
    made = sorted(backups.glob("pre-migration-*.tar.gz"))
    assert len(made) == 1
    manifest = read_backup(made[0], tmp_path / "staging")
    assert manifest.revisions == ("0001",)
    entry = appliance_json(config, "audit", "--search", "backup")[0]
    assert entry["detail"]["trigger"] == "pre-migration" and entry["detail"]["revision"] == "0001"
    appliance(config, "status")  # at the heads now: no further backup
    assert len(list(backups.iterdir())) == 1
    # rolling back: the pre-migration backup restores the old store (then migrated up again)
    appliance(config, "employee", "add", "Added after the upgrade")
    appliance(config, "restore", str(made[0]))
    assert [e["name"] for e in appliance_json(config, "employee", "list")] == ["Old Timer"]


def test_a_fresh_store_needs_no_backup(tmp_path: Path) -> None:
    config = write_config(tmp_path, web=False)
    assert "backup" not in appliance(config, "init").stdout
    assert not (tmp_path / "data" / "backups").exists()


def test_the_settings_page_downloads_a_backup(config: Path, tmp_path: Path) -> None:
    populate(config)
    daemon = start_daemon(config, env={**os.environ, "NOTIFY_SOCKET": ""})
    try:
        client = WebClient(daemon.ports["web"])
        assert client.login("boss", PASSWORD)[0] == 302
        page = client.get("/settings")[1]
        assert 'id="download-backup"' in page
        status, headers, body = client.post("/settings/backup", {})
        assert status == 200 and headers["content-type"] == "application/gzip"
        assert "attachment" in headers["content-disposition"]
        (tmp_path / "download.tar.gz").write_bytes(body)
        manifest = read_backup(tmp_path / "download.tar.gz", tmp_path / "staging")
        assert manifest.revisions == tuple(head_revision().split(","))
        assert any(e.path.startswith("data/firmware/yealink/") for e in manifest.files)
        status, _, _ = client.get_raw("/settings/backup")
        assert status == 405
    finally:
        daemon.stop()
    entry = appliance_json(config, "audit", "--search", "backup.downloaded")[0]
    assert entry["actor"] == "web:boss"
    assert not list((config.parent / "data" / "run").glob(".download-*"))


@pytest.mark.postgres
def test_backup_wipe_restore_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    store = open_store(pg_url)
    with store.write() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    store.dispose()
    config = tmp_path / "pg.toml"
    config.write_text(f'[paths]\ndata = "{tmp_path / "data"}"\n[store]\nurl = "{pg_url}"\n')
    appliance(config, "init")
    populate(config)
    before = tables(pg_url)
    made = appliance_json(config, "backup", str(tmp_path / "pg.tar.gz"))
    assert made["files"] == 2
    store = open_store(pg_url)
    with store.write() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    store.dispose()
    shutil.rmtree(tmp_path / "data")
    appliance(config, "restore", str(tmp_path / "pg.tar.gz"))
    after = tables(pg_url)
    after_audit = after.pop("audit")
    assert {k: v for k, v in before.items() if k != "audit"} == after
    assert set(before["audit"]) < set(after_audit)
    # ids go on from where they were (the sequences came back too)
    assert appliance(config, "employee", "add", "Sau khi khôi phục").stdout.strip() == "3"
