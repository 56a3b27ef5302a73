"""Small key/value settings kept in the store."""

from __future__ import annotations

import json
from typing import Any

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


OVERRIDES = "override"  # the admin page's settings laid over the config file, as JSON


def get_overrides(conn: Connection) -> dict[str, Any]:
    """The admin page's settings overrides, ``{"sip": {"domain": ...}, ...}`` (empty if none)."""
    value = get(conn, OVERRIDES)
    try:
        data = json.loads(value) if value else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def put_overrides(conn: Connection, overrides: dict[str, Any]) -> None:
    """Keep ``overrides`` (removing the key when there are none)."""
    if overrides:
        put(conn, OVERRIDES, json.dumps(overrides, sort_keys=True))
    else:
        remove(conn, OVERRIDES)
