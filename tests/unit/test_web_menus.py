"""The Voice menus page: IVR menus listed with their keys, added, edited (only the fields and
keys changed saved and audited) and removed by an admin (CSRF); the text spoken when saved
(a fake espeak-ng here), checked in full first and nothing stored when it cannot be spoken;
errors beside the field or the key that made them, a routing cycle too, with the typed values
kept; a viewer sees but cannot change; English and Vietnamese; numbers sending calls to a
menu."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from appliance.callplan.model import Destination, Server
from appliance.directory import Directory
from appliance.directory.office import CallPlanDirectory
from appliance.errors import PromptError
from appliance.media import prompts
from appliance.store import Store
from appliance.store.tables import audit, events

pytest_plugins = ("tests.unit.conftest_web",)

DID = "+842873001234"
TEXT = "Press 1 for sales, 2 for An, star to hear this again."
FORM = {"name": "main", "text": TEXT, "language": "en", "extensions": "on", "timeout": "8",
        "timeout_retries": "2", "timeout_destination": "queue:sales", "invalid_retries": "1",
        "invalid_destination": "hangup"}
KEY_FIELDS = ("key_1", "key_2", "key_3", "key_4", "key_5", "key_6", "key_7", "key_8",
              "key_9", "key_0", "key_star")


class Speech:
    """Stands in for espeak-ng (``prompts.speak``): records what the box would speak, or
    fails as the real one does when ``broken``."""

    def __init__(self) -> None:
        self.said: list[tuple[str, str, Path]] = []
        self.broken = False

    def __call__(self, text: str, language: str, folder: Path, espeak: str = "") -> Path:
        if self.broken:
            raise PromptError("espeak-ng failed (exit status 1): no voice")
        self.said.append((text, language, folder))
        return folder / "speech.wav"


@pytest.fixture(autouse=True)
def speech(monkeypatch: pytest.MonkeyPatch) -> Speech:
    """No unit test runs espeak-ng."""
    fake = Speech()
    monkeypatch.setattr(prompts, "speak", fake)
    return fake


def office(store: Store) -> CallPlanDirectory:
    """An on extension 101, a free 102, a connection carrying DID (hung up), a queue."""
    people = Directory(store, actor="test")
    an = people.add_employee("Nguyễn Văn An")
    people.add_extension("101")
    people.add_extension("102")
    people.assign_extension("101", an.id)
    plan = CallPlanDirectory(store, actor="test")
    plan.add_connection("viettel", "ip", [Server("127.0.0.2")], allowed_sources=["127.0.0.2"])
    plan.add_number(DID, "viettel", "hangup")
    plan.add_queue("sales", ["101"])
    return plan


def form(**changes: str) -> dict[str, str]:
    """The menu form as a browser posts it: every key row (empty: no key), an unticked box
    not sent."""
    posted = {**FORM, **{f: "" for f in KEY_FIELDS}, **changes}
    return {k: v for k, v in posted.items() if not (k == "extensions" and not v)}


def edit_form(**changes: str) -> dict[str, str]:
    """The form of the menu ``main`` as ``stored`` made it, with ``changes``."""
    keys = {"key_1": "queue:sales", "key_2": "extension:101"}
    return {k: v for k, v in form(**{**keys, **changes}).items() if k != "name"}


def stored(plan: CallPlanDirectory) -> None:
    """The menu ``main`` as FORM describes it, keys 1 and 2 set."""
    plan.add_menu("main", TEXT, keys={"1": "queue:sales", "2": "extension:101"}, timeout=8,
                  timeout_destination="queue:sales", invalid_retries=1)


def vietnamese(client: FlaskClient, web: Any) -> None:
    assert web.post(client, "/language", {"language": "vi"}).status_code in (302, 303)


def audited(store: Store) -> list[tuple[str, str, Any]]:
    """The menus' audit entries."""
    with store.read() as db:
        return [(r.action, r.actor, r.detail) for r in db.execute(
            select(audit.c.action, audit.c.actor, audit.c.detail).order_by(audit.c.id))
            if r.action.startswith("menu.")]


def refused(response: Any, field: str, message: str) -> str:
    """The form shown again, the error beside ``field``."""
    html: str = response.get_data(as_text=True)
    assert response.status_code == 400, html[-3000:]
    assert f'id="{field}-error"' in html and message in html, (field, message, html[-4000:])
    return html


def test_the_list_shows_the_menus_and_their_keys(
        client: FlaskClient, store: Store, web: Any) -> None:
    plan = office(store)
    stored(plan)
    plan.set_menu_key("main", "*", "repeat")
    plan.add_menu("night", "Bấm phím 1 để gặp An.", language="vi", extensions=False,
                  invalid_destination="outside:0909123456@viettel")
    html = client.get("/menus").get_data(as_text=True)
    assert 'href="/menus" aria-current="page"' in html  # in the menu, next to Queues
    assert html.index('href="/queues"') < html.index('href="/menus"') < html.index(
        'href="/calls"')
    row = html[html.index('data-menu="main"'):html.index('data-menu="night"')]
    assert 'href="/menus/main"' in row and "English" in row
    assert "<kbd>1</kbd> <code>queue:sales</code>" in row
    assert "<kbd>2</kbd> <code>extension:101</code>" in row
    assert "<kbd>*</kbd> Play the menu again" in row
    assert "<code>queue:sales</code> <small class=\"muted\">after 8 s</small>" in row
    assert "extensions dialled" in row and TEXT in row
    night = html[html.index('data-menu="night"'):]
    assert "Tiếng Việt" in night and "no keys" in night and "extensions dialled" not in night
    assert "outside:+84909123456@viettel" in night and "Bấm phím 1 để gặp An." in night
    assert 'id="new-menu"' in html
    vietnamese(client, web)
    html = client.get("/menus").get_data(as_text=True)
    assert "Menu thoại" in html and "Phát lại menu" in html and "không có phím" in html
    assert "sau 8 giây" in html and "Menu thoại mới" in html


def test_an_admin_adds_a_menu_with_keys_spoken_once(
        client: FlaskClient, store: Store, web: Any, speech: Speech, tmp_path: Path) -> None:
    plan = office(store)
    page = client.get("/menus/new").get_data(as_text=True)
    assert "Spoken by the box in the chosen language when you save." in page
    assert 'form="menu-form" id="f-key_star" name="key_star"' in page
    assert '<option value="repeat">Play the menu again</option>' in page
    assert '<option value="queue:sales">' in page and '<option value="extension:101">' in page
    response = web.post(client, "/menus/new", form(key_1="queue:sales", key_2="extension:101",
                                                   key_star="repeat"), follow=True)
    listed = response.get_data(as_text=True)
    assert response.history and response.request.path == "/menus", listed[-3000:]
    assert "Voice menu main saved." in listed and 'data-menu="main"' in listed
    made = plan.get_menu("main")
    assert (made.text, made.language, made.extensions, made.timeout, made.timeout_retries,
            made.invalid_retries) == (TEXT, "en", True, 8, 2, 1)
    assert made.timeout_destination == Destination("queue", "sales")
    assert made.invalid_destination == Destination("hangup")
    assert made.keys == {"1": Destination("queue", "sales"),
                         "2": Destination("extension", "101"), "*": Destination("repeat")}
    assert speech.said == [(TEXT, "en", tmp_path / "media" / "prompts")]  # once, when saved
    [(action, actor, detail)] = audited(store)
    assert (action, actor, detail["keys"]) == ("menu.added", "web:boss", ["1", "2", "*"])
    with store.read() as db:
        assert "menu.added" in [r.kind for r in db.execute(select(events.c.kind))]
    page = client.get("/menus/main").get_data(as_text=True)
    assert 'name="key_1" type="text" value="queue:sales"' in page
    assert 'name="key_star" type="text" value="repeat"' in page
    assert 'name="key_3" type="text" value=""' in page
    assert f">{TEXT}</textarea>" in page and 'name="extensions" value="on" checked' in page


def test_a_text_the_box_cannot_speak_is_refused_beside_it(
        client: FlaskClient, store: Store, web: Any, speech: Speech) -> None:
    plan = office(store)
    speech.broken = True
    response = web.post(client, "/menus/new", form(key_1="queue:sales"))
    html = refused(response, "text", "The box cannot speak this text: espeak-ng failed")
    assert 'name="key_1" type="text" value="queue:sales"' in html  # what was typed is kept
    assert f">{TEXT}</textarea>" in html
    assert plan.list_menus() == [] and audited(store) == []
    # An edit that changes the text is refused the same way, the menu left as it was.
    speech.broken = False
    stored(plan)
    before = (plan.get_menu("main"), audited(store))
    speech.broken = True
    response = web.post(client, "/menus/main", edit_form(text="Something new.",
                                                         key_3="hangup"))
    refused(response, "text", "The box cannot speak this text")
    assert (plan.get_menu("main"), audited(store)) == before


def test_bad_fields_are_shown_beside_them_nothing_spoken_or_saved(
        client: FlaskClient, store: Store, web: Any, speech: Speech) -> None:
    plan = office(store)
    plan.add_menu("other", "Other.")
    before = (plan.list_menus(), audited(store))
    for changes, field, message in [
        ({"timeout": "31"}, "timeout", "From 1 to 30, got 31."),
        ({"timeout": "soon"}, "timeout", "A whole number, got &#39;soon&#39;."),
        ({"timeout_retries": "6"}, "timeout_retries", "From 0 to 5, got 6."),
        ({"invalid_retries": "-1"}, "invalid_retries", "From 0 to 5, got -1."),
        ({"text": "  "}, "text", "Use 1 to 1000 printable characters."),
        ({"language": "fr"}, "language", "Choose one of: en, vi."),
        ({"timeout_destination": "extension:555"}, "timeout_destination",
         "There is no extension 555."),
        ({"invalid_destination": "repeat"}, "invalid_destination", "Choose one of:"),
        ({"invalid_destination": "menu:nope"}, "invalid_destination",
         "There is no voice menu named &#39;nope&#39;."),
        ({"key_3": "queue:nope"}, "key_3", "There is no queue named &#39;nope&#39;."),
        ({"key_star": "repeat:3"}, "key_star", "Play the menu again takes no target."),
        ({"key_0": "fax"}, "key_0", "Choose one of:"),
        ({"name": "other"}, "name", "A voice menu named &#39;other&#39; exists."),
        ({"name": "bad name"}, "name", "Use 1 to 32 ASCII letters"),
    ]:
        response = web.post(client, "/menus/new", form(key_1="queue:sales", **changes))
        html = refused(response, field, message)
        assert 'name="key_1" type="text" value="queue:sales"' in html, changes
        shown = changes.get(field, "")
        if field not in ("text", "language", "name"):
            assert f'value="{shown}"' in html, changes
    assert speech.said == []  # refused before anything is spoken
    assert (plan.list_menus(), audited(store)) == before
    vietnamese(client, web)
    html = refused(web.post(client, "/menus/new", form(timeout="31")), "timeout",
                   "Từ 1 đến 30")
    assert "Số giây chờ bấm phím" in html


def test_an_edit_sets_a_key_to_repeat_removes_one_and_saves_only_the_changes(
        client: FlaskClient, store: Store, web: Any, speech: Speech) -> None:
    plan = office(store)
    stored(plan)
    start = len(audited(store))
    page = client.get("/menus/main").get_data(as_text=True)
    assert 'name="key_2" type="text" value="extension:101"' in page
    response = web.post(client, "/menus/main", edit_form(key_2="", key_star="repeat",
                                                         timeout_retries="0"))
    assert response.status_code == 302, response.get_data(as_text=True)[-3000:]
    changed = plan.get_menu("main")
    assert changed.keys == {"1": Destination("queue", "sales"), "*": Destination("repeat")}
    assert changed.timeout_retries == 0 and changed.timeout == 8
    assert speech.said == []  # neither the text nor the language changed
    assert [(a, who, d) for a, who, d in audited(store)[start:]] == [
        ("menu.key_removed", "web:boss", {"menu": "main", "key": "2"}),
        ("menu.updated", "web:boss", {"menu": "main", "fields": ["timeout_retries"]}),
        ("menu.key_set", "web:boss", {"menu": "main", "key": "*", "destination": "repeat"})]
    # Nothing changed: nothing saved, nothing spoken.
    start = len(audited(store))
    same = edit_form(key_2="", key_star="repeat", timeout_retries="0")
    assert web.post(client, "/menus/main", same).status_code == 302
    assert len(audited(store)) == start and speech.said == []
    # A new language (lines of the text kept apart by spaces) is spoken, then saved.
    response = web.post(client, "/menus/main", {
        **same, "language": "vi", "text": "Bấm phím 1\r\nđể gặp bộ phận bán hàng.",
        "extensions": ""})
    assert response.status_code == 302
    vi = plan.get_menu("main")
    assert (vi.language, vi.text, vi.extensions) == (
        "vi", "Bấm phím 1 để gặp bộ phận bán hàng.", False)
    assert [(t, lang) for t, lang, _ in speech.said] == [
        ("Bấm phím 1 để gặp bộ phận bán hàng.", "vi")]
    assert audited(store)[-1][2]["fields"] == ["extensions", "language", "text"]


def test_a_routing_cycle_is_refused_beside_the_key_or_field_that_makes_it(
        client: FlaskClient, store: Store, web: Any, speech: Speech) -> None:
    plan = office(store)
    plan.add_menu("b", "Menu b.")
    plan.add_menu("a", "Menu a.", keys={"1": "menu:b"})
    before = (plan.list_menus(), audited(store))
    b_form = {k: v for k, v in form(text="Menu b.", timeout="5", timeout_destination="hangup",
                                    invalid_retries="2").items() if k != "name"}
    html = refused(web.post(client, "/menus/b", {**b_form, "key_1": "menu:a"}), "key_1",
                   "This change makes a routing cycle: menu a -&gt; menu b -&gt; menu a.")
    assert 'name="key_1" type="text" value="menu:a"' in html
    refused(web.post(client, "/menus/b", {**b_form, "timeout_destination": "menu:a"}),
            "timeout_destination", "This change makes a routing cycle")
    # Both destinations changed: the error goes beside the one that makes the cycle.
    html = refused(web.post(client, "/menus/b", {**b_form, "timeout_destination":
                                                 "extension:101",
                                                 "invalid_destination": "menu:a"}),
                   "invalid_destination", "This change makes a routing cycle")
    assert 'id="timeout_destination-error"' not in html
    # A new menu whose key sends calls back to itself.
    refused(web.post(client, "/menus/new", form(name="c", key_4="menu:c")), "key_4",
            "menu c -&gt; menu c")
    assert (plan.list_menus(), audited(store)) == before and speech.said == []


def test_a_menu_is_removed_once_nothing_sends_calls_to_it(
        client: FlaskClient, store: Store, web: Any) -> None:
    plan = office(store)
    stored(plan)
    plan.update_number(DID, destination="menu:main")
    page = client.get("/menus/main").get_data(as_text=True)
    assert 'action="/menus/main/remove"' in page
    assert 'data-confirm="Remove this voice menu?' in page
    flashed = web.post(client, "/menus/main/remove", follow=True).get_data(as_text=True)
    assert f"number {DID} send calls to &#39;main&#39;; change those first." in flashed
    assert [m.name for m in plan.list_menus()] == ["main"]
    plan.update_number(DID, destination="hangup")
    done = web.post(client, "/menus/main/remove", follow=True).get_data(as_text=True)
    assert "Voice menu main removed." in done and "No voice menus yet." in done
    assert plan.list_menus() == [] and audited(store)[-1][:2] == ("menu.removed", "web:boss")
    assert client.get("/menus/main").status_code == 404
    gone = web.post(client, "/menus/main/remove", follow=True).get_data(as_text=True)
    assert "There is no voice menu named &#39;main&#39;." in gone


def test_a_number_sends_its_calls_to_a_menu(
        client: FlaskClient, store: Store, web: Any) -> None:
    plan = office(store)
    stored(plan)
    number = {"connection": "viettel", "destination": "menu:nope", "to_header": "on",
              "contacts_map": "on", "hours": "", "after_hours": "", "no_answer": "continue",
              "no_answer_connection": "", "ring_timeout": "20", "greeting_language": "en",
              "greeting_text": "", "greeting_wait": "5"}
    path = "/numbers/%2B842873001234"
    refused(web.post(client, path, number), "destination",
            "There is no voice menu named &#39;nope&#39;.")
    assert web.post(client, path, {**number, "destination": "menu:main"}).status_code == 302
    assert plan.get_number(DID).destination == Destination("menu", "main")


def test_a_viewer_sees_but_cannot_change(
        viewer: FlaskClient, store: Store, web: Any, speech: Speech) -> None:
    plan = office(store)
    stored(plan)
    html = viewer.get("/menus").get_data(as_text=True)
    assert 'data-menu="main"' in html and 'id="new-menu"' not in html
    page = viewer.get("/menus/main").get_data(as_text=True)
    assert 'id="save"' not in page and "/menus/main/remove" not in page
    before = (plan.list_menus(), audited(store))
    for path, data in (("/menus/new", form(name="other")),
                       ("/menus/main", edit_form(timeout="30")),
                       ("/menus/main/remove", {})):
        assert web.post(viewer, path, data).status_code == 403, path
    assert (plan.list_menus(), audited(store)) == before and speech.said == []


def test_a_post_without_csrf_is_refused(client: FlaskClient, store: Store) -> None:
    plan = office(store)
    stored(plan)
    assert client.post("/menus/main/remove").status_code == 400
    assert client.post("/menus/new", data=form(name="other")).status_code == 400
    assert [m.name for m in plan.list_menus()] == ["main"]


def test_the_form_in_vietnamese(client: FlaskClient, store: Store, web: Any) -> None:
    plan = office(store)
    stored(plan)
    vietnamese(client, web)
    html = client.get("/menus/main").get_data(as_text=True)
    for label in ("Nội dung đọc", "Người gọi có thể bấm số máy lẻ", "Số giây chờ bấm phím",
                  "Số lần phát lại khi không bấm phím", "Cuộc gọi đi đâu khi không bấm phím",
                  "Số lần phát lại khi bấm sai phím", "Cuộc gọi đi đâu khi bấm sai phím",
                  "Các phím", "Phát lại menu", "Xoá menu thoại", "Tiếng Việt"):
        assert label in html, label
    assert 'data-confirm="Xoá menu thoại này?' in html
    flashed = web.post(client, "/menus/main", edit_form(timeout="9"), follow=True)
    assert "Đã lưu menu thoại main." in flashed.get_data(as_text=True)
