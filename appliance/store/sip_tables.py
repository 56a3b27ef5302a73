"""The SIP core's tables (revision 0003s): registrar bindings, persisted across restarts."""

from __future__ import annotations

from sqlalchemy import Column, Integer, String, Table

from appliance.store.tables import UtcDateTime, metadata

# One row per (extension, contact URI); the source address is where requests are sent
# (the flow the REGISTER came over, which also works behind NAT).
sip_bindings = Table(
    "sip_bindings",
    metadata,
    Column("aor", String(4), primary_key=True),
    Column("contact", String(512), primary_key=True),
    Column("params", String(512), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("call_id", String(255), nullable=False),
    Column("cseq", Integer, nullable=False),
    Column("transport", String(4), nullable=False),
    Column("host", String(45), nullable=False),
    Column("port", Integer, nullable=False),
    Column("user_agent", String(200), nullable=False),
    Column("kind", String(4), nullable=False),  # desk | app
    Column("registered_at", UtcDateTime(), nullable=False),
)
