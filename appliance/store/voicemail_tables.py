"""Voicemail (revision 0015v): one box per employee (not per extension: a freed extension
given to someone else never gives them the earlier holder's messages) and one row per
message, its WAV kept under the voicemail folder (``<data>/voicemail``) at ``path``,
relative to it (``<employee_id>/...``). An employee without a box row has the default box:
enabled, no PIN, no e-mail, the built-in English greeting. Read and written by
``directory/voicemail.py``; a dismissed employee's box and messages are kept, as all
history."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, ForeignKey, Integer, String, Table, false, true

from appliance.store.tables import UtcDateTime, metadata

voicemail_boxes = Table(
    "voicemail_boxes",
    metadata,
    Column("employee_id", Integer, ForeignKey("employees.id"), primary_key=True),
    Column("enabled", Boolean, nullable=False, server_default=true()),
    Column("pin_hash", String(200)),  # argon2id of the PIN; None: no PIN
    Column("email", String(254)),
    Column("language", String(2), nullable=False, server_default="en"),  # en | vi
    Column("greeting", String(255)),  # own greeting, relative to the voicemail folder
    Column("updated_at", UtcDateTime(), nullable=False),
)

voicemail_messages = Table(
    "voicemail_messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("employee_id", Integer, ForeignKey("employees.id"), nullable=False, index=True),
    Column("extension", String(4), nullable=False),  # the extension the caller reached
    Column("caller", String(64), nullable=False),
    Column("caller_name", String(100)),
    Column("call_ref", String(32)),  # the call history row, when the call had one
    Column("path", String(255), nullable=False),  # relative to the voicemail folder
    Column("seconds", Float, nullable=False),
    Column("bytes", Integer, nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("heard", Boolean, nullable=False, server_default=false()),
)
