"""Import employees or extensions from CSV rows: all or nothing, in one transaction.

Each row is carried out by the directory's own methods (so every rule applies and every
change is audited and published as usual), each in a savepoint, so a bad row is undone alone
and every row's error is reported. Nothing is kept when any row is bad, or on a dry run: the
transaction is then rolled back, audit rows and events included.

A row with an id (employees) or an existing number (extensions) changes what differs in the
columns the file has; a column the file leaves out is left alone. Moves of extensions happen
after every other change, frees before assignments, so two employees may swap extensions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from appliance.directory import Directory, rules
from appliance.directory.core import Clock, utcnow
from appliance.directory.csvio import (
    EMPLOYEE_COLUMNS,
    EXTENSION_COLUMNS,
    Problem,
    Row,
    parse,
    whole_number,
)
from appliance.directory.records import Employee, Extension
from appliance.errors import ConflictError, DirectoryError, NotFoundError, ValidationError
from appliance.store import Store
from appliance.store.bound import one_transaction

KINDS = {"employees": EMPLOYEE_COLUMNS, "extensions": EXTENSION_COLUMNS}


@dataclass(frozen=True)
class Change:
    """What one row did: ``action`` (added, updated, assigned, freed) to ``kind`` ``key``."""

    line: int
    kind: str  # employee | extension
    key: str
    action: str
    fields: tuple[str, ...] = ()
    label: str = ""  # an added employee's name, or the employee an extension went to

    def __str__(self) -> str:
        text = f"row {self.line}: {self.kind} {self.key} {self.action}"
        if self.fields:
            text += f" ({', '.join(self.fields)})"
        return text + (f": {self.label}" if self.label else "")


@dataclass
class Outcome:
    """The result of an import: changes made (or that would be made) and every problem."""

    kind: str
    dry_run: bool
    changes: list[Change] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def written(self) -> bool:
        """True when the changes were committed."""
        return not self.dry_run and not self.problems


def import_csv(store: Store, kind: str, text: str, actor: str, dry_run: bool,
               clock: Clock = utcnow) -> Outcome:
    """Import ``text`` (CSV of ``kind``: employees or extensions) as ``actor``."""
    if kind not in KINDS:
        raise ValidationError(f"kind: one of {', '.join(KINDS)}, got {kind!r}", "kind")
    outcome = Outcome(kind, dry_run)
    rows, outcome.problems = parse(text, KINDS[kind])
    if outcome.problems and not rows:
        return outcome
    with one_transaction(store, keep=lambda: outcome.written) as bound:
        run = _Run(Directory(bound, actor=actor, clock=clock), outcome)
        if kind == "employees":
            run.employees(rows)
        else:
            run.extensions(rows)
    outcome.problems.sort(key=lambda p: p.line)
    outcome.changes.sort(key=lambda c: c.line)
    return outcome


class _Run:
    """One import's steps over the bound directory."""

    def __init__(self, directory: Directory, outcome: Outcome) -> None:
        self.d = directory
        self.outcome = outcome
        self.frees: list[tuple[int, str]] = []  # (line, number)
        self.assigns: list[tuple[int, str, int]] = []  # (line, number, employee id)

    def step(self, line: int, work: Callable[[], Any]) -> bool:
        """Run one change; a broken rule becomes the row's problem (its savepoint undone)."""
        try:
            work()
        except DirectoryError as exc:
            self.outcome.problems.append(Problem(line, exc))
            return False
        return True

    def note(self, change: Change) -> None:
        self.outcome.changes.append(change)

    def moves(self) -> None:
        """Free, then assign, the extensions rows move."""
        for line, number in self.frees:
            self.step(line, partial(self._free, line, number))
        for line, number, employee_id in self.assigns:
            self.step(line, partial(self._assign, line, number, employee_id))

    def _free(self, line: int, number: str) -> None:
        self.d.unassign_extension(number)
        self.note(Change(line, "extension", number, "freed"))

    def _assign(self, line: int, number: str, employee_id: int) -> None:
        self.d.assign_extension(number, employee_id)
        self.note(Change(line, "extension", number, "assigned", label=f"employee {employee_id}"))

    # -- employees ---------------------------------------------------------------------------

    def employees(self, rows: list[Row]) -> None:
        seen: dict[int, int] = {}
        for row in rows:
            self.step(row.line, partial(self._employee, row, seen))
        self.moves()

    def _employee(self, row: Row, seen: dict[int, int]) -> None:
        v = row.values
        status = v.get("status", "").strip().lower()
        if v.get("id", "").strip():
            employee_id = whole_number(v["id"], "id")
            if employee_id in seen:
                raise ConflictError(f"id: employee {employee_id} is in row {seen[employee_id]} "
                                    "too", "id")
            seen[employee_id] = row.line
            current = self.d.get_employee(employee_id)
            if status and status != current.status:
                raise ConflictError("status: an import neither dismisses nor takes anyone back; "
                                    "dismiss on the Employees page or with 'employee dismiss'",
                                    "status")
            self._update_employee(row, current)
            held = current.extension
        else:
            if status not in ("", "active"):
                raise ValidationError("status: a new employee is active; leave it empty",
                                      "status")
            made = self.d.add_employee(v["name"], v.get("mobile") or None)
            self.note(Change(row.line, "employee", str(made.id), "added", label=made.name))
            employee_id, held = made.id, None
        if "extension" in v:
            wanted = (rules.extension_number(v["extension"], "extension")
                      if v["extension"].strip() else None)
            self._move(row.line, held, wanted, employee_id)

    def _update_employee(self, row: Row, current: Employee) -> None:
        v = row.values
        changes: dict[str, Any] = {}
        if rules.person_name(v["name"]) != current.name:
            changes["name"] = v["name"]
        if "mobile" in v and rules.mobile_number(v["mobile"]) != current.mobile:
            changes["mobile"] = v["mobile"]
        if changes:
            self.d.update_employee(current.id, **changes)
            self.note(Change(row.line, "employee", str(current.id), "updated",
                             tuple(sorted(changes))))

    def _move(self, line: int, held: str | None, wanted: str | None, employee_id: int) -> None:
        if wanted == held:
            return
        if held is not None:
            self.frees.append((line, held))
        if wanted is not None:
            self.assigns.append((line, wanted, employee_id))

    # -- extensions --------------------------------------------------------------------------

    def extensions(self, rows: list[Row]) -> None:
        seen: dict[str, int] = {}
        supervisors: list[tuple[int, str, str]] = []
        for row in rows:
            self.step(row.line, partial(self._extension, row, seen, supervisors))
        for line, number, supervisor in supervisors:
            self.step(line, partial(self._supervise, line, number, supervisor))
        self.moves()

    def _supervise(self, line: int, number: str, supervisor: str) -> None:
        self.d.update_extension(number, supervisor=supervisor)
        self.note(Change(line, "extension", number, "updated", ("supervisor",)))

    def _extension(self, row: Row, seen: dict[str, int],
                   supervisors: list[tuple[int, str, str]]) -> None:
        v = row.values
        number = rules.extension_number(v["number"])
        if number in seen:
            raise ConflictError(f"number: extension {number} is in row {seen[number]} too",
                                "number")
        seen[number] = row.line
        try:
            current: Extension | None = self.d.get_extension(number)
        except NotFoundError:
            current = None
        given = {k: v[k] for k in ("name", "permission", "receive", "group", "description")
                 if k in v}
        if current is None:
            fields: dict[str, Any] = {k: given.get(k) or None
                                      for k in ("name", "group", "description")}
            fields["permission"] = given.get("permission") or "internal"
            fields["receive"] = given.get("receive") or "both"
            self.d.add_extension(number, **fields)
            self.note(Change(row.line, "extension", number, "added"))
        else:
            changed = {k: val for k, val in given.items() if _normal(k, val) != _current(
                current, k)}
            if changed:
                self.d.update_extension(number, **changed)
                self.note(Change(row.line, "extension", number, "updated",
                                 tuple(sorted(changed))))
        if "supervisor" in v:
            wanted = (rules.extension_number(v["supervisor"], "supervisor")
                      if v["supervisor"].strip() else None)
            if wanted != (current.supervisor if current else None):
                supervisors.append((row.line, number, wanted or ""))
        if "employee_id" in v:
            employee = (whole_number(v["employee_id"], "employee_id")
                        if v["employee_id"].strip() else None)
            held = current.employee_id if current else None
            if employee != held:
                if held is not None:
                    self.frees.append((row.line, number))
                if employee is not None:
                    self.assigns.append((row.line, number, employee))


NORMALISE: dict[str, Callable[[str], str | None]] = {
    "name": rules.memorable_name,
    "permission": rules.permission,
    "receive": rules.receive_method,
    "group": rules.group_name,
    "description": rules.description,
}


def _normal(key: str, value: str) -> str | None:
    return NORMALISE[key](value)


def _current(ext: Extension, key: str) -> str | None:
    value: str | None = getattr(ext, key)
    return value
