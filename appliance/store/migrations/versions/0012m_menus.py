"""IVR menus: a menu's text, language, extension dialling, no-key and invalid-key handling
(retries, then a destination each), and its keys (0-9, *) with their destinations.

Revision ID: 0012m
Revises: 0011g
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0012m"
down_revision = "0011g"
branch_labels = None
depends_on = None


def _destination(prefix: str) -> list[sa.Column]:
    return [
        sa.Column(f"{prefix}_kind", sa.String(9), nullable=False),
        sa.Column(f"{prefix}_target", sa.String(32), nullable=False),
        sa.Column(f"{prefix}_connection", sa.Integer, sa.ForeignKey("connections.id")),
    ]


def upgrade() -> None:
    op.create_table(
        "menus",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("extensions", sa.Boolean, nullable=False),
        sa.Column("timeout", sa.Integer, nullable=False),
        sa.Column("timeout_retries", sa.Integer, nullable=False),
        *_destination("timeout"),
        sa.Column("invalid_retries", sa.Integer, nullable=False),
        *_destination("invalid"),
    )
    op.create_table(
        "menu_keys",
        sa.Column("menu", sa.String(32), sa.ForeignKey("menus.name", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("key", sa.String(1), primary_key=True),
        sa.Column("kind", sa.String(9), nullable=False),
        sa.Column("target", sa.String(32), nullable=False),
        sa.Column("connection", sa.Integer, sa.ForeignKey("connections.id")),
    )


def downgrade() -> None:
    op.drop_table("menu_keys")
    op.drop_table("menus")
