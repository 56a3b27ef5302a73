"""Phone sightings (each way a phone was seen), event cursors, settings.

Existing phones get one sighting each, from how they were first discovered.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from appliance.store.tables import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "phone_sightings",
        sa.Column("mac", sa.String(12), sa.ForeignKey("phones.mac"), primary_key=True),
        sa.Column("method", sa.String(20), primary_key=True),
        sa.Column("ip", sa.String(45)),
        sa.Column("first_seen", UtcDateTime(), nullable=False),
        sa.Column("last_seen", UtcDateTime(), nullable=False),
        sa.Column("detail", sa.Text),
    )
    op.execute(
        "INSERT INTO phone_sightings (mac, method, ip, first_seen, last_seen) "
        "SELECT mac, discovered_by, ip, first_seen, last_seen FROM phones"
    )
    op.create_table(
        "event_cursors",
        sa.Column("consumer", sa.String(64), primary_key=True),
        sa.Column("last_id", sa.Integer, nullable=False),
    )
    op.create_table(
        "settings",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("settings")
    op.drop_table("event_cursors")
    op.drop_table("phone_sightings")
