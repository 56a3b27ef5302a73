"""The call plan over a temporary store: round trips, validation naming the field, audit
and events in the same transaction, no connection password anywhere but its column, cycles
refused on save, CSV import of contacts and holidays, and a store upgraded to 0006c."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text

from appliance.callplan import inbound
from appliance.callplan.inbound import InboundCall, RingExtension, RingQueue
from appliance.callplan.model import Destination, Server
from appliance.directory import Directory
from appliance.directory.office import CallPlanDirectory, import_contacts, import_holidays
from appliance.errors import ConflictError, NotFoundError, ValidationError
from appliance.store import Store, current_revision, head_revision, open_store, upgrade
from appliance.store.tables import audit, events

SECRET = "Tr0nk-s3cret!x"


@pytest.fixture
def plan(store: Store) -> CallPlanDirectory:
    return CallPlanDirectory(store, actor="test")


@pytest.fixture
def staff(directory: Directory) -> dict[str, int]:
    ids = {}
    for number, name, mobile in (("101", "An", "84912345678"), ("102", "Binh", None),
                                 ("103", "Chi", None)):
        person = directory.add_employee(name, mobile=mobile)
        directory.add_extension(number, permission="mobile")
        directory.assign_extension(number, person.id)
        ids[number] = person.id
    directory.add_extension("104")  # free
    return ids


def trunk(plan: CallPlanDirectory, name: str = "vnpt", **kw: object) -> object:
    fields: dict[str, object] = {"username": "842838123456", "password": SECRET,
                                 "number_format": "intl_digits", **kw}
    return plan.add_connection(name, "register", ["sip.vnpt.test", "sip2.vnpt.test:5080;"
                                                  "transport=tcp"], **fields)


def everything_written(store: Store) -> str:
    with store.read() as conn:
        rows = conn.execute(select(audit.c.detail)).all() + conn.execute(
            select(events.c.payload)).all()
    return repr(rows)


def test_connection_round_trip_with_failover_order(plan: CallPlanDirectory,
                                                   staff: dict[str, int]) -> None:
    trunk(plan, caller_id="028 3812 3456", codecs=["pcma", "G722"], max_calls=4,
          allowed_extensions=["101"], allowed_groups=["sales"], prefix="*123*")
    got = plan.get_connection("vnpt")
    assert got.servers == (Server("sip.vnpt.test", 0, "udp"),
                           Server("sip2.vnpt.test", 5080, "tcp"))
    assert (got.caller_id, got.codecs, got.max_calls, got.prefix) == (
        "+842838123456", ("PCMA", "G722"), 4, "*123*")
    assert got.allowed_extensions == {"101"} and got.allowed_groups == {"sales"}
    assert got.default and got.password == SECRET and SECRET not in repr(got)
    assert SECRET not in everything_written(plan.store)
    plan.update_connection("vnpt", password="An0ther-secret", servers=["[2001:db8::1]:5061;"
                                                                       "transport=tls"])
    got = plan.get_connection("vnpt")
    assert got.servers == (Server("2001:db8::1", 5061, "tls"),)
    assert "An0ther-secret" not in everything_written(plan.store)


def test_an_ip_connection_needs_sources_a_register_one_credentials(
        plan: CallPlanDirectory) -> None:
    with pytest.raises(ValidationError) as caught:
        plan.add_connection("pbx", "ip", ["10.0.0.1"])
    assert caught.value.field == "allowed_sources"
    pbx = plan.add_connection("pbx", "ip", ["10.0.0.1"],
                              allowed_sources=["10.0.0.1", "10.0.1.0/28"])
    assert pbx.allowed_sources == ("10.0.0.1", "10.0.1.0/28")
    with pytest.raises(ValidationError) as caught:
        plan.add_connection("carrier", "register", ["sip.test"], username="u")
    assert caught.value.field == "password"


@pytest.mark.parametrize(("field", "value"), [
    ("name", "a" * 33), ("name", "bad name"), ("kind", "sip"),
    ("servers", ["host:99999"]), ("servers", ["bad_host!"]), ("servers", []),
    ("servers", ["a.test:5060;transport=sctp"]), ("servers", ["h.test"] * 2),
    ("username", "u" * 65), ("password", "p" * 129), ("password", "has space"),
    ("allowed_sources", ["10.0.0.1/24"]), ("allowed_sources", ["example.com"]),
    ("caller_id", "12"), ("number_format", "e164"), ("max_calls", -1), ("codecs", ["mp3"]),
    ("allowed_extensions", ["10001"]), ("allowed_groups", ["sales team"]),
    ("prefix", "0123"), ("prefix", "*12345678*"), ("default", "maybe"),
])
def test_connection_fields_are_checked_by_name(plan: CallPlanDirectory, field: str,
                                               value: object) -> None:
    fields: dict[str, object] = {"username": "u", "password": "secret-secret"}
    name, kind, servers = "ok", "register", ["sip.test"]
    if field == "name":
        name = str(value)
    elif field == "kind":
        kind = str(value)
    elif field == "servers":
        servers = value  # type: ignore[assignment]
    else:
        fields[field] = value
    with pytest.raises(ValidationError) as caught:
        plan.add_connection(name, kind, servers, **fields)
    assert caught.value.field == field
    assert "p" * 129 not in str(caught.value) and "has space" not in str(caught.value)


def test_one_default_the_first_and_a_removed_default_passes_on(
        plan: CallPlanDirectory) -> None:
    trunk(plan, "a")
    trunk(plan, "b", prefix="802")
    assert [c.default for c in plan.list_connections()] == [True, False]
    plan.update_connection("b", default=True)
    assert [c.default for c in plan.list_connections()] == [False, True]
    with pytest.raises(ConflictError):
        plan.update_connection("b", default=False)
    with pytest.raises(ConflictError, match="prefix"):
        trunk(plan, "c", prefix="802")
    plan.remove_connection("b")
    assert [(c.name, c.default) for c in plan.list_connections()] == [("a", True)]
    with pytest.raises(NotFoundError):
        plan.remove_connection("b")


def test_numbers_and_queues_round_trip_and_route(plan: CallPlanDirectory,
                                                  staff: dict[str, int]) -> None:
    trunk(plan)
    plan.set_hours("office", "Asia/Ho_Chi_Minh", ["mon-fri 08:00-17:30"])
    plan.add_queue("sales", ["101", "102", "104"], strategy="in_order", ring_time=15,
                   timeout=30, fallback="extension:103")
    number = plan.add_number("028 3812 3456", "vnpt", "queue:sales", hours="office",
                             after_hours="hangup", no_answer="mobile", ring_timeout=25)
    assert number.did == "+842838123456" and number.destination == Destination("queue", "sales")
    assert plan.get_connection("vnpt").dids == ("+842838123456",)
    assert plan.get_queue("sales").members == ("101", "102", "104")
    routing = plan.routing()
    assert routing.hours["office"].weekly and routing.directory.reachable("104") is None
    monday_10 = datetime(2027, 3, 1, 3, tzinfo=UTC)
    steps = inbound.plan(number, InboundCall("0903000111", to_user="102"), monday_10,
                         routing).steps
    assert steps[0] == RingExtension("102", 25, "to_header")
    assert isinstance(steps[1], RingQueue)
    assert [r.extensions for r in steps[1].rounds] == [("101",), ("102",)]  # 104 is free
    plan.update_number(number.did, to_header=False, destination="outside:0909000000@vnpt")
    changed = plan.get_number("+842838123456")
    assert not changed.to_header and changed.destination == Destination(
        "outside", "+84909000000", plan.get_connection("vnpt").id)


def test_references_are_checked(plan: CallPlanDirectory, staff: dict[str, int]) -> None:
    trunk(plan)
    with pytest.raises(NotFoundError) as caught:
        plan.add_number("+842838123456", "nope")
    assert caught.value.field == "connection"
    for dest, field in (("extension:999", "destination"), ("queue:none", "destination"),
                        ("outside:0909000000@nope", "destination"), ("fax:1", "destination"),
                        ("hangup:101", "destination"), ("queue:sales@vnpt", "destination")):
        with pytest.raises((NotFoundError, ValidationError)) as error:
            plan.add_number("+842838123456", "vnpt", dest)
        assert error.value.field == field, dest
    with pytest.raises(NotFoundError) as caught:
        plan.add_number("+842838123456", "vnpt", hours="none")
    assert caught.value.field == "hours"
    with pytest.raises(ValidationError) as bad:
        plan.add_number("+842838123456", "vnpt", ring_timeout=2)
    assert bad.value.field == "ring_timeout"
    with pytest.raises(NotFoundError) as caught:
        plan.add_queue("q", ["999"])
    assert caught.value.field == "members"
    with pytest.raises(ValidationError, match="unknown number field"):
        plan.add_number("+842838123456", "vnpt", colour="red")
    assert plan.list_numbers() == []


def test_a_routing_cycle_is_refused_when_saved_and_nothing_is_kept(
        plan: CallPlanDirectory, staff: dict[str, int]) -> None:
    trunk(plan)
    plan.add_queue("sales", ["101"])
    plan.add_number("+842838000001", "vnpt", "queue:sales")
    plan.add_number("+842838000002", "vnpt", "extension:101")
    plan.update_queue("sales", fallback="outside:+842838000002")
    with pytest.raises(ValidationError, match="cycle") as caught:
        plan.update_number("+842838000002", destination="queue:sales")
    assert caught.value.field == "routing"
    assert plan.get_number("+842838000002").destination == Destination("extension", "101")
    with pytest.raises(ValidationError, match="cycle"):
        plan.update_queue("sales", fallback="queue:sales")
    with pytest.raises(ConflictError, match="sales"):
        plan.remove_queue("sales")
    with pytest.raises(ConflictError, match="used by"):
        plan.remove_connection("vnpt")


def test_every_change_is_audited_and_published(plan: CallPlanDirectory,
                                               staff: dict[str, int]) -> None:
    trunk(plan)
    plan.add_queue("sales", ["101"])
    plan.add_number("+842838123456", "vnpt", "queue:sales")
    plan.set_hours("office", "Asia/Ho_Chi_Minh", ["mon 08:00-17:00"])
    plan.add_holiday("office", "2027-02-05", "2027-02-11", "Tết")
    plan.set_override("office", "closed")
    plan.set_contact("0903000111", staff["101"], "Khách A")
    plan.set_presence(staff["102"], "on_break")
    plan.remove_contact("+84903000111")
    plan.remove_holiday("office", "2027-02-05")
    with plan.store.read() as conn:
        kinds = list(conn.execute(select(events.c.kind).order_by(events.c.id)).scalars())
        actions = list(conn.execute(select(audit.c.action).order_by(audit.c.id)).scalars())
    wanted = ["connection.added", "queue.added", "number.added", "hours.set", "holiday.added",
              "hours.override", "contact.set", "presence.set", "contact.removed",
              "holiday.removed"]
    assert [k for k in kinds if k in wanted] == wanted
    assert [a for a in actions if a in wanted] == wanted


def test_hours_holidays_presence_and_contacts_round_trip(plan: CallPlanDirectory,
                                                         directory: Directory,
                                                         staff: dict[str, int]) -> None:
    hours = plan.set_hours("office", "Asia/Ho_Chi_Minh", ["mon-fri 08:00-17:30",
                                                          "sat 20:00-mon 08:00"])
    assert len(hours.weekly) == 6 and hours.override == "auto"
    plan.add_holiday("office", date(2027, 2, 5), date(2027, 2, 11), "Tết Nguyên Đán")
    plan.add_holiday("office", "2027-04-30")
    got = plan.get_hours("office")
    assert [(h.first, h.last) for h in got.holidays] == [
        (date(2027, 2, 5), date(2027, 2, 11)), (date(2027, 4, 30), date(2027, 4, 30))]
    with pytest.raises(ValidationError) as caught:
        plan.set_hours("office", "Asia/Saigon_nowhere")
    assert caught.value.field == "zone"
    with pytest.raises(ValidationError) as caught:
        plan.add_holiday("office", "2027-02-11", "2027-02-05")
    assert caught.value.field == "last"
    presence = plan.set_presence(staff["101"], "off")
    assert presence.state == "off" and plan.routing().presence == {staff["101"]: "off"}
    plan.set_contact("+84903000111", staff["102"])
    assert plan.routing().contacts == {"+84903000111": staff["102"]}
    directory.dismiss(staff["103"])
    with pytest.raises(ConflictError):
        plan.set_presence(staff["103"], "working")
    with pytest.raises(ConflictError):
        plan.set_contact("+84903000222", staff["103"])
    with pytest.raises(ValidationError) as caught:
        plan.set_presence(staff["101"], "asleep")
    assert caught.value.field == "state"


def test_contacts_csv_import_is_all_or_nothing(plan: CallPlanDirectory, store: Store,
                                               staff: dict[str, int]) -> None:
    good = "number;extension;name\n0903000111;101;Khách A\n+84903000222;102;B\n"
    dry = import_contacts(store, good, "test", dry_run=True)
    assert not dry.problems and len(dry.changes) == 2 and plan.list_contacts() == []
    done = import_contacts(store, good, "test", dry_run=False)
    assert done.written and [c.number for c in plan.list_contacts()] == [
        "+84903000111", "+84903000222"]
    bad = f"number,employee_id\n0903000333,{staff['101']}\nnot-a-number,{staff['101']}\n" \
          "0903000444,999\n"
    result = import_contacts(store, bad, "test", dry_run=False)
    assert [(p.line, p.field) for p in result.problems] == [(3, "number"), (4, "employee")]
    assert len(plan.list_contacts()) == 2  # nothing of the bad file kept
    free = import_contacts(store, "number,extension\n0903000555,104\n", "test", False)
    assert free.problems[0].field == "extension"


def test_holidays_csv_import(plan: CallPlanDirectory, store: Store) -> None:
    plan.set_hours("office", "Asia/Ho_Chi_Minh", ["mon-fri 08:00-17:30"])
    tet = "first,last,name\n2027-02-05,2027-02-11,Tết\n2027-04-30,,Reunification\n"
    assert import_holidays(store, "office", tet, "test", dry_run=False).written
    assert [h.name for h in plan.get_hours("office").holidays] == ["Tết", "Reunification"]
    broken = import_holidays(store, "office", "first\n2027-13-01\n", "test", False)
    assert broken.problems[0].field == "first"
    assert import_holidays(store, "office", "name\nx\n", "test", False).problems


def test_presence_and_freed_extensions_reach_the_routing_view(
        plan: CallPlanDirectory, directory: Directory, staff: dict[str, int]) -> None:
    directory.unassign_extension("102")
    view = plan.routing().directory
    assert view.reachable("101") is not None and view.reachable("102") is None
    assert view.reachable("101").mobile == "84912345678"  # type: ignore[union-attr]
    directory.dismiss(staff["101"])
    assert plan.routing().directory.reachable("101") is None


def test_an_existing_store_upgrades_to_0006c(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(store, "0005g")
    upgrade(store, "0005s")
    upgrade(store, "0005p")
    upgrade(store, "0003w")
    assert "0006c" not in (current_revision(store) or "")
    Directory(store).add_employee("Before", mobile="84912345678")
    upgrade(store)
    assert current_revision(store) == head_revision()  # past 0007t (0008h's parent)
    assert "connection_status" in inspect(store.engine).get_table_names()
    with store.read() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM connections")).scalar() == 0
    plan = CallPlanDirectory(store)
    plan.set_presence(1, "working")
    assert plan.list_presence()[0].employee_id == 1
    store.dispose()


def test_the_password_is_never_shown_back(plan: CallPlanDirectory) -> None:
    got = trunk(plan)
    assert SECRET not in repr(got) and SECRET not in repr(plan.routing())
    assert SECRET not in repr(replace(plan.get_connection("vnpt"), name="x"))


def test_an_extension_s_own_no_answer_round_trips_and_reaches_routing(
        plan: CallPlanDirectory, directory: Directory, staff: dict[str, int]) -> None:
    trunk(plan)
    trunk(plan, "viettel", number_format="national")
    got = directory.update_extension("101", no_answer="Mobile", no_answer_connection="viettel",
                                     ring_timeout="12")
    viettel = plan.get_connection("viettel").id
    assert (got.no_answer, got.no_answer_connection, got.ring_timeout) == (
        "mobile", viettel, 12)
    view = plan.routing().directory.reachable("101")
    assert view is not None and (view.no_answer, view.no_answer_connection,
                                 view.ring_timeout) == ("mobile", viettel, 12)
    # A fresh extension follows the number; '' clears back to the number's.
    assert directory.get_extension("102").no_answer == "number"
    cleared = directory.update_extension("101", no_answer_connection="", ring_timeout="")
    assert (cleared.no_answer_connection, cleared.ring_timeout) == (None, None)
    # Bad values are refused by field name and change nothing.
    directory.update_extension("101", no_answer_connection="viettel")
    for field, value, error in (("no_answer", "fax", ValidationError),
                                ("ring_timeout", "3", ValidationError),
                                ("ring_timeout", "ten", ValidationError),
                                ("no_answer_connection", "nope", NotFoundError)):
        with pytest.raises(error) as caught:
            directory.update_extension("101", **{field: value})
        assert caught.value.field == field
    assert directory.get_extension("101").no_answer_connection == viettel
    # A connection an extension forwards through is not removed from under it.
    with pytest.raises(ConflictError, match="extension 101"):
        plan.remove_connection("viettel")


def test_extensions_upgrade_to_0010n_following_their_numbers(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(store, "0009k")
    with store.write() as conn:
        conn.execute(text(
            "INSERT INTO extensions (number, permission, receive, sip_username, sip_password,"
            " password_changed_at, created_at) VALUES ('101', 'internal', 'both', '101',"
            " 'x', '2026-12-01 00:00:00.000000', '2026-12-01 00:00:00.000000')"))
    upgrade(store)
    ext = Directory(store).get_extension("101")
    assert (ext.no_answer, ext.no_answer_connection, ext.ring_timeout) == ("number", None, None)
    store.dispose()
