"""The Settings page: the admin changes SIP, provisioning and discovery settings, kept as
overrides in the store, checked by the config's own readers, audited and published."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from appliance.directory import Directory
from appliance.store import Store
from appliance.store import settings as kv
from appliance.store.tables import events

pytest_plugins = ("tests.unit.conftest_web",)


def text(response: object) -> str:
    """A response's HTML."""
    return response.get_data(as_text=True)  # type: ignore[attr-defined, no-any-return]


def form(**changes: str) -> dict[str, str]:
    """The settings form as the page sends it with the dev defaults, plus ``changes``."""
    values = {"sip_domain": "", "provisioning_url": "", "provisioning_ntp_server": "pool.ntp.org",
              "provisioning_timezone": "UTC", "provisioning_language": "en",
              "discovery_subnets": "", "discovery_snmp_communities": "",
              "discovery_snmp_interval": "3600", "discovery_neighbors_interval": "60"}
    values.update(changes)
    return {k: v for k, v in values.items() if v != "-"}


def overrides(store: Store) -> dict[str, Any]:
    """The stored overrides."""
    with store.read() as conn:
        return kv.get_overrides(conn)


def published(store: Store) -> list[dict[str, Any]]:
    """Payloads of the settings.changed events."""
    with store.read() as conn:
        return [dict(r.payload) for r in conn.execute(
            select(events).where(events.c.kind == "settings.changed").order_by(events.c.id))]


def test_admin_changes_settings_audited_and_published(client: FlaskClient, web: type,
                                                      store: Store,
                                                      directory: Directory) -> None:
    response = web.post(client, "/settings", form(
        sip_domain="PBX.example", provisioning_timezone="Asia/Ho_Chi_Minh",
        discovery_pnp="on", discovery_subnets="10.0.0.9/24, 10.0.1.0/24",
        discovery_snmp_interval="600"))
    assert response.status_code == 302 and response.location == "/settings"
    assert overrides(store) == {
        "sip": {"domain": "PBX.example"},
        "provisioning": {"timezone": "Asia/Ho_Chi_Minh"},
        "discovery": {"pnp": True, "subnets": ["10.0.0.9/24", "10.0.1.0/24"],
                      "snmp_interval": 600}}
    keys = ["discovery.pnp", "discovery.snmp_interval", "discovery.subnets",
            "provisioning.timezone", "sip.domain"]
    assert published(store) == [{"keys": keys}]
    [entry] = directory.audit_log(search="settings.changed")
    assert entry.actor == "web:boss" and entry.target == "settings"
    assert entry.detail["sip.domain"] == "pbx.example"
    assert entry.detail["discovery.subnets"] == ["10.0.0.0/24", "10.0.1.0/24"]
    html = text(client.get("/settings"))
    assert 'value="pbx.example"' in html and 'value="Asia/Ho_Chi_Minh"' in html
    # saving the same again changes nothing: no audit row, no event
    web.post(client, "/settings", form(
        sip_domain="PBX.example", provisioning_timezone="Asia/Ho_Chi_Minh",
        discovery_pnp="on", discovery_subnets="10.0.0.9/24, 10.0.1.0/24",
        discovery_snmp_interval="600"))
    assert len(published(store)) == 1


def test_a_value_equal_to_the_file_drops_its_override_and_reset(client: FlaskClient,
                                                                web: type, store: Store) -> None:
    web.post(client, "/settings", form(sip_domain="pbx.example", provisioning_language="fr"))
    assert overrides(store) == {"sip": {"domain": "pbx.example"},
                                "provisioning": {"language": "fr"}}
    web.post(client, "/settings", form(provisioning_language="fr"))
    assert overrides(store) == {"provisioning": {"language": "fr"}}
    assert published(store)[-1] == {"keys": ["sip.domain"]}
    response = web.post(client, "/settings/reset", follow=True)
    assert response.status_code == 200 and overrides(store) == {}
    assert published(store)[-1] == {"keys": ["provisioning.language"]}


def test_snmp_communities_are_kept_when_left_empty_and_never_shown(
        client: FlaskClient, web: type, store: Store, directory: Directory) -> None:
    web.post(client, "/settings", form(discovery_snmp_communities="s3cret-one, two"))
    assert overrides(store) == {"discovery": {"snmp_communities": ["s3cret-one", "two"]}}
    web.post(client, "/settings", form(discovery_snmp="on"))  # communities left empty: kept
    assert overrides(store)["discovery"]["snmp_communities"] == ["s3cret-one", "two"]
    assert "s3cret-one" not in text(client.get("/settings"))
    assert "s3cret-one" not in str([e.detail for e in directory.audit_log()])
    assert "s3cret-one" not in str(published(store))


BAD = [  # (field, value, English rule, Vietnamese rule)
    ("sip_domain", "not a host", "Use a host name", "Dùng tên máy chủ"),
    ("provisioning_url", "ftp://box", "http://, https:// or tftp://", "http://, https:// hoặc"),
    ("provisioning_ntp_server", "", "host name or an IP address", "tên máy chủ hoặc địa chỉ IP"),
    ("provisioning_timezone", "Mars/Olympus", "time zone name such as Asia/Ho_Chi_Minh",
     "múi giờ"),
    ("provisioning_language", "xx", "Choose one of: en, fr", "Chọn một trong"),
    ("discovery_subnets", "10.0.0.300/8", "is not a subnet such as 192.0.2.0/24",
     "không phải là mạng con"),
    ("discovery_snmp_interval", "5", "from 60 to 604800", "từ 60 đến 604800"),
    ("discovery_neighbors_interval", "often", "Use a number", "Nhập một số"),
]


@pytest.mark.parametrize(("field", "value", "english", "vietnamese"), BAD,
                         ids=[b[0] for b in BAD])
def test_a_bad_value_is_shown_next_to_its_field(client: FlaskClient, web: type, store: Store,
                                                field: str, value: str, english: str,
                                                vietnamese: str) -> None:
    response = web.post(client, "/settings", form(**{field: value}))
    assert response.status_code == 400
    html = text(response)
    assert f'id="{field}-error"' in html and english in html, html
    assert html.count('class="field-error"') == 1
    web.post(client, "/language", {"language": "vi"})
    html = text(web.post(client, "/settings", form(**{field: value})))
    assert f'id="{field}-error"' in html and vietnamese in html
    assert overrides(store) == {} and published(store) == []


def test_every_bad_field_is_shown_at_once(client: FlaskClient, web: type) -> None:
    html = text(web.post(client, "/settings", form(sip_domain="a b", provisioning_timezone="x")))
    assert 'id="sip_domain-error"' in html and 'id="provisioning_timezone-error"' in html


def test_viewer_sees_settings_but_cannot_change_them(viewer: FlaskClient, web: type,
                                                     store: Store) -> None:
    html = text(viewer.get("/settings"))
    assert "pool.ntp.org" in html and 'id="save-settings"' not in html
    assert web.post(viewer, "/settings", form(sip_domain="pbx.example")).status_code == 403
    assert web.post(viewer, "/settings/reset").status_code == 403
    assert overrides(store) == {} and published(store) == []


def test_overrides_written_elsewhere_show_at_the_next_request(client: FlaskClient,
                                                              store: Store, app: Flask) -> None:
    with store.write() as conn:
        kv.put_overrides(conn, {"provisioning": {"ntp_server": "ntp.other.example"}})
    html = text(client.get("/settings"))
    assert 'value="ntp.other.example"' in html
    with store.write() as conn:  # a broken override never breaks the page: the file wins
        kv.put_overrides(conn, {"provisioning": {"timezone": "Nowhere/Else"}})
    assert 'value="UTC"' in text(client.get("/settings"))
