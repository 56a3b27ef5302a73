"""The web page's access rules: setup token, sign-in, sessions, viewer, CSRF, headers."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from appliance.directory import Directory
from appliance.store import Store
from appliance.web.accounts import Accounts

pytest_plugins = ("tests.unit.conftest_web",)

OPEN = {"health.healthz", "static", "setup.form", "auth.login", "auth.language"}
SAMPLE = {"employee_id": "1", "number": "101", "mac": "001565123456", "admin_id": "1",
          "filename": "app.css", "name": "trunk", "did": "+842838221234", "job_id": "1",
          "recording_id": "1", "message_id": "1"}


def _url(rule: str) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: SAMPLE[m.group(1)], rule)


def _changing_rules(app: Flask) -> list[tuple[str, str]]:
    out = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - {"GET", "HEAD", "OPTIONS"}):
            out.append((method, _url(rule.rule)))
    return out


def _seed(directory: Directory) -> None:
    directory.add_employee("An")
    directory.add_extension("101")
    directory.record_sighting("001565123456", "tftp")


# -- first boot ---------------------------------------------------------------------------

def test_before_setup_every_page_leads_to_setup(app: Flask) -> None:
    client = app.test_client()
    for path in ("/", "/employees", "/login", "/phones/001565123456"):
        response = client.get(path)
        assert response.status_code == 302 and response.location.endswith("/setup")
    assert client.get("/healthz").status_code == 200
    assert client.get("/static/app.css").status_code == 200
    assert "setup token" in client.get("/setup").get_data(as_text=True).lower()


def test_wrong_setup_token_is_refused(app: Flask, web: type) -> None:
    client = app.test_client()
    response = web.post(client, "/setup", {"token": "nope", "username": "boss",
                                           "password": web.password,
                                           "password2": web.password})
    assert response.status_code == 400
    assert "wrong or was already used" in response.get_data(as_text=True)
    assert client.get("/").location.endswith("/setup")


def test_setup_token_works_once(app: Flask, web: type, accounts: Accounts) -> None:
    form = {"token": app.config["SETUP_TOKEN"], "username": "Boss", "password": web.password,
            "password2": web.password, "language": "vi"}
    first = app.test_client()
    response = web.post(first, "/setup", form)
    assert response.status_code == 302 and response.location == "/"
    assert first.get("/").status_code == 200  # signed in straight away
    [admin] = accounts.all()
    assert (admin.username, admin.role, admin.language) == ("boss", "admin", "vi")
    second = app.test_client()
    assert second.get("/setup").location.endswith("/login")
    again = second.post("/setup", data={**form, "csrf_token": web.csrf_of(second)})
    assert again.status_code == 302 and again.location.endswith("/login")
    assert accounts.setup_first_admin(form["token"], "other", web.password) is None
    assert len(accounts.all()) == 1


def test_setup_shows_field_errors_and_keeps_the_token(app: Flask, web: type) -> None:
    client = app.test_client()
    response = web.post(client, "/setup", {"token": app.config["SETUP_TOKEN"],
                                           "username": "bad name!", "password": "short",
                                           "password2": "short"})
    html = response.get_data(as_text=True)
    assert 'id="username-error"' in html
    assert 'id="password-error"' in html  # every broken rule at once
    response = web.post(client, "/setup", {"token": "", "username": "", "password": "x",
                                           "password2": "y", "timezone": "Mars/Base"})
    html = response.get_data(as_text=True)
    for field in ("token", "username", "password", "password2", "timezone"):
        assert f'id="{field}-error"' in html, field
    response = web.post(client, "/setup", {"token": app.config["SETUP_TOKEN"],
                                           "username": "boss", "password": "short",
                                           "password2": "short"})
    assert 'id="password-error"' in response.get_data(as_text=True)
    ok = web.post(client, "/setup", {"token": app.config["SETUP_TOKEN"], "username": "boss",
                                     "password": web.password, "password2": web.password})
    assert ok.status_code == 302


# -- sign-in and sessions -----------------------------------------------------------------

def test_every_route_needs_sign_in(app: Flask, admin_id: int, directory: Directory) -> None:
    _seed(directory)
    client = app.test_client()
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint in OPEN or "GET" not in (rule.methods or set()):
            continue
        response = client.get(_url(rule.rule))
        assert response.status_code == 302, rule.rule
        assert "/login" in response.location, rule.rule
        checked += 1
    assert checked >= 12
    live = client.get("/phones/live", headers={"X-Live": "1"})
    assert live.status_code == 401


def test_sign_in_redirects_back_but_never_off_site(app: Flask, admin_id: int,
                                                  web: type) -> None:
    client = app.test_client()
    ok = web.post(client, "/login", {"username": "boss", "password": web.password,
                                     "next": "/phones?state=assigned"})
    assert ok.location == "/phones?state=assigned"
    other = app.test_client()
    evil = web.post(other, "/login", {"username": "boss", "password": web.password,
                                      "next": "//evil.example/x"})
    assert evil.location == "/"


def test_wrong_password_then_growing_delay(app: Flask, admin_id: int, web: type) -> None:
    client = app.test_client()
    texts = []
    for _ in range(5):
        response = web.post(client, "/login", {"username": "boss", "password": "wrong-one!"})
        assert response.status_code == 200
        texts.append(response.get_data(as_text=True))
    assert "Wrong username or password" in texts[0]
    assert "Too many failed attempts" in texts[-1]
    # even the right password waits now
    late = web.post(client, "/login", {"username": "boss", "password": web.password})
    assert late.status_code == 200 and "Too many failed attempts" in late.get_data(as_text=True)


def test_logout_revokes_the_session_on_the_server(app: Flask, client: FlaskClient,
                                                   web: type) -> None:
    with client.session_transaction() as sess:
        cookie_session = dict(sess)
    assert web.post(client, "/logout").location.endswith("/login")
    replay = app.test_client()
    with replay.session_transaction() as sess:
        sess.update(cookie_session)  # the old cookie, replayed
    assert replay.get("/").status_code == 302


def test_password_change_ends_other_sessions(app: Flask, client: FlaskClient,
                                             web: type) -> None:
    other = web.sign_in(app, "boss")
    response = web.post(client, "/account/password", {
        "current_password": web.password, "password": "a brand new secret",
        "password2": "a brand new secret"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert other.get("/").status_code == 302
    bad = web.post(client, "/account/password", {
        "current_password": "not it at all", "password": "another new one!",
        "password2": "another new one!"})
    assert 'id="current_password-error"' in bad.get_data(as_text=True)
    assert web.sign_in(app, "boss", "a brand new secret")


def test_idle_session_ends(app: Flask, store: Store, admin_id: int, web: type) -> None:
    from appliance.directory import utcnow

    now = [utcnow()]
    accounts = Accounts(store, clock=lambda: now[0], hasher=app.extensions[
        "appliance.accounts"].hasher)
    app.extensions["appliance.accounts"] = accounts
    client = web.sign_in(app, "boss")
    now[0] += timedelta(minutes=29)
    assert client.get("/").status_code == 200
    now[0] += timedelta(minutes=29)  # touched at the last request: still alive
    assert client.get("/").status_code == 200
    now[0] += timedelta(minutes=31)
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.location


# -- viewer and CSRF ----------------------------------------------------------------------

def test_viewer_can_read_but_change_nothing(app: Flask, viewer: FlaskClient, web: type,
                                            directory: Directory) -> None:
    _seed(directory)
    assert viewer.get("/employees").status_code == 200
    assert "Add an employee" not in viewer.get("/employees").get_data(as_text=True)
    token = web.csrf_of(viewer, "/")
    for method, path in _changing_rules(app):
        if path in ("/logout", "/language", "/account/password", "/login", "/setup"):
            continue
        response = viewer.open(path, method=method, data={"csrf_token": token, "name": "X",
                                                          "number": "102"})
        assert response.status_code == 403, (method, path)
    assert [e.name for e in directory.list_employees()] == ["An"]
    assert [x.number for x in directory.list_extensions()] == ["101"]
    assert directory.get_phone("001565123456").state == "discovered"
    assert not any(e.action == "extension.credentials_shown" for e in directory.audit_log())
    # a viewer still signs out and picks a language
    assert web.post(viewer, "/language", {"language": "vi"}).status_code == 302


def test_every_state_changing_route_refuses_a_request_without_csrf(
        app: Flask, client: FlaskClient, directory: Directory) -> None:
    _seed(directory)
    rules = _changing_rules(app)
    assert len(rules) >= 15
    for method, path in rules:
        response = client.open(path, method=method, data={"name": "X", "number": "102"})
        assert response.status_code == 400, (method, path)
        assert "expired" in response.get_data(as_text=True)
    assert [e.name for e in directory.list_employees()] == ["An"]
    assert client.get("/").status_code == 200  # still signed in


def test_csrf_token_of_another_session_is_refused(app: Flask, client: FlaskClient,
                                                  web: type) -> None:
    stranger = app.test_client()
    foreign = web.csrf_of(stranger)
    response = client.post("/employees", data={"name": "X", "csrf_token": foreign})
    assert response.status_code == 400


def test_security_headers(client: FlaskClient) -> None:
    response = client.get("/")
    headers = response.headers
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "no-referrer"
    cookie = response.headers.get("Set-Cookie", "")
    assert not cookie or "HttpOnly" in cookie


def test_session_cookie_is_http_only(app: Flask, admin_id: int, web: type) -> None:
    client = app.test_client()
    token = web.csrf_of(client)
    response = client.post("/login", data={"username": "boss", "password": web.password,
                                           "csrf_token": token})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


@pytest.mark.parametrize("path", ["/", "/employees", "/phones", "/settings"])
def test_pages_have_no_inline_script_or_style(client: FlaskClient, path: str) -> None:
    html = client.get(path).get_data(as_text=True)
    assert "<script>" not in html and "style=" not in html and "<style" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)  # no CDN, nothing from outside
