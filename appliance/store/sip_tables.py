"""The SIP core's tables: registrar bindings (revision 0003s), persisted across restarts, and
the guard's bans (0005g), published for the CLI and the web page."""

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
    # Which password it registered with (a keyed fingerprint, 0005s): a password change
    # drops the bindings of the old one.
    Column("credential", String(16), nullable=False, server_default=""),
)

# One row per banned source address, written by the daemon when a ban starts; an expired
# row means nothing (listings filter by ``until``). Lifting deletes the row and tells the
# daemon through the events outbox (``sip.unban``).
sip_bans = Table(
    "sip_bans",
    metadata,
    Column("address", String(45), primary_key=True),
    Column("since", UtcDateTime(), nullable=False),
    Column("until", UtcDateTime(), nullable=False),
    Column("reason", String(16), nullable=False),  # failures | usernames
    Column("failures", Integer, nullable=False),
    Column("usernames", Integer, nullable=False),
)
