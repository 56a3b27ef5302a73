"""Prompts uploaded as audio: a menu, and an office number's greeting, may play an uploaded
recording (converted once to a WAV in the prompts folder, named by its content) instead of
their text spoken.

Revision ID: 0016a
Revises: 0015v
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0016a"
down_revision = "0015v"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (no table copy): menus keep their keys, numbers their routing.
    op.add_column("menus", sa.Column("audio", sa.String(40)))
    op.add_column("numbers", sa.Column("greeting_audio", sa.String(40)))


def downgrade() -> None:
    with op.batch_alter_table("numbers") as batch:
        batch.drop_column("greeting_audio")
    with op.batch_alter_table("menus") as batch:
        batch.drop_column("audio")
