"""Bring a store's schema to a revision with Alembic, on the store's own connection."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError

from appliance.errors import MigrationError
from appliance.store.engine import Store

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _alembic() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    """The newest revision this software knows."""
    head = ScriptDirectory.from_config(_alembic()).get_current_head()
    assert head is not None
    return head


def current_revision(store: Store) -> str | None:
    """The store's revision, or None for an empty database."""
    with store.read() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(store: Store, revision: str = "head") -> None:
    """Migrate ``store`` up to ``revision``; refuse a store newer than this software."""
    current = current_revision(store)
    known = {rev.revision for rev in ScriptDirectory.from_config(_alembic()).walk_revisions()}
    if current is not None and current not in known:
        raise MigrationError(
            f"the store is at revision {current}, newer than this software "
            f"(head {head_revision()}): upgrade the appliance, not the store"
        )
    cfg = _alembic()
    try:
        with store.write() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except CommandError as exc:
        raise MigrationError(f"migration to {revision} failed: {exc}") from None
