"""Each phone's own secrets: admin password, HTTP provisioning password, enrollment URL.

Existing phones get a random admin password each (the box-wide one is deleted) and keep the
HTTP provisioning password they were handed (derived from the box's device key), so an
enrolled phone goes on fetching with the credentials it holds.

Revision ID: 0005p
Revises: 0003p
Create Date: 2026-11-24
"""

import hashlib
import hmac
import secrets

import sqlalchemy as sa
from alembic import op

from appliance.store.tables import UtcDateTime

revision = "0005p"
down_revision = "0003p"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "phone_secrets",
        sa.Column("mac", sa.String(12), sa.ForeignKey("phones.mac"), primary_key=True),
        sa.Column("admin_password", sa.String(64), nullable=False),
        sa.Column("prov_password", sa.String(64), nullable=False),
        sa.Column("enroll_sha256", sa.String(64)),
        sa.Column("enroll_expires", UtcDateTime()),
    )
    conn = op.get_bind()
    key = conn.execute(sa.text("SELECT value FROM settings WHERE key = :k"),
                       {"k": "provisioning.device_key"}).scalar()
    rows = []
    for mac in conn.execute(sa.text("SELECT mac FROM phones")).scalars():
        if key:  # what the resolver derived before this revision
            prov = hmac.new(bytes.fromhex(key), mac.encode(), hashlib.sha256).hexdigest()[:24]
        else:
            prov = secrets.token_urlsafe(18)
        rows.append({"mac": mac, "admin_password": secrets.token_urlsafe(12),
                     "prov_password": prov})
    if rows:
        op.bulk_insert(table, rows)
    conn.execute(sa.text("DELETE FROM settings WHERE key = :k"),
                 {"k": "provisioning.admin_password"})


def downgrade() -> None:
    op.drop_table("phone_secrets")
