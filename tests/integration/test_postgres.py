"""The same store on PostgreSQL, by URL: a private server on a Unix socket, no TCP at all."""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.directory import Directory
from appliance.events import Event, EventBus, OutboxTail
from appliance.store import Store, current_revision, head_revision, open_store, upgrade
from tests.integration.conftest import appliance, appliance_json

pytestmark = pytest.mark.postgres


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """Start a throwaway PostgreSQL listening only on a Unix socket; yield its URL."""
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL server binaries not installed (make test installs them)")
    as_user: list[str] = []
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and no 'postgres' user to run the server as")
        as_user = ["runuser", "-u", "postgres", "--"]
    base = Path(tempfile.mkdtemp(prefix="appliance-pg-"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    if as_user:
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")
    run = lambda *args: subprocess.run([*as_user, *args], check=True,  # noqa: E731
                                       capture_output=True, timeout=120)
    run(initdb, "-D", str(data), "-U", "appliance", "--auth=trust", "-E", "UTF8")
    run(pg_ctl, "-D", str(data), "-w", "-t", "60", "-l", str(base / "log"), "-o",
        f"-c listen_addresses='' -k {sock} -c fsync=off", "start")
    try:
        yield f"postgresql://appliance@/postgres?host={sock}"
    finally:
        run(pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[Store]:
    store = open_store(pg_url)
    with store.write() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    upgrade(store)
    yield store
    store.dispose()


def test_migrations_and_dismissal_on_postgresql(pg_store: Store) -> None:
    assert pg_store.dialect == "postgresql" and current_revision(pg_store) == head_revision()
    directory = Directory(pg_store, actor="test")
    person = directory.add_employee("An", mobile="84912345678")
    directory.add_extension("101", permission="international")
    before = directory.assign_extension("101", person.id).sip_password
    directory.assign_phone("001565aabbcc", "101")
    result = directory.dismiss(person.id)
    assert result.phones == ("001565aabbcc",)
    after = directory.get_extension("101")
    assert after.employee_id is None and after.sip_password != before
    assert directory.get_employee(person.id).dismissed_at is not None
    assert directory.get_phone("001565aabbcc").state == "disabled"


def test_outbox_tail_on_postgresql(pg_store: Store) -> None:
    seen: list[Event] = []
    bus = EventBus()
    bus.subscribe("", seen.append)
    tail = OutboxTail(pg_store, bus)
    tail.start()
    Directory(pg_store).add_extension("200")
    assert asyncio.run(tail.poll_once()) == 1
    assert seen[0].kind == "extension.added" and seen[0].at.tzinfo is not None


def test_cli_on_postgresql_by_url(pg_url: str, pg_store: Store, tmp_path: Path) -> None:
    config = tmp_path / "pg.toml"
    config.write_text(f'[paths]\ndata = "{tmp_path}"\n[store]\nurl = "{pg_url}"\n')
    appliance(config, "ext", "add", "300")
    assert appliance_json(config, "ext", "show", "300")["number"] == "300"
