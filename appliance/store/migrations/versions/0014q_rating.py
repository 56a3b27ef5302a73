"""Rating after the call: an office number may ask its callers to rate the call (1-5) once
the employee hung up, and the call history keeps the rating.

Revision ID: 0014q
Revises: 0013r
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0014q"
down_revision = "0013r"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (no table copy): numbers keep their routing, history its rows.
    op.add_column("numbers", sa.Column("rating", sa.Boolean, nullable=False,
                                       server_default=sa.false()))
    op.add_column("call_history", sa.Column("rating", sa.Integer))


def downgrade() -> None:
    with op.batch_alter_table("call_history") as batch:
        batch.drop_column("rating")
    with op.batch_alter_table("numbers") as batch:
        batch.drop_column("rating")
