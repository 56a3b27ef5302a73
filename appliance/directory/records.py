"""The directory's records: plain frozen dataclasses read from the store."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in data.items()}


@dataclass(frozen=True)
class Employee:
    """A person; kept after dismissal, with history."""

    id: int
    name: str
    mobile: str | None
    status: str
    created_at: datetime
    dismissed_at: datetime | None
    extension: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return _jsonable(asdict(self))


@dataclass(frozen=True)
class Extension:
    """An extension number with its SIP account; free when ``employee_id`` is None."""

    number: str
    name: str | None
    permission: str
    supervisor: str | None
    group: str | None
    description: str | None
    receive: str
    employee_id: int | None
    sip_username: str
    sip_password: str
    password_changed_at: datetime
    created_at: datetime
    no_answer: str = "number"
    no_answer_connection: int | None = None
    ring_timeout: int | None = None

    def to_dict(self, with_secret: bool = False) -> dict[str, Any]:
        """A JSON-ready view; the SIP password only when ``with_secret``."""
        data = _jsonable(asdict(self))
        if not with_secret:
            del data["sip_password"]
        return data


@dataclass(frozen=True)
class Sighting:
    """One way a phone was seen."""

    method: str
    ip: str | None
    first_seen: datetime
    last_seen: datetime
    detail: str | None


@dataclass(frozen=True)
class Phone:
    """A desk phone in the inventory, keyed by its normalised MAC."""

    mac: str
    vendor: str | None
    model: str | None
    firmware: str | None
    ip: str | None
    first_seen: datetime
    last_seen: datetime
    discovered_by: str
    extension: str | None
    state: str
    sightings: tuple[Sighting, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        data = _jsonable({k: v for k, v in asdict(self).items() if k != "sightings"})
        data["sightings"] = [_jsonable(asdict(s)) for s in self.sightings]
        return data


@dataclass(frozen=True)
class AuditEntry:
    """Who changed what, and when."""

    id: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return _jsonable(asdict(self))


@dataclass(frozen=True)
class Dismissal:
    """What a dismissal did."""

    employee: Employee
    extension: str | None
    phones: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "employee": self.employee.to_dict(),
            "extension": self.extension,
            "phones_disabled": list(self.phones),
        }
