"""What a phone should get, read from the store in one query; sightings written behind."""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, insert, select

from appliance.directory import Directory
from appliance.errors import ApplianceError
from appliance.store import Store
from appliance.store.bound import one_transaction
from appliance.store.provisioning_tables import provisioning_devices
from appliance.store.tables import employees, extensions, phone_secrets, phones

log = logging.getLogger(__name__)

# A batch is written once no sighting came for QUIET seconds (a boot storm's burst is over:
# serving the phones comes first), or its first waited LINGER seconds, or it holds BATCH.
QUIET = 0.05
LINGER = 5.0
BATCH = 5000
PER_TRANSACTION = 200  # the store's write lock is held while one runs (SIP waits for it)
QUEUE_SIZE = 10_000


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
    """Merges fetches into the inventory from a thread of its own: repeats coalesced, a
    burst written when it is over (``quiet``; at most ``linger`` late) in transactions of
    ``PER_TRANSACTION`` (a savepoint each, so a sighting that fails is skipped alone): a boot
    storm costs a few commits, not one per phone, and none while phones wait for files."""

    def __init__(self, store: Store, actor: str = "provisioning", quiet: float = QUIET,
                 linger: float = LINGER, batch: int = BATCH) -> None:
        self.store = store
        self.actor = actor
        self.quiet = quiet
        self.linger = linger
        self.batch = batch
        self._queue: queue.Queue[SightingNote | None] = queue.Queue(maxsize=QUEUE_SIZE)
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

    def _take(self) -> list[SightingNote | None]:
        """The next batch: items until a ``quiet`` gap, ``linger`` after the first, ``batch``
        of them, or the stop mark. The queue is looked at once per ``quiet``, not woken for
        each item: during a storm this thread stays off the GIL."""
        batch = [self._queue.get()]
        deadline = time.monotonic() + self.linger
        while len(batch) < self.batch and batch[-1] is not None:
            time.sleep(max(0.0, min(self.quiet, deadline - time.monotonic())))
            before = len(batch)
            while len(batch) < self.batch and batch[-1] is not None:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if len(batch) == before or time.monotonic() >= deadline:
                break
        return batch

    def _write(self, items: list[SightingNote]) -> None:
        for start in range(0, len(items), PER_TRANSACTION):
            part = items[start:start + PER_TRANSACTION]
            try:
                with one_transaction(self.store, lambda: True) as bound:
                    self._record(Directory(bound, actor=self.actor), part)
            except ApplianceError:  # the transaction itself failed: one by one, as before
                log.warning("sightings: %d not written at once; one by one", len(part))
                self._record(Directory(self.store, actor=self.actor), part)

    @staticmethod
    def _record(directory: Directory, items: list[SightingNote]) -> None:
        for item in items:
            try:
                directory.record_sighting(item.mac, item.method, item.ip, item.vendor,
                                          item.model, item.firmware, item.detail)
            except (ApplianceError, ValueError):
                log.warning("could not record a sighting of %s", item.mac, exc_info=True)

    def _run(self) -> None:
        while True:
            batch = self._take()
            latest: dict[tuple[str, str], SightingNote] = {}
            for item in batch:
                if item is not None:
                    latest[(item.mac, item.method)] = item
            if latest:
                self._write(list(latest.values()))
            if self._queue.empty():
                self._idle.set()
            if batch[-1] is None:
                return

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued sighting is written; False on timeout."""
        return self._idle.wait(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, then end the thread."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)
