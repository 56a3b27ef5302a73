"""Call recording: whether an office number's calls are recorded, and one row per recorded
call (the WAV's path under the recordings folder, its length and size).

Revision ID: 0013r
Revises: 0012m
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from appliance.store.tables import UtcDateTime

revision = "0013r"
down_revision = "0012m"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN with a default (no table copy): every number stays unrecorded.
    op.add_column("numbers", sa.Column("record", sa.Boolean, nullable=False,
                                       server_default=sa.false()))
    op.create_table(
        "recordings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("call_ref", sa.String(32), nullable=False),
        sa.Column("path", sa.String(255), nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("bytes", sa.Integer, nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_recordings_call_ref", "recordings", ["call_ref"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_recordings_call_ref", "recordings")
    op.drop_table("recordings")
    with op.batch_alter_table("numbers") as batch:
        batch.drop_column("record")
