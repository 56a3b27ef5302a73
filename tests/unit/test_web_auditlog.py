"""The audit log as people read it (labels, names, sentences, search) and local time."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient

from appliance import localtime
from appliance.config import load
from appliance.directory import AuditEntry, Directory
from appliance.store import Store
from appliance.web import auditlog
from appliance.web.auditlog import Names, describe, english, search

pytest_plugins = ("tests.unit.conftest_web",)

ROOT = Path(auditlog.__file__).resolve().parents[1]
# A call that writes an audit entry, and the action name (the first "word.word" literal in it).
WRITERS = re.compile(r"(?:_log|journal\.record|\baudit)\(.{0,160}?\"([a-z_]+\.[a-z_]+)\"",
                     re.S)
FILE_TYPES = {"html", "py", "json", "toml", "csv", "gz", "po", "txt", "xml", "cfg"}  # not actions
ENTRIES = re.compile(r"\(\"([a-z]+\.[a-z_]+)\", (?:target|where|call\.)")  # routing/changes.py


def _actions_in_code() -> set[str]:
    found: set[str] = set()
    for path in ROOT.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        found |= set(WRITERS.findall(text)) | set(ENTRIES.findall(text))
    return {a for a in found if a.rpartition(".")[2] not in FILE_TYPES}


def test_every_action_written_has_a_label() -> None:
    written = _actions_in_code()
    # the grep sees them all, including the SIP part's and the backup's
    assert {"settings.changed", "sip.unbanned", "sip.bindings_dropped", "sip.call_ended",
            "backup.made", "backup.restored", "backup.downloaded", "connection.added",
            "number.removed", "firmware.added", "setup.done", "admin.login"} <= written
    assert written - set(auditlog.ACTIONS) == set()


def entry(action: str, target: str, **detail: object) -> AuditEntry:
    return AuditEntry(1, datetime(2025, 1, 31, 17, 5, tzinfo=UTC), "web:boss", action, target,
                      dict(detail))


NAMES = Names({1: "Nguyễn Văn An"}, {"provisioning.timezone": "Time zone",
                                      "sip.domain": "SIP domain"})


@pytest.mark.parametrize(("given", "label", "target", "detail"), [
    (entry("employee.updated", "1", employee_id=1, fields=["mobile"]), "Employee changed",
     "Nguyễn Văn An (#1)", "Changed: mobile number."),
    (entry("extension.updated", "101", number="101", fields=["permission", "receive"]),
     "Extension changed", "extension 101", "Changed: call permission, where calls ring."),
    (entry("extension.assigned", "101", number="101", employee_id=1), "Extension assigned",
     "extension 101 · Nguyễn Văn An (#1)", "Given to Nguyễn Văn An (#1), with a new SIP password."),
    (entry("extension.freed", "101", employee_id=1, phones=["001565123456"],
           reason="dismissed"), "Extension freed", "extension 101 · Nguyễn Văn An (#1)",
     "Taken from Nguyễn Văn An (#1) because the employee was dismissed; it has a new SIP "
     "password. Phones disabled: 00:15:65:12:34:56."),
    (entry("employee.dismissed", "1", employee_id=1, extension="101", phones=[]),
     "Employee dismissed", "Nguyễn Văn An (#1)",
     "Extension 101 was freed with a new SIP password."),
    (entry("settings.changed", "settings", **{"provisioning.timezone": "Asia/Ho_Chi_Minh",
                                              "sip.domain": ""}),
     "Settings changed", "settings", "Time zone: Asia/Ho_Chi_Minh; SIP domain: empty."),
    (entry("sip.unbanned", "192.0.2.7", address="192.0.2.7"), "SIP ban lifted", "192.0.2.7",
     "192.0.2.7 may try to register again."),
    (entry("sip.bindings_dropped", "101", extension="101", reason="phone disabled", count=2,
           contacts=[]), "Registrations dropped", "extension 101",
     "2 registrations of extension 101 dropped because the phone was disabled."),
    (entry("sip.call_ended", "102", call_id="x", caller="101", callee="102",
           reason="out of service", answered=True), "Call ended", "extension 102",
     "The call from 101 to 102 was ended because the extension is out of service. "
     "It had been answered."),
    (entry("backup.made", "b.tar.gz", trigger="nightly", files=3, bytes=2_500_000,
           revision="x", created="2025-01-31T17:05:00+00:00"), "Backup made", "b.tar.gz",
     "3 files, 2.5 MB (nightly)."),
    (entry("phone.discovered", "001565123456", mac="001565123456", method="pnp",
           ip="192.0.2.7", vendor="Yealink", model="SIP-T46U"), "Phone discovered",
     "00:15:65:12:34:56", "Found by SIP PnP at 192.0.2.7 (Yealink SIP-T46U)."),
    (entry("phone.assigned", "001565123456", mac="001565123456", extension="102",
           previous_extension="101"), "Phone assigned", "00:15:65:12:34:56",
     "Now has the account of extension 102. Before: extension 101."),
    (entry("number.updated", "+842838123456", did="+842838123456", fields=["destination"]),
     "Outside number changed", "+842838123456", "Changed: destination."),
    (entry("employee.added", "1", employee_id=1), "Employee added", "Nguyễn Văn An (#1)", ""),
])
def test_entries_read_as_sentences(given: AuditEntry, label: str, target: str,
                                   detail: str) -> None:
    shown = describe(given, NAMES, english)
    assert (shown.label, shown.target, shown.detail) == (label, target, detail)
    assert shown.actor == "boss (admin page)"
    assert "{" not in shown.detail and "=" not in shown.detail


def test_an_unknown_action_or_shape_is_shown_plainly() -> None:
    shown = describe(entry("future.thing", "x", count=3, names=["a", "b"]), NAMES)
    assert (shown.label, shown.detail) == ("future.thing", "count: 3; names: a, b.")
    odd = describe(entry("extension.freed", "101", employee_id=1, phones=5), NAMES)
    assert odd.label == "Extension freed"
    assert "phones: 5" in odd.detail


def test_sentences_in_vietnamese(app: Flask) -> None:
    from appliance.web.i18n import _

    given = entry("extension.assigned", "101", number="101", employee_id=1)
    with app.test_request_context(headers={"Accept-Language": "vi"}):
        shown = describe(given, NAMES, _)
        dashboard = describe(entry("admin.login", "boss"), NAMES, _)
    assert shown.label == "Đã gán máy lẻ"
    assert shown.target == "máy lẻ 101 · Nguyễn Văn An (#1)"
    assert shown.detail == "Đã giao cho Nguyễn Văn An (#1), kèm mật khẩu SIP mới."
    assert shown.actor == "boss (trang quản trị)"
    assert dashboard.label == "Đã đăng nhập"


def test_search_matches_what_is_shown(directory: Directory, store: Store) -> None:
    person = directory.add_employee("Nguyễn Văn An")
    directory.add_extension("101")
    directory.assign_extension("101", person.id)
    for n in range(30):  # newer entries that do not match
        directory.add_extension(str(200 + n))
    names = Names.load(store)
    found, cut = search(store, "nguyen an", 5, names, batch=7)
    assert not cut
    assert [s.action for s in found] == ["extension.assigned", "employee.added"]
    assert search(store, "given to an", 5, names)[0][0].action == "extension.assigned"
    assert search(store, "command line", 5, names)[0] == []  # actor was "system"
    assert len(search(store, "", 10, names)[0]) == 10
    monkey, _cut = search(store, "extension 229", 5, names)
    assert [s.target for s in monkey] == ["extension 229"]


def test_changed_lists_only_what_changed(client: FlaskClient, web: type,
                                         directory: Directory) -> None:
    person = directory.add_employee("An", "84912345678")
    directory.add_extension("101", name="an")
    directory.assign_extension("101", person.id)
    web.post(client, "/extensions/101", {"name": "an", "permission": "mobile",
                                         "receive": "both", "supervisor": "", "group": "",
                                         "description": "", "mobile": "+84 912 345 678"})
    last = directory.audit_log(limit=1)[0]
    assert (last.action, last.detail["fields"]) == ("extension.updated", ["permission"])
    web.post(client, f"/employees/{person.id}", {"name": "An", "mobile": "84912345679"})
    last = directory.audit_log(limit=1)[0]
    assert (last.action, last.detail["fields"]) == ("employee.updated", ["mobile"])
    page = client.get("/audit?q=call+permission").get_data(as_text=True)
    assert "Changed: call permission." in page
    assert "Changed: mobile number." not in page


def test_local_time_formatting() -> None:
    at = datetime(2025, 1, 31, 17, 5, 9, tzinfo=UTC)
    saigon = ZoneInfo("Asia/Ho_Chi_Minh")
    assert localtime.shown(at, saigon) == "2025-02-01 00:05:09"
    assert localtime.shown(at.replace(tzinfo=None), saigon) == "2025-02-01 00:05:09"
    assert localtime.shown(datetime(2025, 7, 1, 12, tzinfo=UTC),
                           ZoneInfo("Europe/Berlin")) == "2025-07-01 14:00:00"
    assert localtime.shown_text("2025-01-31T17:05:09.123+00:00", saigon) == "2025-02-01 00:05:09"
    assert localtime.shown_text("tftp y.cfg 2025-01-31T17:05:09+00:00", saigon) == \
        "tftp y.cfg 2025-02-01 00:05:09"
    assert localtime.shown_text("101", saigon) == "101"


def test_system_zone_from_localtime_link(tmp_path: Path) -> None:
    zoneinfo = tmp_path / "usr" / "share" / "zoneinfo" / "Asia"
    zoneinfo.mkdir(parents=True)
    (zoneinfo / "Ho_Chi_Minh").write_bytes(b"TZif")
    link = tmp_path / "localtime"
    link.symlink_to(zoneinfo / "Ho_Chi_Minh")
    assert localtime.system_zone(link) == "Asia/Ho_Chi_Minh"
    assert localtime.system_zone(tmp_path / "missing") == "UTC"
    config = load(None, {})
    assert localtime.suggested_zone(config, link) == "Asia/Ho_Chi_Minh"
    assert not localtime.valid_zone("Mars/Base") and not localtime.valid_zone("../etc")


def test_setup_keeps_the_time_zone_and_pages_show_local_time(
        app: Flask, web: type, store: Store, directory: Directory) -> None:
    client = app.test_client()
    response = web.post(client, "/setup", {
        "token": app.config["SETUP_TOKEN"], "username": "boss", "password": web.password,
        "password2": web.password, "timezone": "Asia/Ho_Chi_Minh"})
    assert response.status_code == 302
    from appliance.store import settings as kv

    with store.read() as conn:
        assert kv.get_overrides(conn) == {"provisioning": {"timezone": "Asia/Ho_Chi_Minh"}}
    last = directory.audit_log(search="settings.changed")[0]
    assert last.actor == "web:boss"
    assert localtime.box_zone(load(None, {}), store) == ZoneInfo("Asia/Ho_Chi_Minh")
    at = directory.audit_log(limit=1)[0].at
    page = client.get("/audit").get_data(as_text=True)
    assert localtime.shown(at, ZoneInfo("Asia/Ho_Chi_Minh")) in page
    assert "Times in Asia/Ho_Chi_Minh" in page
    assert "Time zone: Asia/Ho_Chi_Minh." in page
