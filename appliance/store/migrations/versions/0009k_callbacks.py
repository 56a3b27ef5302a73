"""Missed-call callbacks: the rule per office number and the jobs.

Revision ID: 0009k
Revises: 0008h
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from appliance.store.tables import UtcDateTime

revision = "0009k"
down_revision = "0008h"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "callback_rules",
        sa.Column("did", sa.String(16), primary_key=True),
        sa.Column("delay", sa.Integer, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("interval", sa.Integer, nullable=False),
    )
    op.create_table(
        "callbacks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("customer", sa.String(32), nullable=False),
        sa.Column("did", sa.String(16), nullable=False),
        sa.Column("target", sa.String(48), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("interval", sa.Integer, nullable=False),
        sa.Column("due_at", UtcDateTime(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("missed_call", sa.String(128), nullable=False),
        sa.Column("outcome", sa.String(80), nullable=False),
    )
    op.create_index("callbacks_due", "callbacks", ["state", "due_at"])
    op.create_index("callbacks_customer", "callbacks", ["customer"])


def downgrade() -> None:
    op.drop_index("callbacks_customer", "callbacks")
    op.drop_index("callbacks_due", "callbacks")
    op.drop_table("callbacks")
    op.drop_table("callback_rules")
