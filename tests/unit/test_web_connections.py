"""The Connections page: connections and office numbers listed with the live status the
daemon publishes, added, edited and removed by an admin (CSRF), refused to a viewer, the
password write-only, errors next to their fields, in English and Vietnamese; a number's
greeting, its own text spoken when saved (a fake espeak-ng here) and refused when it cannot
be."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from appliance.callplan.model import Greeting, Server
from appliance.directory import trunk_status
from appliance.directory.office import CallPlanDirectory
from appliance.directory.trunk_status import ConnectionStatus
from appliance.errors import ValidationError
from appliance.media import prompts
from appliance.store import Store
from appliance.store.tables import audit, events

pytest_plugins = ("tests.unit.conftest_web",)

SECRET = "Trunk-s3cret-pw"
SINCE = datetime(2026, 12, 2, 8, 0, 0, tzinfo=UTC)
DID = "+842873001234"
NUMBER_PAGE = "/numbers/%2B842873001234"
HELLO = "Cảm ơn quý khách đã gọi. Vui lòng bấm số máy lẻ."


class Speech:
    """Stands in for espeak-ng (``prompts.speak_or_refuse``): records what the box would
    speak, or refuses it as the real one does when ``broken``."""

    def __init__(self) -> None:
        self.said: list[tuple[str, str, Path]] = []
        self.broken = False

    def __call__(self, text: str, language: str, folder: Path) -> Path:
        if self.broken:
            raise ValidationError("greeting_text: espeak-ng failed (exit status 1): no voice",
                                  "greeting_text")
        self.said.append((text, language, folder))
        return folder / "speech.wav"


@pytest.fixture(autouse=True)
def speech(monkeypatch: pytest.MonkeyPatch) -> Speech:
    """No unit test runs espeak-ng."""
    fake = Speech()
    monkeypatch.setattr(prompts, "speak_or_refuse", fake)
    return fake


def carrier(store: Store) -> CallPlanDirectory:
    plan = CallPlanDirectory(store, actor="test")
    plan.add_connection("viettel", "register", [Server("203.0.113.5", 5060)],
                        username="84281000001", password=SECRET)
    plan.add_number("02873001234", "viettel", "hangup")
    return plan


def vietnamese(client: FlaskClient, web: Any) -> None:
    assert web.post(client, "/language", {"language": "vi"}).status_code in (302, 303)


def number_form(**changes: str) -> dict[str, str]:
    """The number form as a browser posts it (an unticked box is not sent)."""
    form = {"connection": "viettel", "destination": "hangup", "to_header": "on",
            "contacts_map": "on", "hours": "", "after_hours": "", "no_answer": "continue",
            "no_answer_connection": "", "ring_timeout": "20", "greeting_language": "en",
            "greeting_text": "", "greeting_wait": "5", **changes}
    return {k: v for k, v in form.items() if not (k in ("greeting", "to_header",
                                                         "contacts_map", "record") and not v)}


def last_fields(store: Store) -> list[str]:
    with store.read() as db:
        last = db.execute(select(audit.c.action, audit.c.detail)
                          .order_by(audit.c.id.desc())).first()
    assert last is not None and last.action == "number.updated"
    fields: list[str] = last.detail["fields"]
    return fields


def test_the_list_shows_each_status_in_both_languages(
        client: FlaskClient, store: Store, web: Any) -> None:
    carrier(store)
    CallPlanDirectory(store).add_connection("pbx", "ip", [Server("192.0.2.10")],
                                            allowed_sources=["192.0.2.10"])
    html = client.get("/connections").get_data(as_text=True)
    assert "viettel" in html and "+842873001234" in html and "203.0.113.5:5060" in html
    assert "not running" in html and "by address" in html
    trunk_status.write(store, {"viettel": ConnectionStatus(
        "viettel", "failing", "udp:203.0.113.5:5060", "401 Unauthorized", SINCE)}, SINCE)
    html = client.get("/connections").get_data(as_text=True)
    assert "failing" in html and "401 Unauthorized since 2026-12-02 08:00:00 UTC" in html
    assert SECRET not in html
    vietnamese(client, web)
    html = client.get("/connections").get_data(as_text=True)
    assert "Kết nối" in html and "lỗi" in html and "401 Unauthorized" in html
    trunk_status.write(store, {"viettel": ConnectionStatus(
        "viettel", "registered", "udp:203.0.113.5:5060", "200 OK", SINCE,
        SINCE + timedelta(hours=1))}, SINCE)
    html = client.get("/connections").get_data(as_text=True)
    assert "đã đăng ký" in html and "09:00:00" in html
    assert "Số của văn phòng" in html


def test_an_admin_adds_edits_and_removes_a_connection(
        client: FlaskClient, store: Store, web: Any) -> None:
    form = {"name": "viettel", "kind": "register",
            "servers": "203.0.113.5:5060\n203.0.113.6;transport=tcp", "username": "8428",
            "password": SECRET, "expires": "600", "number_format": "intl_digits",
            "max_calls": "4", "codecs": "PCMA, PCMU", "prefix": "*1*", "caller_id": "",
            "allowed_sources": "", "allowed_extensions": "", "allowed_groups": "",
            "auth_username": "", "domain": "trunk.test"}
    response = web.post(client, "/connections/new", form)
    assert response.status_code == 302, response.get_data(as_text=True)
    plan = CallPlanDirectory(store)
    conn = plan.get_connection("viettel")
    assert conn.password == SECRET and conn.expires == 600 and conn.domain == "trunk.test"
    assert [s.transport for s in conn.servers] == ["udp", "tcp"] and conn.max_calls == 4
    page = client.get("/connections/viettel").get_data(as_text=True)
    assert SECRET not in page and "A password is set" in page and 'value="8428"' in page
    # A blank password keeps the one set; only the changed fields are saved and audited.
    edited = {**form, "password": "", "max_calls": "8"}
    edited.pop("name")
    assert web.post(client, "/connections/viettel", edited).status_code == 302
    conn = plan.get_connection("viettel")
    assert conn.password == SECRET and conn.max_calls == 8
    with store.read() as db:
        last = db.execute(select(audit.c.detail).order_by(audit.c.id.desc())).first()
        everything = " ".join(str(r) for r in db.execute(select(audit.c.detail)))
        everything += " ".join(str(r) for r in db.execute(select(events.c.payload)))
    assert last is not None and last.detail["fields"] == ["max_calls"]
    assert SECRET not in everything
    assert web.post(client, "/connections/viettel", {**edited, "password": "New-pw-2"}
                    ).status_code == 302
    assert plan.get_connection("viettel").password == "New-pw-2"
    assert web.post(client, "/connections/viettel/remove").status_code == 302
    assert plan.list_connections() == []


def test_errors_are_shown_next_to_their_fields_in_both_languages(
        client: FlaskClient, store: Store, web: Any) -> None:
    form = {"name": "bad", "kind": "register", "servers": "203.0.113.5:99999",
            "username": "u", "password": "p", "expires": "3600", "number_format": "national",
            "max_calls": "0", "codecs": "PCMA"}
    response = web.post(client, "/connections/new", form)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'id="servers-error"' in html and "From 1 to 65535, got 99999" in html
    response = web.post(client, "/connections/new", {**form, "servers": "203.0.113.5",
                                                      "password": ""})
    assert 'id="password-error"' in response.get_data(as_text=True)
    vietnamese(client, web)
    html = web.post(client, "/connections/new", form).get_data(as_text=True)
    assert 'id="servers-error"' in html and "Từ 1 đến 65535" in html
    assert CallPlanDirectory(store).list_connections() == []


def test_numbers_are_added_edited_refused_and_removed(
        client: FlaskClient, store: Store, web: Any) -> None:
    plan = carrier(store)
    form = {"did": "02873005555", **number_form(ring_timeout="25")}
    assert web.post(client, "/numbers/new", form).status_code == 302
    assert plan.get_number("+842873005555").ring_timeout == 25
    html = web.post(client, "/numbers/new", {**form, "did": "1234x"}).get_data(as_text=True)
    assert 'id="did-error"' in html
    cycle = web.post(client, "/numbers/%2B842873001234",
                     {**form, "destination": "outside:+842873005555"})
    assert cycle.status_code == 302
    html = web.post(client, "/numbers/%2B842873005555",
                    {**form, "destination": "outside:+842873001234"}).get_data(as_text=True)
    assert "routing cycle" in html
    assert web.post(client, "/numbers/%2B842873005555",
                    {**form, "contacts_map": ""}).status_code == 302
    assert plan.get_number("+842873005555").contacts_map is False
    assert web.post(client, "/numbers/%2B842873005555/remove").status_code == 302
    assert [n.did for n in plan.list_numbers()] == ["+842873001234"]


def test_the_number_form_shows_the_greeting_as_stored(
        client: FlaskClient, store: Store, web: Any) -> None:
    new = client.get("/numbers/new").get_data(as_text=True)
    assert re.search(r'name="greeting" value="on" *>', new)  # off for a new number
    assert 'name="greeting_wait" type="number" value="5"' in new
    assert '<option value="en" selected>English</option>' in new
    assert "Tiếng Việt" in new and "The media plane is off on this box" in new
    carrier(store).update_number(DID, greeting=True, greeting_language="vi",
                                 greeting_text=HELLO, greeting_wait=8)
    html = client.get(NUMBER_PAGE).get_data(as_text=True)
    assert re.search(r'name="greeting" value="on" checked', html)
    assert '<option value="vi" selected>Tiếng Việt</option>' in html
    assert f'name="greeting_text" rows="3" >{HELLO}</textarea>' in html
    assert 'name="greeting_wait" type="number" value="8"' in html
    assert "Spoken by the box in the chosen language when you save." in html
    vietnamese(client, web)
    html = client.get(NUMBER_PAGE).get_data(as_text=True)
    assert "Ngôn ngữ lời chào" in html and "Số giây để bấm số sau lời chào" in html


def test_a_greeting_text_is_spoken_once_when_saved_then_stored(
        client: FlaskClient, store: Store, web: Any, speech: Speech, tmp_path: Path) -> None:
    plan = carrier(store)
    form = number_form(greeting="on", greeting_language="vi",
                       greeting_text=f"  {HELLO}\r\n", greeting_wait="8")
    response = web.post(client, NUMBER_PAGE, form)
    assert response.status_code == 302, response.get_data(as_text=True)
    assert speech.said == [(HELLO, "vi", tmp_path / "media" / "prompts")]
    assert plan.get_number(DID).greeting == Greeting("vi", HELLO, 8, True)
    assert last_fields(store) == ["greeting", "greeting_language", "greeting_text",
                                  "greeting_wait"]
    audit_page = client.get("/audit").get_data(as_text=True)
    assert ("Changed: greeting, greeting language, greeting text, time to dial after the "
            "greeting.") in audit_page
    # The same form again changes nothing, so nothing is spoken again.
    assert web.post(client, NUMBER_PAGE, {**form, "greeting_text": HELLO}).status_code == 302
    assert len(speech.said) == 1
    # A new number with its own text is spoken before it is added; the built-in is never.
    added = web.post(client, "/numbers/new", {"did": "02873005555", **number_form(
        greeting="on", greeting_text="Welcome to the shop.")})
    assert added.status_code == 302
    assert speech.said[-1][:2] == ("Welcome to the shop.", "en")
    assert plan.get_number("+842873005555").greeting == Greeting("en", "Welcome to the shop.")
    assert web.post(client, "/numbers/new", {"did": "02873006666", **number_form(
        greeting="on")}).status_code == 302
    assert len(speech.said) == 2
    assert plan.get_number("+842873006666").greeting == Greeting("en", None, 5, True)


def test_a_text_that_cannot_be_spoken_is_refused_beside_it_and_nothing_is_stored(
        client: FlaskClient, store: Store, web: Any, speech: Speech) -> None:
    plan = carrier(store)
    speech.broken = True
    form = number_form(greeting="on", greeting_text="Hello there", ring_timeout="30")
    response = web.post(client, NUMBER_PAGE, form)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'id="greeting_text-error"' in html
    assert "The box cannot speak this text: espeak-ng failed (exit status 1)" in html
    assert ">Hello there</textarea>" in html and 'value="30"' in html  # typed values kept
    num = plan.get_number(DID)
    assert num.greeting == Greeting(on=False) and num.ring_timeout == 20
    # A text too long is refused before anything is spoken.
    speech.broken = False
    html = web.post(client, NUMBER_PAGE, {**form, "greeting_text": "x" * 1001}
                    ).get_data(as_text=True)
    assert 'id="greeting_text-error"' in html and "Up to 1000 printable characters." in html
    assert speech.said == []
    vietnamese(client, web)
    speech.broken = True
    html = web.post(client, NUMBER_PAGE, form).get_data(as_text=True)
    assert 'id="greeting_text-error"' in html and "Hộp không đọc được nội dung này" in html
    assert plan.get_number(DID).greeting == Greeting(on=False)
    assert web.post(client, "/numbers/new", {"did": "02873005555", **form}).status_code == 400
    assert len(plan.list_numbers()) == 1


def test_a_wait_out_of_range_is_refused_beside_it(
        client: FlaskClient, store: Store, web: Any) -> None:
    plan = carrier(store)
    response = web.post(client, NUMBER_PAGE, number_form(greeting="on", greeting_wait="99"))
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'id="greeting_wait-error"' in html and "From 1 to 30, got 99." in html
    assert 'name="greeting_wait" type="number" value="99"' in html
    assert plan.get_number(DID).greeting == Greeting(on=False)


def test_turning_the_greeting_off_keeps_its_text(
        client: FlaskClient, store: Store, web: Any, speech: Speech) -> None:
    plan = carrier(store)
    plan.update_number(DID, greeting=True, greeting_text=HELLO, greeting_language="vi")
    form = number_form(greeting_language="vi", greeting_text=HELLO)  # the box unticked
    assert web.post(client, NUMBER_PAGE, form).status_code == 302
    assert plan.get_number(DID).greeting == Greeting("vi", HELLO, 5, False)
    assert last_fields(store) == ["greeting"] and speech.said == []
    html = client.get(NUMBER_PAGE).get_data(as_text=True)
    assert f">{HELLO}</textarea>" in html
    # Emptied, the text is the built-in greeting's again: nothing to speak.
    assert web.post(client, NUMBER_PAGE, {**form, "greeting_text": ""}).status_code == 302
    assert plan.get_number(DID).greeting == Greeting("vi", None, 5, False)
    assert speech.said == []


def test_a_number_records_its_calls_when_ticked_saved_and_audited_alone(
        client: FlaskClient, store: Store, web: Any) -> None:
    plan = carrier(store)
    new = client.get("/numbers/new").get_data(as_text=True)
    assert re.search(r'name="record" value="on" *>', new)  # off for a new number
    assert "Callers hear “This call is recorded” before anything rings" in new
    assert "calls are not recorded until it is on" in new  # the test box has no media plane
    assert "menu:main" in new  # the destination's kinds
    assert web.post(client, NUMBER_PAGE, number_form(record="on")).status_code == 302
    assert plan.get_number(DID).record is True
    assert last_fields(store) == ["record"]
    assert "Changed: call recording." in client.get("/audit").get_data(as_text=True)
    html = client.get(NUMBER_PAGE).get_data(as_text=True)
    assert re.search(r'name="record" value="on" checked', html)
    with store.read() as db:
        count = len(db.execute(select(audit.c.id)).all())
    assert web.post(client, NUMBER_PAGE, number_form(record="on")).status_code == 302
    with store.read() as db:
        assert len(db.execute(select(audit.c.id)).all()) == count  # nothing changed
    assert web.post(client, NUMBER_PAGE, number_form(ring_timeout="30")).status_code == 302
    assert plan.get_number(DID).record is False  # unticked
    assert last_fields(store) == ["record", "ring_timeout"]
    added = web.post(client, "/numbers/new", {"did": "02873005555",
                                              **number_form(record="on")})
    assert added.status_code == 302 and plan.get_number("+842873005555").record is True
    vietnamese(client, web)
    html = client.get(NUMBER_PAGE).get_data(as_text=True)
    assert "Ghi âm cuộc gọi" in html and "Cuộc gọi này được ghi âm" in html


def test_a_viewer_sees_but_cannot_change(
        viewer: FlaskClient, store: Store, web: Any, speech: Speech) -> None:
    plan = carrier(store)
    html = viewer.get("/connections").get_data(as_text=True)
    assert "viettel" in html and 'id="new-connection"' not in html
    page = viewer.get("/connections/viettel").get_data(as_text=True)
    assert SECRET not in page and 'id="save"' not in page
    page = viewer.get(NUMBER_PAGE).get_data(as_text=True)
    assert 'name="greeting_text"' in page and 'id="save"' not in page
    assert 'name="record"' in page
    greeted = number_form(greeting="on", greeting_text="Hello there")
    assert web.post(viewer, NUMBER_PAGE, greeted).status_code == 403
    assert plan.get_number(DID).greeting == Greeting(on=False) and speech.said == []
    assert web.post(viewer, NUMBER_PAGE, number_form(record="on")).status_code == 403
    assert plan.get_number(DID).record is False
    for path, data in (("/connections/new", {"name": "x", "kind": "ip"}),
                       ("/connections/viettel", {"max_calls": "3"}),
                       ("/connections/viettel/remove", {}),
                       ("/numbers/new", {"did": "02873006666", "connection": "viettel"}),
                       ("/numbers/%2B842873001234/remove", {})):
        assert web.post(viewer, path, data).status_code == 403, path
    assert [c.name for c in plan.list_connections()] == ["viettel"]
    assert len(plan.list_numbers()) == 1


def test_a_post_without_csrf_is_refused(client: FlaskClient, store: Store) -> None:
    carrier(store)
    assert client.post("/connections/viettel/remove").status_code == 400
    assert len(CallPlanDirectory(store).list_connections()) == 1



def test_a_number_asks_for_ratings_when_ticked(client: FlaskClient, store: Store,
                                               web: Any) -> None:
    plan = carrier(store)
    assert "Ask callers to rate the call" in client.get("/numbers/new").get_data(as_text=True)
    assert web.post(client, NUMBER_PAGE, number_form(rating="on")).status_code == 302
    assert plan.get_number(DID).rating is True and last_fields(store) == ["rating"]
    assert "Changed: rating after the call." in client.get("/audit").get_data(as_text=True)
    assert re.search(r'name="rating" value="on" checked',
                     client.get(NUMBER_PAGE).get_data(as_text=True))
    assert web.post(client, NUMBER_PAGE, number_form()).status_code == 302
    assert plan.get_number(DID).rating is False
