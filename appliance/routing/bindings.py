"""Registrar bindings in the store: load them all, apply changes, and report them (CLI)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, select

from appliance.routing.registrar import Binding, Change
from appliance.sip.transaction import Peer
from appliance.store import Store, journal, settings
from appliance.store.sip_tables import sip_bindings
from appliance.store.tables import phones


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def load_all(store: Store) -> list[Binding]:
    """Every persisted binding, expired or not."""
    with store.read() as conn:
        rows = conn.execute(select(sip_bindings)).all()
    return [Binding(r.aor, r.contact, r.params, r.expires_at.timestamp(), r.call_id, r.cseq,
                    Peer(r.transport, r.host, r.port), r.user_agent, r.kind,
                    r.registered_at.timestamp(), r.credential) for r in rows]


def apply(store: Store, changes: list[Change]) -> None:
    """Write a batch of changes in one transaction (the registrar's group commit).

    Only the last change per (extension, contact) counts; the rows go in two executemany
    statements (delete every touched row, insert the live ones), not two per change.
    """
    if not changes:
        return
    final: dict[tuple[str, str], Change] = {}
    for change in changes:
        final[(change.binding.aor, change.binding.contact)] = change
    keys = [{"k_aor": aor, "k_contact": contact} for aor, contact in final]
    rows = [_row(c.binding) for c in final.values() if not c.delete]
    with store.write() as conn:
        conn.execute(_DELETE, keys)
        if rows:
            conn.execute(sip_bindings.insert(), rows)


_DELETE = delete(sip_bindings).where(and_(sip_bindings.c.aor == bindparam("k_aor"),
                                          sip_bindings.c.contact == bindparam("k_contact")))


def _row(b: Binding) -> dict[str, Any]:
    return {"aor": b.aor, "contact": b.contact, "params": b.params,
            "expires_at": _at(b.expires_at), "call_id": b.call_id, "cseq": b.cseq,
            "transport": b.source.transport, "host": b.source.host, "port": b.source.port,
            "user_agent": b.user_agent, "kind": b.kind, "registered_at": _at(b.registered_at),
            "credential": b.credential}


# The store's column limits (PostgreSQL enforces them; SQLite would keep anything): a
# binding that does not fit is refused before it reaches the store. The User-Agent is
# informational and cut to its column by the registrar instead.
_CHECKED = {"contact": "Contact", "params": "Contact Parameters", "call_id": "Call-ID",
            "aor": "Address Of Record", "host": "Source Address", "user_agent": "User-Agent"}
LIMITS = {name: int(getattr(sip_bindings.c[name].type, "length", 0) or 0) for name in _CHECKED}


def too_long(binding: Binding) -> str | None:
    """The name of the first field of ``binding`` longer than its column, or None."""
    values = {"contact": binding.contact, "params": binding.params, "call_id": binding.call_id,
              "aor": binding.aor, "host": binding.source.host, "user_agent": binding.user_agent}
    for name, label in _CHECKED.items():
        if len(values[name]) > LIMITS[name]:
            return label
    return None


ROUTE_KEY = "sip.route_key"  # the settings key of the box's SIP secret


def box_key(store: Store) -> bytes:
    """The box's SIP secret (signs its Record-Route entries, keys the password fingerprints):
    read from the store's settings, created there once."""
    with store.write() as conn:
        value = settings.get(conn, ROUTE_KEY)
        if value is None:
            value = secrets.token_hex(32)
            settings.put(conn, ROUTE_KEY, value)
    return bytes.fromhex(value)


def audit(store: Store, action: str, target: str, detail: dict[str, Any]) -> None:
    """One audit entry by the SIP part (actor "sip"), as the directory writes its own."""
    with store.write() as conn:
        journal.record(conn, "sip", action, target, detail, datetime.now(UTC))


def phone_ip(store: Store, mac: str) -> str | None:
    """The address the inventory last saw the phone with ``mac`` at, or None."""
    with store.read() as conn:
        ip = conn.execute(select(phones.c.ip).where(phones.c.mac == mac)).scalar()
    return str(ip) if ip else None


def desk_hosts(store: Store) -> frozenset[str]:
    """The addresses of the assigned phones in the inventory (desk phones, by definition)."""
    with store.read() as conn:
        rows = conn.execute(select(phones.c.ip).where(phones.c.state == "assigned",
                                                      phones.c.ip.is_not(None)))
        return frozenset(str(ip) for ip in rows.scalars())


def report(store: Store, aor: str | None = None) -> list[dict[str, Any]]:
    """The live registrations (of one extension, or all) for ``appliance status`` and
    ``appliance ext show``: extension, contact, source, user agent, kind, expiry."""
    now = datetime.now(UTC)
    query = select(sip_bindings).where(sip_bindings.c.expires_at > now)
    if aor is not None:
        query = query.where(sip_bindings.c.aor == aor)
    with store.read() as conn:
        rows = conn.execute(query.order_by(sip_bindings.c.aor, sip_bindings.c.contact)).all()
    return [{"extension": r.aor, "contact": r.contact, "via": f"{r.transport}:{r.host}:{r.port}",
             "user_agent": r.user_agent, "kind": r.kind,
             "expires_in": int((r.expires_at - now).total_seconds())} for r in rows]


def cli_view(store: Store, aor: str | None, as_json: bool, key: str) -> dict[str, Any]:
    """``{key: registrations}`` for the CLI: dicts for --json, one line each for text."""
    rows = report(store, aor)
    if as_json:
        return {key: rows}
    return {key: [f"{r['extension']} {r['contact']} ({r['kind']}, {r['via']}, "
                  f"{r['expires_in']} s)" for r in rows]}
