"""SIP routing core: registrar bindings, persisted so a restart keeps phones reachable.

Revision ID: 0003s
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from appliance.store.tables import UtcDateTime

revision = "0003s"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sip_bindings",
        sa.Column("aor", sa.String(4), primary_key=True),
        sa.Column("contact", sa.String(512), primary_key=True),
        sa.Column("params", sa.String(512), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("call_id", sa.String(255), nullable=False),
        sa.Column("cseq", sa.Integer, nullable=False),
        sa.Column("transport", sa.String(4), nullable=False),
        sa.Column("host", sa.String(45), nullable=False),
        sa.Column("port", sa.Integer, nullable=False),
        sa.Column("user_agent", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(4), nullable=False),
        sa.Column("registered_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sip_bindings")
