"""The Calls page: the live calls with a hang-up button (admins, CSRF, audited), the history
filtered in local dates, the CSV export with the same filters, the retention form; a call's
recording played and downloaded by admins (audited; nothing outside the recordings folder);
viewers read only; Vietnamese."""

from __future__ import annotations

import io
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask.testing import FlaskClient
from sqlalchemy import select, update

from appliance.calls.recordings import folder_of
from appliance.directory import Directory, call_history, utcnow
from appliance.directory.recordings import RecordingsDirectory
from appliance.store import Store
from appliance.store.recording_tables import recordings
from appliance.store.tables import audit, events
from tests.unit.test_call_history import row

pytest_plugins = ("tests.unit.conftest_web",)


NAMED = '<small class="muted">Nguyễn Văn An</small>'


def _calls(store: Store) -> None:
    now = utcnow()
    an = Directory(store, actor="test").add_employee("Nguyễn Văn An")
    call_history.write(store, [
        row("h1", now - timedelta(hours=1), outcome="answered", answered_by="102",
            caller_employee_id=an.id, talk_seconds=75.0),
        row("h2", datetime(2024, 3, 1, 2, tzinfo=UTC), direction="inbound",
            caller="0909123456", callee="102", connection="viettel", dialled="+842873001234"),
    ], {"ab12cd34": {"ref": "ab12cd34", "direction": "internal", "state": "established",
                     "caller": "101", "callee": "102", "dialled": "102", "connection": None,
                     "started_at": now - timedelta(seconds=30), "answered_at": now}}, [], now)


def test_the_page_lists_live_calls_and_the_history(client: FlaskClient, store: Store) -> None:
    _calls(store)
    html = client.get("/calls").get_data(as_text=True)
    assert "ab12cd34" in html and "Hang up" in html and "talking" in html
    assert NAMED in html and "0909123456" in html and "viettel" in html
    assert 'href="/calls"' in client.get("/").get_data(as_text=True)  # in the menu
    live = client.get("/calls/live", headers={"X-Live": "1"}).get_data(as_text=True)
    assert "ab12cd34" in live and "<html" not in live
    filtered = client.get("/calls?direction=inbound").get_data(as_text=True)
    assert "0909123456" in filtered and NAMED not in filtered
    dated = client.get("/calls?since=2024-03-01&until=2024-03-01").get_data(as_text=True)
    assert "0909123456" in dated and NAMED not in dated
    bad = client.get("/calls?since=tomorrow")
    assert bad.status_code == 400 and "A date such as 2025-01-31" in bad.get_data(as_text=True)


def test_the_csv_export_has_the_filtered_calls_in_local_time(client: FlaskClient,
                                                             store: Store) -> None:
    _calls(store)
    answer = client.get("/calls.csv?outcome=missed")
    assert answer.mimetype == "text/csv" and "calls.csv" in answer.headers["Content-Disposition"]
    text = answer.get_data().decode("utf-8-sig")
    lines = text.splitlines()
    assert lines[0].startswith("id,started_at,direction") and len(lines) == 2
    assert "2024-03-01 02:00:00,inbound,0909123456" in lines[1]  # the test box is in UTC


def test_an_admin_hangs_up_a_live_call_audited(client: FlaskClient, store: Store,
                                               web: type) -> None:
    _calls(store)
    assert client.post("/calls/hangup", data={"ref": "ab12cd34"}).status_code == 400  # no CSRF
    done = web.post(client, "/calls/hangup", {"ref": "ab12cd34"}, follow=True)
    assert "The call from 101 to 102 is being hung up." in done.get_data(as_text=True)
    with store.read() as conn:
        event = conn.execute(select(events).where(events.c.kind == "call.hangup")).one()
        entry = conn.execute(select(audit).where(audit.c.action == "call.hangup")).one()
    assert event.payload == {"ref": "ab12cd34"} and entry.actor == "web:boss"
    gone = web.post(client, "/calls/hangup", {"ref": "ffff0000"}, follow=True)
    assert "is not in progress (any more)" in gone.get_data(as_text=True)


def test_retention_is_set_by_admins_and_read_by_viewers(client: FlaskClient,
                                                        viewer: FlaskClient, store: Store,
                                                        web: type) -> None:
    _calls(store)
    saved = web.post(client, "/calls/retention", {"days": "90"}, follow=True)
    assert "Calls are kept 90 days." in saved.get_data(as_text=True)
    assert call_history.retention_days(store) == 90
    bad = web.post(client, "/calls/retention", {"days": "0"}, follow=True)
    assert "A whole number of days from 1 to 3650" in bad.get_data(as_text=True)
    html = viewer.get("/calls").get_data(as_text=True)
    assert "Calls are kept 90 days." in html and "Hang up" not in html
    assert web.post(viewer, "/calls/hangup", {"ref": "ab12cd34"}).status_code == 403
    assert web.post(viewer, "/calls/retention", {"days": "5"}).status_code == 403
    assert call_history.retention_days(store) == 90


def test_the_page_in_vietnamese(client: FlaskClient, store: Store, web: type) -> None:
    _calls(store)
    web.post(client, "/language", {"language": "vi"})
    html = client.get("/calls").get_data(as_text=True)
    assert "Cuộc gọi" in html and "Gác máy" in html and "Lịch sử cuộc gọi" in html


# -- recordings -------------------------------------------------------------------------------

def _wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(range(256)) * 64)
    return out.getvalue()


def _recorded(store: Store, tmp_path: Path) -> tuple[int, bytes]:
    """The calls, call h1 recorded (its WAV under the recordings folder); its id, its bytes."""
    _calls(store)
    sound = _wav()
    file = folder_of(tmp_path) / "2026" / "01" / "h1.wav"
    file.parent.mkdir(parents=True)
    file.write_bytes(sound)
    key = RecordingsDirectory(store, actor="test").keep("h1", "2026/01/h1.wav", 75.0,
                                                         len(sound))
    return key, sound


def _listened(store: Store) -> list[tuple[str, str, dict[str, object]]]:
    with store.read() as db:
        return [(r.actor, r.target, dict(r.detail)) for r in db.execute(
            select(audit).where(audit.c.action == "recording.listened").order_by(audit.c.id))]


def test_an_admin_plays_and_downloads_a_recording_audited(
        client: FlaskClient, store: Store, tmp_path: Path, web: type) -> None:
    key, sound = _recorded(store, tmp_path)
    html = client.get("/calls").get_data(as_text=True)
    assert "<th>Recording</th>" in html
    played = f"/calls/recording/{key}"
    assert f'<audio controls preload="none" src="{played}">' in html
    assert ">Listen</summary>" in html
    assert f'<a href="{played}?download=1" download>Download</a>' in html
    assert html.count(">Download</a>") == 1  # the other call has no recording
    answer = client.get(played)
    assert answer.status_code == 200 and answer.mimetype == "audio/wav"
    assert answer.get_data() == sound
    assert "attachment" not in answer.headers.get("Content-Disposition", "")
    assert answer.headers["Cache-Control"] == "no-store"
    assert _listened(store) == [("web:boss", str(key),
                                 {"recording": key, "call": "h1", "how": "played"})]
    # a player seeking asks for later bytes: served, not audited again
    part = client.get(played, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.get_data() == sound[100:200]
    assert len(_listened(store)) == 1
    download = client.get(f"{played}?download=1")
    assert download.status_code == 200 and download.mimetype == "audio/wav"
    assert download.get_data() == sound
    assert download.headers["Content-Disposition"] == "attachment; filename=call-h1.wav"
    assert [d["how"] for _, _, d in _listened(store)] == ["played", "downloaded"]
    audit_page = client.get("/audit").get_data(as_text=True)
    assert "Call recording listened to" in audit_page and "Call h1, downloaded." in audit_page
    web.post(client, "/language", {"language": "vi"})
    html = client.get("/calls").get_data(as_text=True)
    assert "<th>Ghi âm</th>" in html and ">Nghe</summary>" in html and ">Tải xuống</a>" in html


def test_a_viewer_sees_no_recordings_and_is_refused_them(
        viewer: FlaskClient, store: Store, tmp_path: Path) -> None:
    key, _ = _recorded(store, tmp_path)
    html = viewer.get("/calls").get_data(as_text=True)
    assert "0909123456" in html
    assert "Recording" not in html and "/calls/recording/" not in html and "Listen" not in html
    assert viewer.get(f"/calls/recording/{key}").status_code == 403
    assert viewer.get(f"/calls/recording/{key}?download=1").status_code == 403
    assert _listened(store) == []


def test_a_missing_recording_or_file_is_404(client: FlaskClient, store: Store,
                                           tmp_path: Path) -> None:
    key, _ = _recorded(store, tmp_path)
    assert client.get(f"/calls/recording/{key + 1}").status_code == 404
    (folder_of(tmp_path) / "2026" / "01" / "h1.wav").unlink()
    gone = client.get(f"/calls/recording/{key}")
    assert gone.status_code == 404 and "There is no such page." in gone.get_data(as_text=True)
    assert client.get(f"/calls/recording/{key}?download=1").status_code == 404
    assert _listened(store) == []


def test_a_path_leading_out_of_the_recordings_folder_is_404(
        client: FlaskClient, store: Store, tmp_path: Path) -> None:
    key, _ = _recorded(store, tmp_path)
    secret = tmp_path / "secret.wav"
    secret.write_bytes(_wav())
    for path in ("../secret.wav", str(secret), "2026/../../secret.wav"):
        with store.write() as db:  # the directory never stores these: the row was tampered
            db.execute(update(recordings).where(recordings.c.id == key).values(path=path))
        assert client.get(f"/calls/recording/{key}").status_code == 404, path
    link = folder_of(tmp_path) / "link.wav"
    link.symlink_to(secret)
    with store.write() as db:
        db.execute(update(recordings).where(recordings.c.id == key).values(path="link.wav"))
    assert client.get(f"/calls/recording/{key}?download=1").status_code == 404
    assert _listened(store) == []
