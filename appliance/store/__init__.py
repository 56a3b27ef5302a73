"""The store: SQLAlchemy Core tables, an engine factory and Alembic migrations."""

from appliance.store import journal, settings
from appliance.store.engine import Store, open_store
from appliance.store.migrate import current_revision, head_revision, upgrade

__all__ = [
    "Store", "current_revision", "head_revision", "journal", "open_store", "settings", "upgrade",
]
