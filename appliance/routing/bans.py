"""The SIP guard's bans in the store: published by the daemon, listed and lifted elsewhere.

The daemon writes a row when a ban starts (``save``) and restores the unexpired ones at
start (``load``); expired rows mean nothing and are swept. ``appliance sip bans`` and the
web page list them (``listing``); ``lift`` deletes the row, audits it and publishes a
``sip.unban`` event in one transaction, which the running daemon hears within the events
poll interval and lets the address in again.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, select

from appliance.directory import utcnow
from appliance.errors import NotFoundError, ValidationError
from appliance.routing.guard import Ban
from appliance.store import Store, journal
from appliance.store.sip_tables import sip_bans

UNBAN_EVENT = "sip.unban"


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def save(store: Store, ban: Ban) -> None:
    """Publish a new ban (replacing an older row for the same address)."""
    with store.write() as conn:
        conn.execute(delete(sip_bans).where(sip_bans.c.address == ban.source))
        conn.execute(insert(sip_bans).values(
            address=ban.source, since=_at(ban.since), until=_at(ban.until), reason=ban.reason,
            failures=ban.failures, usernames=ban.usernames))


def load(store: Store) -> list[Ban]:
    """The published bans still in force (to restore after a restart)."""
    now = utcnow()
    with store.read() as conn:
        rows = conn.execute(select(sip_bans).where(sip_bans.c.until > now)).all()
    return [Ban(r.address, r.since.timestamp(), r.until.timestamp(), r.reason, r.failures,
                r.usernames) for r in rows]


def sweep(store: Store) -> int:
    """Delete the rows of bans that have ended; how many."""
    with store.write() as conn:
        return int(conn.execute(delete(sip_bans).where(sip_bans.c.until <= utcnow()))
                   .rowcount or 0)


def listing(store: Store) -> list[dict[str, Any]]:
    """The bans in force, oldest first: address, since, until, seconds left, reason, counts."""
    now = utcnow()
    with store.read() as conn:
        rows = conn.execute(select(sip_bans).where(sip_bans.c.until > now)
                            .order_by(sip_bans.c.since)).all()
    return [{"address": r.address, "since": r.since.isoformat(), "until": r.until.isoformat(),
             "seconds_left": int((r.until - now).total_seconds()), "reason": r.reason,
             "failures": r.failures, "usernames": r.usernames} for r in rows]


def lift(store: Store, address: str, actor: str) -> None:
    """Lift the ban on ``address``: row deleted, audited, the daemon told; NotFoundError if
    it is not banned."""
    given = address.strip()
    try:
        # The socket's spelling is kept as is (e.g. "::ffff:192.0.2.7"), so both are looked up.
        forms = {given, str(ipaddress.ip_address(given))}
    except ValueError:
        raise ValidationError(f"address: not an IP address: {address!r}", "address") from None
    now = utcnow()
    with store.write() as conn:
        found = conn.execute(select(sip_bans.c.address).where(
            sip_bans.c.address.in_(forms), sip_bans.c.until > now)).scalar()
        conn.execute(delete(sip_bans).where(sip_bans.c.address.in_(forms)))
        if found is None:
            raise NotFoundError(f"address {given} is not banned", "address")
        journal.record(conn, actor, "sip.unbanned", found, {"address": found}, now)
        journal.publish(conn, UNBAN_EVENT, {"address": found}, now)
