"""What a phone should get, read from the store in one query; sightings written behind."""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, insert, select

from appliance.directory import Directory
from appliance.errors import ApplianceError
from appliance.store import Store
from appliance.store.provisioning_tables import provisioning_devices
from appliance.store.tables import employees, extensions, phone_secrets, phones

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PhoneView:
    """A phone as provisioning sees it: state, identity, and the account it should carry."""

    mac: str
    state: str
    vendor: str | None
    model: str | None
    firmware: str | None
    ip: str | None
    extension: str | None
    sip_username: str | None
    sip_password: str | None
    extension_name: str | None
    employee_name: str | None
    employee_status: str | None
    enrolled: bool
    admin_password: str | None = None  # the phone's own, set by its files
    prov_password: str | None = None  # its HTTP provisioning password (user = its MAC)

    @property
    def active(self) -> bool:
        """True when the phone should carry its extension's account."""
        return (self.state == "assigned" and self.extension is not None
                and self.sip_password is not None and self.employee_status == "active")


# Built once: a boot storm reads it for every per-MAC file (SQLAlchemy memoises the
# statement's cache key on the object, so a fresh select per call costs as much again).
_PHONE_VIEW = (
    select(phones.c.mac, phones.c.state, phones.c.vendor, phones.c.model, phones.c.firmware,
           phones.c.ip, phones.c.extension, extensions.c.sip_username,
           extensions.c.sip_password, extensions.c.name.label("extension_name"),
           employees.c.name.label("employee_name"),
           employees.c.status.label("employee_status"),
           provisioning_devices.c.enrolled_at, phone_secrets.c.admin_password,
           phone_secrets.c.prov_password)
    .select_from(phones)
    .outerjoin(extensions, extensions.c.number == phones.c.extension)
    .outerjoin(employees, employees.c.id == extensions.c.employee_id)
    .outerjoin(provisioning_devices, provisioning_devices.c.mac == phones.c.mac)
    .outerjoin(phone_secrets, phone_secrets.c.mac == phones.c.mac)
    .where(phones.c.mac == bindparam("mac")))
_DEVICE_PASSWORD = select(phone_secrets.c.prov_password).where(
    phone_secrets.c.mac == bindparam("mac"))


def phone_view(store: Store, mac: str) -> PhoneView | None:
    """The phone of ``mac`` joined with its extension and employee, or None if unknown."""
    with store.read() as conn:
        row = conn.execute(_PHONE_VIEW, {"mac": mac}).first()
    if row is None:
        return None
    data = row._asdict()
    data["enrolled"] = data.pop("enrolled_at") is not None
    return PhoneView(**data)


def device_password(store: Store, mac: str) -> str | None:
    """The HTTP provisioning password of phone ``mac``, or None for an unknown phone."""
    with store.read() as conn:
        value = conn.execute(_DEVICE_PASSWORD, {"mac": mac}).scalar()
    return str(value) if value is not None else None


def enroll(store: Store, mac: str, now: datetime) -> None:
    """Mark ``mac`` as holding its HTTP credentials (digest auth required from now on)."""
    with store.write() as conn:
        if conn.execute(select(phones.c.mac).where(phones.c.mac == mac)).first() is None:
            return
        if conn.execute(select(provisioning_devices.c.mac)
                        .where(provisioning_devices.c.mac == mac)).first() is None:
            conn.execute(insert(provisioning_devices).values(mac=mac, enrolled_at=now))


def unenroll(store: Store, mac: str) -> None:
    """Forget ``mac``'s enrollment (it is handed fresh credentials at its next fetch)."""
    with store.write() as conn:
        conn.execute(provisioning_devices.delete().where(provisioning_devices.c.mac == mac))


@dataclass(frozen=True)
class SightingNote:
    """One fetch to merge into the inventory."""

    mac: str
    method: str
    ip: str | None
    vendor: str | None
    model: str | None
    firmware: str | None
    detail: str


class SightingWriter:
    """Merges fetches into the inventory from a thread of its own, coalescing repeats."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory
        self._queue: queue.Queue[SightingNote | None] = queue.Queue(maxsize=100_000)
        self._thread = threading.Thread(target=self._run, name="provisioning-sightings",
                                        daemon=True)
        self._idle = threading.Event()
        self._idle.set()

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    def note(self, item: SightingNote) -> None:
        """Queue a sighting (dropped, with a warning, if the queue is full)."""
        self._idle.clear()
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            log.warning("sighting queue full; dropped a sighting of %s", item.mac)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            batch = [first]
            while not self._queue.empty() and len(batch) < 1000:
                batch.append(self._queue.get_nowait())
            latest: dict[tuple[str, str], SightingNote] = {}
            stop = False
            for item in batch:
                if item is None:
                    stop = True
                else:
                    latest[(item.mac, item.method)] = item
            for item in latest.values():
                try:
                    self.directory.record_sighting(item.mac, item.method, item.ip, item.vendor,
                                                   item.model, item.firmware, item.detail)
                except (ApplianceError, ValueError):
                    log.warning("could not record a sighting of %s", item.mac, exc_info=True)
            if self._queue.empty():
                self._idle.set()
            if stop:
                return

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued sighting is written; False on timeout."""
        return self._idle.wait(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, then end the thread."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)
