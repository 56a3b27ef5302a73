"""Connections (trunks), office numbers and queue groups over the store: every rule checked
here with a clear error naming the field, every change audited and published in the same
transaction, a connection's password never in an audit row, an event or a message. A
change that would make a routing cycle is refused (``callplan.cycles``).

Destinations are given as ``callplan.model.Destination`` or as text (``extension:101``,
``queue:sales``, ``menu:main``, ``outside:+84909000000``, ``outside:+84909000000@viettel``,
``hangup``); IVR menus themselves are ``directory/menus.py``'s.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection as Db
from sqlalchemy import Row, delete, insert, or_, select

from appliance.callplan import cycles
from appliance.callplan.model import (
    CONNECTION_KINDS,
    NO_ANSWER_ACTIONS,
    NUMBER_FORMATS,
    STRATEGIES,
    Connection,
    Destination,
    Greeting,
    Number,
    Queue,
    Server,
)
from appliance.directory import plan_rules as pr
from appliance.directory.core import DirectoryBase
from appliance.errors import ConflictError, NotFoundError, ValidationError
from appliance.store.callplan_tables import (
    connection_servers,
    connections,
    menu_keys,
    menus,
    numbers,
    queue_members,
    queues,
    working_hours,
)
from appliance.store.tables import extensions

CONNECTION_FIELDS = (
    "kind", "servers", "username", "password", "allowed_sources", "caller_id",
    "number_format", "max_calls", "codecs", "allowed_extensions", "allowed_groups", "prefix",
    "default", "domain", "auth_username", "expires")
NUMBER_FIELDS = ("connection", "destination", "to_header", "contacts_map", "after_hours",
                 "hours", "no_answer", "no_answer_connection", "ring_timeout", "greeting",
                 "greeting_language", "greeting_text", "greeting_wait", "greeting_audio",
                 "record", "rating")
QUEUE_FIELDS = ("members", "strategy", "ring_time", "timeout", "fallback", "ring_busy")
DEFAULT_CODECS = ("PCMA", "PCMU", "telephone-event")
_DOMAIN = re.compile(r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:.]+\]")


def _unknown(fields: Iterable[str], known: tuple[str, ...], what: str) -> None:
    unknown = set(fields) - set(known)
    if unknown:
        raise ValidationError(f"unknown {what} field: {', '.join(sorted(unknown))}")


def _connection_values(fields: dict[str, Any]) -> dict[str, Any]:
    """Column values for the connection fields given (``servers`` kept apart)."""
    checks: dict[str, Any] = {
        "kind": lambda v: pr.choice(v, CONNECTION_KINDS, "kind"),
        "servers": pr.servers,
        "username": lambda v: pr.credential(v, "username", 64),
        "password": lambda v: pr.credential(v, "password", 128),
        "allowed_sources": lambda v: list(pr.sources(v)),
        "caller_id": lambda v: pr.optional_phone(v, "caller_id"),
        "number_format": lambda v: pr.choice(v, NUMBER_FORMATS, "number_format"),
        "max_calls": lambda v: pr.whole(v, "max_calls", 0, 10_000),
        "codecs": lambda v: list(pr.codecs(v)),
        "allowed_extensions": lambda v: list(pr.extension_list(v, "allowed_extensions")),
        "allowed_groups": lambda v: list(pr.group_list(v)),
        "prefix": pr.prefix,
        "default": lambda v: pr.flag(v, "default"),
        "domain": _domain,
        "auth_username": lambda v: pr.credential(v, "auth_username", 64),
        "expires": lambda v: pr.whole(v, "expires", 60, 86400),
    }
    values = {key: checks[key](value) for key, value in fields.items()}
    if "default" in values:
        values["is_default"] = values.pop("default")
    return values


def _domain(value: str | None) -> str | None:
    """A register connection's AOR domain: a host name or address alone; empty: none."""
    clean = (value or "").strip().lower().rstrip(".")
    if clean and (len(clean) > 253 or not _DOMAIN.fullmatch(clean)):
        raise ValidationError(f"domain: a host name or address alone, got {value!r}", "domain")
    return clean or None


def connection_id(db: Db, name: str, field: str = "connection") -> int:
    """The id of the connection named ``name``; unknown: NotFoundError on ``field``."""
    clean = pr.name(name, field)
    found = db.execute(select(connections.c.id).where(connections.c.name == clean)).scalar()
    if found is None:
        raise NotFoundError(f"{field}: no connection named {clean!r}", field)
    return int(found)


class ConnectionsMixin(DirectoryBase):
    """Connections, numbers and queue groups."""

    # -- reading -----------------------------------------------------------------------------

    @staticmethod
    def _connections(db: Db) -> list[Connection]:
        servers: dict[int, list[Server]] = {}
        for row in db.execute(select(connection_servers).order_by(
                connection_servers.c.connection_id, connection_servers.c.position)):
            servers.setdefault(row.connection_id, []).append(
                Server(row.host, row.port, row.transport))
        dids: dict[int, list[str]] = {}
        for did, conn_id in db.execute(select(numbers.c.did, numbers.c.connection_id)
                                       .order_by(numbers.c.did)):
            dids.setdefault(conn_id, []).append(did)
        return [Connection(
            id=row.id, name=row.name, kind=row.kind, servers=tuple(servers.get(row.id, ())),
            username=row.username, password=row.password,
            allowed_sources=tuple(row.allowed_sources), dids=tuple(dids.get(row.id, ())),
            caller_id=row.caller_id, number_format=row.number_format,
            max_calls=row.max_calls, codecs=tuple(row.codecs),
            allowed_extensions=frozenset(row.allowed_extensions),
            allowed_groups=frozenset(row.allowed_groups), prefix=row.prefix,
            default=row.is_default, domain=row.domain, auth_username=row.auth_username,
            expires=row.expires,
        ) for row in db.execute(select(connections).order_by(connections.c.id))]

    def _connection(self, db: Db, name: str, field: str = "connection") -> Connection:
        clean = pr.name(name, field)
        found = next((c for c in self._connections(db) if c.name == clean), None)
        if found is None:
            raise NotFoundError(f"{field}: no connection named {clean!r}", field)
        return found

    @staticmethod
    def _dest(kind: str | None, target: str | None, conn: int | None) -> Destination | None:
        if kind is None:
            return None
        return Destination(kind, target or "", conn)  # type: ignore[arg-type]

    def _number_of(self, row: Row[Any]) -> Number:
        return Number(
            did=row.did, connection_id=row.connection_id,
            destination=self._dest(row.dest_kind, row.dest_target, row.dest_connection)
            or Destination("hangup"),
            to_header=row.to_header, contacts_map=row.contacts_map,
            after_hours=self._dest(row.after_kind, row.after_target, row.after_connection),
            hours=row.hours, no_answer=row.no_answer,
            no_answer_connection=row.no_answer_connection, ring_timeout=row.ring_timeout,
            greeting=Greeting(row.greeting_language, row.greeting_text, row.greeting_wait,
                              row.greeting, row.greeting_audio), record=row.record,
            rating=row.rating)

    def _numbers(self, db: Db) -> list[Number]:
        return [self._number_of(row)
                for row in db.execute(select(numbers).order_by(numbers.c.did))]

    def _queues(self, db: Db) -> list[Queue]:
        members: dict[str, list[str]] = {}
        for queue, ext in db.execute(select(queue_members.c.queue, queue_members.c.extension)
                                     .order_by(queue_members.c.queue,
                                               queue_members.c.position)):
            members.setdefault(queue, []).append(ext)
        return [Queue(
            name=row.name, members=tuple(members.get(row.name, ())), strategy=row.strategy,
            ring_time=row.ring_time, timeout=row.timeout,
            fallback=self._dest(row.fallback_kind, row.fallback_target,
                                row.fallback_connection) or Destination("hangup"),
            ring_busy=row.ring_busy,
        ) for row in db.execute(select(queues).order_by(queues.c.name))]

    def list_connections(self) -> list[Connection]:
        """Every connection, by id (the password is on the record but never in its repr)."""
        with self.store.read() as db:
            return self._connections(db)

    def get_connection(self, name: str) -> Connection:
        """One connection by name."""
        with self.store.read() as db:
            return self._connection(db, name)

    def list_numbers(self) -> list[Number]:
        """Every office number, by DID."""
        with self.store.read() as db:
            return self._numbers(db)

    def get_number(self, did: str) -> Number:
        """One office number."""
        clean = pr.phone_number(did, "did")
        found = next((n for n in self.list_numbers() if n.did == clean), None)
        if found is None:
            raise NotFoundError(f"did: {clean} is not an office number", "did")
        return found

    def list_queues(self) -> list[Queue]:
        """Every queue group, by name."""
        with self.store.read() as db:
            return self._queues(db)

    def get_queue(self, name: str) -> Queue:
        """One queue group."""
        clean = pr.name(name, "queue")
        found = next((q for q in self.list_queues() if q.name == clean), None)
        if found is None:
            raise NotFoundError(f"queue: no queue named {clean!r}", "queue")
        return found

    # -- connections -------------------------------------------------------------------------

    def add_connection(self, name: str, kind: str = "register",
                       servers: Sequence[Server | str] = (), **fields: Any) -> Connection:
        """Create a connection (fields: ``CONNECTION_FIELDS``); the first one is the default."""
        _unknown(fields, CONNECTION_FIELDS, "connection")
        clean = pr.name(name)
        values = {"number_format": "e164_plus", "max_calls": 0, "codecs": DEFAULT_CODECS,
                  "allowed_sources": (), "allowed_extensions": (), "allowed_groups": (),
                  "default": False, "expires": 3600, **fields, "kind": kind,
                  "servers": servers}
        checked = _connection_values(values)
        now = self.clock()
        with self.store.write() as db:
            if db.execute(select(connections.c.id).where(connections.c.name == clean)).first():
                raise ConflictError(f"name: a connection named {clean!r} exists", "name")
            first = db.execute(select(connections.c.id)).first() is None
            checked["is_default"] = checked["is_default"] or first
            row = {k: v for k, v in checked.items() if k != "servers"}
            self._check_connection(db, None, row)
            key = db.execute(insert(connections).values(name=clean, created_at=now, **row)
                             ).inserted_primary_key
            assert key is not None
            conn_id = int(key[0])
            self._write_servers(db, conn_id, checked["servers"])
            self._log(db, "connection.added", clean,
                      {"connection": clean, "fields": sorted(values)}, now)
            return self._connection(db, clean)

    def update_connection(self, name: str, **fields: Any) -> Connection:
        """Change any of ``CONNECTION_FIELDS`` (``password=None`` clears it)."""
        _unknown(fields, CONNECTION_FIELDS, "connection")
        checked = _connection_values(fields)
        now = self.clock()
        with self.store.write() as db:
            current = self._connection(db, name)
            if checked.get("is_default") is False and current.default:
                raise ConflictError(
                    "default: make another connection the default instead", "default")
            row = {k: v for k, v in checked.items() if k != "servers"}
            self._check_connection(db, current.id, row)
            if row:
                db.execute(connections.update().where(connections.c.id == current.id)
                           .values(**row))
            if "servers" in checked:
                db.execute(delete(connection_servers)
                           .where(connection_servers.c.connection_id == current.id))
                self._write_servers(db, current.id, checked["servers"])
            if fields:
                self._log(db, "connection.updated", current.name,
                          {"connection": current.name, "fields": sorted(fields)}, now)
            return self._connection(db, current.name)

    def remove_connection(self, name: str) -> None:
        """Delete a connection no number or queue uses (the next one becomes the default)."""
        now = self.clock()
        with self.store.write() as db:
            current = self._connection(db, name)
            cid = current.id
            users = list(db.execute(select(numbers.c.did).where(or_(
                numbers.c.connection_id == cid, numbers.c.dest_connection == cid,
                numbers.c.after_connection == cid, numbers.c.no_answer_connection == cid)
            )).scalars())
            users += db.execute(select(queues.c.name).where(
                queues.c.fallback_connection == cid)).scalars().all()
            users += [f"extension {n}" for n in db.execute(select(extensions.c.number).where(
                extensions.c.no_answer_connection == cid)).scalars()]
            users += [f"menu {m}" for m in db.execute(select(menus.c.name).where(or_(
                menus.c.timeout_connection == cid, menus.c.invalid_connection == cid)).union(
                select(menu_keys.c.menu).where(menu_keys.c.connection == cid))).scalars()]
            if users:
                raise ConflictError(
                    f"connection: {current.name!r} is used by {', '.join(users)}; "
                    "change those first", "connection")
            db.execute(delete(connection_servers)
                       .where(connection_servers.c.connection_id == cid))
            db.execute(delete(connections).where(connections.c.id == cid))
            detail: dict[str, Any] = {"connection": current.name}
            if current.default:
                heir = db.execute(select(connections.c.id, connections.c.name)
                                  .order_by(connections.c.id)).first()
                if heir is not None:
                    db.execute(connections.update().where(connections.c.id == heir.id)
                               .values(is_default=True))
                    detail["new_default"] = heir.name
            self._log(db, "connection.removed", current.name, detail, now)

    def _write_servers(self, db: Db, conn_id: int, servers: tuple[Server, ...]) -> None:
        for position, server in enumerate(servers):
            db.execute(insert(connection_servers).values(
                connection_id=conn_id, position=position, host=server.host, port=server.port,
                transport=server.transport))

    def _check_connection(self, db: Db, conn_id: int | None, row: dict[str, Any]) -> None:
        """What the values need of each other and of the store."""
        current: dict[str, Any] = {}
        if conn_id is not None:
            found = db.execute(select(connections).where(connections.c.id == conn_id)).one()
            current = found._asdict()
        merged = {**current, **row}
        if merged["kind"] == "register" and not (merged.get("username")
                                                 and merged.get("password")):
            raise ValidationError(
                "password: a register connection needs a username and a password", "password")
        if merged["kind"] == "ip" and not merged.get("allowed_sources"):
            raise ValidationError(
                "allowed_sources: an ip connection needs the addresses it accepts calls from",
                "allowed_sources")
        prefix = row.get("prefix")
        if prefix is not None:
            holder = db.execute(select(connections.c.name).where(
                connections.c.prefix == prefix, connections.c.id != (conn_id or 0))).scalar()
            if holder is not None:
                raise ConflictError(f"prefix: {prefix} is connection {holder!r}'s", "prefix")
        missing = [e for e in row.get("allowed_extensions", ())
                   if not db.execute(select(extensions.c.number)
                                     .where(extensions.c.number == e)).first()]
        if missing:
            raise NotFoundError(f"allowed_extensions: no extension {', '.join(missing)}",
                                "allowed_extensions")
        if row.get("is_default"):
            db.execute(connections.update().where(connections.c.id != (conn_id or 0))
                       .values(is_default=False))

    # -- destinations and the routing graph ---------------------------------------------------

    def _destination(self, db: Db, value: Destination | str, field: str) -> Destination:
        """A destination, checked against the store (extension, queue, connection exist)."""
        via: str | None = None
        if isinstance(value, str) and "@" in value:
            value, _, via = value.partition("@")
        dest = pr.destination(value, field)
        if via:
            dest = Destination(dest.kind, dest.target, connection_id(db, via, field))
            if dest.kind != "outside":
                raise ValidationError(f"{field}: only an outside number takes @connection",
                                      field)
        if dest.kind in ("extension", "voicemail") and not db.execute(
                select(extensions.c.number).where(extensions.c.number == dest.target)).first():
            raise NotFoundError(f"{field}: no extension {dest.target}", field)
        if dest.kind == "queue" and not db.execute(
                select(queues.c.name).where(queues.c.name == dest.target)).first():
            raise NotFoundError(f"{field}: no queue named {dest.target!r}", field)
        if dest.kind == "menu" and not db.execute(
                select(menus.c.name).where(menus.c.name == dest.target)).first():
            raise NotFoundError(f"{field}: no menu named {dest.target!r}", field)
        if dest.connection_id is not None and not db.execute(
                select(connections.c.id).where(connections.c.id == dest.connection_id)).first():
            raise NotFoundError(f"{field}: no connection {dest.connection_id}", field)
        return dest

    def _check_routing(self, db: Db) -> None:
        """Refuse the transaction's routing when it has a cycle."""
        from appliance.directory.menus import read_menus  # menus.py builds on this module

        cycles.check(self._numbers(db), self._queues(db), read_menus(db))

    # -- numbers -----------------------------------------------------------------------------

    def _number_values(self, db: Db, fields: dict[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for key, value in fields.items():
            if key == "connection":
                values["connection_id"] = connection_id(db, value)
            elif key in ("destination", "after_hours"):
                col = "dest" if key == "destination" else "after"
                dest = None if value in (None, "") and key == "after_hours" else (
                    self._destination(db, value, key))
                values[f"{col}_kind"] = dest.kind if dest else None
                values[f"{col}_target"] = dest.target if dest else None
                values[f"{col}_connection"] = dest.connection_id if dest else None
            elif key in ("to_header", "contacts_map", "greeting", "record", "rating"):
                values[key] = pr.flag(value, key)
            elif key == "greeting_language":
                values[key] = pr.choice(value, pr.GREETING_LANGUAGES, key)
            elif key == "greeting_text":
                values[key] = pr.greeting_text(value)
            elif key == "greeting_audio":
                values[key] = pr.prompt_audio(value, key)
            elif key == "greeting_wait":
                values[key] = pr.whole(value, key, *pr.GREETING_WAIT)
            elif key == "hours":
                values[key] = None if value in (None, "") else self._hours_name(db, value)
            elif key == "no_answer":
                values[key] = pr.choice(value, NO_ANSWER_ACTIONS, key)
            elif key == "no_answer_connection":
                values[key] = None if value in (None, "") else connection_id(db, value, key)
            else:
                values[key] = pr.whole(value, key, *pr.RING_TIMEOUT)
        return values

    @staticmethod
    def _hours_name(db: Db, value: str) -> str:
        clean = pr.name(value, "hours")
        if not db.execute(select(working_hours.c.name)
                          .where(working_hours.c.name == clean)).first():
            raise NotFoundError(f"hours: no working hours named {clean!r}", "hours")
        return clean

    def add_number(self, did: str, connection: str, destination: Destination | str = "hangup",
                   **fields: Any) -> Number:
        """Add an office number on ``connection`` (fields: ``NUMBER_FIELDS``)."""
        _unknown(fields, NUMBER_FIELDS, "number")
        clean = pr.phone_number(did, "did")
        now = self.clock()
        with self.store.write() as db:
            if db.execute(select(numbers.c.did).where(numbers.c.did == clean)).first():
                raise ConflictError(f"did: {clean} is already an office number", "did")
            values = self._number_values(db, {
                "to_header": True, "contacts_map": True, "after_hours": None, "hours": None,
                "no_answer": "continue", "no_answer_connection": None, "ring_timeout": 20,
                "record": False, "rating": False, **fields, "connection": connection,
                "destination": destination})
            db.execute(insert(numbers).values(did=clean, **values))
            self._check_routing(db)
            self._log(db, "number.added", clean, {"did": clean, "fields": sorted(fields)}, now)
            return next(n for n in self._numbers(db) if n.did == clean)

    def update_number(self, did: str, **fields: Any) -> Number:
        """Change any of ``NUMBER_FIELDS``."""
        _unknown(fields, NUMBER_FIELDS, "number")
        clean = pr.phone_number(did, "did")
        now = self.clock()
        with self.store.write() as db:
            if not db.execute(select(numbers.c.did).where(numbers.c.did == clean)).first():
                raise NotFoundError(f"did: {clean} is not an office number", "did")
            values = self._number_values(db, fields)
            if values:
                db.execute(numbers.update().where(numbers.c.did == clean).values(**values))
                self._check_routing(db)
                self._log(db, "number.updated", clean,
                          {"did": clean, "fields": sorted(fields)}, now)
            return next(n for n in self._numbers(db) if n.did == clean)

    def remove_number(self, did: str) -> None:
        """Delete an office number (its calls are then refused as not the office's)."""
        clean = pr.phone_number(did, "did")
        now = self.clock()
        with self.store.write() as db:
            if not db.execute(delete(numbers).where(numbers.c.did == clean)).rowcount:
                raise NotFoundError(f"did: {clean} is not an office number", "did")
            self._log(db, "number.removed", clean, {"did": clean}, now)

    # -- queues ------------------------------------------------------------------------------

    def _queue_values(self, db: Db, fields: dict[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for key, value in fields.items():
            if key == "members":
                values[key] = pr.members(value)
                missing = [e for e in values[key] if not db.execute(
                    select(extensions.c.number).where(extensions.c.number == e)).first()]
                if missing:
                    raise NotFoundError(f"members: no extension {', '.join(missing)}",
                                        "members")
            elif key == "strategy":
                values[key] = pr.choice(value, STRATEGIES, key)
            elif key == "ring_time":
                values[key] = pr.whole(value, key, 5, 600)
            elif key == "timeout":
                values[key] = pr.whole(value, key, 5, 3600)
            elif key == "ring_busy":
                values[key] = pr.flag(value, key)
            else:
                dest = self._destination(db, value, "fallback")
                values.update(fallback_kind=dest.kind, fallback_target=dest.target,
                              fallback_connection=dest.connection_id)
        return values

    def _write_members(self, db: Db, name: str, members: tuple[str, ...]) -> None:
        db.execute(delete(queue_members).where(queue_members.c.queue == name))
        for position, ext in enumerate(members):
            db.execute(insert(queue_members).values(queue=name, position=position,
                                                    extension=ext))

    def add_queue(self, name: str, members: Sequence[str] = (), **fields: Any) -> Queue:
        """Create a queue group (fields: ``QUEUE_FIELDS``)."""
        _unknown(fields, QUEUE_FIELDS, "queue")
        clean = pr.name(name)
        now = self.clock()
        with self.store.write() as db:
            if db.execute(select(queues.c.name).where(queues.c.name == clean)).first():
                raise ConflictError(f"name: a queue named {clean!r} exists", "name")
            values = self._queue_values(db, {
                "strategy": "ring_all", "ring_time": 20, "timeout": 60, "ring_busy": False,
                "fallback": "hangup", **fields, "members": members})
            chosen = values.pop("members")
            db.execute(insert(queues).values(name=clean, **values))
            self._write_members(db, clean, chosen)
            self._check_routing(db)
            self._log(db, "queue.added", clean, {"queue": clean, "fields": sorted(fields)}, now)
            return next(q for q in self._queues(db) if q.name == clean)

    def update_queue(self, name: str, **fields: Any) -> Queue:
        """Change any of ``QUEUE_FIELDS``."""
        _unknown(fields, QUEUE_FIELDS, "queue")
        clean = pr.name(name, "queue")
        now = self.clock()
        with self.store.write() as db:
            if not db.execute(select(queues.c.name).where(queues.c.name == clean)).first():
                raise NotFoundError(f"queue: no queue named {clean!r}", "queue")
            values = self._queue_values(db, fields)
            if "members" in values:
                self._write_members(db, clean, values.pop("members"))
            if values:
                db.execute(queues.update().where(queues.c.name == clean).values(**values))
            if fields:
                self._check_routing(db)
                self._log(db, "queue.updated", clean,
                          {"queue": clean, "fields": sorted(fields)}, now)
            return next(q for q in self._queues(db) if q.name == clean)

    def remove_queue(self, name: str) -> None:
        """Delete a queue group no number or other queue sends calls to."""
        clean = pr.name(name, "queue")
        now = self.clock()
        with self.store.write() as db:
            if not db.execute(select(queues.c.name).where(queues.c.name == clean)).first():
                raise NotFoundError(f"queue: no queue named {clean!r}", "queue")
            users = list(db.execute(select(numbers.c.did).where(or_(
                (numbers.c.dest_kind == "queue") & (numbers.c.dest_target == clean),
                (numbers.c.after_kind == "queue") & (numbers.c.after_target == clean),
            ))).scalars())
            users += db.execute(select(queues.c.name).where(
                queues.c.fallback_kind == "queue", queues.c.fallback_target == clean,
                queues.c.name != clean)).scalars().all()
            from appliance.directory.menus import menu_users  # menus.py builds on this module

            users += menu_users(db, Destination("queue", clean))
            if users:
                raise ConflictError(
                    f"queue: {clean!r} is where {', '.join(users)} send calls; "
                    "change those first", "queue")
            db.execute(delete(queue_members).where(queue_members.c.queue == clean))
            db.execute(delete(queues).where(queues.c.name == clean))
            self._log(db, "queue.removed", clean, {"queue": clean}, now)
