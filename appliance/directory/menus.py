"""IVR menus over the store: a menu's text and language, whether callers may dial an
extension, its no-key (timeout) and invalid-key handling, and its keys (``0``-``9``, ``*``),
each key a destination (``menu_key`` kinds: the call plan's destinations and ``repeat``).
Every rule is checked with a clear error naming the field, every change audited and
published (``menu.added``, ``menu.updated``, ``menu.removed``, ``menu.key_set``,
``menu.key_removed``) in the same transaction, a change that makes a routing cycle refused
(``callplan.cycles``), and a menu something sends calls to kept until that changes.

The text is spoken before a change is saved, by ``check_speak_save`` (the CLI and the web
page both save through it): the change checked in full in a transaction rolled back, then
the text spoken with the ``speak`` its caller gives (``media.prompts``: the directory does no
media work), then the change made.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from sqlalchemy import Connection as Db
from sqlalchemy import delete, insert, or_, select

from appliance.callplan.model import MENU_KEY_KINDS, Destination, Menu
from appliance.directory import plan_rules as pr
from appliance.directory.connections import ConnectionsMixin
from appliance.errors import ConflictError, NotFoundError, PromptError, ValidationError
from appliance.store import Store
from appliance.store.bound import one_transaction
from appliance.store.callplan_tables import menu_keys, menus, numbers, queues

MENU_FIELDS = ("text", "language", "extensions", "timeout", "timeout_retries",
               "timeout_destination", "invalid_retries", "invalid_destination", "audio")
MENU_DEFAULTS: dict[str, Any] = {
    "language": "en", "extensions": True, "timeout": 5, "timeout_retries": 2,
    "timeout_destination": "hangup", "invalid_retries": 2, "invalid_destination": "hangup"}
_DESTINATIONS = {"timeout_destination": "timeout", "invalid_destination": "invalid"}
T = TypeVar("T")
P = TypeVar("P", bound="MenusMixin")


def check_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The column values of the menu fields given that need no store (text, language,
    extensions, timeout, retries), checked; the destinations are left to the directory.
    A form or a command calls it to refuse bad input before it speaks the text."""
    unknown = set(fields) - set(MENU_FIELDS)
    if unknown:
        raise ValidationError(f"unknown menu field: {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for key, value in fields.items():
        if key == "text":
            values[key] = pr.menu_text(value)
        elif key == "language":
            values[key] = pr.choice(value, pr.GREETING_LANGUAGES, key)
        elif key == "extensions":
            values[key] = pr.flag(value, key)
        elif key == "timeout":
            values[key] = pr.whole(value, key, *pr.MENU_TIMEOUT)
        elif key in ("timeout_retries", "invalid_retries"):
            values[key] = pr.whole(value, key, *pr.MENU_RETRIES)
        elif key == "audio":
            values[key] = pr.prompt_audio(value, key)
    return values


def _dest(kind: str, target: str, conn: int | None) -> Destination:
    return Destination(kind, target, conn)  # type: ignore[arg-type]


def _key_order(key: str) -> int:
    return pr.MENU_KEYS.index(key) if key in pr.MENU_KEYS else len(pr.MENU_KEYS)


def read_menus(db: Db, names: Iterable[str] | None = None) -> list[Menu]:
    """Every menu (or those named), by name, with its keys in keypad order (1-9, 0, *)."""
    wanted = None if names is None else list(names)
    query = select(menus).order_by(menus.c.name)
    keys_query = select(menu_keys)
    if wanted is not None:
        query = query.where(menus.c.name.in_(wanted))
        keys_query = keys_query.where(menu_keys.c.menu.in_(wanted))
    keys: dict[str, dict[str, Destination]] = {}
    for row in sorted(db.execute(keys_query), key=lambda r: (r.menu, _key_order(r.key))):
        keys.setdefault(row.menu, {})[row.key] = _dest(row.kind, row.target, row.connection)
    return [Menu(
        name=row.name, text=row.text, language=row.language, keys=keys.get(row.name, {}),
        extensions=row.extensions, timeout=row.timeout, timeout_retries=row.timeout_retries,
        timeout_destination=_dest(row.timeout_kind, row.timeout_target,
                                  row.timeout_connection),
        invalid_retries=row.invalid_retries,
        invalid_destination=_dest(row.invalid_kind, row.invalid_target,
                                  row.invalid_connection), audio=row.audio,
    ) for row in db.execute(query)]


def menu_users(db: Db, dest: Destination, but: str | None = None) -> list[str]:
    """The menus (``menu NAME``) whose keys, timeout or invalid destination send calls to
    ``dest`` (a queue or a menu), menu ``but`` left out."""
    kind, target = dest.kind, dest.target
    found = select(menus.c.name).where(or_(
        (menus.c.timeout_kind == kind) & (menus.c.timeout_target == target),
        (menus.c.invalid_kind == kind) & (menus.c.invalid_target == target))).union(
        select(menu_keys.c.menu).where(menu_keys.c.kind == kind,
                                       menu_keys.c.target == target))
    return [f"menu {name}" for name in sorted(db.execute(found).scalars()) if name != but]


class MenusMixin(ConnectionsMixin):
    """IVR menus and their keys (on top of connections, numbers and queues)."""

    # -- reading -----------------------------------------------------------------------------

    @staticmethod
    def _menu(db: Db, name: str, field: str = "menu") -> Menu:
        clean = pr.name(name, field)
        found = read_menus(db, [clean])
        if not found:
            raise NotFoundError(f"{field}: no menu named {clean!r}", field)
        return found[0]

    def list_menus(self) -> list[Menu]:
        """Every IVR menu, by name, with its keys."""
        with self.store.read() as db:
            return read_menus(db)

    def get_menu(self, name: str) -> Menu:
        """One IVR menu."""
        with self.store.read() as db:
            return self._menu(db, name)

    # -- changes -----------------------------------------------------------------------------

    def _menu_values(self, db: Db, fields: dict[str, Any]) -> dict[str, Any]:
        values = check_fields(fields)
        for key, col in _DESTINATIONS.items():
            if key in fields:
                dest = self._destination(db, fields[key], key)
                values.update({f"{col}_kind": dest.kind, f"{col}_target": dest.target,
                               f"{col}_connection": dest.connection_id})
        return values

    def _key_destination(self, db: Db, value: Destination | str) -> Destination:
        """A key's destination: ``repeat``, or one the store has (``_destination``)."""
        head = value.kind if isinstance(value, Destination) else str(value).split(":")[0]
        if head.strip().lower() == "repeat":
            return pr.destination(value, "destination", MENU_KEY_KINDS)
        return self._destination(db, value, "destination")

    def _write_key(self, db: Db, menu: str, key: str, dest: Destination) -> None:
        db.execute(delete(menu_keys).where(menu_keys.c.menu == menu, menu_keys.c.key == key))
        db.execute(insert(menu_keys).values(menu=menu, key=key, kind=dest.kind,
                                            target=dest.target, connection=dest.connection_id))

    def add_menu(self, name: str, text: str,
                 keys: Mapping[str, Destination | str] | None = None, **fields: Any) -> Menu:
        """Create an IVR menu (fields: ``MENU_FIELDS`` but text; defaults ``MENU_DEFAULTS``)
        with its ``keys`` (key -> destination, ``repeat`` allowed)."""
        check_fields(fields)  # unknown fields first
        clean = pr.name(name)
        now = self.clock()
        with self.store.write() as db:
            if db.execute(select(menus.c.name).where(menus.c.name == clean)).first():
                raise ConflictError(f"name: a menu named {clean!r} exists", "name")
            given = {**MENU_DEFAULTS, **fields, "text": text}
            db.execute(insert(menus).values(name=clean, **self._menu_values(db, {
                **given, "timeout_destination": "hangup", "invalid_destination": "hangup"})))
            # Made first, so that a destination naming the menu itself is a cycle, not unknown.
            db.execute(menus.update().where(menus.c.name == clean).values(
                **self._menu_values(db, {k: given[k] for k in _DESTINATIONS})))
            chosen = {pr.menu_key(k): self._key_destination(db, v)
                      for k, v in (keys or {}).items()}
            for key, dest in chosen.items():
                self._write_key(db, clean, key, dest)
            self._check_routing(db)
            self._log(db, "menu.added", clean, {
                "menu": clean, "fields": sorted({"text", *fields}),
                "keys": sorted(chosen, key=_key_order)}, now)
            return self._menu(db, clean)

    def update_menu(self, name: str, **fields: Any) -> Menu:
        """Change any of ``MENU_FIELDS`` (the keys: ``set_menu_key``, ``remove_menu_key``)."""
        check_fields(fields)
        now = self.clock()
        with self.store.write() as db:
            current = self._menu(db, name)
            values = self._menu_values(db, fields)
            if values:
                db.execute(menus.update().where(menus.c.name == current.name).values(**values))
                self._check_routing(db)
                self._log(db, "menu.updated", current.name,
                          {"menu": current.name, "fields": sorted(fields)}, now)
            return self._menu(db, current.name)

    def set_menu_key(self, name: str, key: str, destination: Destination | str) -> Menu:
        """Send the calls of a menu's ``key`` (0-9, *) to ``destination`` (or ``repeat``:
        play the menu again), in place of what it did before."""
        chosen = pr.menu_key(key)
        now = self.clock()
        with self.store.write() as db:
            current = self._menu(db, name)
            dest = self._key_destination(db, destination)
            self._write_key(db, current.name, chosen, dest)
            self._check_routing(db)
            names = {c.id: c.name for c in self._connections(db)}
            via = names.get(dest.connection_id) if dest.connection_id is not None else None
            self._log(db, "menu.key_set", current.name, {
                "menu": current.name, "key": chosen,
                "destination": pr.destination_text(dest, via)}, now)
            return self._menu(db, current.name)

    def remove_menu_key(self, name: str, key: str) -> Menu:
        """Take a key off a menu (pressing it is then an invalid key)."""
        chosen = pr.menu_key(key)
        now = self.clock()
        with self.store.write() as db:
            current = self._menu(db, name)
            if chosen not in current.keys:
                raise NotFoundError(f"key: menu {current.name!r} has no key {chosen}", "key")
            db.execute(delete(menu_keys).where(menu_keys.c.menu == current.name,
                                               menu_keys.c.key == chosen))
            self._log(db, "menu.key_removed", current.name,
                      {"menu": current.name, "key": chosen}, now)
            return self._menu(db, current.name)

    def remove_menu(self, name: str) -> None:
        """Delete a menu (and its keys) no number, queue or other menu sends calls to."""
        now = self.clock()
        with self.store.write() as db:
            current = self._menu(db, name)
            clean = current.name
            users = [f"number {did}" for did in db.execute(select(numbers.c.did).where(or_(
                (numbers.c.dest_kind == "menu") & (numbers.c.dest_target == clean),
                (numbers.c.after_kind == "menu") & (numbers.c.after_target == clean),
            )).order_by(numbers.c.did)).scalars()]
            users += [f"queue {q}" for q in db.execute(select(queues.c.name).where(
                queues.c.fallback_kind == "menu", queues.c.fallback_target == clean)
                .order_by(queues.c.name)).scalars()]
            users += menu_users(db, Destination("menu", clean), but=clean)
            if users:
                raise ConflictError(
                    f"menu: {clean!r} is where {', '.join(users)} send calls; "
                    "change those first", "menu")
            db.execute(delete(menu_keys).where(menu_keys.c.menu == clean))
            db.execute(delete(menus).where(menus.c.name == clean))
            self._log(db, "menu.removed", clean, {"menu": clean}, now)


def check_speak_save(plan: P, current: Menu | None, fields: Mapping[str, Any],
                     speak: Callable[[str, str], object], save: Callable[[P], T],
                     check: Callable[[P], object] | None = None) -> T:
    """Make a menu change that may need its text spoken: ``check`` it in full (fields, what
    it names, routing cycles; ``save`` itself when not given) on a copy of ``plan`` in a
    transaction rolled back, so a refusal is raised before anything is spoken or written;
    then ``speak(text, language)`` when the menu fields changed, ``fields``, give it
    something new to say over ``current`` (None: a new menu; ``plan_rules.menu_to_speak``),
    a PromptError refused as the ValidationError of ``text`` with nothing written; then
    ``save`` for real, in one transaction (all of it or nothing), and give back what it
    returns."""
    def bound_to(store: Store) -> P:
        return type(plan)(store, actor=plan.actor, clock=plan.clock)

    with one_transaction(plan.store, keep=lambda: False) as trial:
        (check or save)(bound_to(trial))
    todo = pr.menu_to_speak(current, fields)
    if todo is not None:
        try:
            speak(*todo)
        except PromptError as exc:
            raise ValidationError(f"text: {exc}", "text") from exc
    with one_transaction(plan.store, keep=lambda: True) as real:
        return save(bound_to(real))
