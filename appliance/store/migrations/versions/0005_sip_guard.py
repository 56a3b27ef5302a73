"""SIP guard: bans the CLI and web can list and lift, retired digest HA1s for stale devices.

Revision ID: 0005g
Revises: 0003s
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from appliance.store.tables import UtcDateTime

revision = "0005g"
down_revision = "0003s"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sip_bans",
        sa.Column("address", sa.String(45), primary_key=True),
        sa.Column("since", UtcDateTime(), nullable=False),
        sa.Column("until", UtcDateTime(), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("usernames", sa.Integer, nullable=False),
    )
    op.create_table(
        "retired_credentials",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("extension", sa.String(4), nullable=False),
        sa.Column("realm", sa.String(253), nullable=False),
        sa.Column("ha1_md5", sa.String(32), nullable=False),
        sa.Column("ha1_sha256", sa.String(64), nullable=False),
        sa.Column("retired_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_retired_credentials_extension", "retired_credentials", ["extension"])


def downgrade() -> None:
    op.drop_index("ix_retired_credentials_extension", "retired_credentials")
    op.drop_table("retired_credentials")
    op.drop_table("sip_bans")
