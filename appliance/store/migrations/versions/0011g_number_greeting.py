"""An office number's greeting: on or off, its language, its own text (none: the built-in
greeting), and the seconds callers have to dial after it.

Revision ID: 0011g
Revises: 0010n
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0011g"
down_revision = "0010n"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN with defaults (no table copy): every number keeps its routing, off.
    op.add_column("numbers", sa.Column("greeting", sa.Boolean, nullable=False,
                                       server_default=sa.false()))
    op.add_column("numbers", sa.Column("greeting_language", sa.String(2), nullable=False,
                                       server_default="en"))
    op.add_column("numbers", sa.Column("greeting_text", sa.Text))
    op.add_column("numbers", sa.Column("greeting_wait", sa.Integer, nullable=False,
                                       server_default="5"))


def downgrade() -> None:
    with op.batch_alter_table("numbers") as batch:
        for column in ("greeting_wait", "greeting_text", "greeting_language", "greeting"):
            batch.drop_column(column)
