"""SIP bindings remember which password they registered with (a keyed fingerprint), so a
password change drops the bindings of the old one.

Revision ID: 0005s
Revises: 0003s
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0005s"
down_revision = "0003s"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sip_bindings") as batch:
        batch.add_column(sa.Column("credential", sa.String(16), nullable=False,
                                   server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("sip_bindings") as batch:
        batch.drop_column("credential")
