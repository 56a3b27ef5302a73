"""Working hours and holidays, the contacts map and presence over the store, CSV import of
contacts and holidays (all or nothing, dry run), and ``CallPlanDirectory``: the call plan's
part of the directory (connections, numbers, queues, IVR menus, hours, contacts, presence),
with ``routing()``, everything an inbound plan reads in one snapshot.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from functools import partial

from sqlalchemy import Connection as Db
from sqlalchemy import delete, insert, select

from appliance.callplan.inbound import Routing
from appliance.callplan.model import (
    OVERRIDES,
    PRESENCE_STATES,
    Contact,
    DirectoryView,
    ExtensionView,
    Holiday,
    Presence,
    PresenceState,
    WeeklyRange,
    WorkingHours,
)
from appliance.callplan.numbers import VIETNAM, NumberPlan
from appliance.directory import csvio, rules
from appliance.directory import plan_rules as pr
from appliance.directory.core import Clock, DirectoryBase, utcnow
from appliance.directory.importer import Change, Outcome
from appliance.directory.menus import MenusMixin, read_menus
from appliance.errors import ConflictError, DirectoryError, NotFoundError, ValidationError
from appliance.store import Store
from appliance.store.bound import one_transaction
from appliance.store.callplan_tables import contacts, holidays, numbers, presence, working_hours
from appliance.store.tables import employees, extensions
from appliance.store.voicemail_tables import voicemail_boxes

CONTACT_COLUMNS = ("number", "employee_id", "extension", "name")
HOLIDAY_COLUMNS = ("first", "last", "name")
# csvio.parse names the column each file kind needs by its column tuple.
csvio.REQUIRED.setdefault(CONTACT_COLUMNS, "number")
csvio.REQUIRED.setdefault(HOLIDAY_COLUMNS, "first")


class OfficeMixin(DirectoryBase):
    """Working hours, holidays, contacts and presence."""

    # -- working hours -----------------------------------------------------------------------

    @staticmethod
    def _hours(db: Db, name: str) -> WorkingHours:
        row = db.execute(select(working_hours).where(working_hours.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"hours: no working hours named {name!r}", "hours")
        days = tuple(Holiday(h.first, h.last, h.name) for h in db.execute(
            select(holidays).where(holidays.c.hours == name)
            .order_by(holidays.c.first, holidays.c.id)))
        return WorkingHours(row.name, row.zone, tuple(WeeklyRange(s, e) for s, e in row.weekly),
                            days, row.override)

    def get_hours(self, name: str) -> WorkingHours:
        """One schedule, with its holidays."""
        with self.store.read() as db:
            return self._hours(db, pr.name(name, "hours"))

    def list_hours(self) -> list[WorkingHours]:
        """Every schedule, by name."""
        with self.store.read() as db:
            names = db.execute(select(working_hours.c.name).order_by(working_hours.c.name))
            return [self._hours(db, n) for n in names.scalars()]

    def set_hours(self, name: str, zone: str, weekly: Sequence[str] = (),
                  override: str = "auto") -> WorkingHours:
        """Create or replace a schedule's zone, weekly ranges and override (holidays kept)."""
        clean = pr.name(name, "hours")
        values = {"zone": pr.zone(zone), "weekly": [list(r) for r in pr.weekly(weekly)],
                  "override": pr.choice(override, OVERRIDES, "override")}
        now = self.clock()
        with self.store.write() as db:
            exists = db.execute(select(working_hours.c.name)
                                .where(working_hours.c.name == clean)).first()
            if exists:
                db.execute(working_hours.update().where(working_hours.c.name == clean)
                           .values(**values))
            else:
                db.execute(insert(working_hours).values(name=clean, **values))
            self._log(db, "hours.set", clean, {"hours": clean, "zone": values["zone"],
                                               "override": values["override"]}, now)
            return self._hours(db, clean)

    def set_override(self, name: str, override: str) -> WorkingHours:
        """Open or close a schedule by hand (``open``, ``closed``), or back to ``auto``."""
        clean = pr.name(name, "hours")
        value = pr.choice(override, OVERRIDES, "override")
        now = self.clock()
        with self.store.write() as db:
            self._hours(db, clean)
            db.execute(working_hours.update().where(working_hours.c.name == clean)
                       .values(override=value))
            self._log(db, "hours.override", clean, {"hours": clean, "override": value}, now)
            return self._hours(db, clean)

    def remove_hours(self, name: str) -> None:
        """Delete a schedule and its holidays; refused while a number follows it."""
        clean = pr.name(name, "hours")
        now = self.clock()
        with self.store.write() as db:
            self._hours(db, clean)
            users = list(db.execute(select(numbers.c.did).where(numbers.c.hours == clean))
                         .scalars())
            if users:
                raise ConflictError(f"hours: {', '.join(users)} follow {clean!r}; "
                                    "change those first", "hours")
            db.execute(delete(holidays).where(holidays.c.hours == clean))
            db.execute(delete(working_hours).where(working_hours.c.name == clean))
            self._log(db, "hours.removed", clean, {"hours": clean}, now)

    def add_holiday(self, hours: str, first: date | str, last: date | str | None = None,
                    name: str = "") -> Holiday:
        """Close a schedule from ``first`` to ``last`` (inclusive; one day without ``last``)."""
        clean = pr.name(hours, "hours")
        start, end = pr.holiday_range(first, last)
        label = pr.text(name, "name", 100)
        now = self.clock()
        with self.store.write() as db:
            self._hours(db, clean)
            db.execute(insert(holidays).values(hours=clean, first=start, last=end, name=label))
            self._log(db, "holiday.added", clean, {"hours": clean, "first": start.isoformat(),
                                                   "last": end.isoformat()}, now)
            return Holiday(start, end, label)

    def remove_holiday(self, hours: str, first: date | str) -> None:
        """Remove the schedule's holidays that start on ``first``."""
        clean = pr.name(hours, "hours")
        start = pr.day(first, "first")
        now = self.clock()
        with self.store.write() as db:
            gone = db.execute(delete(holidays).where(holidays.c.hours == clean,
                                                     holidays.c.first == start)).rowcount
            if not gone:
                raise NotFoundError(f"first: {clean!r} has no holiday from {start}", "first")
            self._log(db, "holiday.removed", clean,
                      {"hours": clean, "first": start.isoformat()}, now)

    # -- contacts and presence ---------------------------------------------------------------

    def _active_employee(self, db: Db, employee_id: int | str) -> int:
        key = pr.whole(employee_id, "employee_id", 1, 2**31 - 1)
        employee = self._employee(db, key)
        if employee.status != "active":
            raise ConflictError(f"employee_id: employee {key} is dismissed", "employee_id")
        return key

    def set_contact(self, number: str, employee_id: int | str, name: str = "") -> Contact:
        """Send calls from ``number`` to the employee responsible for that caller."""
        clean = pr.phone_number(number, "number")
        label = pr.text(name, "name", 100)
        now = self.clock()
        with self.store.write() as db:
            key = self._active_employee(db, employee_id)
            db.execute(delete(contacts).where(contacts.c.number == clean))
            db.execute(insert(contacts).values(number=clean, employee_id=key, name=label))
            self._log(db, "contact.set", clean,
                      {"number": clean, "employee_id": key}, now)
            return Contact(clean, key, label)

    def remove_contact(self, number: str) -> None:
        """Forget a caller."""
        clean = pr.phone_number(number, "number")
        now = self.clock()
        with self.store.write() as db:
            if not db.execute(delete(contacts).where(contacts.c.number == clean)).rowcount:
                raise NotFoundError(f"number: {clean} is not in the contacts map", "number")
            self._log(db, "contact.removed", clean, {"number": clean}, now)

    def list_contacts(self) -> list[Contact]:
        """The contacts map, by number."""
        with self.store.read() as db:
            return [Contact(r.number, r.employee_id, r.name) for r in db.execute(
                select(contacts).order_by(contacts.c.number))]

    def set_presence(self, employee_id: int | str, state: str) -> Presence:
        """Set an active employee's presence: ``working``, ``on_break`` or ``off``."""
        value: PresenceState = pr.choice(state, PRESENCE_STATES, "state")
        now = self.clock()
        with self.store.write() as db:
            key = self._active_employee(db, employee_id)
            db.execute(delete(presence).where(presence.c.employee_id == key))
            db.execute(insert(presence).values(employee_id=key, state=value, since=now))
            self._log(db, "presence.set", str(key), {"employee_id": key, "state": value}, now)
            return Presence(key, value, now)

    def list_presence(self) -> list[Presence]:
        """Every recorded presence (an employee with none counts as working)."""
        with self.store.read() as db:
            return [Presence(r.employee_id, r.state, r.since) for r in db.execute(
                select(presence).order_by(presence.c.employee_id))]


class CallPlanDirectory(MenusMixin, OfficeMixin):
    """The call plan's part of the directory over one store, acting as ``actor``."""

    def directory_view(self) -> DirectoryView:
        """Every extension with its holder's state, receive method and mobile."""
        query = select(extensions.c.number, extensions.c.employee_id, extensions.c.receive,
                       extensions.c.no_answer, extensions.c.no_answer_connection,
                       extensions.c.ring_timeout, employees.c.status,
                       employees.c.mobile, voicemail_boxes.c.enabled).outerjoin(
            employees, employees.c.id == extensions.c.employee_id).outerjoin(
            voicemail_boxes, voicemail_boxes.c.employee_id == extensions.c.employee_id)
        with self.store.read() as db:
            return DirectoryView({row.number: ExtensionView(
                row.number, row.employee_id, row.status == "active", row.receive, row.mobile,
                row.no_answer, row.no_answer_connection, row.ring_timeout,
                row.enabled is not False)  # no box row: the default box, enabled
                for row in db.execute(query)})

    def routing(self, numbering: NumberPlan = VIETNAM) -> Routing:
        """Everything ``callplan.inbound.plan`` reads, from one read of the store (the engine
        adds its live ``CallState`` with ``dataclasses.replace``)."""
        view = self.directory_view()
        with self.store.read() as db:
            names = db.execute(select(working_hours.c.name)).scalars().all()
            return Routing(
                connections={c.id: c for c in self._connections(db)},
                numbers={n.did: n for n in self._numbers(db)},
                queues={q.name: q for q in self._queues(db)},
                menus={m.name: m for m in read_menus(db)},
                hours={name: self._hours(db, name) for name in names},
                directory=view,
                presence={r.employee_id: r.state for r in db.execute(select(presence))},
                contacts={r.number: r.employee_id for r in db.execute(select(contacts))},
                numbering=numbering,
            )

    def extension_holder(self, number: str) -> int | None:
        """The id of the employee holding extension ``number`` (None: free)."""
        clean = rules.extension_number(number, "extension")
        with self.store.read() as db:
            if not db.execute(select(extensions.c.number)
                              .where(extensions.c.number == clean)).first():
                raise NotFoundError(f"extension: no extension {clean}", "extension")
            return db.execute(select(extensions.c.employee_id)
                              .where(extensions.c.number == clean)).scalar()


def import_contacts(store: Store, text: str, actor: str, dry_run: bool,
                    clock: Clock = utcnow) -> Outcome:
    """Import the contacts map from CSV (number, employee_id or extension, name): every row
    set as ``set_contact`` does, all or nothing."""
    outcome = Outcome("contacts", dry_run)
    rows, outcome.problems = csvio.parse(text, CONTACT_COLUMNS)
    if outcome.problems and not rows:
        return outcome
    with one_transaction(store, keep=lambda: outcome.written) as bound:
        plan = CallPlanDirectory(bound, actor=actor, clock=clock)
        for row in rows:
            _row(outcome, row.line, partial(_contact, plan, outcome, row))
    return outcome


def _contact(plan: CallPlanDirectory, outcome: Outcome, row: csvio.Row) -> None:
    values = row.values
    employee: int | str = values.get("employee_id", "").strip()
    ext = values.get("extension", "").strip()
    if not employee and ext:
        holder = plan.extension_holder(ext)
        if holder is None:
            raise ConflictError(f"extension: {ext} is free", "extension")
        employee = holder
    if not employee:
        raise ValidationError("employee_id: give the employee's id or extension",
                              "employee_id")
    contact = plan.set_contact(values["number"], employee, values.get("name", ""))
    outcome.changes.append(Change(row.line, "contact", contact.number, "set",
                                  label=f"employee {contact.employee_id}"))


def import_holidays(store: Store, hours: str, text: str, actor: str, dry_run: bool,
                    clock: Clock = utcnow) -> Outcome:
    """Import holidays (first, last, name) into schedule ``hours``, all or nothing."""
    outcome = Outcome("holidays", dry_run)
    rows, outcome.problems = csvio.parse(text, HOLIDAY_COLUMNS)
    if outcome.problems and not rows:
        return outcome
    with one_transaction(store, keep=lambda: outcome.written) as bound:
        plan = CallPlanDirectory(bound, actor=actor, clock=clock)
        for row in rows:
            _row(outcome, row.line, partial(_holiday, plan, outcome, hours, row))
    return outcome


def _holiday(plan: CallPlanDirectory, outcome: Outcome, hours: str, row: csvio.Row) -> None:
    v = row.values
    day = plan.add_holiday(hours, v["first"], v.get("last") or None, v.get("name", ""))
    outcome.changes.append(Change(row.line, "holiday", day.first.isoformat(), "added",
                                  label=day.name))


def _row(outcome: Outcome, line: int, work: partial[None]) -> None:
    try:
        work()
    except DirectoryError as exc:
        outcome.problems.append(csvio.Problem(line, exc))
