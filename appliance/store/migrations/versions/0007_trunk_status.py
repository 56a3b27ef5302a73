"""Register connections: AOR domain, auth user name and requested expiry; the live status
of each connection's registration (written by the daemon, read by the CLI and the web page).

Revision ID: 0007t
Revises: 0006c
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from appliance.store.tables import UtcDateTime

revision = "0007t"
down_revision = "0006c"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("connections") as batch:
        batch.add_column(sa.Column("domain", sa.String(253)))
        batch.add_column(sa.Column("auth_username", sa.String(64)))
        batch.add_column(sa.Column("expires", sa.Integer, nullable=False,
                                   server_default="3600"))
    op.create_table(
        "connection_status",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("server", sa.String(300)),
        sa.Column("last_answer", sa.String(200)),
        sa.Column("since", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime()),
        sa.Column("next_at", UtcDateTime()),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("connection_status")
    with op.batch_alter_table("connections") as batch:
        batch.drop_column("expires")
        batch.drop_column("auth_username")
        batch.drop_column("domain")
