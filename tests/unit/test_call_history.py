"""The call history in the store: the daemon's call log writing live rows and one history
row per call (the callee's name kept after a dismissal), filters in the box's local dates,
CSV, retention and pruning, and the hang-up asked by the CLI or web page (event and audit)
carried out by the call log."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from appliance.calls.history_writer import HUNG_UP, CallLog
from appliance.directory import Directory, call_history
from appliance.errors import NotFoundError, ValidationError
from appliance.events import Event
from appliance.routing.calls import Call
from appliance.store import Store
from appliance.store.tables import audit, events
from tests.unit.test_sip_calls import CALLEE, answered_call, sent_to
from tests.unit.test_sip_routing import PHONE, Extensions, ext, make_router

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")


def row(ref: str, started: datetime, **fields: Any) -> dict[str, Any]:
    """A history row as the call log builds it."""
    base: dict[str, Any] = {
        "ref": ref, "call_id": f"c-{ref}", "direction": "internal", "caller": "101",
        "caller_employee_id": None, "callee": "102", "callee_employee_id": None,
        "dialled": "102", "connection": None, "answered_by": None,
        "answered_by_employee_id": None, "started_at": started, "answered_at": None,
        "ended_at": started + timedelta(seconds=9), "ring_seconds": 9.0, "talk_seconds": 0.0,
        "outcome": "missed", "status": 480, "reason": "480"}
    return {**base, **fields}


def office(store: Store) -> tuple[Any, Any, CallLog, dict[str, int]]:
    """Two employees on 101 and 102 in the store, a router whose cache holds them, and
    the call log observing its registry."""
    directory = Directory(store, actor="test")
    ids = {}
    for number, name in (("101", "Nguyễn Văn An"), ("102", "Trần Thị Bình")):
        person = directory.add_employee(name)
        directory.add_extension(number)
        directory.assign_extension(number, person.id)
        ids[number] = person.id
    held = [dataclasses.replace(ext(n), employee_id=i) for n, i in ids.items()]
    router, _, wire = make_router(*held)
    log = CallLog(store, router.control, Extensions(*held))
    return router, wire, log, ids


def test_a_call_is_live_then_one_history_row_that_keeps_a_dismissed_callee(
        store: Store) -> None:
    router, wire, log, ids = office(store)
    answered_call(router, wire)
    assert asyncio.run(log.flush())
    live, = call_history.live(store)
    assert (live["state"], live["caller"], live["callee"], live["caller_name"],
            live["callee_name"]) == ("established", "101", "102", "Nguyễn Văn An",
                                     "Trần Thị Bình")
    Directory(store, actor="test").dismiss(ids["102"])
    call, = router.registry.live()
    router.control.end(call, HUNG_UP)
    assert asyncio.run(log.flush())
    assert call_history.live(store) == []
    found, = call_history.query(store, call_history.Filters())
    assert (found["callee_name"], found["callee_employee_id"], found["answered_by_name"],
            found["caller_name"], found["outcome"], found["reason"]) == (
        "Trần Thị Bình", ids["102"], "Trần Thị Bình", "Nguyễn Văn An", "answered", "hung up")
    by_employee = call_history.filters(ZONE, employee=str(ids["102"]))
    assert [r["ref"] for r in call_history.query(store, by_employee)] == [found["ref"]]


def test_a_call_that_ends_within_one_write_never_gets_a_live_row(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    router, wire, log, _ = office(store)
    answered_call(router, wire)
    call, = router.registry.live()
    router.control.end(call, HUNG_UP)
    written: list[tuple[int, int, int]] = []
    original = call_history.write

    def spy(s: Store, ended: Any, live: Any, gone: Any, now: datetime) -> None:
        written.append((len(ended), len(live), len(set(gone))))
        original(s, ended, live, gone, now)

    monkeypatch.setattr(call_history, "write", spy)
    assert asyncio.run(log.flush())
    assert written == [(1, 0, 0)]


def test_a_failed_write_is_kept_and_written_later(store: Store,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    router, wire, log, _ = office(store)
    answered_call(router, wire)
    call, = router.registry.live()
    router.control.end(call, HUNG_UP)
    def broken(*_: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(call_history, "write", broken)
    assert not asyncio.run(log.flush())
    monkeypatch.undo()
    assert call_history.query(store, call_history.Filters()) == []
    assert asyncio.run(log.flush())
    assert len(call_history.query(store, call_history.Filters())) == 1


def test_the_hang_up_asked_elsewhere_ends_the_live_call(store: Store) -> None:
    router, wire, log, _ = office(store)
    answered_call(router, wire)
    assert asyncio.run(log.flush())
    live, = call_history.live(store)
    with pytest.raises(NotFoundError):
        call_history.request_hangup(store, "deadbeef", "cli:root")
    asked = call_history.request_hangup(store, live["ref"].upper(), "cli:root")
    assert asked["ref"] == live["ref"]
    with store.read() as conn:
        event = conn.execute(select(events).where(events.c.kind == "call.hangup")).one()
        entry = conn.execute(select(audit).where(audit.c.action == "call.hangup")).one()
    assert event.payload == {"ref": live["ref"]}
    assert (entry.actor, entry.target, entry.detail["caller"], entry.detail["callee"]) == (
        "cli:root", live["ref"], "101", "102")
    wire.sent.clear()
    asyncio.run(log.on_hangup(Event(event.id, event.at, event.kind, event.payload)))
    assert len(sent_to(wire, PHONE, "BYE")) == 1 and len(sent_to(wire, CALLEE, "BYE")) == 1
    assert router.registry.live() == []
    with store.read() as conn:
        ended = conn.execute(select(audit).where(audit.c.action == "sip.call_ended")).one()
    assert ended.actor == "sip" and ended.detail["reason"] == "hung up"


def test_filters_in_local_dates_extension_direction_outcome(store: Store) -> None:
    late = datetime(2025, 1, 31, 18, 30, tzinfo=UTC)  # 01:30 on 1 February in Hà Nội
    call_history.write(store, [
        row("a", late, outcome="answered", answered_by="102", talk_seconds=60.0),
        row("b", late - timedelta(hours=2), caller="0909123456", callee="103",
            direction="inbound", connection="viettel", dialled="+842873001234"),
        row("c", late - timedelta(days=3), caller="103", callee="0912345678",
            direction="outbound", connection="viettel", outcome="busy", status=486),
    ], {}, [], late)

    def refs(**typed: Any) -> list[str]:
        return [r["ref"] for r in call_history.query(store, call_history.filters(ZONE, **typed))]

    assert refs() == ["a", "b", "c"]
    assert refs(since="2025-02-01") == ["a"]
    assert refs(until="2025-01-31") == ["b", "c"]
    assert refs(since="2025-01-31 23:00", until="2025-02-01 01:00") == ["b"]
    assert refs(extension="103") == ["b", "c"]  # called on 103, and 103 calling out
    assert refs(extension="102") == ["a"]
    assert refs(direction="outbound") == ["c"] and refs(outcome="busy") == ["c"]
    bads: list[dict[str, Any]] = [
        {"since": "yesterday"}, {"until": "2025-02-30"}, {"extension": "10a"},
        {"employee": "x"}, {"direction": "sideways"}, {"outcome": "great"}]
    for bad in bads:
        with pytest.raises(ValidationError) as raised:
            call_history.filters(ZONE, **bad)
        assert raised.value.field == next(iter(bad))
    text = call_history.csv_text(call_history.query(store, call_history.Filters()), ZONE)
    header, first, *_ = text.splitlines()
    assert header.startswith("id,started_at,direction,caller,caller_name,callee")
    assert ",2025-02-01 01:30:00,internal,101," in first


def test_csv_cells_never_run_as_formulas(store: Store) -> None:
    now = datetime(2025, 1, 31, 8, tzinfo=UTC)
    call_history.write(store, [row("f", now, caller="=HYPERLINK(1)", direction="inbound",
                                   callee="+842873001234")], {}, [], now)
    text = call_history.csv_text(call_history.query(store, call_history.Filters()), ZONE)
    assert ",'=HYPERLINK(1)," in text and ",'+842873001234," in text


def test_retention_and_pruning(store: Store) -> None:
    assert call_history.retention_days(store) == call_history.DEFAULT_DAYS
    for bad in ("0", "abc", "99999", "-3", "٣"):
        with pytest.raises(ValidationError):
            call_history.set_retention(store, bad, "cli:root")
    assert call_history.set_retention(store, "30", "web:boss") == 30
    assert call_history.retention_days(store) == 30
    now = datetime(2025, 6, 1, tzinfo=UTC)
    call_history.write(store, [row(str(n), now - timedelta(days=n)) for n in range(0, 60, 2)],
                       {}, [], now)
    assert call_history.prune(store, now, 30, chunk=4) == 14  # days 32 to 58
    left = call_history.query(store, call_history.Filters(limit=100))
    assert len(left) == 16 and min(r["started_at"] for r in left) >= now - timedelta(days=30)
    with store.read() as conn:
        entry = conn.execute(select(audit).where(audit.c.action == "calls.retention_set")).one()
    assert (entry.actor, entry.detail) == ("web:boss", {"days": 30})


def test_the_sweep_drops_live_rows_of_calls_the_registry_forgot(store: Store) -> None:
    router, wire, log, _ = office(store)
    answered_call(router, wire)
    assert asyncio.run(log.flush())
    call: Call = router.registry.live()[0]
    router.registry.calls.clear()  # evicted without an end
    asyncio.run(log.sweep())
    assert asyncio.run(log.flush())
    assert call_history.live(store) == [] and call.state == "established"
