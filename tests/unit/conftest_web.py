"""Fixtures for the web tests: an app over a temporary store, clients signed in by role.

Test modules load these with ``pytest_plugins = ("tests.unit.conftest_web",)`` and reach the
helpers through the ``web`` fixture (so this module is never imported before pytest loads it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from appliance.config import load
from appliance.directory import access
from appliance.store import Store
from appliance.web import create_app
from appliance.web.accounts import Accounts

PASSWORD = "correct horse battery"
CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def csrf_of(client: FlaskClient, path: str = "/login") -> str:
    """The CSRF token of the client's session, read from a page's meta tag."""
    html = client.get(path, follow_redirects=True).get_data(as_text=True)
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, html[:500]
    return match.group(1)


def post(client: FlaskClient, path: str, data: dict[str, Any] | None = None,
         follow: bool = False) -> TestResponse:
    """POST with the session's CSRF token, as a browser form would."""
    token = csrf_of(client, "/settings" if _signed_in(client) else "/login")
    return client.post(path, data={**(data or {}), "csrf_token": token},
                       follow_redirects=follow)


def _signed_in(client: FlaskClient) -> bool:
    with client.session_transaction() as sess:
        return "sid" in sess


@pytest.fixture
def token(store: Store) -> str:
    """A fresh one-time setup token."""
    issued = access.issue_setup_token(store)
    assert issued is not None
    return issued


@pytest.fixture
def app(store: Store, tmp_path: Path, token: str) -> Iterator[Flask]:
    """The web app over the temporary store, setup not done yet (cheap argon2 for speed)."""
    config = load(None, {})
    config = type(config)(**{**config.__dict__, "paths": type(config.paths)(data=tmp_path)})
    application = create_app(config, store, accounts=Accounts(store, hasher=CHEAP))
    application.config["TESTING"] = True
    application.config["SETUP_TOKEN"] = token
    yield application


@pytest.fixture
def accounts(app: Flask) -> Accounts:
    """The app's web users."""
    a: Accounts = app.extensions["appliance.accounts"]
    return a


@pytest.fixture
def admin_id(app: Flask, accounts: Accounts) -> int:
    """Setup done with a first admin ``boss``."""
    admin = accounts.setup_first_admin(app.config["SETUP_TOKEN"], "boss", PASSWORD)
    assert admin is not None
    return admin.id


def sign_in(app: Flask, username: str, password: str = PASSWORD) -> FlaskClient:
    """A new client signed in as ``username``."""
    client = app.test_client()
    response = post(client, "/login", {"username": username, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return client


class Web:
    """The helpers, as one fixture."""

    password = PASSWORD
    csrf_of = staticmethod(csrf_of)
    post = staticmethod(post)
    sign_in = staticmethod(sign_in)


@pytest.fixture
def web() -> type[Web]:
    """Helpers: ``web.post(client, path, data)``, ``web.sign_in(app, name)``, ``web.password``."""
    return Web


@pytest.fixture
def client(app: Flask, admin_id: int) -> FlaskClient:
    """A client signed in as the admin."""
    return sign_in(app, "boss")


@pytest.fixture
def viewer(app: Flask, accounts: Accounts, admin_id: int) -> FlaskClient:
    """A client signed in as a viewer ``eve``."""
    accounts.create("eve", PASSWORD, "viewer", actor="test")
    return sign_in(app, "eve")
