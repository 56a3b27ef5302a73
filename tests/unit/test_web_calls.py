"""The Calls page: the live calls with a hang-up button (admins, CSRF, audited), the history
filtered in local dates, the CSV export with the same filters, the retention form; viewers
read only; Vietnamese."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient
from sqlalchemy import select

from appliance.directory import Directory, call_history, utcnow
from appliance.store import Store
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
