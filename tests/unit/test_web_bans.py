"""The SIP bans page: listed for everyone signed in, lifted by admins only (CSRF, audited),
in English and Vietnamese."""

from __future__ import annotations

from datetime import UTC, datetime

from flask.testing import FlaskClient
from sqlalchemy import select

from appliance.routing import bans
from appliance.routing.guard import Ban
from appliance.store import Store
from appliance.store.tables import audit

pytest_plugins = ("tests.unit.conftest_web",)


def _ban(store: Store, address: str = "192.0.2.66") -> None:
    now = datetime.now(UTC).timestamp()
    bans.save(store, Ban(address, now, now + 900, "usernames", 12, 10))


def test_bans_are_listed_and_an_admin_lifts_one(client: FlaskClient, store: Store,
                                                web: type) -> None:
    _ban(store)
    html = client.get("/sip/bans").get_data(as_text=True)
    assert "192.0.2.66" in html and "failed sign-ins on many extensions" in html
    assert "Unban" in html and "15" in html
    assert client.post("/sip/bans/unban", data={"address": "192.0.2.66"}).status_code == 400
    answer = web.post(client, "/sip/bans/unban", {"address": "192.0.2.66"}, follow=True)
    text = answer.get_data(as_text=True)
    assert "The ban on 192.0.2.66 is lifted." in text and "No address is banned." in text
    assert bans.listing(store) == []
    with store.read() as conn:
        entry = conn.execute(select(audit).where(audit.c.action == "sip.unbanned")).one()
    assert entry.actor == "web:boss" and entry.target == "192.0.2.66"
    again = web.post(client, "/sip/bans/unban", {"address": "192.0.2.66"}, follow=True)
    assert "192.0.2.66 is not banned (any more)." in again.get_data(as_text=True)
    bad = web.post(client, "/sip/bans/unban", {"address": "<script>"}, follow=True)
    assert "&lt;script&gt; is not an IP address." in bad.get_data(as_text=True)


def test_a_viewer_sees_bans_but_cannot_lift_them(viewer: FlaskClient, store: Store,
                                                 web: type) -> None:
    _ban(store)
    html = viewer.get("/sip/bans").get_data(as_text=True)
    assert "192.0.2.66" in html and "Unban" not in html
    refused = web.post(viewer, "/sip/bans/unban", {"address": "192.0.2.66"})
    assert refused.status_code == 403 and len(bans.listing(store)) == 1


def test_the_bans_page_in_vietnamese(client: FlaskClient, store: Store, web: type) -> None:
    _ban(store)
    web.post(client, "/language", {"language": "vi"})
    html = client.get("/sip/bans").get_data(as_text=True)
    assert "Địa chỉ SIP bị chặn" in html and "Bỏ chặn" in html
    assert "đăng nhập thất bại trên nhiều máy lẻ" in html
