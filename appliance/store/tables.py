"""The schema at head, as SQLAlchemy Core tables (migrations create it; this names it)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every backend (SQLite keeps no zone, so UTC is implied)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(UTC).replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

employees = Table(
    "employees",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False),
    Column("mobile", String(15)),
    Column("status", String(10), nullable=False),  # active | dismissed
    Column("created_at", UtcDateTime(), nullable=False),
    Column("dismissed_at", UtcDateTime()),
)

extensions = Table(
    "extensions",
    metadata,
    Column("number", String(4), primary_key=True),
    Column("name", String(32), unique=True),
    Column("permission", String(13), nullable=False),
    Column("supervisor", String(4), ForeignKey("extensions.number")),
    Column("number_group", String(32)),
    Column("description", String(200)),
    Column("receive", String(6), nullable=False),  # desk | app | both | mobile
    # When a call from an office number is not answered here: ``number`` (as the number
    # says), ``continue`` or ``mobile``; the connection (connections.id, checked by the
    # directory) and ring time None: the number's.
    Column("no_answer", String(8), nullable=False, server_default="number"),
    Column("no_answer_connection", Integer),
    Column("ring_timeout", Integer),
    Column("employee_id", Integer, ForeignKey("employees.id"), unique=True),
    Column("sip_username", String(32), nullable=False, unique=True),
    Column("sip_password", String(64), nullable=False),
    Column("password_changed_at", UtcDateTime(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

# Digests of every password an extension ever had, so none is ever handed out again.
password_history = Table(
    "password_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("digest", String(64), nullable=False, unique=True),
    Column("extension", String(4), nullable=False),
    Column("retired_at", UtcDateTime(), nullable=False),
)

# The digest HA1s of retired SIP passwords for the box's realm (revision 0005g), written in
# the transaction that retires the password and kept for sip.retired_grace, so the SIP core
# recognises a stale device (rotated password, freed extension) and never bans its source
# for it. Secrets-equivalent: never logged, never in audit or events.
retired_credentials = Table(
    "retired_credentials",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("extension", String(4), nullable=False, index=True),
    Column("realm", String(253), nullable=False),
    Column("ha1_md5", String(32), nullable=False),
    Column("ha1_sha256", String(64), nullable=False),
    Column("retired_at", UtcDateTime(), nullable=False),
)

phones = Table(
    "phones",
    metadata,
    Column("mac", String(12), primary_key=True),
    Column("vendor", String(40)),
    Column("model", String(60)),
    Column("firmware", String(60)),
    Column("ip", String(45)),
    Column("first_seen", UtcDateTime(), nullable=False),
    Column("last_seen", UtcDateTime(), nullable=False),
    Column("discovered_by", String(20), nullable=False),
    Column("extension", String(4), ForeignKey("extensions.number")),
    Column("state", String(10), nullable=False),  # discovered | assigned | disabled
)

# Each phone's own secrets (revision 0005p): the admin password its files set, the password
# of its HTTP provisioning credentials (user = its MAC), and a pending one-time enrollment
# URL (only its SHA-256 is kept). Apart from phones so no listing of phones carries them.
phone_secrets = Table(
    "phone_secrets",
    metadata,
    Column("mac", String(12), ForeignKey("phones.mac"), primary_key=True),
    Column("admin_password", String(64), nullable=False),
    Column("prov_password", String(64), nullable=False),
    Column("enroll_sha256", String(64)),
    Column("enroll_expires", UtcDateTime()),
)

# Every way a phone was seen (revision 0002); one row per (mac, method), updated in place.
phone_sightings = Table(
    "phone_sightings",
    metadata,
    Column("mac", String(12), ForeignKey("phones.mac"), primary_key=True),
    Column("method", String(20), primary_key=True),
    Column("ip", String(45)),
    Column("first_seen", UtcDateTime(), nullable=False),
    Column("last_seen", UtcDateTime(), nullable=False),
    Column("detail", Text),
)

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(40), nullable=False),
    Column("target", String(64), nullable=False),
    Column("detail", JSON, nullable=False),
    Index("ix_audit_at", "at"),
)

# The outbox: written in the same transaction as the change it announces.
events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("payload", JSON, nullable=False),
)

event_cursors = Table(
    "event_cursors",
    metadata,
    Column("consumer", String(64), primary_key=True),
    Column("last_id", Integer, nullable=False),
)

settings = Table(
    "settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)
