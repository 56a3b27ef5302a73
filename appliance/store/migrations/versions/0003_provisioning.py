"""Provisioning: stored firmware images, enrolled devices (HTTP digest), phone uploads.

Revision ID: 0003p
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from appliance.store.tables import UtcDateTime

revision = "0003p"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "firmware_images",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("vendor", sa.String(20), nullable=False),
        sa.Column("model", sa.String(60), nullable=False),
        sa.Column("version", sa.String(60), nullable=False),
        sa.Column("filename", sa.String(200), nullable=False, unique=True),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("added_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("vendor", "model", "version", name="uq_firmware_images_vendor_model"),
    )
    op.create_table(
        "provisioning_devices",
        sa.Column("mac", sa.String(12), sa.ForeignKey("phones.mac"), primary_key=True),
        sa.Column("enrolled_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "phone_uploads",
        sa.Column("mac", sa.String(12), sa.ForeignKey("phones.mac"), primary_key=True),
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("phone_uploads")
    op.drop_table("provisioning_devices")
    op.drop_table("firmware_images")
