"""Per-extension no-answer: what a call from an office number does when the extension does
not answer (as the number says, go on, or the employee's mobile), through which connection,
and the extension's own ring time.

Revision ID: 0010n
Revises: 0009k
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0010n"
down_revision = "0009k"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (no table copy): other tables reference ``extensions``.
    op.add_column("extensions", sa.Column("no_answer", sa.String(8), nullable=False,
                                          server_default="number"))
    op.add_column("extensions", sa.Column("no_answer_connection", sa.Integer))
    op.add_column("extensions", sa.Column("ring_timeout", sa.Integer))


def downgrade() -> None:
    with op.batch_alter_table("extensions") as batch:
        batch.drop_column("ring_timeout")
        batch.drop_column("no_answer_connection")
        batch.drop_column("no_answer")
