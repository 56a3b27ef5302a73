"""Small key/value settings kept in the store."""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert, select

from appliance.store.tables import settings


def get(conn: Connection, key: str) -> str | None:
    """The value of ``key``, or None."""
    return conn.execute(select(settings.c.value).where(settings.c.key == key)).scalar()


def put(conn: Connection, key: str, value: str) -> None:
    """Set ``key`` to ``value`` in ``conn``'s transaction."""
    if conn.execute(settings.update().where(settings.c.key == key)
                    .values(value=value)).rowcount == 0:
        conn.execute(insert(settings).values(key=key, value=value))


def remove(conn: Connection, key: str) -> None:
    """Delete ``key`` if present."""
    conn.execute(delete(settings).where(settings.c.key == key))
