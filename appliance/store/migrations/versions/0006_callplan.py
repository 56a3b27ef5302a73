"""The call plan: connections (trunks) and their servers, office numbers and their routing,
queue groups and members, working hours and holidays, the contacts map, presence.

Revision ID: 0006c
Revises: 0005g
Create Date: 2026-12-10
"""

import sqlalchemy as sa
from alembic import op

from appliance.store.tables import UtcDateTime

revision = "0006c"
down_revision = "0005g"
branch_labels = None
depends_on = None


def _destination(prefix: str, nullable: bool) -> list[sa.Column]:
    return [
        sa.Column(f"{prefix}_kind", sa.String(9), nullable=nullable),
        sa.Column(f"{prefix}_target", sa.String(32), nullable=nullable),
        sa.Column(f"{prefix}_connection", sa.Integer, sa.ForeignKey("connections.id")),
    ]


def upgrade() -> None:
    op.create_table(
        "connections",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(32), nullable=False, unique=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("username", sa.String(64)),
        sa.Column("password", sa.String(128)),
        sa.Column("caller_id", sa.String(16)),
        sa.Column("number_format", sa.String(11), nullable=False),
        sa.Column("max_calls", sa.Integer, nullable=False),
        sa.Column("codecs", sa.JSON, nullable=False),
        sa.Column("allowed_sources", sa.JSON, nullable=False),
        sa.Column("allowed_extensions", sa.JSON, nullable=False),
        sa.Column("allowed_groups", sa.JSON, nullable=False),
        sa.Column("prefix", sa.String(8), unique=True),
        sa.Column("is_default", sa.Boolean, nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "connection_servers",
        sa.Column("connection_id", sa.Integer, sa.ForeignKey("connections.id"),
                  primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("host", sa.String(253), nullable=False),
        sa.Column("port", sa.Integer, nullable=False),
        sa.Column("transport", sa.String(3), nullable=False),
    )
    op.create_table(
        "working_hours",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("zone", sa.String(64), nullable=False),
        sa.Column("weekly", sa.JSON, nullable=False),
        sa.Column("override", sa.String(6), nullable=False),
    )
    op.create_table(
        "holidays",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("hours", sa.String(32), sa.ForeignKey("working_hours.name"), nullable=False),
        sa.Column("first", sa.Date, nullable=False),
        sa.Column("last", sa.Date, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
    )
    op.create_index("ix_holidays_hours", "holidays", ["hours"])
    op.create_table(
        "numbers",
        sa.Column("did", sa.String(16), primary_key=True),
        sa.Column("connection_id", sa.Integer, sa.ForeignKey("connections.id"),
                  nullable=False),
        sa.Column("to_header", sa.Boolean, nullable=False),
        sa.Column("contacts_map", sa.Boolean, nullable=False),
        *_destination("dest", nullable=False),
        *_destination("after", nullable=True),
        sa.Column("hours", sa.String(32), sa.ForeignKey("working_hours.name")),
        sa.Column("no_answer", sa.String(8), nullable=False),
        sa.Column("no_answer_connection", sa.Integer, sa.ForeignKey("connections.id")),
        sa.Column("ring_timeout", sa.Integer, nullable=False),
    )
    op.create_index("ix_numbers_connection_id", "numbers", ["connection_id"])
    op.create_table(
        "queues",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("strategy", sa.String(12), nullable=False),
        sa.Column("ring_time", sa.Integer, nullable=False),
        sa.Column("timeout", sa.Integer, nullable=False),
        sa.Column("ring_busy", sa.Boolean, nullable=False),
        *_destination("fallback", nullable=False),
    )
    op.create_table(
        "queue_members",
        sa.Column("queue", sa.String(32), sa.ForeignKey("queues.name"), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("extension", sa.String(4), sa.ForeignKey("extensions.number"),
                  nullable=False),
        sa.UniqueConstraint("queue", "extension", name="uq_queue_members_queue_extension"),
    )
    op.create_index("ix_queue_members_extension", "queue_members", ["extension"])
    op.create_table(
        "contacts",
        sa.Column("number", sa.String(16), primary_key=True),
        sa.Column("employee_id", sa.Integer, sa.ForeignKey("employees.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
    )
    op.create_index("ix_contacts_employee_id", "contacts", ["employee_id"])
    op.create_table(
        "presence",
        sa.Column("employee_id", sa.Integer, sa.ForeignKey("employees.id"), primary_key=True),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("since", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("presence")
    op.drop_index("ix_contacts_employee_id", "contacts")
    op.drop_table("contacts")
    op.drop_index("ix_queue_members_extension", "queue_members")
    op.drop_table("queue_members")
    op.drop_table("queues")
    op.drop_index("ix_numbers_connection_id", "numbers")
    op.drop_table("numbers")
    op.drop_index("ix_holidays_hours", "holidays")
    op.drop_table("holidays")
    op.drop_table("working_hours")
    op.drop_table("connection_servers")
    op.drop_table("connections")
