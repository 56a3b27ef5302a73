"""Employees and extensions: every rule enforced here, whatever the caller."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from sqlalchemy import Connection, insert, select

from appliance.directory import plan_rules as pr
from appliance.directory import rules
from appliance.directory.connections import connection_id
from appliance.directory.core import DirectoryBase, extension_record
from appliance.directory.records import Dismissal, Employee, Extension
from appliance.errors import ConflictError, NotFoundError, ValidationError
from appliance.store import journal
from appliance.store.tables import employees, extensions


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()


class PeopleMixin(DirectoryBase):
    """Employees, extensions and dismissal."""

    # -- employees ---------------------------------------------------------------------------

    def add_employee(self, name: str, mobile: str | None = None) -> Employee:
        """Create an active employee; return it."""
        clean_name, clean_mobile = rules.person_name(name), rules.mobile_number(mobile)
        now = self.clock()
        with self.store.write() as conn:
            result = conn.execute(insert(employees).values(
                name=clean_name, mobile=clean_mobile, status="active", created_at=now
            ))
            key = result.inserted_primary_key
            assert key is not None
            employee_id = int(key[0])
            self._log(conn, "employee.added", str(employee_id),
                      {"employee_id": employee_id}, now)
            return self._employee(conn, employee_id)

    def update_employee(
        self, employee_id: int, name: str | _Unset = UNSET, mobile: str | _Unset | None = UNSET
    ) -> Employee:
        """Change an active employee's name or mobile number."""
        values: dict[str, Any] = {}
        if not isinstance(name, _Unset):
            values["name"] = rules.person_name(name)
        if not isinstance(mobile, _Unset):
            values["mobile"] = rules.mobile_number(mobile)
        now = self.clock()
        with self.store.write() as conn:
            current = self._employee(conn, employee_id)
            if current.status != "active":
                raise ConflictError(f"employee {employee_id} is dismissed and cannot be changed")
            if "mobile" in values and values["mobile"] is None and current.extension:
                ext = self._extension(conn, current.extension)
                if ext.receive == "mobile":
                    raise ConflictError(
                        f"mobile: extension {ext.number} sends calls to this mobile number; "
                        "change its receive method first", "mobile")
            if values:
                conn.execute(employees.update().where(employees.c.id == employee_id)
                             .values(**values))
                self._log(conn, "employee.updated", str(employee_id),
                          {"employee_id": employee_id, "fields": sorted(values)}, now)
            return self._employee(conn, employee_id)

    def get_employee(self, employee_id: int) -> Employee:
        """One employee, with the extension they hold."""
        with self.store.read() as conn:
            return self._employee(conn, employee_id)

    def list_employees(self, status: str | None = None) -> list[Employee]:
        """Employees by id, optionally only ``active`` or ``dismissed`` ones."""
        query = select(employees, extensions.c.number.label("extension")).outerjoin(
            extensions, extensions.c.employee_id == employees.c.id
        ).order_by(employees.c.id)
        if status is not None:
            query = query.where(employees.c.status == rules.choice(
                status, ("active", "dismissed"), "status"))
        with self.store.read() as conn:
            return [Employee(**row._asdict()) for row in conn.execute(query)]

    def dismiss(self, employee_id: int) -> Dismissal:
        """Dismiss in one transaction: employee kept as dismissed, extension freed with a new
        password, phones disabled; events published with the change."""
        now = self.clock()
        with self.store.write() as conn:
            employee = self._employee(conn, employee_id)
            if employee.status == "dismissed":
                raise ConflictError(f"employee {employee_id} is already dismissed")
            macs: list[str] = []
            if employee.extension is not None:
                macs = self._free(conn, employee.extension, "dismissed", now)
            conn.execute(employees.update().where(employees.c.id == employee_id)
                         .values(status="dismissed", dismissed_at=now))
            self._log(conn, "employee.dismissed", str(employee_id), {
                "employee_id": employee_id, "extension": employee.extension, "phones": macs,
            }, now)
            return Dismissal(self._employee(conn, employee_id), employee.extension, tuple(macs))

    # -- extensions --------------------------------------------------------------------------

    def add_extension(
        self,
        number: str,
        name: str | None = None,
        permission: str = "internal",
        receive: str = "both",
        supervisor: str | None = None,
        group: str | None = None,
        description: str | None = None,
    ) -> Extension:
        """Create a free extension with a fresh random SIP password."""
        clean = rules.new_extension_number(number)
        values = self._extension_values(
            clean, name=name, permission=permission, receive=receive, supervisor=supervisor,
            group=group, description=description)
        now = self.clock()
        with self.store.write() as conn:
            if conn.execute(select(extensions.c.number)
                            .where(extensions.c.number == clean)).first():
                raise ConflictError(f"number: extension {clean} already exists", "number")
            self._check_references(conn, clean, values, employee_id=None)
            conn.execute(insert(extensions).values(
                number=clean, sip_username=clean, sip_password=self._fresh_password(conn),
                password_changed_at=now, created_at=now, **values))
            self._log(conn, "extension.added", clean, {"number": clean}, now)
            return self._extension(conn, clean)

    def update_extension(self, number: str, **changes: Any) -> Extension:
        """Change any of name, permission, receive, supervisor, group, description,
        no_answer, no_answer_connection (a connection's name), ring_timeout."""
        clean = rules.extension_number(number)
        values = self._extension_values(clean, **changes)
        now = self.clock()
        with self.store.write() as conn:
            current = self._extension(conn, clean)
            self._check_references(conn, clean, values, current.employee_id)
            if values:
                conn.execute(extensions.update().where(extensions.c.number == clean)
                             .values(**values))
                self._log(conn, "extension.updated", clean,
                          {"number": clean, "fields": sorted(values)}, now)
            return self._extension(conn, clean)

    def get_extension(self, number: str) -> Extension:
        """One extension, with its SIP credentials."""
        with self.store.read() as conn:
            return self._extension(conn, rules.extension_number(number))

    def list_extensions(self) -> list[Extension]:
        """Every extension, by number."""
        with self.store.read() as conn:
            rows = conn.execute(select(extensions).order_by(extensions.c.number))
            return [extension_record(row) for row in rows]

    def log_credentials_shown(self, number: str) -> None:
        """Audit that someone was shown an extension's SIP credentials."""
        clean = rules.extension_number(number)
        with self.store.write() as conn:
            self._extension(conn, clean)
            journal.record(conn, self.actor, "extension.credentials_shown", clean,
                           {"number": clean}, self.clock())

    def set_password(self, number: str, password: str | None = None) -> Extension:
        """Give the extension ``password`` (or a random one); an old password is refused."""
        clean = rules.extension_number(number)
        now = self.clock()
        with self.store.write() as conn:
            self._extension(conn, clean)
            self._rotate(conn, clean, now, password)
            self._log(conn, "extension.password_changed", clean,
                      {"number": clean, "generated": password is None}, now)
            return self._extension(conn, clean)

    def assign_extension(self, number: str, employee_id: int) -> Extension:
        """Give a free extension to an active employee, with a new password."""
        clean = rules.extension_number(number)
        now = self.clock()
        with self.store.write() as conn:
            ext = self._extension(conn, clean)
            employee = self._employee(conn, employee_id)
            if employee.status != "active":
                raise ConflictError(f"employee {employee_id} is dismissed and cannot be assigned",
                                    "employee")
            if ext.employee_id == employee_id:
                raise ConflictError(f"extension {clean} is already assigned to this employee")
            if ext.employee_id is not None:
                raise ConflictError(
                    f"extension {clean} belongs to employee {ext.employee_id}; unassign it first",
                    "number")
            if employee.extension is not None:
                raise ConflictError(
                    f"employee {employee_id} already has extension {employee.extension}",
                    "employee")
            if ext.receive == "mobile" and not employee.mobile:
                raise ConflictError(
                    f"extension {clean} sends calls to a mobile number and employee "
                    f"{employee_id} has none", "employee")
            conn.execute(extensions.update().where(extensions.c.number == clean)
                         .values(employee_id=employee_id))
            self._rotate(conn, clean, now)
            self._log(conn, "extension.assigned", clean,
                      {"number": clean, "employee_id": employee_id}, now)
            return self._extension(conn, clean)

    def unassign_extension(self, number: str) -> Extension:
        """Free an extension: unassigned, new password, its phones disabled."""
        clean = rules.extension_number(number)
        now = self.clock()
        with self.store.write() as conn:
            if self._extension(conn, clean).employee_id is None:
                raise ConflictError(f"extension {clean} is already free", "number")
            self._free(conn, clean, "unassigned", now)
            return self._extension(conn, clean)

    # -- checks ------------------------------------------------------------------------------

    @staticmethod
    def _extension_values(number: str, **fields: Any) -> dict[str, Any]:
        """Validate the editable extension fields that were given."""
        checks: dict[str, Callable[[Any], str | int | None]] = {
            "name": rules.memorable_name,
            "permission": rules.permission,
            "receive": rules.receive_method,
            "group": rules.group_name,
            "description": rules.description,
            "supervisor": lambda v: None if v in (None, "") else rules.extension_number(
                v, "supervisor"),
            "no_answer": rules.extension_no_answer,
            "ring_timeout": lambda v: None if v in (None, "") else pr.whole(
                v, "ring_timeout", *pr.RING_TIMEOUT),
            # a name, made an id by ``_check_references``
            "no_answer_connection": lambda v: None if v in (None, "") else str(v),
        }
        unknown = set(fields) - set(checks)
        if unknown:
            raise ValidationError(f"unknown extension field: {', '.join(sorted(unknown))}")
        values = {key: checks[key](value) for key, value in fields.items()}
        if values.get("supervisor") == number:
            raise ValidationError("supervisor: an extension cannot supervise itself",
                                  "supervisor")
        if "group" in values:
            values["number_group"] = values.pop("group")
        return values

    def _check_references(
        self, conn: Connection, number: str, values: dict[str, Any], employee_id: int | None
    ) -> None:
        """Supervisor exists, name is free, mobile receive has a mobile number, the no-answer
        connection exists (its name becomes its id)."""
        if values.get("no_answer_connection") is not None:
            values["no_answer_connection"] = connection_id(
                conn, values["no_answer_connection"], "no_answer_connection")
        supervisor = values.get("supervisor")
        if supervisor is not None and not conn.execute(
                select(extensions.c.number).where(extensions.c.number == supervisor)).first():
            raise NotFoundError(f"supervisor: extension {supervisor} does not exist",
                                "supervisor")
        name = values.get("name")
        if name is not None:
            holder = conn.execute(select(extensions.c.number).where(
                extensions.c.name == name, extensions.c.number != number)).scalar()
            if holder is not None:
                raise ConflictError(f"name: {name!r} is already extension {holder}'s name",
                                    "name")
        if values.get("receive") == "mobile":
            mobile = None if employee_id is None else self._employee(conn, employee_id).mobile
            if employee_id is not None and not mobile:
                raise ConflictError(
                    f"receive: employee {employee_id} has no mobile number to send calls to",
                    "receive")
