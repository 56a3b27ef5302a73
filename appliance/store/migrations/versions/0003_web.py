"""The admin web page: its users (admins and viewers) and their server-side sessions.

Revision ID: 0003w
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from appliance.store.tables import UtcDateTime

revision = "0003w"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "admins",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(32), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("language", sa.String(5), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("password_changed_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("username", name="uq_admins_username"),
    )
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("admin_id", sa.Integer,
                  sa.ForeignKey("admins.id", name="fk_web_sessions_admin_id_admins"),
                  nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("last_seen", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_web_sessions_admin_id", "web_sessions", ["admin_id"])


def downgrade() -> None:
    op.drop_index("ix_web_sessions_admin_id", "web_sessions")
    op.drop_table("web_sessions")
    op.drop_table("admins")
