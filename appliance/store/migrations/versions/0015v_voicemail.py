"""Voicemail: a box per employee (enabled, PIN hash, e-mail, greeting language, own
greeting) and one row per message (its WAV under the voicemail folder).

Revision ID: 0015v
Revises: 0014q
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from appliance.store.tables import UtcDateTime

revision = "0015v"
down_revision = "0014q"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # New tables only: every employee keeps the default box (enabled, no PIN) until set.
    op.create_table(
        "voicemail_boxes",
        sa.Column("employee_id", sa.Integer, sa.ForeignKey("employees.id"), primary_key=True),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("pin_hash", sa.String(200)),
        sa.Column("email", sa.String(254)),
        sa.Column("language", sa.String(2), nullable=False, server_default="en"),
        sa.Column("greeting", sa.String(255)),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "voicemail_messages",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("employee_id", sa.Integer, sa.ForeignKey("employees.id"), nullable=False),
        sa.Column("extension", sa.String(4), nullable=False),
        sa.Column("caller", sa.String(64), nullable=False),
        sa.Column("caller_name", sa.String(100)),
        sa.Column("call_ref", sa.String(32)),
        sa.Column("path", sa.String(255), nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("bytes", sa.Integer, nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("heard", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_voicemail_messages_employee_id", "voicemail_messages",
                    ["employee_id"])


def downgrade() -> None:
    op.drop_index("ix_voicemail_messages_employee_id", "voicemail_messages")
    op.drop_table("voicemail_messages")
    op.drop_table("voicemail_boxes")
