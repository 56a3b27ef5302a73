"""The live status of each connection's registration in the store (``connection_status``):
written by the daemon as it changes (``appliance/calls/trunk_manager.py``), read by the CLI
and the web page, which run in other processes. No secret is ever in it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select

from appliance.store import Store
from appliance.store.callplan_tables import connection_status

STATES = ("registering", "registered", "failing", "stopped")


@dataclass(frozen=True)
class ConnectionStatus:
    """A connection's registration as last written: state (one of ``STATES``), the server
    in use (``udp:203.0.113.5:5060``, ``udp:192.0.2.1:5060 (sip.example.net)`` for one
    found by DNS), the provider's last answer (``401 Unauthorized``, ``timeout``, or why
    nothing was sent: ``the name X does not resolve``, ``certificate not trusted: ...``),
    since when the state holds, when the binding ends, when the next REGISTER is due, and
    when the daemon wrote this."""

    name: str
    state: str
    server: str | None
    last_answer: str | None
    since: datetime
    expires_at: datetime | None = None
    next_at: datetime | None = None
    updated_at: datetime | None = None

    def as_dict(self) -> dict[str, str | None]:
        """For JSON: times in ISO 8601 (UTC)."""
        def iso(value: datetime | None) -> str | None:
            return None if value is None else value.isoformat()
        return {"state": self.state, "server": self.server, "last_answer": self.last_answer,
                "since": iso(self.since), "expires_at": iso(self.expires_at),
                "next_at": iso(self.next_at), "updated_at": iso(self.updated_at)}


def write(store: Store, changes: Mapping[str, ConnectionStatus | None], now: datetime) -> None:
    """Replace the rows of the connections named (None: delete that row), in one
    transaction."""
    if not changes:
        return
    with store.write() as db:
        db.execute(delete(connection_status).where(connection_status.c.name.in_(changes)))
        rows = [{"name": s.name, "state": s.state, "server": _cut(s.server, 300),
                 "last_answer": _cut(s.last_answer, 200), "since": s.since,
                 "expires_at": s.expires_at, "next_at": s.next_at, "updated_at": now}
                for s in changes.values() if s is not None]
        if rows:
            db.execute(insert(connection_status), rows)


def keep_only(store: Store, names: Iterable[str]) -> None:
    """Delete the rows of every connection not in ``names`` (at the daemon's start)."""
    with store.write() as db:
        db.execute(delete(connection_status).where(connection_status.c.name.not_in(
            list(names))))


def read(store: Store) -> dict[str, ConnectionStatus]:
    """Every status row, by connection name."""
    with store.read() as db:
        return {row.name: ConnectionStatus(
            row.name, row.state, row.server, row.last_answer, row.since, row.expires_at,
            row.next_at, row.updated_at)
            for row in db.execute(select(connection_status))}


def _cut(text: str | None, size: int) -> str | None:
    return None if text is None else text[:size]
