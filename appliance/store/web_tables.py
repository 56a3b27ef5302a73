"""The admin web page's tables (revision 0003w): its users and their server-side sessions."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer, String, Table

from appliance.store.tables import UtcDateTime, metadata

# People who may use the admin web page; ``role`` is ``admin`` or ``viewer`` (read only).
admins = Table(
    "admins",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(32), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),
    Column("role", String(10), nullable=False),
    Column("language", String(5), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("password_changed_at", UtcDateTime(), nullable=False),
)

# One row per signed-in browser, keyed by the SHA-256 of the cookie's token (never the token).
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("admin_id", Integer, ForeignKey("admins.id"), nullable=False, index=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_seen", UtcDateTime(), nullable=False),
)
