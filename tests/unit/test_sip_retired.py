"""Retired SIP credentials: kept as HA1s in the transaction that rotates the password, for the
published realm, bounded per extension, never in the audit log or events; and the SIP core's
copy of them (grace period, per-extension refresh, sweep). Also the bans' store rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from appliance.digest import ha1
from appliance.directory import Directory, credentials
from appliance.errors import NotFoundError, ValidationError
from appliance.routing import bans
from appliance.routing.guard import Ban
from appliance.routing.retired import RetiredCache
from appliance.store import Store
from appliance.store.tables import audit, events, retired_credentials


def _rows(store: Store) -> list[dict[str, object]]:
    with store.read() as conn:
        return [dict(r._mapping) for r in conn.execute(select(retired_credentials))]


def _assigned(directory: Directory, number: str) -> str:
    employee = directory.add_employee(f"Employee {number}")
    directory.add_extension(number)
    return directory.assign_extension(number, employee.id).sip_password


def test_no_realm_published_no_ha1_kept(directory: Directory, store: Store) -> None:
    _assigned(directory, "101")
    directory.set_password("101")
    assert _rows(store) == []


def test_every_rotation_keeps_the_old_passwords_ha1s(directory: Directory, store: Store) -> None:
    credentials.publish_realm(store, "office.test")
    old = _assigned(directory, "101")
    directory.set_password("101")
    (row,) = [r for r in _rows(store) if r["ha1_md5"] == ha1("MD5", "101", "office.test", old)]
    assert row["ha1_sha256"] == ha1("SHA-256", "101", "office.test", old)
    assert row["realm"] == "office.test" and row["extension"] == "101"
    current = directory.get_extension("101").sip_password
    employee_id = directory.get_extension("101").employee_id
    assert employee_id is not None
    directory.dismiss(employee_id)  # frees the extension: the holder's password is retired
    md5s = {r["ha1_md5"] for r in _rows(store)}
    assert ha1("MD5", "101", "office.test", current) in md5s
    for _ in range(6):
        directory.set_password("101")
    assert len(_rows(store)) == credentials.KEPT
    with store.read() as conn:
        logged = json.dumps([dict(r._mapping) for r in conn.execute(select(audit))]
                            + [dict(r._mapping) for r in conn.execute(select(events))],
                            default=str)
    assert not any(str(r["ha1_md5"]) in logged or str(r["ha1_sha256"]) in logged
                   for r in _rows(store))


def test_a_failed_rotation_keeps_nothing(directory: Directory, store: Store) -> None:
    credentials.publish_realm(store, "office.test")
    old = _assigned(directory, "101")
    directory.set_password("101", "a-chosen-password-1")
    before = _rows(store)
    with pytest.raises(Exception, match="used before"):
        directory.set_password("101", old)
    assert _rows(store) == before


def test_the_cache_keeps_the_grace_period_and_refreshes(directory: Directory,
                                                         store: Store) -> None:
    now = [datetime.now(UTC)]
    cache = RetiredCache(store, "office.test", grace=3600, clock=lambda: now[0])
    cache.reload()  # publishes the realm
    old = _assigned(directory, "102")
    assert cache("102") == []
    directory.set_password("102")
    cache.refresh("102")
    assert cache("102")[0]["MD5"] == ha1("MD5", "102", "office.test", old)
    other = RetiredCache(store, "other.realm", grace=3600, clock=lambda: now[0])
    other.by_number = credentials.load(store, "other.realm", now[0] - timedelta(hours=1))
    assert other("102") == []
    now[0] += timedelta(hours=2)
    assert cache("102") == []
    assert cache.sweep() >= 1 and _rows(store) == [] and cache.by_number == {}


def test_bans_are_published_listed_and_lifted_with_an_audit_entry(store: Store) -> None:
    now = datetime.now(UTC).timestamp()
    bans.save(store, Ban("192.0.2.66", now, now + 900, "usernames", 10, 10))
    bans.save(store, Ban("192.0.2.67", now - 1000, now - 100, "failures", 5, 1))
    (listed,) = bans.listing(store)
    assert listed["address"] == "192.0.2.66" and listed["reason"] == "usernames"
    assert 0 < listed["seconds_left"] <= 900
    assert [b.source for b in bans.load(store)] == ["192.0.2.66"]
    with pytest.raises(ValidationError):
        bans.lift(store, "not-an-address", "test")
    with pytest.raises(NotFoundError):
        bans.lift(store, "192.0.2.67", "test")  # ended already
    bans.lift(store, " 192.0.2.66 ", "cli:admin")
    assert bans.listing(store) == []
    with store.read() as conn:
        entry = conn.execute(select(audit).where(audit.c.action == "sip.unbanned")).one()
        event = conn.execute(select(events).where(events.c.kind == bans.UNBAN_EVENT)).one()
    assert entry.actor == "cli:admin" and entry.target == "192.0.2.66"
    assert event.payload == {"address": "192.0.2.66"}
    assert bans.sweep(store) == 1  # the ended ban's row stays until the sweep
    bans.save(store, Ban("::ffff:192.0.2.7", now, now + 900, "failures", 5, 1))
    bans.lift(store, "::ffff:192.0.2.7", "test")  # as a dual-stack socket spells it
    assert bans.listing(store) == []
