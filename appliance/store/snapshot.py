"""A consistent copy of the store and its way back: SQLite's online backup API, or
``pg_dump`` / ``psql`` for PostgreSQL (the same major version's client tools as the server)."""

from __future__ import annotations

import glob
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from appliance.errors import StoreError

SQLITE_NAME = "appliance.db"
POSTGRES_NAME = "appliance.sql"
TOOL_SECONDS = 3600


def is_sqlite(url: str) -> bool:
    """True for an SQLite store URL."""
    return make_url(url).get_backend_name() == "sqlite"


def file_name(url: str) -> str:
    """The name the store's copy has in a backup."""
    return SQLITE_NAME if is_sqlite(url) else POSTGRES_NAME


def dump(url: str, target: Path) -> list[str]:
    """Write a consistent copy of the store at ``url`` to ``target``; return its revisions."""
    if is_sqlite(url):
        return _sqlite_dump(_sqlite_path(url), target)
    return _postgres_dump(url, target)


def revisions_of_copy(url: str, copy: Path) -> list[str]:
    """The revisions (alembic heads) a copy made by ``dump`` holds (SQLite: read from it)."""
    if is_sqlite(url):
        with _sqlite_open(copy) as conn:
            return _heads(conn)
    raise StoreError("a PostgreSQL dump is not read here; its manifest names its revision")


def check_copy(url: str, copy: Path) -> None:
    """Refuse an SQLite copy that fails ``PRAGMA integrity_check`` (a dump is checked by psql)."""
    if not is_sqlite(url):
        return
    try:
        with _sqlite_open(copy) as conn:
            result = conn.execute("PRAGMA integrity_check").fetchone()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"the store in the backup is damaged: {exc}") from None
    if not result or result[0] != "ok":
        raise StoreError(f"the store in the backup is damaged: {result[0] if result else '?'}")


def load(url: str, copy: Path) -> None:
    """Replace the store at ``url`` by ``copy`` in one step (a failure leaves it as it was)."""
    if is_sqlite(url):
        _sqlite_load(copy, _sqlite_path(url))
    else:
        _postgres_load(url, copy)


# -- SQLite ----------------------------------------------------------------------------------

def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise StoreError("store.url: an SQLite store needs a file path, not memory")
    return Path(database)


class _sqlite_open:  # noqa: N801 (used as a context manager, like open)
    """An sqlite3 connection closed on exit (sqlite3's own context manager only commits)."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, timeout=10, isolation_level=None)

    def __enter__(self) -> sqlite3.Connection:
        return self.conn

    def __exit__(self, *exc: object) -> None:
        self.conn.close()


def _heads(conn: sqlite3.Connection) -> list[str]:
    try:
        return sorted(row[0] for row in conn.execute("SELECT version_num FROM alembic_version"))
    except sqlite3.DatabaseError:
        return []


def _sqlite_dump(source: Path, target: Path) -> list[str]:
    if not source.is_file():
        raise StoreError(f"no store at {source}")
    try:
        fd = os.open(target, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        os.close(fd)
        with _sqlite_open(source) as src, _sqlite_open(target) as dst:
            # One step: the copy is one read transaction's view, whatever writers do meanwhile.
            src.backup(dst, pages=-1)
            dst.execute("PRAGMA journal_mode=DELETE")  # a single file, no -wal beside it
            return _heads(dst)
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"cannot copy the store {source}: {exc}") from None


def _sqlite_load(copy: Path, target: Path) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(target, os.O_CREAT | os.O_RDWR, 0o600)
        os.close(fd)
        # Through SQLite, not by moving files: the store's -wal and -shm stay consistent, and
        # the destination is written in one transaction.
        with _sqlite_open(copy) as src, _sqlite_open(target) as dst:
            src.backup(dst, pages=-1)
            dst.execute("PRAGMA journal_mode=WAL")
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"cannot write the store {target}: {exc}") from None


# -- PostgreSQL ------------------------------------------------------------------------------

def tool(name: str) -> str:
    """The newest installed PostgreSQL client ``name`` (pg_dump, psql)."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    path = found[-1] if found else shutil.which(name)
    if path is None:
        raise StoreError(f"{name} is not installed (Debian: apt-get install postgresql-client)")
    return path


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URI without the password, and the environment that carries it."""
    parsed: URL = make_url(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(args: list[str], env: dict[str, str], what: str) -> None:
    try:
        result = subprocess.run(args, env=env, capture_output=True, text=True,
                                timeout=TOOL_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StoreError(f"{what} failed: {exc}") from None
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        raise StoreError(f"{what} failed: {lines[0] if lines else f'exit {result.returncode}'}")


def _postgres_dump(url: str, target: Path) -> list[str]:
    uri, env = _libpq(url)
    fd = os.open(target, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    os.close(fd)
    # pg_dump reads in one repeatable-read transaction: a consistent snapshot.
    _run([tool("pg_dump"), "--format=plain", "--no-owner", "--no-privileges",
          "--schema=public", f"--file={target}", f"--dbname={uri}"], env, "pg_dump")
    return _dump_heads(target)


def _dump_heads(dump_file: Path) -> list[str]:
    """The rows of ``alembic_version`` in a plain pg_dump file."""
    heads: list[str] = []
    inside = False
    with dump_file.open(encoding="utf-8", errors="replace") as lines:
        for raw in lines:
            line = raw.rstrip("\n")
            if inside:
                if line == "\\.":
                    break
                heads.append(line.strip())
            elif line.startswith("COPY public.alembic_version "):
                inside = True
    return sorted(heads)

def _postgres_load(url: str, copy: Path) -> None:
    uri, env = _libpq(url)
    # One transaction: the old schema is dropped only if the whole dump loads.
    _run([tool("psql"), "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", "--single-transaction",
          "--command=DROP SCHEMA IF EXISTS public CASCADE", f"--file={copy}",
          f"--dbname={uri}"], env, "psql")
