"""Write the audit log and the events outbox, inside the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, text

from appliance.store.tables import audit, events

SECRET_WORDS = ("password", "secret", "token", "ha1")


def _check_no_secret(payload: dict[str, Any], where: str) -> None:
    for key in payload:
        if any(word in key.lower() for word in SECRET_WORDS):
            raise ValueError(f"{where} must not carry {key!r}")


def publish(conn: Connection, kind: str, payload: dict[str, Any], at: datetime) -> int:
    """Append an event to the outbox in ``conn``'s transaction; return its id."""
    _check_no_secret(payload, "an event")
    if conn.dialect.name == "postgresql":
        # Ids come from a sequence and concurrent transactions could commit them out of
        # order, so a tailer reading "id > last" could skip one: writers take turns here.
        conn.execute(text("LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE"))
    result = conn.execute(insert(events).values(at=at, kind=kind, payload=payload))
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def record(
    conn: Connection, actor: str, action: str, target: str, detail: dict[str, Any], at: datetime
) -> None:
    """Append an audit entry (never holding a secret) in ``conn``'s transaction."""
    _check_no_secret(detail, "an audit entry")
    conn.execute(
        insert(audit).values(at=at, actor=actor, action=action, target=target, detail=detail)
    )
