"""The call history and the live calls (revision 0008h): written by the daemon, read by the
CLI and the web page in other processes.

A history row keeps the parties as they were at call time (numbers, employee names and ids
as plain values, no foreign key), so dismissing or deleting an employee breaks nothing and
changes no past row.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, String, Table

from appliance.store.tables import UtcDateTime, metadata

call_history = Table(
    "call_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ref", String(16), nullable=False),  # the call's id while it was live
    Column("call_id", String(128), nullable=False),  # the caller's SIP Call-ID
    Column("direction", String(10), nullable=False),  # internal|inbound|outbound|forwarded
    Column("caller", String(64), nullable=False),
    Column("caller_name", String(100)),
    Column("caller_employee_id", Integer),
    Column("callee", String(64), nullable=False),
    Column("callee_name", String(100)),
    Column("callee_employee_id", Integer),
    Column("dialled", String(64), nullable=False),
    Column("connection", String(32)),
    Column("answered_by", String(64)),
    Column("answered_by_name", String(100)),
    Column("answered_by_employee_id", Integer),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("answered_at", UtcDateTime()),
    Column("ended_at", UtcDateTime(), nullable=False),
    Column("ring_seconds", Float, nullable=False),
    Column("talk_seconds", Float, nullable=False),
    Column("outcome", String(10), nullable=False),  # one of call_history.OUTCOMES
    Column("status", Integer, nullable=False),  # the caller's final SIP status (0: none)
    Column("reason", String(40), nullable=False),  # how it ended (bye, hung up, ...)
    Column("rating", Integer),  # 1-5, the caller's after the call (0014q)
    Index("ix_call_history_started_at", "started_at"),
)

# One row per call in progress, kept current by the daemon (cleared when it starts and stops).
live_calls = Table(
    "live_calls",
    metadata,
    Column("ref", String(16), primary_key=True),
    Column("direction", String(10), nullable=False),
    Column("state", String(12), nullable=False),  # ringing | established
    Column("caller", String(64), nullable=False),
    Column("callee", String(64), nullable=False),
    Column("dialled", String(64), nullable=False),
    Column("connection", String(32)),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("answered_at", UtcDateTime()),
    Column("updated_at", UtcDateTime(), nullable=False),
)
