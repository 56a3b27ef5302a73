"""Missed-call callbacks (revision 0009k): which office numbers call their missed callers back
and how, and the callback jobs, one per missed call, kept across restarts."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, String, Table

from appliance.store.tables import UtcDateTime, metadata

callback_rules = Table(
    "callback_rules",
    metadata,
    Column("did", String(16), primary_key=True),  # an office number (numbers.did)
    Column("delay", Integer, nullable=False),  # seconds after the missed call
    Column("attempts", Integer, nullable=False),  # calls to the customer at most
    Column("interval", Integer, nullable=False),  # seconds between attempts
)

callbacks = Table(
    "callbacks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("customer", String(32), nullable=False),  # the caller's number as it came
    Column("did", String(16), nullable=False),
    Column("target", String(48), nullable=False),  # extension:102 | queue:support
    Column("state", String(10), nullable=False),  # pending|dialling|done|dropped|failed
    Column("attempts", Integer, nullable=False),  # made so far
    Column("max_attempts", Integer, nullable=False),
    Column("interval", Integer, nullable=False),
    Column("due_at", UtcDateTime(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("missed_call", String(128), nullable=False),  # the missed call's SIP Call-ID
    Column("outcome", String(80), nullable=False),  # the last attempt's result, in words
)
Index("callbacks_due", callbacks.c.state, callbacks.c.due_at)
Index("callbacks_customer", callbacks.c.customer)
