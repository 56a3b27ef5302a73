"""The Queues page: queue groups listed with their members' holders, strategy, times and
fallback, added, edited (only the fields changed saved and audited) and removed by an admin
(CSRF); each active employee's presence set; errors next to their fields with the typed
values kept, nothing saved; a viewer sees but cannot change; English and Vietnamese."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from appliance.callplan.model import Server
from appliance.directory import Directory
from appliance.directory.office import CallPlanDirectory
from appliance.store import Store
from appliance.store.tables import audit, events

pytest_plugins = ("tests.unit.conftest_web",)

FORM = {"name": "sales", "members": "102, 101", "strategy": "in_order", "ring_time": "15",
        "timeout": "90", "fallback": "hangup"}


def office(store: Store) -> CallPlanDirectory:
    """An, Bình (working, extensions 101 and 102), a free 103, a connection and a number."""
    people = Directory(store, actor="test")
    an = people.add_employee("Nguyễn Văn An")
    binh = people.add_employee("Trần Thị Bình")
    for number in ("101", "102", "103"):
        people.add_extension(number)
    people.assign_extension("101", an.id)
    people.assign_extension("102", binh.id)
    plan = CallPlanDirectory(store, actor="test")
    plan.add_connection("viettel", "ip", [Server("127.0.0.2")], allowed_sources=["127.0.0.2"])
    plan.add_number("02873001234", "viettel", "hangup")
    return plan


def vietnamese(client: FlaskClient, web: Any) -> None:
    assert web.post(client, "/language", {"language": "vi"}).status_code in (302, 303)


def audited(store: Store) -> list[tuple[str, str, Any]]:
    """The call plan's audit entries (signing in and switching language aside)."""
    with store.read() as db:
        return [(r.action, r.actor, r.detail) for r in db.execute(
            select(audit.c.action, audit.c.actor, audit.c.detail).order_by(audit.c.id))
            if r.action.startswith(("queue.", "presence."))]


def test_the_list_shows_queues_and_presence_in_both_languages(
        client: FlaskClient, store: Store, web: Any) -> None:
    plan = office(store)
    plan.add_queue("sales", ["101", "103"], strategy="round_robin", ring_time=15,
                   fallback="outside:0909123456@viettel")
    plan.add_queue("support", ["102"], ring_busy=True)
    plan.set_presence(2, "on_break")
    html = client.get("/queues").get_data(as_text=True)
    assert 'href="/queues"' in html and 'aria-current="page"' in html  # in the menu
    row = html[html.index('data-queue="sales"'):html.index('data-queue="support"')]
    assert "101 <small" in row and "Nguyễn Văn An" in row and "(free)" in row
    assert "Round robin" in row and "15 s" in row and "60 s" in row
    assert "outside:+84909123456@viettel" in row and "skipped" in row
    support = html[html.index('data-queue="support"'):]
    assert "Ring all at once" in support and "Trần Thị Bình" in support
    presence = html[html.index('id="presence-list"'):]
    an = presence[presence.index('data-employee="1"'):presence.index('data-employee="2"')]
    assert "working" in an and "never set" in an
    binh = presence[presence.index('data-employee="2"'):]
    assert "on a break" in binh and "<time datetime=" in binh
    assert '<option value="on_break" selected>' in binh
    vietnamese(client, web)
    html = client.get("/queues").get_data(as_text=True)
    assert "Hàng đợi" in html and "Luân phiên" in html and "đang nghỉ giải lao" in html
    assert "Hiện diện" in html and "chưa đặt" in html


def test_an_admin_adds_edits_and_removes_a_queue(
        client: FlaskClient, store: Store, web: Any) -> None:
    plan = office(store)
    assert client.get("/queues/new").status_code == 200
    response = web.post(client, "/queues/new", {**FORM, "ring_busy": "on"})
    assert response.status_code == 302, response.get_data(as_text=True)
    made = plan.get_queue("sales")
    assert (made.members, made.strategy, made.ring_time, made.timeout, made.ring_busy) == (
        ("102", "101"), "in_order", 15, 90, True)
    page = client.get("/queues/sales").get_data(as_text=True)
    assert 'value="102, 101"' in page and '<option value="in_order" selected>' in page
    assert 'name="ring_busy" value="on" checked' in page
    # Only what changed is saved, and the audit log names just that.
    edited = {k: v for k, v in FORM.items() if k != "name"}
    response = web.post(client, "/queues/sales", {**edited, "members": "101 102 103",
                                                  "fallback": "queue:sales2"})
    assert response.status_code == 400  # no queue sales2 yet
    assert plan.get_queue("sales") == made
    assert web.post(client, "/queues/new", {**FORM, "name": "sales2", "members": ""}
                    ).status_code == 302
    response = web.post(client, "/queues/sales", {**edited, "members": "101 102 103",
                                                  "fallback": "queue:sales2"})
    assert response.status_code == 302
    changed = plan.get_queue("sales")
    assert changed.members == ("101", "102", "103") and changed.ring_busy is False
    assert changed.fallback.kind == "queue" and changed.fallback.target == "sales2"
    action, actor, detail = audited(store)[-1]
    assert (action, actor) == ("queue.updated", "web:boss")
    assert detail["fields"] == ["fallback", "members", "ring_busy"]
    with store.read() as db:
        kinds = [r.kind for r in db.execute(select(events.c.kind))]
    assert "queue.updated" in kinds
    # sales2 takes sales' calls: removing it is refused and said why; then it goes.
    flashed = web.post(client, "/queues/sales2/remove", follow=True).get_data(as_text=True)
    assert "sales send calls to &#39;sales2&#39;; change those first." in flashed
    assert len(plan.list_queues()) == 2
    assert web.post(client, "/queues/sales", {**edited, "members": "101 102 103",
                                              "ring_busy": "", "fallback": "hangup"}
                    ).status_code == 302
    done = web.post(client, "/queues/sales2/remove", follow=True).get_data(as_text=True)
    assert "Queue sales2 removed." in done
    assert [q.name for q in plan.list_queues()] == ["sales"]
    assert client.get("/queues/sales2").status_code == 404
    page = client.get("/queues/sales").get_data(as_text=True)
    assert 'data-confirm="Remove this queue?' in page


def test_errors_are_shown_next_to_their_fields_and_nothing_is_saved(
        client: FlaskClient, store: Store, web: Any) -> None:
    plan = office(store)
    plan.add_queue("support", ["101"])
    plan.update_number("02873001234", destination="queue:support")
    before = (plan.list_queues(), audited(store))
    for form, field, message in [
        ({**FORM, "strategy": "loudest"}, "strategy",
         "Choose one of: ring_all, in_order, round_robin, least_recent, fewest_calls."),
        ({**FORM, "ring_time": "601"}, "ring_time", "From 5 to 600, got 601."),
        ({**FORM, "ring_time": "soon"}, "ring_time", "A whole number, got &#39;soon&#39;."),
        ({**FORM, "timeout": "4"}, "timeout", "From 5 to 3600, got 4."),
        ({**FORM, "members": "101, 999"}, "members", "There is no extension 999."),
        ({**FORM, "members": "12345"}, "members", "An extension is 1 to 4 digits (0-9)."),
        ({**FORM, "fallback": "extension:555"}, "fallback", "There is no extension 555."),
        ({**FORM, "fallback": "fax:1"}, "fallback", "Choose one of:"),
        ({**FORM, "name": "support"}, "name", "A queue named &#39;support&#39; exists."),
        ({**FORM, "name": "bad name"}, "name", "Use 1 to 32 ASCII letters"),
    ]:
        response = web.post(client, "/queues/new", form)
        html = response.get_data(as_text=True)
        assert response.status_code == 400, form
        assert f'id="{field}-error"' in html and message in html, (form, html[-3000:])
        assert f'value="{form["members"]}"' in html  # what was typed is kept
    # A cycle is shown beside the fallback, the queue left as it was.
    cycle = web.post(client, "/queues/support", {**FORM, "members": "101",
                                                 "strategy": "ring_all", "ring_time": "20",
                                                 "timeout": "60",
                                                 "fallback": "outside:+842873001234"})
    html = cycle.get_data(as_text=True)
    assert cycle.status_code == 400 and 'id="fallback-error"' in html
    assert "This change makes a routing cycle" in html
    assert 'value="outside:+842873001234"' in html
    vietnamese(client, web)
    html = web.post(client, "/queues/new", {**FORM, "ring_time": "601"}).get_data(as_text=True)
    assert 'id="ring_time-error"' in html and "Từ 5 đến 600" in html
    assert (plan.list_queues(), audited(store)) == before


def test_an_admin_sets_presence(client: FlaskClient, store: Store, web: Any) -> None:
    plan = office(store)
    people = Directory(store, actor="test")
    gone = people.add_employee("Lê Văn Cường")
    people.dismiss(gone.id)
    html = client.get("/queues").get_data(as_text=True)
    assert "Lê Văn Cường" not in html  # only active employees
    response = web.post(client, "/presence/2", {"state": "off"}, follow=True)
    html = response.get_data(as_text=True)
    assert "Trần Thị Bình is now off work." in html
    assert [(p.employee_id, p.state) for p in plan.list_presence()] == [(2, "off")]
    action, actor, detail = audited(store)[-1]
    assert (action, actor, detail) == ("presence.set", "web:boss",
                                       {"employee_id": 2, "state": "off"})
    audit_page = client.get("/audit").get_data(as_text=True)
    assert "Presence set" in audit_page and "Now: off work." in audit_page
    assert web.post(client, "/presence/2", {"state": "working"}).status_code == 302
    assert plan.list_presence()[0].state == "working"
    before = (plan.list_presence(), audited(store))
    bad = web.post(client, "/presence/2", {"state": "lunch"}, follow=True)
    assert "Choose one of: working, on_break, off." in bad.get_data(as_text=True)
    dismissed = web.post(client, f"/presence/{gone.id}", {"state": "off"}, follow=True)
    assert f"Employee {gone.id} is dismissed." in dismissed.get_data(as_text=True)
    missing = web.post(client, "/presence/99", {"state": "off"}, follow=True)
    assert "Employee 99 does not exist." in missing.get_data(as_text=True)
    assert (plan.list_presence(), audited(store)) == before
    vietnamese(client, web)
    html = web.post(client, "/presence/1", {"state": "on_break"}, follow=True
                    ).get_data(as_text=True)
    assert "Nguyễn Văn An hiện đang nghỉ giải lao." in html


def test_a_viewer_sees_but_cannot_change(
        viewer: FlaskClient, store: Store, web: Any) -> None:
    plan = office(store)
    plan.add_queue("sales", ["101"])
    html = viewer.get("/queues").get_data(as_text=True)
    assert "sales" in html and 'id="new-queue"' not in html and "/presence/1" not in html
    page = viewer.get("/queues/sales").get_data(as_text=True)
    assert 'id="save"' not in page and "/queues/sales/remove" not in page
    for path, data in (("/queues/new", FORM), ("/queues/sales", {**FORM, "timeout": "30"}),
                       ("/queues/sales/remove", {}), ("/presence/1", {"state": "off"})):
        assert web.post(viewer, path, data).status_code == 403, path
    assert plan.get_queue("sales").timeout == 60 and plan.list_presence() == []


def test_a_post_without_csrf_is_refused(client: FlaskClient, store: Store) -> None:
    plan = office(store)
    plan.add_queue("sales", ["101"])
    assert client.post("/queues/sales/remove").status_code == 400
    assert client.post("/presence/1", data={"state": "off"}).status_code == 400
    assert len(plan.list_queues()) == 1 and plan.list_presence() == []
