"""Each phone's own secrets: admin and provisioning passwords, reissue, one-time enrollment."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, text

from appliance.directory import Directory
from appliance.provisioning import inventory
from appliance.store import Store, open_store, upgrade
from appliance.store import settings as kv
from appliance.store.tables import phone_secrets


def test_every_new_phone_gets_its_own_secrets(directory: Directory, store: Store) -> None:
    directory.record_sighting("001565000001", "tftp", ip="192.0.2.5")
    directory.add_extension("101")
    directory.assign_phone("001565000002", "101")
    one, two = (directory.phone_credentials(m) for m in ("001565000001", "001565000002"))
    assert one.admin_password != two.admin_password and one.prov_password != two.prov_password
    assert len(one.admin_password) >= 16 and len(one.prov_password) >= 24
    assert one.prov_user == "001565000001"
    assert inventory.device_password(store, "001565000002") == two.prov_password
    assert inventory.device_password(store, "001565000009") is None
    view = inventory.phone_view(store, "001565000001")
    assert view is not None and view.admin_password == one.admin_password
    # the inventory's own listings never carry them
    listed = [p.to_dict() for p in directory.list_phones(with_sightings=True)]
    assert one.admin_password not in repr(listed) and one.prov_password not in repr(listed)


def test_reissue_changes_both_and_unenrolls(directory: Directory, store: Store) -> None:
    mac = "001565000003"
    directory.record_sighting(mac, "tftp")
    before = directory.phone_credentials(mac)
    inventory.enroll(store, mac, datetime.now(UTC))
    view = inventory.phone_view(store, mac)
    assert view is not None and view.enrolled
    after = directory.reissue_phone_credentials(mac)
    assert after.admin_password != before.admin_password
    assert after.prov_password != before.prov_password
    view = inventory.phone_view(store, mac)
    assert view is not None and not view.enrolled
    entry = directory.audit_log(limit=1)[0]
    assert entry.action == "phone.credentials_reissued"
    assert after.prov_password not in repr(entry) and after.admin_password not in repr(entry)


def test_enrollment_token_works_once_and_expires(directory: Directory, store: Store) -> None:
    mac = "001565000004"
    directory.record_sighting(mac, "tftp")
    token = directory.start_enrollment(mac)
    assert directory.phone_credentials(mac).enroll_expires is not None
    with store.read() as conn:
        kept = conn.execute(select(phone_secrets.c.enroll_sha256)).scalar()
    assert kept == hashlib.sha256(token.encode()).hexdigest()  # only its digest is kept
    assert not directory.redeem_enrollment("001565000005", token)  # another phone's
    assert not directory.redeem_enrollment(mac, token + "x")
    assert directory.redeem_enrollment(mac, token)
    assert not directory.redeem_enrollment(mac, token)  # one time only
    assert directory.phone_credentials(mac).enroll_expires is None
    late = Directory(store, clock=lambda: datetime.now(UTC) + timedelta(hours=25))
    token = directory.start_enrollment(mac)
    assert not late.redeem_enrollment(mac, token)
    assert token not in repr(directory.audit_log(limit=10))


def test_migration_keeps_handed_credentials_and_drops_the_box_password(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        upgrade(store, "0003p")
        key = "ab" * 32
        with store.write() as conn:
            kv.put(conn, "provisioning.device_key", key)
            kv.put(conn, "provisioning.admin_password", "BoxWide")
            for mac in ("001565000010", "001565000011"):
                conn.execute(text(
                    "INSERT INTO phones (mac, first_seen, last_seen, discovered_by, state) "
                    "VALUES (:m, '2026-01-01 00:00:00', '2026-01-01 00:00:00', 'tftp', "
                    "'discovered')"), {"m": mac})
        upgrade(store)
        directory = Directory(store)
        creds = [directory.phone_credentials(m) for m in ("001565000010", "001565000011")]
        for c in creds:
            derived = hmac.new(bytes.fromhex(key), c.mac.encode(), hashlib.sha256).hexdigest()
            assert c.prov_password == derived[:24]  # what an enrolled phone already holds
            assert c.admin_password != "BoxWide"
        assert creds[0].admin_password != creds[1].admin_password
        with store.read() as conn:
            assert kv.get(conn, "provisioning.admin_password") is None
    finally:
        store.dispose()
