"""The pages over the Flask test client: employees, extensions, phones, audit, users."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from appliance.directory import Directory

pytest_plugins = ("tests.unit.conftest_web",)


def text(response: object) -> str:
    """A response's HTML."""
    return response.get_data(as_text=True)  # type: ignore[attr-defined, no-any-return]


def test_add_and_edit_an_employee_audited_as_the_web_user(client: FlaskClient, web: type,
                                                          directory: Directory) -> None:
    response = web.post(client, "/employees", {"name": "Trần Thị B", "mobile": "+84 90 123 4567"})
    assert response.status_code == 302 and response.location == "/employees/1"
    assert directory.get_employee(1).mobile == "84901234567"
    web.post(client, "/employees/1", {"name": "Trần Thị Bích", "mobile": ""})
    assert directory.get_employee(1).name == "Trần Thị Bích"
    assert directory.get_employee(1).mobile is None
    actors = {e.actor for e in directory.audit_log(search="employee.")}
    assert actors == {"web:boss"}


def test_a_broken_rule_shows_next_to_its_field(client: FlaskClient, web: type) -> None:
    response = web.post(client, "/employees", {"name": "", "mobile": "0912"})
    assert response.status_code == 400
    html = text(response)
    assert 'id="name-error"' in html and "1 to 100 printable characters" in html
    response = web.post(client, "/extensions/new", {"number": "12345", "permission": "internal",
                                                    "receive": "desk"})
    assert 'id="number-error"' in text(response)
    assert "1 to 4 digits" in text(response)


def test_errors_in_vietnamese(client: FlaskClient, web: type, directory: Directory) -> None:
    web.post(client, "/language", {"language": "vi"})
    directory.add_extension("101", name="an")
    response = web.post(client, "/extensions/new", {"number": "101", "permission": "internal",
                                                    "receive": "desk"})
    assert "Máy lẻ 101 đã có." in text(response)
    response = web.post(client, "/extensions/new", {"number": "102", "name": "an",
                                                    "permission": "internal",
                                                    "receive": "desk"})
    assert "đã là tên của máy lẻ 101" in text(response)
    response = web.post(client, "/employees", {"name": "X", "mobile": "abc"})
    assert "Số quốc tế kèm mã quốc gia" in text(response)
    assert "(đã nhập &#39;abc&#39;)" in text(response)


def test_extension_with_every_field_and_assignment(client: FlaskClient, web: type,
                                                   directory: Directory) -> None:
    boss = directory.add_employee("Boss")
    worker = directory.add_employee("Worker", "84912345678")
    directory.add_extension("100")
    response = web.post(client, "/extensions/new", {
        "number": "101", "name": "worker", "permission": "mobile", "receive": "mobile",
        "supervisor": "100", "group": "sales", "description": "Front desk",
        "employee": str(worker.id)})
    assert response.status_code == 302 and response.location == "/extensions/101"
    ext = directory.get_extension("101")
    assert (ext.name, ext.permission, ext.receive, ext.supervisor, ext.group, ext.description,
            ext.employee_id) == ("worker", "mobile", "mobile", "100", "sales", "Front desk",
                                 worker.id)
    # removing the mobile number that calls go to is refused, next to the mobile field
    response = web.post(client, "/extensions/101", {
        "name": "worker", "permission": "mobile", "receive": "mobile", "supervisor": "100",
        "group": "sales", "description": "Front desk", "mobile": ""})
    assert response.status_code == 400 and 'id="mobile-error"' in text(response)
    # switching to both and dropping the mobile in one save works
    response = web.post(client, "/extensions/101", {
        "name": "", "permission": "international", "receive": "both", "supervisor": "",
        "group": "", "description": "", "mobile": ""})
    assert response.status_code == 302
    ext = directory.get_extension("101")
    assert (ext.name, ext.permission, ext.receive, ext.supervisor) == (
        None, "international", "both", None)
    assert directory.get_employee(worker.id).mobile is None
    # free it, then give it to someone else
    web.post(client, "/extensions/101/unassign")
    assert directory.get_extension("101").employee_id is None
    web.post(client, "/extensions/101/assign", {"employee": str(boss.id)})
    assert directory.get_extension("101").employee_id == boss.id


def test_sip_password_generate_and_choose(client: FlaskClient, web: type,
                                          directory: Directory) -> None:
    old = directory.add_extension("101").sip_password
    web.post(client, "/extensions/101/password", {"mode": "generate"})
    new = directory.get_extension("101").sip_password
    assert new != old
    web.post(client, "/extensions/101/password", {"mode": "chosen",
                                                  "password": "Chosen-Pass-1234"})
    assert directory.get_extension("101").sip_password == "Chosen-Pass-1234"
    response = web.post(client, "/extensions/101/password",
                        {"mode": "chosen", "password": old}, follow=True)
    assert "used before" in text(response)
    assert directory.get_extension("101").sip_password == "Chosen-Pass-1234"


def test_login_info_only_on_demand_and_audited(client: FlaskClient, web: type,
                                               directory: Directory) -> None:
    ext = directory.add_extension("101")
    page = text(client.get("/extensions/101"))
    assert ext.sip_password not in page
    assert client.get("/extensions/101/login-info").status_code == 405
    response = web.post(client, "/extensions/101/login-info")
    html = text(response)
    assert ext.sip_password in html and "<svg" in html
    assert response.headers["Cache-Control"] == "no-store"
    [entry] = directory.audit_log(search="credentials_shown")
    assert entry.actor == "web:boss" and entry.target == "101"
    assert ext.sip_password not in str(directory.audit_log())


def test_dismissal_confirmation_then_dismissal(client: FlaskClient, web: type,
                                               directory: Directory) -> None:
    person = directory.add_employee("An")
    directory.add_extension("101")
    directory.assign_extension("101", person.id)
    directory.assign_phone("001565123456", "101")
    page = text(client.get(f"/employees/{person.id}/dismiss"))
    assert "Extension 101 is freed" in page and "00:15:65:12:34:56" in page
    assert directory.get_employee(person.id).status == "active"  # GET changes nothing
    response = web.post(client, f"/employees/{person.id}/dismiss", follow=True)
    assert "An is dismissed" in text(response)
    assert directory.get_employee(person.id).status == "dismissed"
    assert directory.get_extension("101").employee_id is None
    assert directory.get_phone("001565123456").state == "disabled"
    again = web.post(client, f"/employees/{person.id}/dismiss", follow=True)
    assert "already dismissed" in text(again)
    listed = text(client.get("/employees?status=dismissed"))
    assert "An" in listed
    assert "An" not in text(client.get("/employees?status=active")).split("<tbody>")[1]


def register(directory: Directory, number: str, ip: str) -> None:
    """A live binding as the registrar persists it."""
    from datetime import timedelta

    from appliance.directory import utcnow
    from appliance.store.sip_tables import sip_bindings

    now = utcnow()
    with directory.store.write() as conn:
        conn.execute(sip_bindings.insert().values(
            aor=number, contact=f"sip:{number}@{ip}:5062", params="", call_id="c1", cseq=1,
            expires_at=now + timedelta(seconds=600), transport="udp", host=ip, port=5062,
            user_agent="Yealink SIP-T46U 108.86.0.90", kind="desk", registered_at=now))


def test_phones_inventory_assign_resync_disable(client: FlaskClient, web: type,
                                                directory: Directory) -> None:
    directory.add_extension("101")
    directory.record_sighting("001565123456", "pnp", ip="192.0.2.7", vendor="Yealink",
                              model="SIP-T46U", firmware="108.86.0.90")
    live = client.get("/phones/live", headers={"X-Live": "1"})
    assert live.status_code == 200
    row = text(live)
    for shown in ("00:15:65:12:34:56", "Yealink", "SIP-T46U", "108.86.0.90", "192.0.2.7",
                  "SIP PnP", "discovered", "not registered"):
        assert shown in row
    web.post(client, "/phones/001565123456/assign", {"extension": "101"})
    assert directory.get_phone("001565123456").state == "assigned"
    register(directory, "101", "192.0.2.7")
    assert "desk phone 192.0.2.7" in text(client.get("/phones/live", headers={"X-Live": "1"}))
    assert "desk phone 192.0.2.7" in text(client.get("/phones/001565123456"))
    web.post(client, "/phones/001565123456/resync")
    assert directory.audit_log(limit=1)[0].action == "phone.resync_requested"
    web.post(client, "/phones/001565123456/disable")
    assert directory.get_phone("001565123456").state == "disabled"
    response = web.post(client, "/phones", {"mac": "00-15-65-AA-BB-CC", "extension": "101"})
    assert response.location == "/phones/001565aabbcc"
    bad = web.post(client, "/phones", {"mac": "nonsense", "extension": "101"})
    assert 'id="mac-error"' in text(bad)
    assert client.get("/phones/ffffffffffff").status_code == 404


def test_dashboard_counts_and_live_refresh(client: FlaskClient, directory: Directory) -> None:
    directory.record_sighting("001565123456", "tftp")
    live = text(client.get("/dashboard/live", headers={"X-Live": "1"}))
    assert 'id="count-discovered">1<' in live
    assert "Phone discovered" in live
    page = text(client.get("/"))
    assert "DHCP option 66" in page and "http://localhost:8080/" not in page


def test_audit_search(client: FlaskClient, directory: Directory) -> None:
    directory.add_employee("Findme")
    directory.add_extension("555")
    html = text(client.get("/audit?q=555"))
    assert "Extension added" in html and "Employee added" not in html
    assert "Employee added" in text(client.get("/audit"))


def test_users_add_viewer_revoke_and_remove(app: Flask, client: FlaskClient, web: type) -> None:
    response = web.post(client, "/users", {"username": "eve", "role": "viewer",
                                           "password": web.password,
                                           "password2": web.password})
    assert response.status_code == 302
    eve = web.sign_in(app, "eve")
    assert eve.get("/").status_code == 200
    accounts = app.extensions["appliance.accounts"]
    eve_id = next(u.id for u in accounts.all() if u.username == "eve")
    web.post(client, f"/users/{eve_id}/revoke")
    assert eve.get("/").status_code == 302
    taken = web.post(client, "/users", {"username": "EVE", "role": "viewer",
                                        "password": web.password, "password2": web.password})
    assert 'id="username-error"' in text(taken)
    web.post(client, f"/users/{eve_id}/remove")
    assert [u.username for u in accounts.all()] == ["boss"]
    me = next(u.id for u in accounts.all())
    assert "cannot remove yourself" in text(web.post(client, f"/users/{me}/remove",
                                                     follow=True))


def test_unknown_pages_are_404_after_sign_in(client: FlaskClient) -> None:
    assert client.get("/nowhere").status_code == 404
    assert client.get("/employees/999").status_code == 404
    assert client.get("/extensions/9999").status_code == 404


def test_settings_lists_stored_firmware_images(client: FlaskClient, app: Flask,
                                               tmp_path: object) -> None:
    from pathlib import Path

    from appliance.directory import utcnow
    from appliance.provisioning.firmware import Firmware

    image = Path(str(tmp_path)) / "t46u.rom"
    image.write_bytes(b"\x00" * 2048)
    config = app.config["APPLIANCE"]
    Firmware(app.extensions["appliance.store"], config.paths.data, profiles={}).add(
        image, "yealink", "SIP-T46U", "108.86.0.95", "test", utcnow())
    html = text(client.get("/settings"))
    assert "yealink SIP-T46U 108.86.0.95 (2,048 bytes)" in html


def test_extension_no_answer_setting_on_its_page(client: FlaskClient, web: type,
                                                 directory: Directory) -> None:
    from appliance.directory.office import CallPlanDirectory
    plan = CallPlanDirectory(directory.store)
    plan.add_connection("viettel", "ip", ["sip.viettel.test"], allowed_sources=["192.0.2.1"])
    worker = directory.add_employee("Worker", "84912345678")
    directory.add_extension("101")
    directory.assign_extension("101", worker.id)
    page = text(client.get("/extensions/101"))
    assert 'name="no_answer"' in page and '<option value="viettel"' in page
    base = {"name": "", "permission": "internal", "receive": "both", "supervisor": "",
            "group": "", "description": "", "mobile": "84912345678"}
    response = web.post(client, "/extensions/101", {
        **base, "no_answer": "mobile", "no_answer_connection": "viettel", "ring_timeout": "15"})
    assert response.status_code == 302
    ext = directory.get_extension("101")
    assert (ext.no_answer, ext.ring_timeout) == ("mobile", 15)
    assert ext.no_answer_connection == plan.get_connection("viettel").id
    # shown back as saved; a bad ring time is refused next to its field, nothing changed
    assert 'value="15"' in text(client.get("/extensions/101"))
    response = web.post(client, "/extensions/101", {**base, "no_answer": "mobile",
                                                    "ring_timeout": "2"})
    assert response.status_code == 400 and 'id="ring_timeout-error"' in text(response)
    assert directory.get_extension("101").ring_timeout == 15
    # empty: back to the number's
    response = web.post(client, "/extensions/101", {**base, "no_answer": "number",
                                                    "no_answer_connection": "",
                                                    "ring_timeout": ""})
    ext = directory.get_extension("101")
    assert (ext.no_answer, ext.no_answer_connection, ext.ring_timeout) == ("number", None, None)
