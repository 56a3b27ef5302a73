"""Settings changed on the admin page reach the running daemon: it restarts its parts with the
new values, and the values still apply after the daemon itself restarts."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest

from appliance.config import load
from appliance.store import journal, open_store
from appliance.store import settings as kv
from tests.integration.conftest import RunningDaemon, appliance, start_daemon, write_config
from tests.integration.provisioning_helpers import USER_AGENTS, http_get

pytestmark = pytest.mark.integration
PASSWORD = "a long admin password"
COMMON = "y000000000108.cfg"  # the Yealink T46U's common file: it carries the time zone


class Browser:
    """A signed-in session on the admin page, as a browser keeps it (cookies, form tokens)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=10) as response:
            return str(response.read().decode("utf-8"))

    def post(self, path: str, form: dict[str, str], token_from: str) -> tuple[int, str]:
        html = self.get(token_from)
        match = re.search(r'name="csrf-token" content="([^"]+)"', html)
        assert match, html[:300]
        data = urllib.parse.urlencode({**form, "csrf_token": match.group(1)}).encode()
        try:
            with self.opener.open(self.base + path, data=data, timeout=10) as response:
                return int(response.status), str(response.read().decode("utf-8"))
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode("utf-8")


def time_zone_served(daemon: RunningDaemon) -> str:
    """The time zone in the Yealink common file served now: offset, Yealink's zone name when
    its list has one, and ``dst`` when summer time is set (``+7 Thailand(Bangkok)``)."""
    status, body, _ = http_get(daemon.ports["http"], COMMON, USER_AGENTS["yealink"]["ua"])
    assert status == 200, status
    text = body.decode()
    offset = re.search(r"^local_time\.time_zone = (.*)$", text, re.M)
    assert offset, body[:300]
    name = re.search(r"^local_time\.time_zone_name = (.*)$", text, re.M)
    summer = re.search(r"^local_time\.summer_time = ([12])$", text, re.M)
    return " ".join([offset.group(1), *([name.group(1)] if name else []),
                     *(["dst"] if summer else [])])


def wait_for_ports(daemon: RunningDaemon, old_http: str, timeout: float = 10.0) -> None:
    """Re-read ports.json until the restarted provisioning part wrote its new address."""
    path = daemon.config.parent / "data" / "run" / "ports.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        daemon.ports = json.loads(path.read_text(encoding="utf-8"))
        if daemon.ports.get("http") not in (None, old_http):
            return
        time.sleep(0.05)
    raise AssertionError(f"ports.json still shows {old_http}:\n{daemon.log()}")


def test_settings_from_the_page_restart_the_parts_and_survive_a_restart(tmp_path: Path) -> None:
    config = write_config(tmp_path, "macs_per_source = 0\n", provisioning=True)
    appliance(config, "init")
    subprocess.run([sys.executable, "-m", "appliance", "admin", "add", "boss",
                    "--password-stdin", "--config", str(config)], input=PASSWORD + "\n",
                   text=True, check=True, capture_output=True, timeout=60)
    env = {**os.environ, "NOTIFY_SOCKET": ""}
    daemon = start_daemon(config, env=env)
    try:
        assert "discovery" not in daemon.log().split("appliance ready")[0].lower()
        assert time_zone_served(daemon) == "+0 GMT"
        browser = Browser(f"http://{daemon.ports['web']}")
        status, _ = browser.post("/login", {"username": "boss", "password": PASSWORD}, "/login")
        assert status == 200
        status, html = browser.post("/settings", {
            "sip_domain": "pbx.example", "provisioning_url": "",
            "provisioning_ntp_server": "pool.ntp.org", "provisioning_timezone": "Asia/Ho_Chi_Minh",
            "provisioning_language": "en", "discovery_subnets": "",
            "discovery_snmp_communities": "", "discovery_snmp_interval": "3600",
            "discovery_neighbors_interval": "60"}, "/settings")
        assert status == 200 and "Saved: provisioning.timezone, sip.domain" in html, html[:3000]
        old_http = daemon.ports["http"]
        daemon.wait_for_log("services restarted with the new settings")
        log = daemon.log()
        assert ("settings changed (sip.domain='pbx.example', "
                "provisioning.timezone='Asia/Ho_Chi_Minh'): restarting provisioning") in log
        assert "event " in log and "settings.changed" in log
        wait_for_ports(daemon, old_http)
        assert time_zone_served(daemon) == "+7 Thailand(Bangkok)"
        assert 'value="pbx.example"' in browser.get("/settings")  # the web kept running
    finally:
        daemon.stop()
    daemon = start_daemon(config, env=env)
    try:
        assert ("settings from the admin page: sip.domain='pbx.example', "
                "provisioning.timezone='Asia/Ho_Chi_Minh'") in daemon.log()
        assert time_zone_served(daemon) == "+7 Thailand(Bangkok)"
        # another process (the CLI, a second box) writes the override and its event
        store = open_store(load(config).store.url)
        try:
            with store.write() as conn:
                kv.put_overrides(conn, {"provisioning": {"timezone": "Europe/Paris"}})
                journal.publish(conn, "settings.changed", {"keys": ["provisioning.timezone",
                                                                    "sip.domain"]},
                                datetime.now(UTC))
        finally:
            store.dispose()
        old_http = daemon.ports["http"]
        daemon.wait_for_log("provisioning.timezone='Europe/Paris'): restarting provisioning")
        wait_for_ports(daemon, old_http)
        assert time_zone_served(daemon) == "+1 dst"
    finally:
        daemon.stop()
