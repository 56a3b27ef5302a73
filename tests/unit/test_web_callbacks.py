"""The Callbacks page: each office number's rule set (errors beside their fields, the typed
values kept, nothing saved) and removed, the jobs listed and filtered by state, an open one
dropped (audited as the web user); a viewer sees but cannot change; Vietnamese."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from appliance.callplan.callbacks import NewJob
from appliance.callplan.model import Server
from appliance.directory.callbacks import CallbackDirectory
from appliance.directory.office import CallPlanDirectory
from appliance.store import Store
from appliance.store.tables import audit

pytest_plugins = ("tests.unit.conftest_web",)

DID = "+842873001234"


def office(store: Store) -> CallbackDirectory:
    plan = CallPlanDirectory(store, actor="test")
    plan.add_connection("viettel", "ip", [Server("127.0.0.2")], allowed_sources=["127.0.0.2"])
    plan.add_number(DID, "viettel", "hangup")
    return CallbackDirectory(store, actor="test")


def job(callbacks: CallbackDirectory, customer: str) -> int:
    return callbacks.add_job(NewJob(customer, DID, "extension:102", 3, 600,
                                    datetime(2027, 1, 1, tzinfo=UTC), "call-" + customer)).id


def test_rules_set_and_removed_with_errors_beside_their_fields(
        client: FlaskClient, store: Store, web: Any) -> None:
    callbacks = office(store)
    html = client.get("/callbacks").get_data(as_text=True)
    assert f'<option value="{DID}"' in html and "No office number calls back yet." in html
    bad = web.post(client, "/callbacks/rules", {"did": DID, "delay": "5", "attempts": "3",
                                                "interval": "600"})
    text = bad.get_data(as_text=True)
    assert bad.status_code == 400 and 'id="delay-error"' in text and 'value="5"' in text
    assert callbacks.rules() == []
    ok = web.post(client, "/callbacks/rules", {"did": DID, "delay": "30", "attempts": "2",
                                               "interval": "120"})
    assert ok.status_code == 302
    assert [(r.did, r.delay, r.attempts, r.interval) for r in callbacks.rules()] == [
        (DID, 30, 2, 120)]
    assert f'data-did="{DID}"' in client.get("/callbacks").get_data(as_text=True)
    # not an office number: refused beside the number
    other = web.post(client, "/callbacks/rules", {"did": "+84281111111", "delay": "30",
                                                  "attempts": "2", "interval": "120"})
    assert other.status_code == 400 and 'id="did-error"' in other.get_data(as_text=True)
    assert web.post(client, f"/callbacks/rules/{DID}/remove").status_code == 302
    assert callbacks.rules() == []
    with store.read() as db:
        actors = {r.action: r.actor for r in db.execute(select(audit.c.action, audit.c.actor))}
    assert actors["callback.rule_set"].startswith("web:")
    assert actors["callback.rule_removed"].startswith("web:")


def test_jobs_listed_filtered_and_dropped(client: FlaskClient, store: Store,
                                          web: Any) -> None:
    callbacks = office(store)
    first = job(callbacks, "0909000111")
    second = job(callbacks, "0909000222")
    callbacks.drop(first)
    html = client.get("/callbacks").get_data(as_text=True)
    assert f'data-job="{first}"' in html and f'data-job="{second}"' in html
    assert f"/callbacks/{second}/drop" in html and f"/callbacks/{first}/drop" not in html
    pending = client.get("/callbacks?state=pending").get_data(as_text=True)
    assert f'data-job="{second}"' in pending and f'data-job="{first}"' not in pending
    assert web.post(client, f"/callbacks/{second}/drop").status_code == 302
    assert callbacks.jobs("pending") == []
    # dropping it again: a clear message, nothing else changes
    again = web.post(client, f"/callbacks/{second}/drop")
    assert again.status_code == 302
    assert "no open callback" in client.get("/callbacks").get_data(as_text=True)


def test_a_viewer_sees_but_cannot_change(viewer: FlaskClient, store: Store, web: Any) -> None:
    callbacks = office(store)
    callbacks.set_rule(DID, delay=30)
    key = job(callbacks, "0909000111")
    html = viewer.get("/callbacks").get_data(as_text=True)
    assert f'data-job="{key}"' in html and "/drop" not in html
    assert 'id="save-callback-rule"' not in html
    for path, data in (("/callbacks/rules", {"did": DID, "delay": "60", "attempts": "1",
                                             "interval": "60"}),
                       (f"/callbacks/rules/{DID}/remove", {}), (f"/callbacks/{key}/drop", {})):
        assert web.post(viewer, path, data).status_code == 403, path
    assert callbacks.rules()[0].delay == 30 and callbacks.jobs("pending")[0].id == key


def test_in_vietnamese(client: FlaskClient, store: Store, web: Any) -> None:
    office(store)
    assert web.post(client, "/language", {"language": "vi"}).status_code in (302, 303)
    html = client.get("/callbacks").get_data(as_text=True)
    assert "Các số văn phòng có gọi lại" in html and "Gọi lại" in html
