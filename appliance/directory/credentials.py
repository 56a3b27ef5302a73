"""Retired SIP credentials: the digest HA1s of passwords an extension no longer has.

The password history keeps only SHA-256 digests of old passwords (so none is reused), which
cannot check a digest response. So when a password is retired, its HA1 values for the
realm the SIP core challenges with (MD5 and SHA-256 of ``user:realm:password``) are kept
too, in the same transaction, for a grace period: a failed REGISTER that matches one is a
stale device (a rotated password, a freed extension), not an attacker, and never bans its
source. HA1s are secrets-equivalent: never logged, never in the audit log or an event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select

from appliance.digest import ha1
from appliance.store import Store
from appliance.store import settings as kv
from appliance.store.tables import retired_credentials

# The realm the running SIP core challenges with, published by it at start: the CLI and the
# web page retire passwords in their own processes and must hash for the same realm.
SIP_REALM_KEY = "sip_realm"
KEPT = 4  # retired credentials kept per extension (sip.auth checks RETIRED_CHECKS, as many)


@dataclass(frozen=True)
class RetiredCredential:
    """One retired password of an extension, as digest HA1s by algorithm."""

    extension: str
    retired_at: datetime
    ha1: dict[str, str]

    def __repr__(self) -> str:
        return f"RetiredCredential({self.extension!r}, {self.retired_at.isoformat()})"


def retire(conn: Connection, number: str, username: str, password: str, now: datetime) -> None:
    """Keep the HA1s of ``password`` (being retired in ``conn``'s transaction) for the
    published realm; only the newest KEPT of an extension are kept."""
    realm = kv.get(conn, SIP_REALM_KEY)
    if not realm:
        return  # the SIP core never ran: no device can hold a credential for any realm
    conn.execute(insert(retired_credentials).values(
        extension=number, realm=realm, ha1_md5=ha1("MD5", username, realm, password),
        ha1_sha256=ha1("SHA-256", username, realm, password), retired_at=now))
    kept = select(retired_credentials.c.id).where(retired_credentials.c.extension == number) \
        .order_by(retired_credentials.c.retired_at.desc(), retired_credentials.c.id.desc()) \
        .limit(KEPT)
    conn.execute(delete(retired_credentials).where(
        retired_credentials.c.extension == number,
        retired_credentials.c.id.not_in(kept.scalar_subquery())))


def publish_realm(store: Store, realm: str) -> None:
    """Record the realm the SIP core challenges with (for retirements in other processes)."""
    with store.write() as conn:
        if kv.get(conn, SIP_REALM_KEY) != realm:
            kv.put(conn, SIP_REALM_KEY, realm)


def load(store: Store, realm: str, since: datetime,
         number: str | None = None) -> dict[str, list[RetiredCredential]]:
    """The credentials retired after ``since`` for ``realm`` (of one extension, or all), by
    extension, newest first."""
    table = retired_credentials
    query = select(table).where(table.c.realm == realm, table.c.retired_at > since)
    if number is not None:
        query = query.where(table.c.extension == number)
    found: dict[str, list[RetiredCredential]] = {}
    with store.read() as conn:
        rows = conn.execute(query.order_by(table.c.retired_at.desc(), table.c.id.desc())).all()
    for row in rows:
        found.setdefault(row.extension, []).append(RetiredCredential(
            row.extension, row.retired_at, {"MD5": row.ha1_md5, "SHA-256": row.ha1_sha256}))
    return found


def purge(store: Store, before: datetime) -> int:
    """Forget credentials retired before ``before`` (past the grace period); how many."""
    with store.write() as conn:
        result = conn.execute(delete(retired_credentials)
                              .where(retired_credentials.c.retired_at <= before))
        return int(result.rowcount or 0)
