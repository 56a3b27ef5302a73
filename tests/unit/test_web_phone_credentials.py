"""A phone's own credentials on its page: shown to admins who may change, reissued, and a
one-time enrollment URL the resolver accepts once."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

from appliance.directory import Directory
from appliance.store import Store

pytest_plugins = ("tests.unit.conftest_web",)
MAC = "001565123456"


def _page(client: FlaskClient) -> str:
    response = client.get(f"/phones/{MAC}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_admin_sees_the_phones_own_credentials(client: FlaskClient, viewer: FlaskClient,
                                               store: Store) -> None:
    directory = Directory(store)
    directory.record_sighting(MAC, "tftp", ip="192.0.2.7")
    own = directory.phone_credentials(MAC)
    html = _page(client)
    assert f'<code id="admin-password">{own.admin_password}</code>' in html
    assert f'<code id="prov-password">{own.prov_password}</code>' in html
    assert f'<code id="prov-user">{MAC}</code>' in html
    assert "http://" in html  # where to point the phone
    # a read-only account sees none of it
    assert own.admin_password not in viewer.get(f"/phones/{MAC}").get_data(as_text=True)


def test_reissue_and_enrollment_url(client: FlaskClient, viewer: FlaskClient, store: Store,
                                    web: Any) -> None:
    directory = Directory(store)
    directory.record_sighting(MAC, "tftp", ip="192.0.2.7")
    before = directory.phone_credentials(MAC)
    response = web.post(client, f"/phones/{MAC}/credentials")
    assert response.status_code == 302
    after = directory.phone_credentials(MAC)
    assert after.prov_password != before.prov_password
    assert after.admin_password in _page(client)
    response = web.post(client, f"/phones/{MAC}/enroll")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    found = re.search(r'<code id="enroll-url">(http[^<]+)/enroll/([A-Za-z0-9_-]+)</code>', html)
    assert found, html
    assert directory.redeem_enrollment(MAC, found.group(2))  # the URL's token, once
    assert not directory.redeem_enrollment(MAC, found.group(2))
    assert found.group(2) not in _page(client)  # shown once only
    assert web.post(viewer, f"/phones/{MAC}/enroll").status_code == 403
    assert web.post(viewer, f"/phones/{MAC}/credentials").status_code == 403
