"""Open the store: an engine with safe SQLite settings, and read/write transactions."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from appliance.errors import StoreError

BUSY_TIMEOUT_MS = 10_000


class Store:
    """A database engine plus the two kinds of transaction the appliance uses."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = engine.execution_options(sqlite_begin="IMMEDIATE")

    @property
    def dialect(self) -> str:
        """The backend's name: ``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction (deferred on SQLite, so it never blocks writers)."""
        with _errors(), self.engine.connect() as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction, committed when the block ends without error."""
        # On SQLite, BEGIN IMMEDIATE takes the write lock up front: a deferred transaction
        # that upgrades to write can fail at once with SQLITE_BUSY, without waiting.
        with _errors(), self._writer.begin() as conn:
            yield conn

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except OperationalError as exc:
        raise StoreError(f"database error: {exc.orig}") from exc


def open_store(url: str, create: bool = True) -> Store:
    """Make a Store for ``url``; SQLite gets WAL, full sync, foreign keys and a busy timeout.

    With ``create`` False, a missing SQLite file is an error rather than a new empty store.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"store.url is not a database URL: {url!r}") from None
    if parsed.get_backend_name() == "sqlite":
        return Store(_sqlite_engine(url, parsed.database, create))
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        engine = create_engine(parsed, pool_pre_ping=True)
    except (SQLAlchemyError, ImportError) as exc:
        raise StoreError(f"cannot use store {parsed.render_as_string()}: {exc}") from None
    return Store(engine)


def _sqlite_engine(url: str, database: str | None, create: bool) -> Engine:
    if not database or database == ":memory:":
        raise StoreError("store.url: an SQLite store needs a file path, not memory")
    if not create and not Path(database).is_file():
        raise StoreError(f"no store at {database}: run 'appliance init' with this config first")
    folder = Path(database).parent
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        # The database holds SIP passwords: readable by the appliance's user only.
        fd = os.open(database, os.O_CREAT | os.O_RDWR, 0o600)
        os.close(fd)
    except OSError as exc:
        raise StoreError(f"cannot create the store at {database}: {exc.strerror}") from None
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we send BEGIN ourselves, below
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine
