"""Voicemail over the store (``store/voicemail_tables.py``): each employee's box (switched
on or off, a PIN kept as an argon2 hash, an e-mail address, the built-in greeting's
language, an own greeting) and the messages callers left in it.

A box belongs to an employee, never to an extension: the box of an extension is the box of
the active employee holding it now (``box_of_extension``), so an extension freed and given
to someone else never gives them the earlier holder's messages; a dismissed employee's box
and messages are kept, as all history. An employee without a row has the default box:
enabled, no PIN, no e-mail, the built-in English greeting.

Messages are WAVs (8 kHz mono, 16-bit) under the voicemail folder (``<data>/voicemail``),
each at a path relative to it inside the employee's own folder (``<employee_id>/...``); the
call engine writes the file first, then ``keep``s its row. Whatever a row says, nothing
outside that folder is read or removed (``message_file``, the recordings' ``file_of``).

Admins' changes are audited (``voicemail.updated`` names the fields changed, never a PIN);
every change to an employee's messages publishes ``voicemail.changed`` through the events
outbox, in the same transaction, so the daemon updates the phones' message lamps whichever
process changed them. Its ``extension`` is the one the employee holds now (None when they
hold none, or were dismissed: no phone is told of messages that are not its holder's).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Row, delete, func, insert, select, update

from appliance.directory import plan_rules as pr
from appliance.directory import rules
from appliance.directory.core import Clock, DirectoryBase, utcnow
from appliance.directory.recordings import HOWS, file_of, relative_path
from appliance.errors import ConflictError, NotFoundError, ValidationError
from appliance.store import Store, journal
from appliance.store.tables import employees, extensions
from appliance.store.voicemail_tables import voicemail_boxes, voicemail_messages

LANGUAGES = ("en", "vi")
PIN_DIGITS = (4, 8)
GREETING = "greeting.wav"  # an own greeting's file name in the employee's folder
CHANGED_EVENT = "voicemail.changed"
_PIN = re.compile(r"[0-9]{4,8}")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@" + _LABEL + r"(?:\." + _LABEL
                    + r")+")
MAX_EMAIL = 254


@dataclass(frozen=True)
class VoicemailBox:
    """An employee's voicemail box (the defaults for an employee without a row)."""

    employee_id: int
    enabled: bool = True
    has_pin: bool = False
    email: str | None = None
    language: str = "en"  # "en" | "vi": the built-in greeting's language
    greeting: str | None = None  # own greeting WAV, relative to <data>/voicemail; None: built-in


@dataclass(frozen=True)
class VoicemailMessage:
    """A message left for ``employee_id`` at ``extension`` by ``caller``: its WAV's path
    under the voicemail folder, length (seconds), size (bytes), when it was kept (aware,
    UTC) and whether its holder (or an admin) has heard it."""

    id: int
    employee_id: int
    extension: str
    caller: str
    caller_name: str | None
    call_ref: str | None
    path: str
    seconds: float
    bytes: int
    received_at: datetime
    heard: bool


def folder_of(data: Path) -> Path:
    """The voicemail folder under the data folder."""
    return data / "voicemail"


def message_file(folder: Path, msg: VoicemailMessage) -> Path | None:
    """The WAV of ``msg`` inside ``folder``, or None when its path would lead outside."""
    return file_of(folder, msg.path)


def greeting_path(employee_id: int) -> str:
    """Where an employee's own greeting is kept, relative to the voicemail folder."""
    return f"{employee_id}/{GREETING}"


def _own_path(employee_id: int, path: str, field: str) -> str:
    """``path`` as a clean relative path inside the employee's own folder."""
    clean = relative_path(path)
    if clean is None or len(clean) > 255 or len(PurePosixPath(clean).parts) < 2 or \
            PurePosixPath(clean).parts[0] != str(employee_id):
        raise ValidationError(f"{field}: a path under the voicemail folder of employee "
                              f"{employee_id}, got {path!r}", field)
    return clean


def _message(row: Row[Any]) -> VoicemailMessage:
    return VoicemailMessage(int(row.id), int(row.employee_id), str(row.extension),
                            str(row.caller), row.caller_name, row.call_ref, str(row.path),
                            float(row.seconds), int(row.bytes), row.received_at,
                            bool(row.heard))


def _box(employee_id: int, row: Row[Any] | None) -> VoicemailBox:
    if row is None:
        return VoicemailBox(employee_id)
    return VoicemailBox(employee_id, bool(row.enabled), row.pin_hash is not None, row.email,
                        str(row.language), row.greeting)


def check_pin_format(pin: str) -> str:
    """A PIN: 4 to 8 digits (the message never repeats it)."""
    if not isinstance(pin, str) or not _PIN.fullmatch(pin):
        raise ValidationError(f"pin: {PIN_DIGITS[0]} to {PIN_DIGITS[1]} digits", "pin")
    return pin


def email_address(value: str) -> str:
    """An e-mail address such as ``an@example.com`` (the domain in lower case)."""
    text = value.strip() if isinstance(value, str) else ""
    if len(text) > MAX_EMAIL or not _EMAIL.fullmatch(text):
        raise ValidationError(f"email: an e-mail address such as an@example.com, got {value!r}",
                              "email")
    local, _, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}"


def language_code(value: str) -> str:
    """The built-in greeting's language: ``en`` or ``vi``."""
    return rules.choice(value, LANGUAGES, "language")


class VoicemailDirectory(DirectoryBase):
    """Voicemail boxes and messages; see the module docstring."""

    def __init__(self, store: Store, actor: str = "system", clock: Clock = utcnow,
                 hasher: PasswordHasher | None = None) -> None:
        super().__init__(store, actor, clock)
        # The web users' argon2id profile (19 MiB, t=2, web/accounts.py): a PIN is short, so
        # only a slow hash keeps a stolen store from giving the PINs away.
        self.hasher = hasher or PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)

    # -- boxes --------------------------------------------------------------------------------

    def box(self, employee_id: int) -> VoicemailBox:
        """The box of ``employee_id`` (dismissed ones too); NotFoundError when there is no
        such employee."""
        with self.store.read() as db:
            self._employee(db, employee_id)
            return _box(employee_id, self._box_row(db, employee_id))

    def box_of_extension(self, number: str) -> VoicemailBox | None:
        """The box of the active employee holding extension ``number``; None when the
        extension is free, unknown or its holder dismissed."""
        with self.store.read() as db:
            holder = self._holder(db, number)
            return None if holder is None else _box(holder, self._box_row(db, holder))

    def set_box(self, employee_id: int, *, enabled: bool | None = None, pin: str | None = None,
                clear_pin: bool = False, email: str | None = None, clear_email: bool = False,
                language: str | None = None) -> VoicemailBox:
        """Change an active employee's box: switched on or off, a new PIN (4 to 8 digits,
        kept hashed) or none, an e-mail address or none, the built-in greeting's language.
        Audited as ``voicemail.updated`` naming the fields changed (never the PIN); nothing
        changed, nothing audited."""
        if pin is not None and clear_pin:
            raise ValidationError("pin: set a PIN or clear it, not both", "pin")
        if email is not None and clear_email:
            raise ValidationError("email: set an e-mail address or clear it, not both", "email")
        if enabled is not None and not isinstance(enabled, bool):
            raise ValidationError(f"enabled: true or false, got {enabled!r}", "enabled")
        wanted: dict[str, Any] = {}
        if enabled is not None:
            wanted["enabled"] = enabled
        if email is not None:
            wanted["email"] = email_address(email)
        elif clear_email:
            wanted["email"] = None
        if language is not None:
            wanted["language"] = language_code(language)
        digest = self.hasher.hash(check_pin_format(pin)) if pin is not None else None
        now = self.clock()
        with self.store.write() as db:
            self._active(db, employee_id)
            row = self._box_row(db, employee_id)
            current = _box(employee_id, row)
            values = {k: v for k, v in wanted.items() if getattr(current, k) != v}
            if digest is not None:
                values["pin_hash"] = digest
            elif clear_pin and current.has_pin:
                values["pin_hash"] = None
            if values:
                self._save(db, employee_id, row is not None, values, now)
                fields = sorted("pin" if k == "pin_hash" else k for k in values)
                self._log(db, "voicemail.updated", str(employee_id),
                          {"employee_id": employee_id, "fields": fields}, now)
            return _box(employee_id, self._box_row(db, employee_id))

    def check_pin(self, employee_id: int, pin: str) -> bool:
        """Whether ``pin`` opens the employee's box: False when the box has no PIN (or
        there is no such employee)."""
        if not isinstance(pin, str) or not _PIN.fullmatch(pin):
            return False
        with self.store.read() as db:
            digest = db.execute(select(voicemail_boxes.c.pin_hash).where(
                voicemail_boxes.c.employee_id == employee_id)).scalar()
        if digest is None:
            return False
        try:
            return bool(self.hasher.verify(digest, pin))
        except (VerificationError, InvalidHashError):
            return False

    def set_greeting(self, employee_id: int, path: str | None) -> VoicemailBox:
        """An active employee's own greeting (a WAV in their folder, relative to the
        voicemail folder; the caller wrote it), or None: back to the built-in one. Audited as
        ``voicemail.greeting_set`` / ``voicemail.greeting_removed`` (removing none changes
        nothing)."""
        clean = None if path is None else _own_path(employee_id, path, "greeting")
        now = self.clock()
        with self.store.write() as db:
            self._active(db, employee_id)
            row = self._box_row(db, employee_id)
            if clean is None and (row is None or row.greeting is None):
                return _box(employee_id, row)
            self._save(db, employee_id, row is not None, {"greeting": clean}, now)
            if clean is None:
                self._log(db, "voicemail.greeting_removed", str(employee_id),
                          {"employee_id": employee_id}, now)
            else:
                self._log(db, "voicemail.greeting_set", str(employee_id),
                          {"employee_id": employee_id, "greeting": clean}, now)
            return _box(employee_id, self._box_row(db, employee_id))

    # -- messages -----------------------------------------------------------------------------

    def keep(self, employee_id: int, extension: str, *, caller: str, caller_name: str | None,
             call_ref: str | None, path: str, seconds: float, bytes_: int) -> VoicemailMessage:
        """Store a new message for ``employee_id``, left at ``extension`` (its WAV already at
        ``path``, relative to the voicemail folder, in the employee's folder); publishes
        ``voicemail.changed``."""
        number = rules.extension_number(extension, "extension")
        who = " ".join(caller.split()) if isinstance(caller, str) else ""
        if not who or len(who) > 64 or not who.isprintable():
            raise ValidationError(f"caller: 1 to 64 printable characters, got {caller!r}",
                                  "caller")
        name = pr.text(caller_name, "caller_name", 100) or None
        ref = call_ref.strip() if isinstance(call_ref, str) else None
        if ref is not None and (not ref or len(ref) > 32):
            raise ValidationError(f"call_ref: 1 to 32 characters, got {call_ref!r}", "call_ref")
        clean = _own_path(employee_id, path, "path")
        if seconds < 0 or bytes_ < 0:
            raise ValidationError("seconds, bytes: not negative", "seconds")
        now = self.clock()
        with self.store.write() as db:
            self._employee(db, employee_id)
            key = db.execute(insert(voicemail_messages).values(
                employee_id=employee_id, extension=number, caller=who, caller_name=name,
                call_ref=ref, path=clean, seconds=float(seconds), bytes=int(bytes_),
                received_at=now, heard=False)).inserted_primary_key
            assert key is not None
            self._changed(db, employee_id, now)
            return self._message_row(db, int(key[0]))

    def messages(self, employee_id: int | None = None, *,
                 extension: str | None = None) -> list[VoicemailMessage]:
        """Messages, newest first: every one, an employee's, or those of the active employee
        holding ``extension`` now (none when it is free: never an earlier holder's)."""
        query = select(voicemail_messages).order_by(voicemail_messages.c.received_at.desc(),
                                                    voicemail_messages.c.id.desc())
        if employee_id is not None:
            query = query.where(voicemail_messages.c.employee_id == employee_id)
        with self.store.read() as db:
            if extension is not None:
                holder = self._holder(db, extension)
                if holder is None or employee_id not in (None, holder):
                    return []
                query = query.where(voicemail_messages.c.employee_id == holder)
            return [_message(r) for r in db.execute(query)]

    def message(self, message_id: int) -> VoicemailMessage:
        """The message ``message_id``; NotFoundError when there is none."""
        with self.store.read() as db:
            return self._message_row(db, message_id)

    def mark_heard(self, message_id: int, heard: bool = True) -> VoicemailMessage:
        """Mark a message heard (or new again); publishes ``voicemail.changed`` when that
        changed it."""
        now = self.clock()
        with self.store.write() as db:
            found = self._message_row(db, message_id)
            if found.heard != heard:
                db.execute(update(voicemail_messages).where(
                    voicemail_messages.c.id == found.id).values(heard=heard))
                self._changed(db, found.employee_id, now)
            return self._message_row(db, found.id)

    def remove_message(self, message_id: int) -> VoicemailMessage:
        """Delete a message's row (audited as ``voicemail.removed``; publishes
        ``voicemail.changed``); the message, whose file the caller removes."""
        now = self.clock()
        with self.store.write() as db:
            found = self._message_row(db, message_id)
            db.execute(delete(voicemail_messages).where(voicemail_messages.c.id == found.id))
            journal.record(db, self.actor, "voicemail.removed", str(found.employee_id),
                           {"employee_id": found.employee_id, "message": found.id,
                            "extension": found.extension, "caller": found.caller}, now)
            self._changed(db, found.employee_id, now)
        return found

    def counts(self, employee_id: int) -> tuple[int, int]:
        """The employee's (new, old) messages: not heard, heard."""
        with self.store.read() as db:
            found = dict(db.execute(
                select(voicemail_messages.c.heard, func.count())
                .where(voicemail_messages.c.employee_id == employee_id)
                .group_by(voicemail_messages.c.heard)).tuples().all())
        return int(found.get(False, 0)), int(found.get(True, 0))

    def listened(self, message_id: int, how: str) -> None:
        """Audit that the acting user played or downloaded a message (which one and how,
        never its sound)."""
        if how not in HOWS:
            raise ValidationError(f"how: one of {', '.join(HOWS)}, got {how!r}", "how")
        with self.store.write() as db:
            found = self._message_row(db, message_id)
            journal.record(db, self.actor, "voicemail.listened", str(found.employee_id),
                           {"employee_id": found.employee_id, "message": found.id,
                            "how": how}, self.clock())

    # -- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _box_row(db: Connection, employee_id: int) -> Row[Any] | None:
        return db.execute(select(voicemail_boxes).where(
            voicemail_boxes.c.employee_id == employee_id)).first()

    def _active(self, db: Connection, employee_id: int) -> None:
        if self._employee(db, employee_id).status != "active":
            raise ConflictError(f"employee {employee_id} is dismissed and cannot be changed")

    @staticmethod
    def _holder(db: Connection, number: str) -> int | None:
        """The active employee holding extension ``number``, if any."""
        if not isinstance(number, str) or not number.strip().isdigit():
            return None
        holder = db.execute(
            select(extensions.c.employee_id)
            .join(employees, employees.c.id == extensions.c.employee_id)
            .where(extensions.c.number == number.strip(), employees.c.status == "active")
        ).scalar()
        return None if holder is None else int(holder)

    @staticmethod
    def _current_extension(db: Connection, employee_id: int) -> str | None:
        """The extension an active employee holds now, if any."""
        number = db.execute(
            select(extensions.c.number)
            .join(employees, employees.c.id == extensions.c.employee_id)
            .where(extensions.c.employee_id == employee_id, employees.c.status == "active")
        ).scalar()
        return None if number is None else str(number)

    @staticmethod
    def _message_row(db: Connection, message_id: int) -> VoicemailMessage:
        key = pr.whole(message_id, "message", 1, 2**31 - 1)
        row = db.execute(select(voicemail_messages).where(
            voicemail_messages.c.id == key)).first()
        if row is None:
            raise NotFoundError(f"message: no voicemail message {key}", "message")
        return _message(row)

    @staticmethod
    def _save(db: Connection, employee_id: int, exists: bool, values: dict[str, Any],
              now: datetime) -> None:
        if exists:
            db.execute(update(voicemail_boxes).where(
                voicemail_boxes.c.employee_id == employee_id).values(**values, updated_at=now))
        else:
            defaults = {"enabled": True, "pin_hash": None, "email": None, "language": "en",
                        "greeting": None}
            db.execute(insert(voicemail_boxes).values(
                **{**defaults, **values}, employee_id=employee_id, updated_at=now))

    def _changed(self, db: Connection, employee_id: int, now: datetime) -> None:
        journal.publish(db, CHANGED_EVENT, {"employee_id": employee_id,
                                            "extension": self._current_extension(db,
                                                                                 employee_id)},
                        now)
