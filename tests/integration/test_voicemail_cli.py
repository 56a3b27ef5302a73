"""Voicemail from the CLI over a real migrated store: a box set and an own greeting uploaded
by separate ``python -m appliance`` processes; the rest run in this process (click's
runner) for speed: the box shown (never its PIN), messages listed (by the extension's holder
now, or by employee), removed with their file; a reused extension showing the new holder's
empty box; and every refusal one line on stderr, exit code 1 (2 for click's own usage
errors), nothing changed."""

from __future__ import annotations

import gc
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from appliance.cli import cli
from appliance.directory import Directory
from appliance.directory.voicemail import VoicemailDirectory, folder_of
from appliance.media import prompts
from appliance.store import Store, open_store
from appliance.store.tables import audit
from tests.integration.conftest import appliance, appliance_json, write_config

MEDIA = Path(__file__).resolve().parents[1] / "data" / "media"


class Box:
    """A test box: its config, data folder, store and the employees An (101), Bình (102);
    extension 103 is free."""

    def __init__(self, tmp_path: Path) -> None:
        self.config = write_config(tmp_path, web=False)
        self.data = tmp_path / "data"
        ran = self.run("init")
        assert ran.exit_code == 0, ran.output
        self.store: Store = open_store(f"sqlite:///{self.data / 'appliance.db'}", create=False)
        self.directory = Directory(self.store, actor="test")
        self.an = self.directory.add_employee("An").id
        self.binh = self.directory.add_employee("Bình").id
        for number in ("101", "102", "103"):
            self.directory.add_extension(number)
        self.directory.assign_extension("101", self.an)
        self.directory.assign_extension("102", self.binh)
        self.vm = VoicemailDirectory(self.store, actor="sip")

    def run(self, *args: str) -> Result:
        """``appliance ARGS --config CONFIG`` in this process. The command's own store is
        never disposed (its process would end): collected here, or this process's other
        connections to the file could go on reading an old snapshot."""
        try:
            return CliRunner().invoke(cli, [*args, "--config", str(self.config)])
        finally:
            gc.collect()

    def json(self, *args: str) -> Any:
        ran = self.run(*args, "--json")
        assert ran.exit_code == 0, ran.output
        return json.loads(ran.stdout)

    def message(self, employee_id: int, extension: str, name: str) -> int:
        """A message the daemon kept: its WAV written, then its row."""
        wav = folder_of(self.data) / str(employee_id) / name
        wav.parent.mkdir(parents=True, exist_ok=True)
        wav.write_bytes(b"RIFF" + b"\0" * 1000)
        return self.vm.keep(employee_id, extension, caller="0909123456", caller_name="Khách",
                            call_ref="ab12cd34", path=f"{employee_id}/{name}", seconds=4.0,
                            bytes_=1004).id

    def audited(self) -> list[tuple[str, dict[str, Any]]]:
        with self.store.read() as db:
            return [(r.action, dict(r.detail)) for r in db.execute(
                select(audit).where(audit.c.action.like("voicemail.%")).order_by(audit.c.id))]

    def files(self) -> list[str]:
        folder = folder_of(self.data)
        return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def box(tmp_path: Path) -> Any:
    made = Box(tmp_path)
    yield made
    made.store.dispose()


def test_a_box_set_and_a_greeting_uploaded_by_the_real_cli(box: Box) -> None:
    shown = appliance_json(box.config, "voicemail", "box", "101", "--off", "--pin", "2468",
                           "--email", "an@example.com", "--language", "vi")
    assert shown == {"extension": "101", "employee_id": box.an, "employee": "An",
                     "enabled": False, "has_pin": True, "email": "an@example.com",
                     "language": "vi", "greeting": "built-in", "greeting_seconds": None,
                     "new": 0, "old": 0}
    assert box.vm.check_pin(box.an, "2468")
    made = appliance(box.config, "voicemail", "greeting", "101", str(MEDIA / "hold-mono.mp3"))
    wav = folder_of(box.data) / str(box.an) / "greeting.wav"
    seconds = round(prompts.wav_seconds(wav), 1)
    assert 1.9 <= seconds <= 2.2
    assert f"greeting     own ({seconds} s)" in made.stdout and "2468" not in made.stdout
    assert (folder_of(box.data) / str(box.an)).stat().st_mode & 0o077 == 0
    assert box.vm.box(box.an).greeting == f"{box.an}/greeting.wav"
    assert [a for a, _ in box.audited()] == ["voicemail.updated", "voicemail.greeting_set"]
    assert "2468" not in repr(box.audited())


def test_the_box_of_an_extension_shown_and_changed(box: Box) -> None:
    lines = box.run("voicemail", "show", "101").stdout.splitlines()
    assert lines == ["extension    101", f"employee_id  {box.an}", "employee     An",
                     "enabled      yes", "pin          not set", "email        -",
                     "language     en", "greeting     built-in", "new          0",
                     "old          0"]
    assert box.json("voicemail", "box", "101", "--pin", "13572468")["has_pin"] is True
    changed = box.json("voicemail", "box", "101", "--no-pin", "--no-email", "--on")
    assert (changed["has_pin"], changed["email"], changed["enabled"]) == (False, None, True)
    assert box.json("voicemail", "box", "102", "--language", "vi")["language"] == "vi"
    assert box.json("voicemail", "show", "101")["language"] == "en"  # An's box, not Bình's
    assert box.audited() == [
        ("voicemail.updated", {"employee_id": box.an, "fields": ["pin"]}),
        ("voicemail.updated", {"employee_id": box.an, "fields": ["pin"]}),
        ("voicemail.updated", {"employee_id": box.binh, "fields": ["language"]})]


def test_messages_listed_by_holder_and_removed_with_their_file(box: Box) -> None:
    first = box.message(box.an, "101", "a.wav")
    other = box.message(box.binh, "102", "b.wav")
    second = box.message(box.an, "101", "c.wav")
    box.vm.mark_heard(first)
    listed = box.json("voicemail", "list")
    assert [m["id"] for m in listed] == [second, other, first]
    assert listed[2] == {"id": first, "extension": "101",
                         "received_at": listed[2]["received_at"], "employee_id": box.an,
                         "employee": "An", "caller": "0909123456", "caller_name": "Khách",
                         "call_ref": "ab12cd34", "seconds": 4.0, "bytes": 1004,
                         "path": f"{box.an}/a.wav", "heard": True}
    assert [m["id"] for m in box.json("voicemail", "list", "--extension", "101")] == [
        second, first]
    table = box.run("voicemail", "list", "--extension", "102").stdout.splitlines()
    assert table[0].split() == ["ID", "EXTENSION", "EMPLOYEE", "CALLER", "RECEIVED_AT",
                                "SECONDS", "SIZE", "HEARD"]
    assert "Bình (#2)" in table[1] and "0909123456 (Khách)" in table[1] and "new" in table[1]
    shown = box.json("voicemail", "show", "101")
    assert (shown["new"], shown["old"]) == (1, 1)
    removed = box.run("voicemail", "remove", str(first))
    assert removed.exit_code == 0
    assert removed.stdout == f"voicemail message {first} removed ({box.an}/a.wav)\n"
    assert box.files() == [f"{box.an}/c.wav", f"{box.binh}/b.wav"]
    assert [m.id for m in box.vm.messages()] == [second, other]
    assert box.audited() == [("voicemail.removed", {
        "employee_id": box.an, "message": first, "extension": "101", "caller": "0909123456"})]


def test_a_reused_extension_never_shows_the_earlier_holders_messages(box: Box) -> None:
    kept = box.message(box.an, "101", "a.wav")
    box.json("voicemail", "box", "101", "--language", "vi")
    box.directory.dismiss(box.an)
    assert "extension 101 is free" in box.run("voicemail", "show", "101").stderr
    newcomer = box.directory.add_employee("Cường").id
    box.directory.assign_extension("101", newcomer)
    shown = box.json("voicemail", "show", "101")
    assert (shown["employee"], shown["language"], shown["new"], shown["old"]) == (
        "Cường", "en", 0, 0)
    assert box.json("voicemail", "list", "--extension", "101") == []
    kept_rows = box.json("voicemail", "list", "--employee", str(box.an))
    assert [m["id"] for m in kept_rows] == [kept]  # a dismissed employee's messages are kept


@pytest.mark.parametrize(("args", "words"), [
    (("show", "999"), "extension 999 does not exist"),
    (("show", "103"), "extension 103 is free: no employee's voicemail box is there"),
    (("show", "12a"), "an extension is 1 to 4 digits"),
    (("list", "--extension", "103"), "extension 103 is free"),
    (("box", "101", "--pin", "12"), "pin: 4 to 8 digits"),
    (("box", "101", "--pin", "123456789"), "pin: 4 to 8 digits"),
    (("box", "101", "--pin", "1234", "--no-pin"), "set a PIN or clear it, not both"),
    (("box", "101", "--email", "an at example"), "email: an e-mail address such as"),
    (("box", "101", "--email", "an@example.com", "--no-email"), "not both"),
    (("box", "103", "--on"), "extension 103 is free"),
    (("greeting", "101", "{media}/hold-stereo.mp3"),
     "the MP3 must be mono, this one has 2 channels (stereo)"),
    (("greeting", "101", "{tmp}/notes.mp3"), "not an MP3 file"),
    (("greeting", "101", "{tmp}/big.mp3"), "at most 2 MB, this one is 3.0 MB"),
    (("greeting", "101", "{tmp}/missing.mp3"), "cannot read missing.mp3"),
    (("greeting", "101"), "give an MP3 FILE, or --remove (not both)"),
    (("greeting", "101", "{media}/hold-mono.mp3", "--remove"), "not both"),
    (("greeting", "101", "--remove"), "the box has no own greeting"),
    (("greeting", "103", "{media}/hold-mono.mp3"), "extension 103 is free"),
    (("remove", "999"), "message: no voicemail message 999"),
], ids=lambda v: " ".join(v)[:40] if isinstance(v, tuple) else None)
def test_a_refusal_is_one_line_and_changes_nothing(box: Box, tmp_path: Path,
                                                   args: tuple[str, ...], words: str) -> None:
    (tmp_path / "notes.mp3").write_text("not music at all\n" * 50)
    (tmp_path / "big.mp3").write_bytes(b"\0" * (3 * 1024 * 1024))
    kept = box.message(box.an, "101", "a.wav")
    box.vm.set_box(box.an, pin="9999")
    before = (box.vm.box(box.an), box.vm.box(box.binh), box.audited(), box.files(),
              box.vm.messages())
    ran = box.run("voicemail", *(a.format(media=MEDIA, tmp=tmp_path) for a in args))
    assert ran.exit_code == 1, ran.output
    assert ran.stdout == ""
    assert ran.stderr.count("\n") == 1 and words in ran.stderr, ran.stderr
    assert "9999" not in ran.stderr and "123456789" not in ran.stderr
    assert (box.vm.box(box.an), box.vm.box(box.binh), box.audited(), box.files(),
            box.vm.messages()) == before
    assert box.vm.check_pin(box.an, "9999") and box.vm.message(kept).path == f"{box.an}/a.wav"


@pytest.mark.parametrize("args", [("box", "101", "--language", "fr"), ("remove", "0"),
                                  ("remove", "x"), ("list", "--employee", "0")])
def test_clicks_own_refusals_exit_2_and_change_nothing(box: Box, args: tuple[str, ...]) -> None:
    before = (box.vm.box(box.an), box.audited())
    ran = box.run("voicemail", *args)
    assert ran.exit_code == 2 and "Error:" in ran.stderr
    assert (box.vm.box(box.an), box.audited()) == before


def test_removing_the_own_greeting_goes_back_to_the_built_in_one(box: Box) -> None:
    shown = box.json("voicemail", "greeting", "102", str(MEDIA / "hold-mono.mp3"))
    assert shown["greeting"] == "own" and shown["greeting_seconds"] > 1
    assert box.files() == [f"{box.binh}/greeting.wav"]
    again = box.json("voicemail", "greeting", "102", "--remove")
    assert (again["greeting"], again["greeting_seconds"]) == ("built-in", None)
    assert box.files() == [] and box.vm.box(box.binh).greeting is None
    assert [a for a, _ in box.audited()] == ["voicemail.greeting_set",
                                            "voicemail.greeting_removed"]


def test_a_row_whose_file_is_missing_or_outside_is_removed_touching_nothing_else(
        box: Box, tmp_path: Path) -> None:
    from sqlalchemy import update

    from appliance.store.voicemail_tables import voicemail_messages

    gone = box.message(box.an, "101", "a.wav")
    (folder_of(box.data) / str(box.an) / "a.wav").unlink()
    assert box.run("voicemail", "remove", str(gone)).exit_code == 0
    precious = tmp_path / "precious.wav"
    precious.write_text("keep me")
    odd = box.message(box.an, "101", "b.wav")
    with box.store.write() as db:  # a row the daemon never writes: as if the store were edited
        db.execute(update(voicemail_messages).where(voicemail_messages.c.id == odd)
                   .values(path="../../precious.wav"))
    ran = box.run("voicemail", "remove", str(odd))
    assert ran.exit_code == 0 and "outside the voicemail folder" in ran.stdout
    assert precious.read_text() == "keep me" and box.vm.messages() == []
