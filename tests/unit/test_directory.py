"""Every directory rule, enforced in the directory whatever the caller."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from appliance.directory import Directory
from appliance.errors import ConflictError, NotFoundError, ValidationError
from appliance.store import Store
from appliance.store.tables import audit, events


def kinds(store: Store) -> list[str]:
    with store.read() as conn:
        return list(conn.execute(select(events.c.kind).order_by(events.c.id)).scalars())


def test_extension_number_is_unique(directory: Directory) -> None:
    directory.add_extension("101")
    with pytest.raises(ConflictError, match="already exists"):
        directory.add_extension("101")
    with pytest.raises(ValidationError):
        directory.add_extension("10001")


def test_memorable_name_is_unique_and_checked(directory: Directory) -> None:
    directory.add_extension("101", name="reception")
    with pytest.raises(ConflictError, match="reception"):
        directory.add_extension("102", name="reception")
    with pytest.raises(ValidationError, match="ASCII"):
        directory.add_extension("103", name="lễ tân")
    assert directory.update_extension("101", name="reception").name == "reception"
    assert directory.update_extension("101", name="").name is None


def test_supervisor_must_exist_and_not_be_itself(directory: Directory) -> None:
    with pytest.raises(NotFoundError, match="supervisor"):
        directory.add_extension("101", supervisor="100")
    directory.add_extension("100")
    assert directory.add_extension("101", supervisor="100").supervisor == "100"
    with pytest.raises(ValidationError, match="itself"):
        directory.update_extension("101", supervisor="101")
    with pytest.raises(ValidationError, match="unknown extension field"):
        directory.update_extension("101", sip_password="x")


def test_mobile_receive_needs_a_mobile_number(directory: Directory) -> None:
    without = directory.add_employee("No Mobile")
    with_mobile = directory.add_employee("Has Mobile", mobile="84912345678")
    directory.add_extension("101", receive="mobile")
    with pytest.raises(ConflictError, match="mobile"):
        directory.assign_extension("101", without.id)
    directory.assign_extension("101", with_mobile.id)
    with pytest.raises(ConflictError, match="receive method"):
        directory.update_employee(with_mobile.id, mobile="")
    directory.add_extension("102")
    directory.assign_extension("102", without.id)
    with pytest.raises(ConflictError, match="no mobile"):
        directory.update_extension("102", receive="mobile")


def test_employee_mobile_is_validated(directory: Directory) -> None:
    with pytest.raises(ValidationError, match="international"):
        directory.add_employee("A", mobile="0912345678")
    assert directory.add_employee("A", mobile="+84 912 345 678").mobile == "84912345678"


def test_assignment_rules(directory: Directory) -> None:
    a, b = directory.add_employee("A"), directory.add_employee("B")
    directory.add_extension("101")
    directory.add_extension("102")
    directory.assign_extension("101", a.id)
    with pytest.raises(ConflictError, match="belongs to employee"):
        directory.assign_extension("101", b.id)
    with pytest.raises(ConflictError, match="already has extension 101"):
        directory.assign_extension("102", a.id)
    with pytest.raises(NotFoundError):
        directory.assign_extension("102", 999)
    with pytest.raises(NotFoundError):
        directory.assign_extension("999", b.id)


def test_assigning_issues_a_new_password(directory: Directory) -> None:
    a = directory.add_employee("A")
    created = directory.add_extension("101")
    assigned = directory.assign_extension("101", a.id)
    assert assigned.sip_password != created.sip_password
    assert assigned.sip_username == "101"


def test_dismissal_frees_rotates_disables_and_keeps_history(directory: Directory,
                                                          store: Store) -> None:
    a = directory.add_employee("A", mobile="84912345678")
    directory.add_extension("101")
    before = directory.assign_extension("101", a.id)
    directory.record_sighting("00:15:65:aa:bb:cc", "tftp", ip="192.0.2.10", vendor="Yealink")
    directory.assign_phone("001565aabbcc", "101")
    result = directory.dismiss(a.id)
    assert result.extension == "101" and result.phones == ("001565aabbcc",)
    after = directory.get_extension("101")
    assert after.employee_id is None
    assert after.sip_password != before.sip_password
    phone = directory.get_phone("001565aabbcc")
    assert phone.state == "disabled" and phone.extension is None
    kept = directory.get_employee(a.id)
    assert kept.status == "dismissed" and kept.dismissed_at is not None
    assert kept.name == "A" and kept.mobile == "84912345678"
    assert [e.id for e in directory.list_employees("dismissed")] == [a.id]
    assert kinds(store)[-2:] == ["extension.freed", "employee.dismissed"]
    with pytest.raises(ConflictError, match="already dismissed"):
        directory.dismiss(a.id)


def test_dismissed_employee_cannot_be_assigned_or_edited(directory: Directory) -> None:
    a = directory.add_employee("A")
    directory.dismiss(a.id)
    directory.add_extension("101")
    with pytest.raises(ConflictError, match="dismissed"):
        directory.assign_extension("101", a.id)
    with pytest.raises(ConflictError, match="dismissed"):
        directory.update_employee(a.id, name="B")


def test_freed_extension_reassigned_gets_a_new_password(directory: Directory) -> None:
    a, b = directory.add_employee("A"), directory.add_employee("B")
    directory.add_extension("101")
    first = directory.assign_extension("101", a.id).sip_password
    directory.dismiss(a.id)
    freed = directory.get_extension("101").sip_password
    second = directory.assign_extension("101", b.id).sip_password
    assert len({first, freed, second}) == 3


def test_unassign_frees_like_dismissal_but_keeps_the_employee(directory: Directory) -> None:
    a = directory.add_employee("A")
    directory.add_extension("101")
    old = directory.assign_extension("101", a.id).sip_password
    directory.assign_phone("001565aabbcc", "101")
    freed = directory.unassign_extension("101")
    assert freed.employee_id is None and freed.sip_password != old
    assert directory.get_phone("001565aabbcc").state == "disabled"
    assert directory.get_employee(a.id).status == "active"
    with pytest.raises(ConflictError, match="already free"):
        directory.unassign_extension("101")


def test_passwords_are_never_reused(directory: Directory) -> None:
    directory.add_extension("101")
    first = directory.set_password("101", "Chosen-password-1").sip_password
    directory.set_password("101")
    with pytest.raises(ConflictError, match="used before"):
        directory.set_password("101", first)
    with pytest.raises(ValidationError, match="password"):
        directory.set_password("101", "short")
    directory.add_extension("102")
    current = directory.get_extension("101").sip_password
    with pytest.raises(ConflictError, match="used before"):
        directory.set_password("102", current)


def test_no_secret_in_audit_or_events(directory: Directory, store: Store) -> None:
    a = directory.add_employee("A")
    directory.add_extension("101")
    passwords = [directory.assign_extension("101", a.id).sip_password]
    passwords.append(directory.set_password("101", "Chosen-password-1").sip_password)
    passwords.append(directory.set_password("101").sip_password)
    directory.dismiss(a.id)
    passwords.append(directory.get_extension("101").sip_password)
    with store.read() as conn:
        text = json.dumps([list(r) for r in conn.execute(select(audit.c.detail, audit.c.target))])
        text += json.dumps([list(r) for r in conn.execute(select(events.c.payload))])
    for password in passwords:
        assert password not in text


def test_a_failed_change_writes_no_event_and_no_audit(directory: Directory,
                                                      store: Store) -> None:
    directory.add_extension("101")
    before = kinds(store)
    with pytest.raises(ConflictError):
        directory.add_extension("101")
    with pytest.raises(NotFoundError):
        directory.dismiss(42)
    assert kinds(store) == before
    assert [e.action for e in directory.audit_log()] == ["extension.added"]


def test_sightings_merge_into_one_phone(directory: Directory, store: Store) -> None:
    directory.record_sighting("00:15:65:AA:BB:CC", "pnp", vendor="Yealink", model="SIP-T46U",
                              firmware="108.86.0.90")
    directory.record_sighting("001565aabbcc", "snmp", ip="192.0.2.10")
    phone = directory.record_sighting("00-15-65-aa-bb-cc", "tftp", ip="192.0.2.11")
    assert len(directory.list_phones()) == 1
    assert phone.state == "discovered" and phone.discovered_by == "pnp"
    assert (phone.vendor, phone.model, phone.firmware) == ("Yealink", "SIP-T46U", "108.86.0.90")
    assert phone.ip == "192.0.2.11"
    assert {s.method for s in phone.sightings} == {"pnp", "snmp", "tftp"}
    assert kinds(store).count("phone.discovered") == 1
    with pytest.raises(ValidationError, match="method"):
        directory.record_sighting("001565aabbcc", "carrier-pigeon")
    with pytest.raises(ValidationError, match="ip"):
        directory.record_sighting("001565aabbcc", "tftp", ip="not-an-ip")


def test_phone_assign_and_disable(directory: Directory) -> None:
    directory.add_extension("101")
    with pytest.raises(NotFoundError):
        directory.assign_phone("001565aabbcc", "999")
    phone = directory.assign_phone("001565AABBCC", "101")
    assert (phone.state, phone.extension, phone.discovered_by) == ("assigned", "101", "admin")
    with pytest.raises(ConflictError, match="already assigned"):
        directory.assign_phone("001565aabbcc", "101")
    disabled = directory.disable_phone("001565aabbcc")
    assert (disabled.state, disabled.extension) == ("disabled", None)
    with pytest.raises(ConflictError, match="already disabled"):
        directory.disable_phone("001565aabbcc")
    with pytest.raises(NotFoundError):
        directory.disable_phone("001565000000")
    assert directory.assign_phone("001565aabbcc", "101").state == "assigned"


def test_audit_names_the_actor_and_is_searchable(store: Store) -> None:
    Directory(store, actor="cli:alice").add_extension("101")
    Directory(store, actor="web:bob").add_employee("A")
    entries = Directory(store).audit_log(search="alice")
    assert [(e.actor, e.action, e.target) for e in entries] == [
        ("cli:alice", "extension.added", "101")]
    assert Directory(store).audit_log(search="%") == []
