"""The admin page's CSV import (preview, then all or nothing) and export, the backup download
on the Settings page, and the version in every page's footer."""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from appliance.directory import Directory
from appliance.store import Store
from appliance.version import app_version

pytest_plugins = ("tests.unit.conftest_web",)

AN = "Nguyễn Văn An"


def _upload(web: type, client: FlaskClient, kind: str, body: bytes, action: str = "preview",
            ) -> tuple[int, str]:
    token = web.csrf_of(client, "/transfer")
    response = client.post("/transfer", data={
        "csrf_token": token, "kind": kind, "action": action,
        "file": (io.BytesIO(body), f"{kind}.csv")}, content_type="multipart/form-data")
    return response.status_code, response.get_data(as_text=True)


def test_preview_then_import_of_employees(client: FlaskClient, web: type, store: Store) -> None:
    directory = Directory(store, actor="test")
    directory.add_extension("100")
    body = f"\ufeffname;mobile;extension\r\n{AN};84912345678;100\r\n".encode()
    status, html = _upload(web, client, "employees", body)
    assert status == 200 and "Preview: nothing is written yet" in html
    assert f"Employee 1 added: {AN}" in html and "Extension 100 given to employee 1" in html
    assert directory.list_employees() == []
    content = re.search(r'<textarea name="content" hidden>(.*?)</textarea>', html, re.S)
    assert content
    import html as html_module

    response = web.post(client, "/transfer", {"kind": "employees", "action": "import",
                                              "content": html_module.unescape(content.group(1))})
    assert response.status_code == 302 and response.location.endswith("/employees")
    people = directory.list_employees()
    assert [(p.name, p.extension) for p in people] == [(AN, "100")]
    assert directory.audit_log(10, "employee.added")[0].actor == "web:boss"


def test_every_row_s_error_is_shown_in_vietnamese_and_nothing_is_written(
        client: FlaskClient, web: type, store: Store) -> None:
    web.post(client, "/language", {"language": "vi"})
    body = f"name,mobile\n{AN},0912\nBình,\n ,84912345678\n".encode()
    status, html = _upload(web, client, "employees", body, action="import")
    assert status == 400
    assert "Không có gì được nhập" in html
    assert "International digits" not in html and "Số quốc tế kèm mã quốc gia" in html
    assert re.search(r"<td>2</td><td>mobile</td>", html)
    assert re.search(r"<td>4</td><td>name</td>", html)
    assert Directory(store).list_employees() == []
    status, html = _upload(web, client, "employees", b"name,colour\nAn,red\n")
    assert status == 400 and "Cột &#39;colour&#39; không hợp lệ" in html
    status, html = _upload(web, client, "employees", b"name\n\xff\xfeAn\n")
    assert status == 400 and "CSV UTF-8" in html


def test_export_downloads_csv_for_excel(client: FlaskClient, store: Store) -> None:
    directory = Directory(store, actor="test")
    person = directory.add_employee(AN)
    directory.add_extension("101")
    directory.assign_extension("101", person.id)
    response = client.get("/transfer/employees.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.data.startswith(b"\xef\xbb\xbf")
    assert f"1,{AN},,active,101" in response.data.decode("utf-8-sig")
    extensions = client.get("/transfer/extensions.csv").data.decode("utf-8-sig")
    assert directory.get_extension("101").sip_password not in extensions


def test_a_viewer_may_export_but_not_import(viewer: FlaskClient, web: type) -> None:
    assert viewer.get("/transfer/employees.csv").status_code == 200
    status, _ = _upload(web, viewer, "employees", f"name\n{AN}\n".encode(), action="import")
    assert status == 403


def test_an_upload_larger_than_the_other_forms_is_accepted(client: FlaskClient, web: type,
                                                            store: Store) -> None:
    rows = "".join(f"Nhân viên số {i:05d} có tên rất dài để thử giới hạn\n" for i in range(2000))
    body = ("name\n" + rows).encode()
    assert len(body) > 64 * 1024
    status, html = _upload(web, client, "employees", body)
    assert status == 200 and "Employee 2000 added" in html
    status, _ = _upload(web, client, "employees", b"name\n" + b"x" * (3 << 20))
    assert status == 413


def test_the_backup_download_is_a_post_for_admins_and_audited(app: Flask, client: FlaskClient,
                                                               viewer: FlaskClient, web: type,
                                                               store: Store,
                                                               tmp_path: Path) -> None:
    Directory(store, actor="test").add_employee(AN)
    assert client.get("/settings/backup").status_code == 405  # a GET changes nothing
    assert client.post("/settings/backup").status_code == 400  # no CSRF token
    assert web.post(viewer, "/settings/backup").status_code == 403
    html = client.get("/settings").get_data(as_text=True)
    assert 'id="download-backup"' in html and "03:00" in html
    response = web.post(client, "/settings/backup")
    assert response.status_code == 200 and response.mimetype == "application/gzip"
    assert re.search(r"attachment; filename=appliance-backup-\d{8}-\d{6}\.tar\.gz",
                     response.headers["Content-Disposition"])
    with tarfile.open(fileobj=io.BytesIO(response.data), mode="r:gz") as tar:
        names = tar.getnames()
    assert names[-1] == "manifest.json" and "store/appliance.db" in names
    entry = Directory(store).audit_log(1, "backup")[0]
    assert (entry.action, entry.actor) == ("backup.downloaded", "web:boss")
    assert not list((tmp_path / "run").glob(".download-*"))


def test_every_page_shows_the_version(client: FlaskClient, app: Flask) -> None:
    for path in ("/", "/settings", "/transfer"):
        assert f"version {app_version()}" in client.get(path).get_data(as_text=True)
    assert f"version {app_version()}" in app.test_client().get("/login").get_data(as_text=True)
