"""Voicemail over a temporary store (``directory/voicemail.py``): a box per employee with its
defaults, the box of an extension only ever its active holder's (a freed extension given to
someone else never shows the earlier holder's messages; a dismissed employee's are kept);
box settings with every refusal changing nothing, the PIN hashed and never audited or
published; own greetings kept inside the employee's folder; messages kept, listed, heard,
counted, removed and listened to (audited), each change published as ``voicemail.changed``
for the phones' lamps; paths never leaving the voicemail folder; and a store at 0014q
upgraded to 0015v."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from argon2 import PasswordHasher
from sqlalchemy import inspect, select, text, update

from appliance.directory import Directory
from appliance.directory.voicemail import (
    VoicemailBox,
    VoicemailDirectory,
    VoicemailMessage,
    folder_of,
    greeting_path,
    message_file,
)
from appliance.errors import ConflictError, NotFoundError, ValidationError
from appliance.store import Store, current_revision, head_revision, open_store, upgrade
from appliance.store.migrate import MIGRATIONS
from appliance.store.tables import audit, events
from appliance.store.voicemail_tables import voicemail_boxes, voicemail_messages

T0 = datetime(2026, 3, 1, 8, tzinfo=UTC)
CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def wide(digits: str) -> str:
    """``digits`` in full-width forms (Unicode digits, but not 0-9)."""
    return "".join(chr(0xFF10 + int(d)) for d in digits)


class Clock:
    """A clock the test moves."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def vm(store: Store, clock: Clock) -> VoicemailDirectory:
    return VoicemailDirectory(store, actor="web:boss", clock=clock, hasher=CHEAP)


@pytest.fixture
def people(directory: Directory) -> tuple[int, int]:
    """An (holding 101) and Bình (holding 102), both active."""
    an = directory.add_employee("An").id
    binh = directory.add_employee("Bình").id
    directory.add_extension("101")
    directory.add_extension("102")
    directory.assign_extension("101", an)
    directory.assign_extension("102", binh)
    return an, binh


def audited(store: Store, prefix: str = "voicemail.") -> list[tuple[str, str, str, Any]]:
    with store.read() as db:
        return [(r.actor, r.action, r.target, dict(r.detail)) for r in db.execute(
            select(audit).where(audit.c.action.like(f"{prefix}%")).order_by(audit.c.id))]


def published(store: Store, prefix: str = "voicemail.") -> list[tuple[str, dict[str, Any]]]:
    with store.read() as db:
        return [(r.kind, dict(r.payload)) for r in db.execute(
            select(events).where(events.c.kind.like(f"{prefix}%")).order_by(events.c.id))]


def keep(vm: VoicemailDirectory, employee_id: int, extension: str = "101",
         name: str = "m1.wav", **extra: Any) -> VoicemailMessage:
    values: dict[str, Any] = {"caller": "0909123456", "caller_name": "Khách",
                              "call_ref": "ab12cd34", "seconds": 7.5, "bytes_": 120_044}
    return vm.keep(employee_id, extension, path=f"{employee_id}/{name}", **{**values, **extra})


# -- boxes --------------------------------------------------------------------------------------

def test_every_employee_has_the_default_box_until_it_is_set(
        vm: VoicemailDirectory, people: tuple[int, int], store: Store) -> None:
    an, _ = people
    assert vm.box(an) == VoicemailBox(an, enabled=True, has_pin=False, email=None,
                                      language="en", greeting=None)
    with pytest.raises(NotFoundError) as missing:
        vm.box(99)
    assert missing.value.field == "employee"
    with store.read() as db:
        assert db.execute(select(voicemail_boxes)).first() is None  # reading writes nothing


def test_the_box_of_an_extension_is_only_ever_its_active_holders(
        vm: VoicemailDirectory, directory: Directory, people: tuple[int, int]) -> None:
    an, binh = people
    vm.set_box(an, language="vi")
    assert vm.box_of_extension("101") == VoicemailBox(an, language="vi")
    assert vm.box_of_extension("102") == VoicemailBox(binh)
    directory.add_extension("103")
    for none in ("103", "999", "", "abc", "1' OR '1'='1"):  # free, unknown, nonsense
        assert vm.box_of_extension(none) is None, none
    old = keep(vm, an)
    directory.dismiss(an)
    assert vm.box_of_extension("101") is None  # freed with the dismissal
    assert vm.box(an).language == "vi"  # the dismissed employee's box is kept
    assert vm.messages(an) == [old]  # with their messages
    newcomer = directory.add_employee("Cường").id
    directory.assign_extension("101", newcomer)
    assert vm.box_of_extension("101") == VoicemailBox(newcomer)  # defaults, not An's
    assert vm.messages(extension="101") == [] and vm.counts(newcomer) == (0, 0)
    assert vm.messages(newcomer) == []


def test_set_box_changes_each_field_audited_by_name(
        vm: VoicemailDirectory, people: tuple[int, int], store: Store, clock: Clock) -> None:
    an, _ = people
    box = vm.set_box(an, enabled=False, email=" An.Nguyen@Example.COM ", language="vi")
    assert box == VoicemailBox(an, enabled=False, email="An.Nguyen@example.com", language="vi")
    clock.now += timedelta(minutes=1)
    assert vm.set_box(an, pin="2468").has_pin
    assert vm.set_box(an, enabled=False, language="vi") == vm.box(an)  # as it was
    box = vm.set_box(an, enabled=True, clear_email=True, clear_pin=True, language="en")
    assert box == VoicemailBox(an)
    assert vm.set_box(an, clear_pin=True, clear_email=True) == box  # nothing to clear
    assert audited(store) == [
        ("web:boss", "voicemail.updated", str(an),
         {"employee_id": an, "fields": ["email", "enabled", "language"]}),
        ("web:boss", "voicemail.updated", str(an), {"employee_id": an, "fields": ["pin"]}),
        ("web:boss", "voicemail.updated", str(an),
         {"employee_id": an, "fields": ["email", "enabled", "language", "pin"]})]
    with store.read() as db:
        assert db.execute(select(voicemail_boxes.c.updated_at)).scalar() == clock.now


def test_the_pin_is_kept_hashed_and_never_audited_or_published(
        vm: VoicemailDirectory, people: tuple[int, int], store: Store) -> None:
    an, binh = people
    assert not vm.check_pin(an, "2468")  # no PIN yet: nothing opens the box
    vm.set_box(an, pin="24681357")
    with store.read() as db:
        digest = db.execute(select(voicemail_boxes.c.pin_hash)).scalar_one()
        everything = repr(db.execute(select(audit)).all()) + repr(
            db.execute(select(events)).all())
    assert digest.startswith("$argon2id$") and "24681357" not in digest
    assert "24681357" not in everything
    assert vm.check_pin(an, "24681357")
    for wrong in ("24681358", "2468135", "", "abcd", "24681357 ", wide("24681357")):
        assert not vm.check_pin(an, wrong), wrong
    assert not vm.check_pin(binh, "24681357") and not vm.check_pin(99, "24681357")
    vm.set_box(an, pin="1111")  # a new PIN replaces the old one
    assert vm.check_pin(an, "1111") and not vm.check_pin(an, "24681357")
    vm.set_box(an, clear_pin=True)
    assert not vm.check_pin(an, "1111") and not vm.box(an).has_pin
    with store.write() as db:  # a hash the store holds but argon2 cannot read
        db.execute(update(voicemail_boxes).values(pin_hash="not a hash"))
    assert not vm.check_pin(an, "1111")


def test_the_default_hasher_is_the_web_users_profile(store: Store) -> None:
    hasher = VoicemailDirectory(store).hasher
    assert (hasher.time_cost, hasher.memory_cost, hasher.parallelism) == (2, 19_456, 1)


@pytest.mark.parametrize(("fields", "field", "words"), [
    ({"pin": "123"}, "pin", "pin: 4 to 8 digits"),
    ({"pin": "123456789"}, "pin", "pin: 4 to 8 digits"),
    ({"pin": "12a4"}, "pin", "pin: 4 to 8 digits"),
    ({"pin": " 1234"}, "pin", "pin: 4 to 8 digits"),
    ({"pin": wide("1234")}, "pin", "pin: 4 to 8 digits"),  # full-width digits
    ({"pin": "1234", "clear_pin": True}, "pin", "set a PIN or clear it, not both"),
    ({"email": "not an address"}, "email", "an e-mail address such as"),
    ({"email": "an@localhost"}, "email", "an e-mail address such as"),
    ({"email": "an@example..com"}, "email", "an e-mail address such as"),
    ({"email": "a@b.c\nBcc: x@y.z"}, "email", "an e-mail address such as"),
    ({"email": "a" * 250 + "@example.com"}, "email", "an e-mail address such as"),
    ({"email": "a@b.com", "clear_email": True}, "email", "set an e-mail address or clear"),
    ({"language": "fr"}, "language", "one of en, vi"),
    ({"enabled": "yes"}, "enabled", "true or false"),
], ids=lambda v: repr(v)[:30])
def test_a_bad_setting_is_refused_by_name_and_nothing_changes(
        vm: VoicemailDirectory, people: tuple[int, int], store: Store,
        fields: dict[str, Any], field: str, words: str) -> None:
    an, _ = people
    vm.set_box(an, pin="9999", email="an@example.com")
    before = (vm.box(an), audited(store), published(store))
    with pytest.raises(ValidationError) as caught:
        vm.set_box(an, **{"enabled": False, "language": "vi", **fields})
    assert caught.value.field == field and words in str(caught.value)
    if "pin" in fields:
        assert fields["pin"] not in str(caught.value) or fields["pin"] == "1234"
    assert (vm.box(an), audited(store), published(store)) == before
    assert vm.check_pin(an, "9999")


def test_an_unknown_or_dismissed_employees_box_cannot_be_changed(
        vm: VoicemailDirectory, directory: Directory, people: tuple[int, int],
        store: Store) -> None:
    an, _ = people
    with pytest.raises(NotFoundError):
        vm.set_box(99, enabled=False)
    with pytest.raises(NotFoundError):
        vm.set_greeting(99, "99/greeting.wav")
    directory.dismiss(an)
    with pytest.raises(ConflictError, match=f"employee {an} is dismissed"):
        vm.set_box(an, pin="1234")
    with pytest.raises(ConflictError):
        vm.set_greeting(an, greeting_path(an))
    assert vm.box(an) == VoicemailBox(an) and audited(store) == []


# -- greetings ----------------------------------------------------------------------------------

def test_an_own_greeting_is_set_replaced_and_removed_audited(
        vm: VoicemailDirectory, people: tuple[int, int], store: Store) -> None:
    an, _ = people
    assert greeting_path(an) == f"{an}/greeting.wav"
    assert vm.set_greeting(an, None) == VoicemailBox(an)  # none to remove: nothing done
    assert vm.set_greeting(an, greeting_path(an)).greeting == f"{an}/greeting.wav"
    vm.set_greeting(an, greeting_path(an))  # recorded again: a new file, audited again
    vm.set_box(an, pin="1234")
    assert vm.set_greeting(an, None) == VoicemailBox(an, has_pin=True)
    assert vm.set_greeting(an, None) == VoicemailBox(an, has_pin=True)
    assert [(a, d) for _, a, _, d in audited(store)] == [
        ("voicemail.greeting_set", {"employee_id": an, "greeting": f"{an}/greeting.wav"}),
        ("voicemail.greeting_set", {"employee_id": an, "greeting": f"{an}/greeting.wav"}),
        ("voicemail.updated", {"employee_id": an, "fields": ["pin"]}),
        ("voicemail.greeting_removed", {"employee_id": an})]
    assert [k for k, _ in published(store)] == [
        "voicemail.greeting_set", "voicemail.greeting_set", "voicemail.updated",
        "voicemail.greeting_removed"]


@pytest.mark.parametrize("path", [
    "", "greeting.wav", "/etc/passwd", "../greeting.wav", "{other}/greeting.wav",
    "{me}/../{other}/greeting.wav", "{me}/a\x00b.wav", "{me}\\greeting.wav",
    "{me}/" + "x" * 255, "{me}", "{me}/"])
def test_a_greeting_outside_the_employees_own_folder_is_refused(
        vm: VoicemailDirectory, people: tuple[int, int], store: Store, path: str) -> None:
    an, binh = people
    with pytest.raises(ValidationError) as caught:
        vm.set_greeting(an, path.format(me=an, other=binh))
    assert caught.value.field == "greeting"
    assert vm.box(an).greeting is None and audited(store) == []


# -- messages -----------------------------------------------------------------------------------

def test_a_message_is_kept_listed_and_published_for_the_lamps(
        vm: VoicemailDirectory, people: tuple[int, int], store: Store, clock: Clock) -> None:
    an, binh = people
    first = keep(vm, an)
    assert first == VoicemailMessage(first.id, an, "101", "0909123456", "Khách", "ab12cd34",
                                     f"{an}/m1.wav", 7.5, 120_044, T0, False)
    clock.now = T0 + timedelta(minutes=3)
    second = keep(vm, an, name="m2.wav", caller=" 028 3822 1234 ", caller_name="  ",
                  call_ref=None, seconds=0, bytes_=0)
    assert (second.caller, second.caller_name, second.call_ref) == ("028 3822 1234", None,
                                                                    None)
    other = keep(vm, binh, "102")
    assert vm.messages() == [other, second, first]  # the same time: the later id first
    assert vm.messages(an) == [second, first]  # newest first
    assert vm.messages(binh) == [other]
    assert vm.messages(extension="101") == [second, first]
    assert vm.messages(an, extension="101") == [second, first]
    assert vm.messages(binh, extension="101") == []
    assert vm.messages(extension="103") == [] and vm.messages(99) == []
    assert vm.message(first.id) == first
    assert published(store) == [
        ("voicemail.changed", {"employee_id": an, "extension": "101"}),
        ("voicemail.changed", {"employee_id": an, "extension": "101"}),
        ("voicemail.changed", {"employee_id": binh, "extension": "102"})]
    assert audited(store) == []  # the daemon keeping a message is no admin's change


def test_the_order_is_by_time_then_id(vm: VoicemailDirectory, people: tuple[int, int]) -> None:
    an, binh = people
    a = keep(vm, an)
    b = keep(vm, binh, "102")
    c = keep(vm, an, name="m2.wav")
    assert [m.id for m in vm.messages()] == [c.id, b.id, a.id]


def test_an_event_names_the_extension_held_now_or_none(
        vm: VoicemailDirectory, directory: Directory, people: tuple[int, int],
        store: Store) -> None:
    an, _ = people
    message = keep(vm, an)
    directory.unassign_extension("101")
    directory.add_extension("105")
    directory.assign_extension("105", an)
    vm.mark_heard(message.id)
    directory.dismiss(an)
    kept = keep(vm, an, "105", name="late.wav")  # a message converted after the dismissal
    vm.remove_message(kept.id)
    assert [p["extension"] for _, p in published(store, "voicemail.changed")] == [
        "101", "105", None, None]


@pytest.mark.parametrize(("fields", "field"), [
    ({"extension": "12345"}, "extension"), ({"extension": ""}, "extension"),
    ({"caller": ""}, "caller"), ({"caller": "   "}, "caller"), ({"caller": "9" * 65}, "caller"),
    ({"caller": "09\x0012"}, "caller"), ({"caller_name": "x" * 101}, "caller_name"),
    ({"call_ref": ""}, "call_ref"), ({"call_ref": "x" * 33}, "call_ref"),
    ({"path": "m.wav"}, "path"), ({"path": "/etc/passwd"}, "path"),
    ({"path": "{me}/../{other}/m.wav"}, "path"), ({"path": "{other}/m.wav"}, "path"),
    ({"path": "../m.wav"}, "path"), ({"seconds": -1.0}, "seconds"),
    ({"bytes_": -1}, "seconds"),
], ids=lambda v: repr(v)[:30])
def test_a_bad_message_is_not_kept(vm: VoicemailDirectory, people: tuple[int, int],
                                   store: Store, fields: dict[str, Any], field: str) -> None:
    an, binh = people
    values: dict[str, Any] = {"extension": "101", "caller": "0909123456", "caller_name": None,
                              "call_ref": None, "path": f"{an}/m.wav", "seconds": 1.0,
                              "bytes_": 10}
    values.update(fields)
    values["path"] = values["path"].format(me=an, other=binh)
    extension = values.pop("extension")
    with pytest.raises(ValidationError) as caught:
        vm.keep(an, extension, **values)
    assert caught.value.field == field
    assert vm.messages() == [] and published(store) == []


def test_a_message_for_an_unknown_employee_is_not_kept(vm: VoicemailDirectory,
                                                       store: Store) -> None:
    with pytest.raises(NotFoundError):
        vm.keep(99, "101", caller="0909", caller_name=None, call_ref=None,
                path="99/m.wav", seconds=1.0, bytes_=10)
    assert vm.messages() == [] and published(store) == []


def test_heard_and_counts(vm: VoicemailDirectory, people: tuple[int, int],
                          store: Store) -> None:
    an, binh = people
    assert vm.counts(an) == (0, 0) and vm.counts(99) == (0, 0)
    one, two, _ = keep(vm, an), keep(vm, an, name="m2.wav"), keep(vm, binh, "102")
    assert vm.counts(an) == (2, 0) and vm.counts(binh) == (1, 0)
    assert vm.mark_heard(one.id).heard
    assert vm.counts(an) == (1, 1)
    assert vm.mark_heard(one.id) == vm.message(one.id)  # heard already: nothing published
    assert vm.mark_heard(two.id).heard and vm.counts(an) == (0, 2)
    assert not vm.mark_heard(one.id, heard=False).heard and vm.counts(an) == (1, 1)
    kinds = [p["employee_id"] for _, p in published(store)]
    assert kinds == [an, an, binh, an, an, an]
    with pytest.raises(NotFoundError) as missing:
        vm.mark_heard(9999)
    assert missing.value.field == "message"
    assert audited(store) == []


def test_removing_a_message_drops_its_row_audited_and_published(
        vm: VoicemailDirectory, people: tuple[int, int], store: Store) -> None:
    an, _ = people
    message = keep(vm, an)
    other = keep(vm, an, name="m2.wav")
    assert vm.remove_message(message.id) == message  # its path: the caller removes the file
    assert vm.messages(an) == [other] and vm.counts(an) == (1, 0)
    with pytest.raises(NotFoundError):
        vm.message(message.id)
    with pytest.raises(NotFoundError):
        vm.remove_message(message.id)
    assert audited(store) == [("web:boss", "voicemail.removed", str(an), {
        "employee_id": an, "message": message.id, "extension": "101",
        "caller": "0909123456"})]
    assert published(store)[-1] == ("voicemail.changed", {"employee_id": an,
                                                          "extension": "101"})


def test_a_bad_message_id_is_refused_by_name(vm: VoicemailDirectory) -> None:
    for bad in (0, -1, 2**31):
        with pytest.raises(ValidationError) as caught:
            vm.message(bad)
        assert caught.value.field == "message"


def test_listening_is_audited_as_the_user_without_the_sound(
        vm: VoicemailDirectory, people: tuple[int, int], store: Store) -> None:
    an, _ = people
    message = keep(vm, an)
    vm.listened(message.id, "played")
    vm.listened(message.id, "downloaded")
    with pytest.raises(ValidationError) as bad:
        vm.listened(message.id, "copied")
    assert bad.value.field == "how"
    with pytest.raises(NotFoundError):
        vm.listened(message.id + 1, "played")
    assert audited(store) == [
        ("web:boss", "voicemail.listened", str(an),
         {"employee_id": an, "message": message.id, "how": "played"}),
        ("web:boss", "voicemail.listened", str(an),
         {"employee_id": an, "message": message.id, "how": "downloaded"})]
    assert not vm.message(message.id).heard  # listening alone does not mark it
    assert [k for k, _ in published(store)] == ["voicemail.changed"]  # the keep only


# -- files --------------------------------------------------------------------------------------

def test_a_messages_file_is_only_ever_inside_the_voicemail_folder(tmp_path: Path) -> None:
    folder = folder_of(tmp_path)
    assert folder == tmp_path / "voicemail"
    (folder / "1").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (folder / "2").symlink_to(tmp_path / "elsewhere")

    def msg(path: str) -> VoicemailMessage:
        return VoicemailMessage(1, 1, "101", "0909", None, None, path, 1.0, 10, T0, False)

    assert message_file(folder, msg("1/m.wav")) == folder / "1" / "m.wav"
    for bad in ("../secret.wav", "/etc/passwd", "2/m.wav", "", "1/../../x.wav"):
        assert message_file(folder, msg(bad)) is None, bad


# -- the schema ---------------------------------------------------------------------------------

def test_a_store_at_0014q_upgrades_to_voicemail_keeping_its_employees(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(store, "0014q")
    assert "voicemail_boxes" not in inspect(store.engine).get_table_names()
    with store.write() as db:  # 0014q's code cannot run here: plain SQL
        db.execute(text("INSERT INTO employees (id, name, status, created_at) "
                        "VALUES (7, 'Old Timer', 'active', '2026-01-01 00:00:00')"))
    upgrade(store)
    assert current_revision(store) == head_revision()
    assert {"voicemail_boxes", "voicemail_messages"} <= set(
        inspect(store.engine).get_table_names())
    vm = VoicemailDirectory(store, hasher=CHEAP)
    assert vm.box(7) == VoicemailBox(7)
    vm.set_box(7, language="vi")
    with store.read() as db:
        row = db.execute(select(voicemail_boxes)).one()
        assert (row.enabled, row.language) == (True, "vi")
        assert db.execute(select(voicemail_messages)).first() is None
    down = AlembicConfig()
    down.set_main_option("script_location", str(MIGRATIONS))
    with store.write() as db:  # and back down
        down.attributes["connection"] = db
        command.downgrade(down, "0014q")
    assert "voicemail_boxes" not in inspect(store.engine).get_table_names()
    store.dispose()
