"""IVR menus over a temporary store (``directory/menus.py``): round trips with their keys,
every field refused by name with nothing stored, ``repeat`` for keys only, routing cycles
through menus, queues and numbers refused when saved, a menu (or a queue, a connection) kept
while something sends calls to it, every change audited and published, ``routing()``
carrying the menus; and the migrations making exactly the tables the code declares."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text

import appliance.store
from appliance.callplan.model import HANGUP, Destination, Menu
from appliance.directory import Directory
from appliance.directory.office import CallPlanDirectory
from appliance.errors import ConflictError, NotFoundError, ValidationError
from appliance.store import Store, current_revision, head_revision, open_store, upgrade
from appliance.store.tables import audit, events, metadata

OWN = "+842838000001"  # an office number
OTHER = "+842838000002"


@pytest.fixture
def plan(store: Store) -> CallPlanDirectory:
    return CallPlanDirectory(store, actor="test")


@pytest.fixture
def office(plan: CallPlanDirectory, directory: Directory) -> CallPlanDirectory:
    """Extensions 101 (assigned) and 102 (free), a connection, a queue and two numbers."""
    person = directory.add_employee("An", mobile="84912345678")
    directory.add_extension("101")
    directory.assign_extension("101", person.id)
    directory.add_extension("102")
    plan.add_connection("vnpt", "register", ["sip.vnpt.test"], username="842838000001",
                        password="Tr0nk-s3cret!x")
    plan.add_queue("sales", ["101"])
    plan.add_number(OWN, "vnpt", "hangup")
    plan.add_number(OTHER, "vnpt", "extension:101")
    return plan


def stored(plan: CallPlanDirectory) -> tuple[Any, ...]:
    """Everything a refused change must leave as it was."""
    with plan.store.read() as db:
        rows = (db.execute(text("SELECT * FROM menus ORDER BY name")).all(),
                db.execute(text("SELECT * FROM menu_keys ORDER BY menu, key")).all(),
                db.execute(select(audit.c.id)).all())
    return (*rows, plan.list_numbers(), plan.list_queues())


# -- round trips ------------------------------------------------------------------------------

def test_a_menu_round_trips_with_its_keys_and_reaches_routing(
        office: CallPlanDirectory) -> None:
    plan = office
    conn = plan.get_connection("vnpt").id
    made = plan.add_menu(
        "main", "  Press 1 for sales,\n 2 for An.  ", language="vi", extensions=False,
        timeout=8, timeout_retries=0, timeout_destination="queue:sales", invalid_retries=5,
        invalid_destination="outside:0909000000@vnpt",
        keys={"2": "extension:101", "1": "queue:sales", "*": "repeat", "0": "hangup"})
    assert made == Menu(
        "main", "Press 1 for sales, 2 for An.", "vi",
        {"1": Destination("queue", "sales"), "2": Destination("extension", "101"),
         "0": HANGUP, "*": Destination("repeat")},
        extensions=False, timeout=8, timeout_retries=0,
        timeout_destination=Destination("queue", "sales"), invalid_retries=5,
        invalid_destination=Destination("outside", "+84909000000", conn))
    assert list(made.keys) == ["1", "2", "0", "*"]  # keypad order
    plain = plan.add_menu("after-hours", "We are closed.")
    assert plain == Menu("after-hours", "We are closed.")  # the defaults
    assert [m.name for m in plan.list_menus()] == ["after-hours", "main"]
    assert plan.get_menu(" main ") == made

    changed = plan.update_menu("main", text="Press 1.", language="en", timeout="12",
                               extensions="yes", invalid_destination="menu:after-hours")
    assert (changed.text, changed.language, changed.timeout, changed.extensions) == (
        "Press 1.", "en", 12, True)
    assert changed.invalid_destination == Destination("menu", "after-hours")
    assert changed.keys == made.keys and changed.timeout_retries == 0  # the rest kept
    assert plan.update_menu("main") == changed  # nothing given: nothing changes

    plan.update_number(OWN, destination="menu:main", after_hours="menu:after-hours")
    routing = plan.routing()
    assert routing.menus == {"after-hours": plain, "main": changed}
    assert routing.numbers[OWN].destination == Destination("menu", "main")
    assert routing.menus["main"].keys["1"] == Destination("queue", "sales")


def test_keys_are_set_replaced_and_removed(office: CallPlanDirectory) -> None:
    plan = office
    plan.add_menu("main", "Hello.")
    plan.add_menu("sub", "Sub menu.")
    assert plan.set_menu_key("main", "1", "queue:sales").keys == {
        "1": Destination("queue", "sales")}
    plan.set_menu_key("main", " 9 ", "menu:sub")
    plan.set_menu_key("main", "*", Destination("repeat"))
    got = plan.set_menu_key("main", "1", "outside:0909000000@vnpt")  # replaced
    assert got.keys == {"1": Destination("outside", "+84909000000",
                                         plan.get_connection("vnpt").id),
                        "9": Destination("menu", "sub"), "*": Destination("repeat")}
    assert list(plan.remove_menu_key("main", "9").keys) == ["1", "*"]
    with pytest.raises(NotFoundError) as caught:
        plan.remove_menu_key("main", "9")
    assert caught.value.field == "key"
    with pytest.raises(NotFoundError) as caught:
        plan.set_menu_key("nope", "1", "hangup")
    assert caught.value.field == "menu"
    for key in "1234567890*":  # eleven keys at most, naturally
        plan.set_menu_key("sub", key, "hangup")
    assert len(plan.get_menu("sub").keys) == 11


# -- refusals ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("field", "value"), [
    ("name", "bad name"), ("name", "a" * 33), ("name", ""),
    ("text", ""), ("text", "   \n "), ("text", "x" * 1001), ("text", "bell\x07"),
    ("language", "fr"), ("extensions", "maybe"),
    ("timeout", 0), ("timeout", 31), ("timeout", "soon"),
    ("timeout_retries", -1), ("timeout_retries", 6), ("invalid_retries", 6),
    ("timeout_destination", "repeat"), ("invalid_destination", "repeat"),
    ("timeout_destination", "queue:none"), ("timeout_destination", "menu:none"),
    ("timeout_destination", "extension:999"), ("invalid_destination", "voicemail:999"),
    ("invalid_destination", "hangup:101"), ("invalid_destination", "menu:bad name"),
    ("invalid_destination", "outside:0909000000@nope"),
    ("key", "#"), ("key", "10"), ("key", "a"), ("key", ""),
    ("destination", "fax:101"), ("destination", "voicemail:"), ("destination", "menu:nope"),
    ("destination", "repeat:1"), ("destination", "queue:sales@vnpt"),
], ids=lambda value: repr(value)[:24])
def test_every_menu_field_is_refused_by_name_and_nothing_stored(
        office: CallPlanDirectory, field: str, value: Any) -> None:
    plan = office
    plan.add_menu("kept", "Kept.", keys={"1": "queue:sales"})
    before = stored(plan)
    name, words, fields, keys = "new", "Hello.", {}, {"1": "hangup"}
    if field == "name":
        name = value
    elif field == "text":
        words = value
    elif field == "key":
        keys = {value: "hangup"}
    elif field == "destination":
        keys = {"1": value}
    else:
        fields = {field: value}
    with pytest.raises((ValidationError, NotFoundError)) as caught:
        plan.add_menu(name, words, keys=keys, **fields)
    assert caught.value.field == field, caught.value
    assert str(caught.value).startswith(f"{field}: ")
    if field not in ("name", "key", "destination"):
        with pytest.raises((ValidationError, NotFoundError)) as caught:
            plan.update_menu("kept", **{field: value})
        assert caught.value.field == field
    if field in ("key", "destination"):
        key, dest = next(iter(keys.items()))
        with pytest.raises((ValidationError, NotFoundError)) as caught:
            plan.set_menu_key("kept", key, dest)
        assert caught.value.field == field
    assert stored(plan) == before


def test_unknown_fields_and_a_taken_name_are_refused(office: CallPlanDirectory) -> None:
    office.add_menu("main", "Hello.")
    with pytest.raises(ValidationError, match="unknown menu field: colour"):
        office.add_menu("other", "Hi.", colour="red")
    with pytest.raises(ValidationError, match="unknown menu field"):
        office.update_menu("main", keys={})
    with pytest.raises(ConflictError) as caught:
        office.add_menu("main", "Again.")
    assert caught.value.field == "name"
    with pytest.raises(NotFoundError) as missing:
        office.update_menu("nope", timeout=3)
    assert missing.value.field == "menu"
    assert [m.name for m in office.list_menus()] == ["main"]


def test_a_number_or_queue_sends_calls_to_an_existing_menu_only(
        office: CallPlanDirectory) -> None:
    with pytest.raises(NotFoundError) as caught:
        office.update_number(OWN, destination="menu:main")
    assert caught.value.field == "destination" and "no menu named 'main'" in str(caught.value)
    with pytest.raises(NotFoundError) as caught:
        office.update_queue("sales", fallback="menu:main")
    assert caught.value.field == "fallback"
    office.add_menu("main", "Hello.")
    assert office.update_number(OWN, destination="menu:main").destination == Destination(
        "menu", "main")
    assert office.update_queue("sales", fallback="menu:main").fallback == Destination(
        "menu", "main")
    with pytest.raises(ValidationError) as bad:
        office.update_number(OWN, after_hours="repeat")  # a menu key's only
    assert bad.value.field == "after_hours"


# -- routing cycles ---------------------------------------------------------------------------

def test_a_menu_menu_menu_cycle_is_refused_and_nothing_stored(
        office: CallPlanDirectory) -> None:
    plan = office
    plan.add_menu("a", "A.")
    plan.add_menu("b", "B.", keys={"1": "menu:a"})
    plan.add_menu("c", "C.", keys={"1": "menu:b"})
    before = stored(plan)
    with pytest.raises(ValidationError, match="cycle") as caught:
        plan.set_menu_key("a", "1", "menu:c")
    assert caught.value.field == "routing"
    assert "menu a -> menu c -> menu b -> menu a" in str(caught.value)
    with pytest.raises(ValidationError, match="cycle"):
        plan.update_menu("a", timeout_destination="menu:c")
    with pytest.raises(ValidationError, match="cycle"):
        plan.update_menu("a", invalid_destination="menu:a")  # itself
    with pytest.raises(ValidationError, match="cycle"):
        plan.add_menu("d", "D.", keys={"1": "menu:d"})  # itself, as it is made
    with pytest.raises(ValidationError, match="cycle"):
        plan.add_menu("d", "D.", timeout_destination="menu:d")
    assert stored(plan) == before
    plan.set_menu_key("a", "*", "repeat")  # playing itself again is no cycle
    plan.set_menu_key("a", "2", "queue:sales")  # a diamond neither: c -> b -> a, c -> a
    plan.set_menu_key("c", "2", "menu:a")


def test_a_cycle_through_a_queue_fallback_or_an_own_number_is_refused(
        office: CallPlanDirectory) -> None:
    plan = office
    plan.add_menu("main", "Hello.", keys={"1": "queue:sales"})
    plan.update_number(OWN, destination="menu:main")
    before = stored(plan)
    with pytest.raises(ValidationError, match="cycle") as caught:
        plan.update_queue("sales", fallback="menu:main")
    assert caught.value.field == "routing"
    assert "menu main -> queue sales -> menu main" in str(caught.value)
    with pytest.raises(ValidationError, match="cycle") as caught:
        plan.update_queue("sales", fallback=f"outside:{OWN}")  # back in through the carrier
    assert f"menu main -> queue sales -> number {OWN} -> menu main" in str(caught.value)
    with pytest.raises(ValidationError, match="cycle"):
        plan.update_menu("main", timeout_destination=f"outside:{OWN}")
    with pytest.raises(ValidationError, match="cycle"):
        plan.set_menu_key("main", "2", f"outside:{OWN}")
    assert stored(plan) == before
    assert plan.get_queue("sales").fallback == HANGUP


# -- removal ----------------------------------------------------------------------------------

def test_a_menu_is_kept_while_something_sends_calls_to_it(office: CallPlanDirectory) -> None:
    plan = office
    plan.add_menu("main", "Hello.")
    plan.add_menu("top", "Top.", keys={"1": "menu:main"})
    plan.add_menu("late", "Late.", timeout_destination="menu:main")
    plan.update_number(OWN, after_hours="menu:main")
    plan.update_queue("sales", fallback="menu:main")
    before = stored(plan)
    with pytest.raises(ConflictError) as caught:
        plan.remove_menu("main")
    assert caught.value.field == "menu"
    assert str(caught.value) == (
        f"menu: 'main' is where number {OWN}, queue sales, menu late, menu top send calls; "
        "change those first")
    assert stored(plan) == before
    plan.update_number(OWN, after_hours="")
    plan.update_queue("sales", fallback="hangup")
    plan.update_menu("late", timeout_destination="hangup")
    plan.remove_menu_key("top", "1")
    plan.set_menu_key("main", "1", "queue:sales")
    plan.remove_menu("main")
    assert [m.name for m in plan.list_menus()] == ["late", "top"]
    with plan.store.read() as db:
        assert db.execute(text("SELECT COUNT(*) FROM menu_keys WHERE menu = 'main'")
                          ).scalar() == 0
    with pytest.raises(NotFoundError) as missing:
        plan.remove_menu("main")
    assert missing.value.field == "menu"


def test_a_queue_or_connection_a_menu_uses_is_kept(office: CallPlanDirectory) -> None:
    plan = office
    plan.add_menu("main", "Hello.", keys={"1": "queue:sales"})
    with pytest.raises(ConflictError, match="'sales' is where menu main send calls"):
        plan.remove_queue("sales")
    plan.add_connection("viettel", "ip", ["10.0.0.1"], allowed_sources=["10.0.0.1"])
    plan.set_menu_key("main", "2", "outside:0909000000@viettel")
    with pytest.raises(ConflictError, match="'viettel' is used by menu main"):
        plan.remove_connection("viettel")
    plan.remove_menu_key("main", "2")
    plan.update_menu("main", invalid_destination="outside:0909000000@viettel")
    with pytest.raises(ConflictError, match="used by menu main"):
        plan.remove_connection("viettel")
    plan.update_menu("main", invalid_destination="hangup")
    plan.remove_connection("viettel")
    plan.remove_menu_key("main", "1")
    plan.remove_queue("sales")


# -- audit and events -------------------------------------------------------------------------

def test_every_menu_change_is_audited_and_published(office: CallPlanDirectory) -> None:
    plan = office
    plan.add_menu("main", "Secret-ish words.", timeout=7, keys={"1": "queue:sales"})
    plan.update_menu("main", text="Other words.", timeout_retries=1)
    plan.set_menu_key("main", "2", "outside:0909000000@vnpt")
    plan.remove_menu_key("main", "2")
    plan.remove_menu("main")
    with plan.store.read() as db:
        published = [(r.kind, r.payload) for r in db.execute(
            select(events.c.kind, events.c.payload).order_by(events.c.id))
            if r.kind.startswith("menu.")]
        audited = [(r.action, r.target, r.actor) for r in db.execute(
            select(audit.c.action, audit.c.target, audit.c.actor).order_by(audit.c.id))
            if r.action.startswith("menu.")]
    kinds = ["menu.added", "menu.updated", "menu.key_set", "menu.key_removed", "menu.removed"]
    assert [k for k, _ in published] == kinds
    assert audited == [(k, "main", "test") for k in kinds]
    assert published[0][1] == {"target": "main", "menu": "main", "keys": ["1"],
                               "fields": ["text", "timeout"]}
    assert published[1][1]["fields"] == ["text", "timeout_retries"]
    assert published[2][1] == {"target": "main", "menu": "main", "key": "2",
                               "destination": "outside:+84909000000@vnpt"}
    assert published[3][1] == {"target": "main", "menu": "main", "key": "2"}
    assert "words" not in repr(published) and "Tr0nk" not in repr(published)


# -- the store's schema -----------------------------------------------------------------------

def test_the_migrations_make_exactly_the_tables_the_code_declares(store: Store) -> None:
    package = appliance.store
    for module in pkgutil.iter_modules(package.__path__):
        if module.name.endswith("tables"):
            importlib.import_module(f"{package.__name__}.{module.name}")
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
    keys = inspect(store.engine).get_foreign_keys("menu_keys")
    assert {(k["referred_table"], k["options"].get("ondelete")) for k in keys} == {
        ("menus", "CASCADE"), ("connections", None)}


def test_a_store_at_0011g_upgrades_to_menus_keeping_its_numbers(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(store, "0011g")
    assert "menus" not in inspect(store.engine).get_table_names()
    plan = CallPlanDirectory(store)
    plan.add_connection("pbx", "ip", ["10.0.0.1"], allowed_sources=["10.0.0.1"])
    with store.write() as db:  # 0011g's code cannot run here: plain SQL
        db.execute(text(
            "INSERT INTO numbers (did, connection_id, to_header, contacts_map, dest_kind, "
            "dest_target, no_answer, ring_timeout) VALUES "
            f"('{OWN}', 1, 1, 1, 'hangup', '', 'continue', 20)"))
    upgrade(store)
    assert current_revision(store) == head_revision()
    assert {"menus", "menu_keys"} <= set(inspect(store.engine).get_table_names())
    plan.add_menu("main", "Hello.")
    assert plan.update_number(OWN, destination="menu:main").destination.kind == "menu"
    store.dispose()
