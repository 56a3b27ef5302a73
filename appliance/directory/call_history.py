"""The call history and the live calls in the store (``store/history_tables.py``).

The daemon writes both (``calls/history_writer.py``): a history row per ended call, the
parties' names looked up by the employee ids taken while the call was live, so the row
keeps them after a dismissal; and a live row per call in progress. The CLI and the web
page, in other processes, read them (``query``, ``live``) and ask for a hang-up
(``request_hangup``: audited, and a ``call.hangup`` event in the same transaction, which the
daemon hears through the events outbox and carries out as a dismissal's hang-up is).
The retention (days) is a store setting; the daemon prunes older rows (``prune``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Select, and_, delete, insert, or_, select

from appliance.directory import csvio, utcnow
from appliance.errors import NotFoundError, ValidationError
from appliance.store import Store, journal
from appliance.store import settings as kv
from appliance.store.history_tables import call_history, live_calls
from appliance.store.recording_tables import recordings
from appliance.store.tables import employees, extensions

HANGUP_EVENT = "call.hangup"
RETENTION_KEY = "calls.history_days"
DEFAULT_DAYS = 365
MAX_DAYS = 3650
PRUNE_CHUNK = 5000
OUTCOMES = ("answered", "missed", "voicemail", "busy", "failed", "cancelled", "refused")
DIRECTIONS = ("internal", "inbound", "outbound", "forwarded")
COLUMNS = ("id", "started_at", "direction", "caller", "caller_name", "callee", "callee_name",
           "dialled", "connection", "answered_by", "answered_by_name", "ring_seconds",
           "talk_seconds", "outcome", "status", "reason", "answered_at", "ended_at",
           "caller_employee_id", "callee_employee_id", "answered_by_employee_id", "ref",
           "call_id", "recording", "rating")
LIVE_COLUMNS = ("ref", "state", "direction", "caller", "caller_name", "callee", "callee_name",
                "dialled", "connection", "started_at", "answered_at", "seconds")
_WHEN = re.compile(r"\A\d{4}-\d\d-\d\d(?:[ T]\d\d:\d\d(?::\d\d)?)?\Z")


# -- the daemon's writes ------------------------------------------------------------------


def _names(conn: Connection, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = conn.execute(select(employees.c.id, employees.c.name)
                        .where(employees.c.id.in_(wanted)))
    return {int(r.id): str(r.name) for r in rows}


def write(store: Store, ended: Sequence[Mapping[str, Any]],
          live: Mapping[str, Mapping[str, Any]], gone: Iterable[str], now: datetime) -> None:
    """In one transaction: the history rows of ``ended`` calls (each party's name added from
    its employee id), the live rows of ``live`` calls (replaced), and the live rows of
    ``gone`` calls deleted."""
    refs = {*live, *gone}
    with store.write() as conn:
        if ended:
            names = _names(conn, (row.get(f"{side}_employee_id") for row in ended
                                  for side in ("caller", "callee", "answered_by")))
            conn.execute(insert(call_history), [
                {"rating": None, **row,
                 **{f"{side}_name": names.get(row.get(f"{side}_employee_id") or 0)
                    for side in ("caller", "callee", "answered_by")}}
                for row in ended])
        if refs:
            conn.execute(delete(live_calls).where(live_calls.c.ref.in_(refs)))
        if live:
            conn.execute(insert(live_calls), [{**row, "updated_at": now}
                                              for row in live.values()])


def clear_live(store: Store) -> None:
    """Forget every live row (the daemon starts or stops: no call of it is live)."""
    with store.write() as conn:
        conn.execute(delete(live_calls))


def prune(store: Store, now: datetime, days: int, chunk: int = PRUNE_CHUNK) -> int:
    """Delete the history rows of calls started more than ``days`` days before ``now``, in
    transactions of at most ``chunk`` rows; how many."""
    horizon = now - timedelta(days=days)
    total = 0
    while True:
        with store.write() as conn:
            ids = select(call_history.c.id).where(call_history.c.started_at < horizon) \
                .limit(chunk).scalar_subquery()
            gone = int(conn.execute(delete(call_history).where(call_history.c.id.in_(ids)))
                       .rowcount or 0)
        total += gone
        if gone < chunk:
            return total


# -- retention ------------------------------------------------------------------------------


def retention_days(store: Store) -> int:
    """How many days the history keeps (the store setting, else ``DEFAULT_DAYS``)."""
    with store.read() as conn:
        value = kv.get(conn, RETENTION_KEY)
    return int(value) if value and value.isdigit() else DEFAULT_DAYS


def set_retention(store: Store, days: Any, actor: str) -> int:
    """Keep ``days`` (1 to ``MAX_DAYS``) days of history, audited; the days set."""
    text = str(days).strip()
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_DAYS):
        raise ValidationError(f"days: a whole number of days from 1 to {MAX_DAYS}, "
                              f"got {days!r}", "days")
    value = int(text)
    with store.write() as conn:
        kv.put(conn, RETENTION_KEY, str(value))
        journal.record(conn, actor, "calls.retention_set", "calls", {"days": value}, utcnow())
    return value


# -- reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """What a listing shows: calls started in ``[since, until)``, on an extension (as caller,
    callee or who answered), of an employee (any side), a direction, an outcome."""

    since: datetime | None = None
    until: datetime | None = None
    extension: str | None = None
    employee_id: int | None = None
    direction: str | None = None
    outcome: str | None = None
    limit: int = 200


def parse_when(text: str | None, zone: ZoneInfo, field: str, end: bool = False) -> \
        datetime | None:
    """A local date (``2025-01-31``) or date and time (``2025-01-31 08:30``) in ``zone``;
    a bare date as an end (``end``) means the end of that day."""
    value = (text or "").strip()
    if not value:
        return None
    if not _WHEN.match(value):
        raise ValidationError(f"{field}: a date such as 2025-01-31 (or 2025-01-31 08:30), "
                              f"got {value!r}", field)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{field}: no such date, got {value!r}", field) from None
    if end and len(value) == 10:
        parsed = datetime.combine(parsed.date() + timedelta(days=1), time())
    return parsed.replace(tzinfo=zone)


def filters(zone: ZoneInfo, *, since: str | None = None, until: str | None = None,
            extension: str | None = None, employee: str | None = None,
            direction: str | None = None, outcome: str | None = None,
            limit: int = 200) -> Filters:
    """Filters from what a person typed (local dates in ``zone``); a bad value raises
    ValidationError naming its field."""
    ext = (extension or "").strip() or None
    if ext is not None and not (ext.isascii() and ext.isdigit() and len(ext) <= 15):
        raise ValidationError(f"extension: digits such as 101, got {ext!r}", "extension")
    person = (employee or "").strip() or None
    if person is not None and not (person.isascii() and person.isdigit()):
        raise ValidationError(f"employee: an employee id such as 12, got {person!r}",
                              "employee")
    for name, value, allowed in (("direction", direction, DIRECTIONS),
                                 ("outcome", outcome, OUTCOMES)):
        if value and value not in allowed:
            raise ValidationError(f"{name}: one of {', '.join(allowed)}, got {value!r}", name)
    return Filters(parse_when(since, zone, "since"), parse_when(until, zone, "until", True),
                   ext, int(person) if person else None, direction or None, outcome or None,
                   limit)


def _where(query: Select[Any], f: Filters) -> Select[Any]:
    h = call_history.c
    if f.since is not None:
        query = query.where(h.started_at >= f.since)
    if f.until is not None:
        query = query.where(h.started_at < f.until)
    if f.extension is not None:
        query = query.where(or_(and_(h.caller == f.extension,
                                     h.direction.in_(("internal", "outbound"))),
                                and_(h.callee == f.extension,
                                     h.direction.in_(("internal", "inbound"))),
                                h.answered_by == f.extension))
    if f.employee_id is not None:
        query = query.where(or_(h.caller_employee_id == f.employee_id,
                                h.callee_employee_id == f.employee_id,
                                h.answered_by_employee_id == f.employee_id))
    if f.direction is not None:
        query = query.where(h.direction == f.direction)
    if f.outcome is not None:
        query = query.where(h.outcome == f.outcome)
    return query


def query(store: Store, f: Filters) -> list[dict[str, Any]]:
    """The calls ``f`` selects, newest first, at most ``f.limit`` (times aware, UTC), each
    with its ``recording`` (the recording's id, or None)."""
    statement = _where(select(call_history, recordings.c.id.label("recording")).outerjoin(
        recordings, recordings.c.call_ref == call_history.c.ref), f).order_by(
        call_history.c.started_at.desc(), call_history.c.id.desc()).limit(f.limit)
    with store.read() as conn:
        return [dict(row._mapping) for row in conn.execute(statement)]


def as_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row for JSON: times in ISO 8601 UTC."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


def csv_text(rows: Iterable[Mapping[str, Any]], zone: ZoneInfo) -> str:
    """Rows as CSV (``COLUMNS``), times in ``zone`` as ``YYYY-MM-DD HH:MM:SS``."""
    def cell(value: Any) -> object:
        if isinstance(value, datetime):
            return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
        return value
    return csvio.write(COLUMNS, ([cell(row.get(c)) for c in COLUMNS] for row in rows))


def employees_seen(store: Store) -> list[tuple[int, str, str]]:
    """Every employee (dismissed ones too): id, name, status, for a filter's choices."""
    with store.read() as conn:
        rows = conn.execute(select(employees.c.id, employees.c.name, employees.c.status)
                            .order_by(employees.c.name, employees.c.id))
        return [(int(r.id), str(r.name), str(r.status)) for r in rows]


def live(store: Store, now: datetime | None = None) -> list[dict[str, Any]]:
    """The calls in progress as the daemon last published them, oldest first, each with the
    current holders' names of the extensions on it and its seconds so far."""
    now = now or utcnow()
    with store.read() as conn:
        rows = [dict(r._mapping) for r in conn.execute(
            select(live_calls).order_by(live_calls.c.started_at))]
        holders = {str(r.number): str(r.name) for r in conn.execute(
            select(extensions.c.number, employees.c.name)
            .join(employees, employees.c.id == extensions.c.employee_id))}
    for row in rows:
        inside_callee = row["direction"] in ("internal", "inbound")
        inside_caller = row["direction"] in ("internal", "outbound")
        row["caller_name"] = holders.get(row["caller"]) if inside_caller else None
        row["callee_name"] = holders.get(row["callee"]) if inside_callee else None
        row["seconds"] = max(0, int((now - row["started_at"]).total_seconds()))
    return rows


def request_hangup(store: Store, ref: str, actor: str) -> dict[str, Any]:
    """Ask the daemon to end the live call ``ref``: audited, and a ``call.hangup`` event in
    the same transaction; the call's live row. NotFoundError when no such call is live."""
    ref = ref.strip().lower()
    with store.write() as conn:
        row = conn.execute(select(live_calls).where(live_calls.c.ref == ref[:16])).first()
        if row is None:
            raise NotFoundError(f"call {ref[:16]!r}: no such call in progress", "ref")
        now = utcnow()
        journal.publish(conn, HANGUP_EVENT, {"ref": row.ref}, now)
        journal.record(conn, actor, "call.hangup", row.ref, {
            "caller": row.caller, "callee": row.callee, "state": row.state,
            "direction": row.direction}, now)
        return dict(row._mapping)
