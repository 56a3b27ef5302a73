"""The directory: employees, extensions, password history, phones, audit, events outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from appliance.store.tables import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "employees",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("mobile", sa.String(15)),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("dismissed_at", UtcDateTime()),
    )
    op.create_table(
        "extensions",
        sa.Column("number", sa.String(4), primary_key=True),
        sa.Column("name", sa.String(32), unique=True),
        sa.Column("permission", sa.String(13), nullable=False),
        sa.Column("supervisor", sa.String(4), sa.ForeignKey("extensions.number")),
        sa.Column("number_group", sa.String(32)),
        sa.Column("description", sa.String(200)),
        sa.Column("receive", sa.String(6), nullable=False),
        sa.Column("employee_id", sa.Integer, sa.ForeignKey("employees.id"), unique=True),
        sa.Column("sip_username", sa.String(32), nullable=False, unique=True),
        sa.Column("sip_password", sa.String(64), nullable=False),
        sa.Column("password_changed_at", UtcDateTime(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "password_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("extension", sa.String(4), nullable=False),
        sa.Column("retired_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "phones",
        sa.Column("mac", sa.String(12), primary_key=True),
        sa.Column("vendor", sa.String(40)),
        sa.Column("model", sa.String(60)),
        sa.Column("firmware", sa.String(60)),
        sa.Column("ip", sa.String(45)),
        sa.Column("first_seen", UtcDateTime(), nullable=False),
        sa.Column("last_seen", UtcDateTime(), nullable=False),
        sa.Column("discovered_by", sa.String(20), nullable=False),
        sa.Column("extension", sa.String(4), sa.ForeignKey("extensions.number")),
        sa.Column("state", sa.String(10), nullable=False),
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("ix_audit_at", "audit", ["at"])
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    for table in ("events", "audit", "phones", "password_history", "extensions", "employees"):
        op.drop_table(table)
