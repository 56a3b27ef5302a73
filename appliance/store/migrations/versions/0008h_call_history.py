"""The call history (every call, kept with the parties as they were) and the live calls the
daemon publishes for the CLI and the web page.

Revision ID: 0008h
Revises: 0007t
Create Date: 2026-12-09
"""

import sqlalchemy as sa
from alembic import op

from appliance.store.tables import UtcDateTime

revision = "0008h"
down_revision = "0007t"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "call_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ref", sa.String(16), nullable=False),
        sa.Column("call_id", sa.String(128), nullable=False),
        sa.Column("direction", sa.String(10), nullable=False),
        sa.Column("caller", sa.String(64), nullable=False),
        sa.Column("caller_name", sa.String(100)),
        sa.Column("caller_employee_id", sa.Integer),
        sa.Column("callee", sa.String(64), nullable=False),
        sa.Column("callee_name", sa.String(100)),
        sa.Column("callee_employee_id", sa.Integer),
        sa.Column("dialled", sa.String(64), nullable=False),
        sa.Column("connection", sa.String(32)),
        sa.Column("answered_by", sa.String(64)),
        sa.Column("answered_by_name", sa.String(100)),
        sa.Column("answered_by_employee_id", sa.Integer),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("answered_at", UtcDateTime()),
        sa.Column("ended_at", UtcDateTime(), nullable=False),
        sa.Column("ring_seconds", sa.Float, nullable=False),
        sa.Column("talk_seconds", sa.Float, nullable=False),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("reason", sa.String(40), nullable=False),
    )
    op.create_index("ix_call_history_started_at", "call_history", ["started_at"])
    op.create_table(
        "live_calls",
        sa.Column("ref", sa.String(16), primary_key=True),
        sa.Column("direction", sa.String(10), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("caller", sa.String(64), nullable=False),
        sa.Column("callee", sa.String(64), nullable=False),
        sa.Column("dialled", sa.String(64), nullable=False),
        sa.Column("connection", sa.String(32)),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("answered_at", UtcDateTime()),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("live_calls")
    op.drop_index("ix_call_history_started_at", "call_history")
    op.drop_table("call_history")
