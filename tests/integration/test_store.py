"""Store: migrations keep data, a newer schema is refused, kill -9 loses nothing acknowledged."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from appliance.directory import Directory
from appliance.errors import MigrationError
from appliance.store import current_revision, head_revision, open_store, upgrade


def test_first_revision_with_data_upgrades_to_head_intact(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(store, "0001")
    assert current_revision(store) == "0001"
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).replace(tzinfo=None)
    with store.write() as conn:
        conn.execute(text("INSERT INTO employees (id, name, mobile, status, created_at) "
                          "VALUES (1, 'Old Timer', '84912345678', 'active', :at)"), {"at": at})
        conn.execute(text(
            "INSERT INTO extensions (number, name, permission, receive, employee_id, "
            "sip_username, sip_password, password_changed_at, created_at) VALUES "
            "('101', 'old', 'local', 'desk', 1, '101', 'OldPasswordOldPassword1', :at, :at)"),
            {"at": at})
        conn.execute(text(
            "INSERT INTO phones (mac, vendor, ip, first_seen, last_seen, discovered_by, "
            "extension, state) VALUES ('001565aabbcc', 'Yealink', '192.0.2.9', :at, :at, "
            "'tftp', '101', 'assigned')"), {"at": at})
    upgrade(store)
    assert current_revision(store) == head_revision()
    directory = Directory(store)
    person = directory.get_employee(1)
    assert (person.name, person.mobile, person.extension) == ("Old Timer", "84912345678", "101")
    ext = directory.get_extension("101")
    assert ext.sip_password == "OldPasswordOldPassword1" and ext.permission == "local"
    assert ext.created_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    phone = directory.get_phone("001565aabbcc")
    assert phone.state == "assigned" and [s.method for s in phone.sightings] == ["tftp"]
    directory.dismiss(1)  # the new schema's features work on the old data
    assert directory.get_extension("101").sip_password != "OldPasswordOldPassword1"


def test_a_store_newer_than_the_software_is_refused(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'new.db'}")
    upgrade(store)
    with store.write() as conn:
        conn.execute(text("DELETE FROM alembic_version"))
        conn.execute(text("INSERT INTO alembic_version (version_num) VALUES ('0999')"))
    with pytest.raises(MigrationError, match="newer than this software"):
        upgrade(store)


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'wal.db'}")
    upgrade(store)
    with store.read() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
    assert (tmp_path / "wal.db").stat().st_mode & 0o077 == 0


CHILD = textwrap.dedent("""
    import sys
    from appliance.directory import Directory
    from appliance.store import open_store
    directory = Directory(open_store(sys.argv[1]), actor="crash-test")
    for i in range(100000):
        person = directory.add_employee(f"person-{i}")
        number = str(1000 + i % 9000)
        directory.add_extension(number)
        directory.assign_extension(number, person.id)
        print(person.id, number, flush=True)
""")


def test_kill_9_mid_burst_loses_nothing_acknowledged(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    upgrade(open_store(url))
    child = subprocess.Popen([sys.executable, "-c", CHILD, url], stdout=subprocess.PIPE,
                             text=True)
    assert child.stdout is not None
    acknowledged: list[tuple[int, str]] = []
    for line in child.stdout:
        person, number = line.split()
        acknowledged.append((int(person), number))
        if len(acknowledged) >= 60:
            break
    child.send_signal(signal.SIGKILL)
    child.wait(30)
    store = open_store(url)
    with store.read() as conn:
        assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    directory = Directory(store)
    for person, number in acknowledged:
        assert directory.get_employee(person).extension == number
        assert directory.get_extension(number).employee_id == person
    assert len(directory.list_employees()) >= len(acknowledged)
