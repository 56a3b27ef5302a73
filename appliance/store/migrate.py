"""Bring a store's schema up to date with Alembic, on the store's own connection.

Alembic is imported only when a function here needs it (about 11 MiB with its templates):
the daemon migrates in a child process and reads its revision with plain SQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import column, inspect, select, table

from appliance.errors import MigrationError
from appliance.store.engine import Store

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

VERSION_TABLE = "alembic_version"  # Alembic's default, which env.py keeps

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _alembic() -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def _script() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic())


def head_revision() -> str:
    """The newest revision(s) this software knows, comma-joined if there are several."""
    return ",".join(sorted(_script().get_heads()))


def current_revision(store: Store) -> str | None:
    """The store's revision(s), comma-joined, or None for an empty database."""
    with store.read() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return None
        heads: list[str] = list(conn.execute(select(column("version_num")).select_from(
            table(VERSION_TABLE))).scalars())
    return ",".join(sorted(heads)) if heads else None


def known_revisions() -> set[str]:
    """Every revision this software knows."""
    return {rev.revision for rev in _script().walk_revisions()}


def _refuse_newer(current: str | None) -> None:
    unknown = set(current.split(",")) - known_revisions() if current else set()
    if unknown:
        raise MigrationError(
            f"the store is at revision {current}, newer than this software "
            f"(head {head_revision()}): upgrade the appliance, not the store"
        )


def pending(store: Store) -> str | None:
    """The store's revision when ``upgrade`` to the heads would change it, None for an empty
    store (nothing in it yet) or one at the heads; refuse a store newer than this software."""
    current = current_revision(store)
    _refuse_newer(current)
    return current if current is not None and current != head_revision() else None


def upgrade(store: Store, revision: str = "heads") -> None:
    """Migrate ``store`` up to ``revision``; refuse a store newer than this software."""
    from alembic import command
    from alembic.util.exc import CommandError

    _refuse_newer(current_revision(store))
    cfg = _alembic()
    try:
        with store.write() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except CommandError as exc:
        raise MigrationError(f"migration to {revision} failed: {exc}") from None
