"""The sign-in throttle of the running admin page, from two client addresses: failures from
one source delay that source, never the right password typed at another."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.conftest import appliance_json, start_daemon
from tests.integration.test_backup import PASSWORD, add_admin
from tests.integration.web_client import WebClient

pytestmark = pytest.mark.integration
ATTACKER, DESK = "127.0.0.3", "127.0.0.2"  # the server listens on 127.0.0.1 only


def test_failures_from_one_address_do_not_lock_the_admin_out(config: Path) -> None:
    add_admin(config)
    daemon = start_daemon(config, env={**os.environ, "NOTIFY_SOCKET": ""})
    try:
        address = daemon.ports["web"]
        assert address.startswith("127.0.0.1:")
        attacker = WebClient(address, source=ATTACKER)
        pages = [attacker.login("boss", f"guess number {i}")[1] for i in range(6)]
        assert "Wrong username or password" in pages[0]
        assert "Too many failed attempts" in pages[-1]
        status, page = attacker.login("boss", PASSWORD)  # its own right try waits too
        assert status == 200 and "Too many failed attempts" in page

        desk = WebClient(address, source=DESK)
        status, _ = desk.login("boss", PASSWORD)
        assert status == 302  # signed in at once, from the other address
        assert desk.get("/settings")[0] == 200
    finally:
        daemon.stop()
    logins = appliance_json(config, "audit", "--search", "admin.login")
    assert len(logins) == 1 and logins[0]["actor"] == "web:boss"
