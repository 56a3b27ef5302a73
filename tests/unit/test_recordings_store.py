"""Call recordings over a temporary store (``directory/recordings.py``): kept, replaced for
the same call, read by id and by call refs; listening audited as the acting user with no
sound in it; the sweep by retention and by quota over real files, never outside the
recordings folder; the call history carrying each call's recording; an office number's
``record`` flag round trip; the daemon's writer keeping and sweeping; and a store at 0012m
upgraded to 0013r."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, inspect, select, text

from appliance.calls.recordings import RecordedCall, RecordingWriter, writer_for
from appliance.config.model import RecordingConfig
from appliance.directory import call_history
from appliance.directory.office import CallPlanDirectory
from appliance.directory.recordings import MB, Recording, RecordingsDirectory
from appliance.errors import NotFoundError, ValidationError
from appliance.store import Store, current_revision, head_revision, open_store, upgrade
from appliance.store.recording_tables import recordings
from appliance.store.tables import audit, events
from appliance.workers import Workers

T0 = datetime(2025, 3, 1, 8, tzinfo=UTC)
DID = "+842838000001"


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
def recs(store: Store, clock: Clock) -> RecordingsDirectory:
    return RecordingsDirectory(store, actor="web:boss", clock=clock)


def wav(folder: Path, path: str, size: int) -> Path:
    """A file of ``size`` bytes at ``path`` under ``folder``."""
    file = folder / path
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_bytes(b"R" * size)
    return file


def rows(store: Store) -> list[tuple[str, str]]:
    with store.read() as db:
        return [(r.call_ref, r.path) for r in db.execute(
            select(recordings).order_by(recordings.c.id))]


# -- keep, get, for_calls -----------------------------------------------------------------------

def test_a_recording_is_kept_read_and_replaced_for_the_same_call(
        recs: RecordingsDirectory, clock: Clock) -> None:
    first = recs.keep("ab12cd34", "2025/03/ab12cd34.wav", 12.5, 400_044)
    assert recs.get(first) == Recording(first, "ab12cd34", "2025/03/ab12cd34.wav", 12.5,
                                        400_044, T0)
    assert recs.get(str(first)).id == first
    other = recs.keep("ffff0000", "2025/03/ffff0000.wav", 3.0, 96_044)
    clock.now = T0 + timedelta(minutes=5)
    again = recs.keep("ab12cd34", "2025/03/ab12cd34.wav", 13.0, 416_044)  # replaces
    assert again not in (first, other)
    with pytest.raises(NotFoundError) as missing:
        recs.get(first)
    assert missing.value.field == "recording"
    assert recs.get(again).seconds == 13.0 and recs.get(again).created_at == clock.now
    found = recs.for_calls(["ab12cd34", "ffff0000", "nope", ""])
    assert {ref: r.id for ref, r in found.items()} == {"ab12cd34": again, "ffff0000": other}
    assert recs.for_calls([]) == {}
    assert recs.for_calls(iter(f"r{i}" for i in range(1200))) == {}  # many refs, chunked
    assert [r.id for r in recs.recent()] == [again, other]
    assert [r.id for r in recs.recent(1)] == [again]


@pytest.mark.parametrize(("ref", "path"), [
    ("", "2025/03/x.wav"), ("x" * 33, "2025/03/x.wav"), ("ab", "/etc/passwd"),
    ("ab", "../outside.wav"), ("ab", "2025/../../x.wav"), ("ab", ""), ("ab", "a\x00b"),
    ("ab", "x" * 256)])
def test_a_bad_ref_or_a_path_leaving_the_folder_is_not_kept(
        recs: RecordingsDirectory, store: Store, ref: str, path: str) -> None:
    with pytest.raises(ValidationError):
        recs.keep(ref, path, 1.0, 10)
    assert rows(store) == []


def test_a_bad_id_is_refused_by_name(recs: RecordingsDirectory) -> None:
    for bad in ("abc", "0", -1):
        with pytest.raises(ValidationError) as caught:
            recs.get(bad)
        assert caught.value.field == "recording"


# -- listened -----------------------------------------------------------------------------------

def test_listening_is_audited_as_the_user_without_the_sound(
        recs: RecordingsDirectory, store: Store, tmp_path: Path) -> None:
    key = recs.keep("ab12cd34", "2025/03/ab12cd34.wav", 12.5, 400_044)
    wav(tmp_path, "2025/03/ab12cd34.wav", 64)
    assert recs.listened(key, "played").call_ref == "ab12cd34"
    recs.listened(str(key), "downloaded")
    with pytest.raises(ValidationError) as bad:
        recs.listened(key, "copied")
    assert bad.value.field == "how"
    with pytest.raises(NotFoundError):
        recs.listened(key + 1, "played")
    with store.read() as db:
        entries = [(r.actor, r.action, r.target, r.detail) for r in db.execute(
            select(audit).order_by(audit.c.id))]
        published = db.execute(select(events.c.kind)).scalars().all()
    assert entries == [
        ("web:boss", "recording.listened", str(key),
         {"recording": key, "call": "ab12cd34", "how": "played"}),
        ("web:boss", "recording.listened", str(key),
         {"recording": key, "call": "ab12cd34", "how": "downloaded"})]
    assert "RRRR" not in repr(entries) and "recording.listened" not in published


# -- sweep --------------------------------------------------------------------------------------

def test_the_sweep_removes_what_is_past_the_retention_with_its_file(
        recs: RecordingsDirectory, store: Store, clock: Clock, tmp_path: Path) -> None:
    folder = tmp_path / "recordings"
    old = wav(folder, "2024/11/old.wav", 100)
    young = wav(folder, "2025/02/young.wav", 100)
    clock.now = T0 - timedelta(days=91)
    recs.keep("old", "2024/11/old.wav", 1.0, 100)
    recs.keep("gone", "2024/11/gone.wav", 1.0, 100)  # its file is missing already
    clock.now = T0 - timedelta(days=89)
    recs.keep("young", "2025/02/young.wav", 1.0, 100)
    clock.now = T0
    assert recs.sweep(folder, 10 * MB, 90) == ["2024/11/old.wav", "2024/11/gone.wav"]
    assert not old.exists() and young.exists()
    assert rows(store) == [("young", "2025/02/young.wav")]
    assert recs.sweep(folder, 10 * MB, 90) == []  # nothing more


def test_the_sweep_removes_the_oldest_until_the_rest_fit_the_quota(
        recs: RecordingsDirectory, store: Store, clock: Clock, tmp_path: Path) -> None:
    folder = tmp_path / "recordings"
    for i, size in enumerate((400, 300, 200, 100)):
        clock.now = T0 + timedelta(minutes=i)
        wav(folder, f"2025/03/r{i}.wav", size)
        recs.keep(f"r{i}", f"2025/03/r{i}.wav", 1.0, size)
    clock.now = T0 + timedelta(hours=1)
    assert recs.sweep(folder, 1000, 90) == []  # 1000 bytes fit exactly
    assert recs.sweep(folder, 350, 90) == ["2025/03/r0.wav", "2025/03/r1.wav"]
    assert sorted(p.name for p in (folder / "2025" / "03").iterdir()) == ["r2.wav", "r3.wav"]
    assert [ref for ref, _ in rows(store)] == ["r2", "r3"]
    assert recs.sweep(folder, 1, 90) == ["2025/03/r2.wav", "2025/03/r3.wav"]
    assert rows(store) == [] and (folder / "2025" / "03").is_dir()  # kept for the next


def test_the_sweep_never_touches_anything_outside_the_folder(
        recs: RecordingsDirectory, store: Store, clock: Clock, tmp_path: Path) -> None:
    folder = tmp_path / "recordings"
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me")
    (tmp_path / "elsewhere").mkdir()
    kept_there = wav(tmp_path / "elsewhere", "linked.wav", 10)
    folder.mkdir()
    (folder / "2025").symlink_to(tmp_path / "elsewhere")  # a link leading out
    young = wav(folder, "2026/01/young.wav", 10)
    recs.keep("young", "2026/01/young.wav", 1.0, 10)
    with store.write() as db:  # rows the daemon never writes: as if the store were edited
        for ref, path in (("dots", "../precious.txt"), ("abs", str(outside)),
                          ("link", "2025/linked.wav")):
            db.execute(insert(recordings).values(call_ref=ref, path=path, seconds=1.0,
                                                 bytes=10, created_at=T0))
    assert recs.sweep(folder, 10 * MB, 90) == [
        "../precious.txt", str(outside), "2025/linked.wav"]
    assert outside.read_text() == "keep me" and kept_there.exists() and young.exists()
    assert rows(store) == [("young", "2026/01/young.wav")]


def test_a_file_that_cannot_be_removed_keeps_its_row(
        recs: RecordingsDirectory, store: Store, clock: Clock, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "recordings"
    stuck = wav(folder, "2025/03/stuck.wav", 10)
    recs.keep("stuck", "2025/03/stuck.wav", 1.0, 10)
    original = Path.unlink

    def refuse(self: Path, missing_ok: bool = False) -> None:
        if self.name == "stuck.wav":
            raise PermissionError("read-only")
        original(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", refuse)
    assert recs.sweep(folder, 1, 90) == []
    assert stuck.exists() and rows(store) == [("stuck", "2025/03/stuck.wav")]
    monkeypatch.undo()
    assert recs.sweep(folder, 1, 90) == ["2025/03/stuck.wav"]


# -- the call history, the number flag ----------------------------------------------------------

def _history(ref: str, started: datetime) -> dict[str, Any]:
    return {"ref": ref, "call_id": f"c-{ref}", "direction": "inbound", "caller": "0909123456",
            "caller_employee_id": None, "callee": "101", "callee_employee_id": None,
            "dialled": DID, "connection": "vnpt", "answered_by": "101",
            "answered_by_employee_id": None, "started_at": started, "answered_at": started,
            "ended_at": started + timedelta(seconds=30), "ring_seconds": 2.0,
            "talk_seconds": 28.0, "outcome": "answered", "status": 200, "reason": "bye"}


def test_the_call_history_carries_each_calls_recording(
        recs: RecordingsDirectory, store: Store) -> None:
    call_history.write(store, [_history("aaaa0001", T0), _history("aaaa0002", T0)], {}, [],
                       T0)
    key = recs.keep("aaaa0002", "2025/03/aaaa0002.wav", 28.0, 900_044)
    found = {r["ref"]: r["recording"] for r in call_history.query(
        store, call_history.Filters())}
    assert found == {"aaaa0001": None, "aaaa0002": key}
    header, *lines = call_history.csv_text(call_history.query(
        store, call_history.Filters()), ZoneInfo("UTC")).splitlines()
    assert header.endswith(",ref,call_id,recording,rating")
    assert sorted(line.rsplit(",", 2)[1] for line in lines) == ["", str(key)]  # (rating last)


def test_an_office_numbers_record_flag_round_trips(store: Store) -> None:
    plan = CallPlanDirectory(store, actor="test")
    plan.add_connection("pbx", "ip", ["10.0.0.1"], allowed_sources=["10.0.0.1"])
    assert plan.add_number(DID, "pbx", "hangup").record is False
    assert plan.update_number(DID, record="yes").record is True
    assert plan.get_number(DID).record is True
    assert plan.routing().numbers[DID].record is True
    assert plan.update_number(DID, record=False).record is False
    assert plan.add_number("+842838000002", "pbx", record=True).record is True
    with pytest.raises(ValidationError) as bad:
        plan.update_number(DID, record="maybe")
    assert bad.value.field == "record"


# -- the daemon's writer ------------------------------------------------------------------------

def test_the_daemons_writer_keeps_the_row_and_sweeps(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    folder = data / "recordings"
    wav(folder, "2020/01/ancient.wav", 10)
    RecordingsDirectory(store, clock=lambda: T0 - timedelta(days=5)).keep(
        "ancient", "2020/01/ancient.wav", 1.0, 10)
    writer = writer_for(store, Workers("test-recordings"), data,
                        RecordingConfig(quota_mb=1, retention_days=1))
    assert isinstance(writer, RecordingWriter) and writer.folder == folder

    def convert(self: RecordingWriter, call: RecordedCall) -> Path:
        wav(self.folder, f"2025/03/{call.ref}.wav", 44)
        self.keep(call.ref, f"2025/03/{call.ref}.wav", 1.5, 44)
        return self.folder / f"2025/03/{call.ref}.wav"

    monkeypatch.setattr(RecordingWriter, "_convert", convert)
    writer.write(RecordedCall("bbbb0001", (), 40000))
    assert rows(store) == [("bbbb0001", "2025/03/bbbb0001.wav")]
    assert not (folder / "2020" / "01" / "ancient.wav").exists()
    with store.read() as db:
        assert db.execute(select(audit)).all() == []  # keeping is no one's action


def test_the_writer_runs_in_the_background_on_its_workers(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    workers = Workers("test-recordings")
    writer = writer_for(store, workers, tmp_path, RecordingConfig())
    made: list[str] = []
    monkeypatch.setattr(RecordingWriter, "write",
                        lambda self, call: made.append(call.ref))

    async def run() -> None:
        writer(RecordedCall("cccc0001", (), None))
        await asyncio.sleep(0)
        while writer._tasks:
            await asyncio.sleep(0.01)

    asyncio.run(run())
    workers.close()
    assert made == ["cccc0001"]


# -- the migration ------------------------------------------------------------------------------

def test_a_store_at_0012m_upgrades_to_recordings_keeping_its_numbers(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(store, "0012m")
    assert "recordings" not in inspect(store.engine).get_table_names()
    plan = CallPlanDirectory(store)
    plan.add_connection("pbx", "ip", ["10.0.0.1"], allowed_sources=["10.0.0.1"])
    with store.write() as db:  # 0012m's number code cannot run here: plain SQL
        db.execute(text(
            "INSERT INTO numbers (did, connection_id, to_header, contacts_map, dest_kind, "
            "dest_target, no_answer, ring_timeout) VALUES "
            f"('{DID}', 1, 1, 1, 'hangup', '', 'continue', 20)"))
    upgrade(store)
    assert current_revision(store) == head_revision()
    assert plan.get_number(DID).record is False
    indexes = inspect(store.engine).get_indexes("recordings")
    assert [(i["column_names"], bool(i["unique"])) for i in indexes] == [(["call_ref"], True)]
    key = RecordingsDirectory(store).keep("dddd0001", "2025/03/dddd0001.wav", 1.0, 44)
    assert key == 1
    store.dispose()


def test_a_numbers_rating_flag_and_a_calls_rating_are_kept(store: Store) -> None:
    plan = CallPlanDirectory(store, actor="test")
    plan.add_connection("pbx", "ip", ["10.0.0.1"], allowed_sources=["10.0.0.1"])
    assert plan.add_number(DID, "pbx", "hangup").rating is False
    assert plan.update_number(DID, rating=True).rating is True
    with pytest.raises(ValidationError, match="rating"):
        plan.update_number(DID, rating="perhaps")
    call_history.write(store, [{**_history("aaaa0003", T0), "rating": 5},
                               _history("aaaa0004", T0)], {}, [], T0)
    found = {r["ref"]: r["rating"] for r in call_history.query(store, call_history.Filters())}
    assert found == {"aaaa0003": 5, "aaaa0004": None}
