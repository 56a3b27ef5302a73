"""Provisioning's tables (revision 0003p): stored firmware images, enrolled devices, uploads."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer, LargeBinary, String, Table, UniqueConstraint

from appliance.store.tables import UtcDateTime, metadata

# One row per stored firmware image; the file itself lives under <data>/firmware/<vendor>/.
firmware_images = Table(
    "firmware_images",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("vendor", String(20), nullable=False),
    Column("model", String(60), nullable=False),
    Column("version", String(60), nullable=False),
    Column("filename", String(200), nullable=False, unique=True),
    Column("size", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("added_at", UtcDateTime(), nullable=False),
    UniqueConstraint("vendor", "model", "version", name="uq_firmware_images_vendor_model"),
)

# A phone that has been handed its per-device HTTP credentials (digest auth from then on).
provisioning_devices = Table(
    "provisioning_devices",
    metadata,
    Column("mac", String(12), ForeignKey("phones.mac"), primary_key=True),
    Column("enrolled_at", UtcDateTime(), nullable=False),
)

# Files a phone uploads (Polycom <mac>-phone.cfg, <mac>-web.cfg, logs), size-limited.
phone_uploads = Table(
    "phone_uploads",
    metadata,
    Column("mac", String(12), ForeignKey("phones.mac"), primary_key=True),
    Column("name", String(40), primary_key=True),
    Column("data", LargeBinary, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)
