"""The call plan's tables (revision 0006c): connections (trunks) and their servers, office
numbers and their routing, queue groups and members, working hours and holidays, the
contacts map and employees' presence; IVR menus and their keys (0012m); whether a number's
calls are recorded (0013r; the recordings: ``recording_tables.py``). Outside numbers are
kept in E.164 with ``+``."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

from appliance.store.tables import UtcDateTime, metadata

# A connection's password is a secret: never logged, never in audit or events, never shown.
connections = Table(
    "connections",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(32), nullable=False, unique=True),
    Column("kind", String(8), nullable=False),  # register | ip
    Column("username", String(64)),
    Column("password", String(128)),
    Column("caller_id", String(16)),
    Column("number_format", String(11), nullable=False),  # e164_plus | intl_digits | national
    Column("max_calls", Integer, nullable=False),  # 0: no limit
    Column("codecs", JSON, nullable=False),  # list of codec names, preferred first
    Column("allowed_sources", JSON, nullable=False),  # addresses / CIDR subnets (kind ip)
    Column("allowed_extensions", JSON, nullable=False),  # who may call out through it ...
    Column("allowed_groups", JSON, nullable=False),  # ... (both empty: everyone)
    Column("prefix", String(8), unique=True),
    Column("is_default", Boolean, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    # A register connection's AOR domain (None: the first server's host), auth user name
    # (None: username) and the expiry it asks for (revision 0007t).
    Column("domain", String(253)),
    Column("auth_username", String(64)),
    Column("expires", Integer, nullable=False, server_default="3600"),
)

# The live state of each connection's registration, written by the daemon as it changes
# (``appliance/calls/trunk_manager.py``) and read by the CLI and the web page (0007t).
connection_status = Table(
    "connection_status",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("state", String(12), nullable=False),  # registering|registered|failing|stopped
    Column("server", String(300)),
    Column("last_answer", String(200)),
    Column("since", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime()),
    Column("next_at", UtcDateTime()),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# The servers of a connection in failover order (position 0 first).
connection_servers = Table(
    "connection_servers",
    metadata,
    Column("connection_id", Integer, ForeignKey("connections.id"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("host", String(253), nullable=False),
    Column("port", Integer, nullable=False),  # 0: not given (a name: found by DNS SRV)
    Column("transport", String(3), nullable=False),  # udp | tcp | tls
)

# A schedule: IANA zone, weekly ranges as [start, end] minutes of the week, override.
working_hours = Table(
    "working_hours",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("zone", String(64), nullable=False),
    Column("weekly", JSON, nullable=False),
    Column("override", String(6), nullable=False),  # auto | open | closed
)

holidays = Table(
    "holidays",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("hours", String(32), ForeignKey("working_hours.name"), nullable=False, index=True),
    Column("first", Date, nullable=False),
    Column("last", Date, nullable=False),
    Column("name", String(100), nullable=False),
)

# A destination is (kind, target, connection): kind extension | queue | outside | hangup.
numbers = Table(
    "numbers",
    metadata,
    Column("did", String(16), primary_key=True),
    Column("connection_id", Integer, ForeignKey("connections.id"), nullable=False, index=True),
    Column("to_header", Boolean, nullable=False),
    Column("contacts_map", Boolean, nullable=False),
    Column("dest_kind", String(9), nullable=False),
    Column("dest_target", String(32), nullable=False),
    Column("dest_connection", Integer, ForeignKey("connections.id")),
    Column("after_kind", String(9)),
    Column("after_target", String(32)),
    Column("after_connection", Integer, ForeignKey("connections.id")),
    Column("hours", String(32), ForeignKey("working_hours.name")),
    Column("no_answer", String(8), nullable=False),  # continue | mobile
    Column("no_answer_connection", Integer, ForeignKey("connections.id")),
    Column("ring_timeout", Integer, nullable=False),
    Column("greeting", Boolean, nullable=False, server_default=false()),
    Column("greeting_language", String(2), nullable=False, server_default="en"),
    Column("greeting_text", Text),  # None: the built-in greeting
    Column("greeting_wait", Integer, nullable=False, server_default="5"),
    Column("greeting_audio", String(40)),  # an uploaded greeting in the prompts folder
    Column("record", Boolean, nullable=False, server_default=false()),  # 0013r
    Column("rating", Boolean, nullable=False, server_default=false()),  # 0014q
)

queues = Table(
    "queues",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("strategy", String(12), nullable=False),
    Column("ring_time", Integer, nullable=False),
    Column("timeout", Integer, nullable=False),
    Column("ring_busy", Boolean, nullable=False),
    Column("fallback_kind", String(9), nullable=False),
    Column("fallback_target", String(32), nullable=False),
    Column("fallback_connection", Integer, ForeignKey("connections.id")),
)

queue_members = Table(
    "queue_members",
    metadata,
    Column("queue", String(32), ForeignKey("queues.name"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("extension", String(4), ForeignKey("extensions.number"), nullable=False,
           index=True),
    UniqueConstraint("queue", "extension", name="uq_queue_members_queue_extension"),
)

# An IVR menu (0012m): its text (spoken when saved), language, whether callers may dial an
# extension, and what happens with no key (timeout) or an invalid one, each a destination.
menus = Table(
    "menus",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("text", Text, nullable=False),
    Column("language", String(2), nullable=False),  # en | vi
    Column("extensions", Boolean, nullable=False),
    Column("timeout", Integer, nullable=False),  # seconds
    Column("timeout_retries", Integer, nullable=False),
    Column("timeout_kind", String(9), nullable=False),
    Column("timeout_target", String(32), nullable=False),
    Column("timeout_connection", Integer, ForeignKey("connections.id")),
    Column("invalid_retries", Integer, nullable=False),
    Column("invalid_kind", String(9), nullable=False),
    Column("invalid_target", String(32), nullable=False),
    Column("invalid_connection", Integer, ForeignKey("connections.id")),
    Column("audio", String(40)),  # an uploaded prompt in the prompts folder, played instead
)

# A menu's keys (0-9, *) and where each sends the call (kind also ``repeat``: play it again).
menu_keys = Table(
    "menu_keys",
    metadata,
    Column("menu", String(32), ForeignKey("menus.name", ondelete="CASCADE"), primary_key=True),
    Column("key", String(1), primary_key=True),
    Column("kind", String(9), nullable=False),
    Column("target", String(32), nullable=False),
    Column("connection", Integer, ForeignKey("connections.id")),
)

# Caller number (E.164) -> the employee responsible for them.
contacts = Table(
    "contacts",
    metadata,
    Column("number", String(16), primary_key=True),
    Column("employee_id", Integer, ForeignKey("employees.id"), nullable=False, index=True),
    Column("name", String(100), nullable=False),
)

presence = Table(
    "presence",
    metadata,
    Column("employee_id", Integer, ForeignKey("employees.id"), primary_key=True),
    Column("state", String(8), nullable=False),  # working | on_break | off
    Column("since", UtcDateTime(), nullable=False),
)
