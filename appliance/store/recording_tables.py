"""Call recordings (revision 0013r): one row per recorded call, the WAV kept under the
recordings folder (``<data>/recordings``) at ``path``, relative to it. Written by the
daemon when a recorded call ends (``calls/recordings.py``), read by the CLI and the web
page (``directory/recordings.py``). Whether a number's calls are recorded is
``numbers.record`` (``store/callplan_tables.py``)."""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, String, Table

from appliance.store.tables import UtcDateTime, metadata

recordings = Table(
    "recordings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("call_ref", String(32), nullable=False, unique=True, index=True),  # one per call
    Column("path", String(255), nullable=False),  # relative to the recordings folder
    Column("seconds", Float, nullable=False),
    Column("bytes", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)
