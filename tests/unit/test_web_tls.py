"""With a certificate configured: plain HTTP redirects to HTTPS (but /healthz), cookies are
``Secure``, and HTTPS answers carry HSTS."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from appliance.config import Listen
from appliance.store import Store
from appliance.web import create_app
from appliance.web.accounts import Accounts

pytest_plugins = ("tests.unit.conftest_web",)


@pytest.fixture
def tls_app(app: Flask, store: Store, tmp_path: Path) -> Flask:
    """The web app of a box with a certificate, HTTPS on port 8443."""
    config = app.config["APPLIANCE"]
    web = replace(config.web, tls_cert=tmp_path / "box.crt", tls_key=tmp_path / "box.key",
                  tls_listen=Listen("0.0.0.0", 8443))  # never bound here
    application = create_app(replace(config, web=web), store, accounts=Accounts(store))
    application.config["TESTING"] = True
    return application


@pytest.mark.parametrize(("host", "path", "location"), [
    ("localhost", "/employees?show=all", "https://localhost:8443/employees?show=all"),
    ("box.example:8000", "/", "https://box.example:8443/"),
    ("[::1]:80", "/login", "https://[::1]:8443/login"),
    ("192.0.2.10", "/static/app.css", "https://192.0.2.10:8443/static/app.css"),
])
def test_plain_http_redirects_to_https(tls_app: Flask, host: str, path: str,
                                       location: str) -> None:
    client = tls_app.test_client()
    for method in ("GET", "POST"):
        response = client.open(path, method=method, headers={"Host": host})
        assert response.status_code == 308, (method, response.status_code)
        assert response.location == location
        assert "Strict-Transport-Security" not in response.headers


def test_the_redirect_leaves_out_port_443_and_refuses_odd_hosts(tls_app: Flask) -> None:
    tls_app.config["HTTPS_PORT"] = 443
    client = tls_app.test_client()
    assert client.get("/", headers={"Host": "box.example"}).location == "https://box.example/"
    assert client.get("/", headers={"Host": "evil.example/x@a"}).status_code == 400


def test_healthz_stays_on_plain_http(tls_app: Flask) -> None:
    response = tls_app.test_client().get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_https_sends_hsts_and_a_secure_cookie(tls_app: Flask) -> None:
    client = tls_app.test_client()
    response = client.get("/setup", base_url="https://localhost:8443")
    assert response.status_code == 200
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_without_a_certificate_nothing_changes(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response.headers
    assert "Secure" not in response.headers.get("Set-Cookie", "")
