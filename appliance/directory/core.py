"""Shared machinery of the directory: clock, actor, row mapping, audit-and-event writes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, func, insert, select

from appliance.directory import credentials, rules
from appliance.directory.records import Employee, Extension
from appliance.errors import ConflictError, NotFoundError
from appliance.store import Store, journal
from appliance.store.provisioning_tables import phone_uploads
from appliance.store.tables import employees, extensions, password_history, phones

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def sha256_hex(text: str) -> str:
    """The SHA-256 of ``text`` in hex: what the store keeps instead of a secret (password
    history, setup token, web session tokens)."""
    return hashlib.sha256(text.encode()).hexdigest()


class DirectoryBase:
    """State and helpers shared by the directory's parts."""

    def __init__(self, store: Store, actor: str = "system", clock: Clock = utcnow) -> None:
        self.store = store
        self.actor = actor
        self.clock = clock

    def _log(
        self, conn: Connection, action: str, target: str, detail: dict[str, Any], now: datetime
    ) -> None:
        """Audit the change and publish it as an event, in the same transaction."""
        journal.record(conn, self.actor, action, target, detail, now)
        journal.publish(conn, action, {"target": target, **detail}, now)

    @staticmethod
    def _employee(conn: Connection, employee_id: int) -> Employee:
        row = conn.execute(select(employees).where(employees.c.id == employee_id)).first()
        if row is None:
            raise NotFoundError(f"employee {employee_id} does not exist", "employee")
        ext = conn.execute(
            select(extensions.c.number).where(extensions.c.employee_id == employee_id)
        ).scalar()
        return Employee(**row._asdict(), extension=ext)

    @staticmethod
    def _extension(conn: Connection, number: str) -> Extension:
        row = conn.execute(select(extensions).where(extensions.c.number == number)).first()
        if row is None:
            raise NotFoundError(f"extension {number} does not exist", "number")
        return extension_record(row)

    @staticmethod
    def _fresh_password(conn: Connection, chosen: str | None = None) -> str:
        """A password never used before: ``chosen`` if new, else a random one."""
        candidate = rules.chosen_password(chosen) if chosen is not None else rules.new_password()
        for _ in range(8):
            used = conn.execute(
                select(func.count()).select_from(password_history)
                .where(password_history.c.digest == sha256_hex(candidate))
            ).scalar_one()
            current = conn.execute(
                select(func.count()).select_from(extensions)
                .where(extensions.c.sip_password == candidate)
            ).scalar_one()
            if not used and not current:
                return candidate
            if chosen is not None:
                raise ConflictError("password: this password was used before; choose another",
                                    "password")
            candidate = rules.new_password()
        raise ConflictError("password: could not find an unused password")  # pragma: no cover

    def _rotate(
        self, conn: Connection, number: str, now: datetime, chosen: str | None = None
    ) -> None:
        """Retire the extension's password into the history (and its digest HA1s, so a
        device still using it is known as stale) and set a fresh one."""
        username, old = conn.execute(
            select(extensions.c.sip_username, extensions.c.sip_password)
            .where(extensions.c.number == number)
        ).one()
        new = self._fresh_password(conn, chosen)
        conn.execute(
            insert(password_history).values(
                digest=sha256_hex(old), extension=number, retired_at=now
            )
        )
        credentials.retire(conn, number, username, old, now)
        conn.execute(
            extensions.update().where(extensions.c.number == number)
            .values(sip_password=new, password_changed_at=now)
        )

    def _free(self, conn: Connection, number: str, reason: str, now: datetime) -> list[str]:
        """Unassign an extension, rotate its password, disable its phones; return their MACs."""
        employee_id = conn.execute(
            select(extensions.c.employee_id).where(extensions.c.number == number)
        ).scalar()
        macs = list(conn.execute(
            select(phones.c.mac).where(phones.c.extension == number).order_by(phones.c.mac)
        ).scalars())
        conn.execute(
            extensions.update().where(extensions.c.number == number).values(employee_id=None)
        )
        self._rotate(conn, number, now)
        if macs:
            conn.execute(
                phones.update().where(phones.c.mac.in_(macs))
                .values(state="disabled", extension=None)
            )
            forget_uploads(conn, macs)
        self._log(conn, "extension.freed", number,
                  {"employee_id": employee_id, "phones": macs, "reason": reason}, now)
        return macs


def forget_uploads(conn: Connection, macs: list[str]) -> None:
    """Drop what these phones uploaded (Polycom overrides, call lists): they held the
    previous holder's settings and are served back to the phone at its next boot."""
    conn.execute(phone_uploads.delete().where(phone_uploads.c.mac.in_(macs)))


def extension_record(row: Row[Any]) -> Extension:
    """Map an ``extensions`` row to its record."""
    data = row._asdict()
    data["group"] = data.pop("number_group")
    return Extension(**data)
