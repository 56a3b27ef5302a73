"""The admin page in a real browser (Debian's chromium, headless, driven by Playwright)
against the real daemon on 127.0.0.1: first boot to dismissal, in English and Vietnamese.

Screenshots of every page go to ``<tmp_path>/screenshots``.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.config import load
from appliance.directory import Directory
from appliance.store import open_store
from tests.integration.conftest import RunningDaemon, appliance, start_daemon, write_config

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
PASSWORD = "a long admin password"
MAC = "001565a1b2c3"

pytestmark = pytest.mark.integration
sync_api = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists():  # pragma: no cover - `make test` installs it
    pytest.skip(f"{CHROMIUM} is missing (Debian package chromium)", allow_module_level=True)


@pytest.fixture
def booted(tmp_path: Path) -> Iterator[tuple[RunningDaemon, str, Directory]]:
    """A fresh box: store initialised (its setup token read), one phone discovered, daemon up."""
    config = write_config(tmp_path)
    printed = appliance(config, "init").stdout
    match = re.search(r"setup token[^:]*: (\S+)", printed)
    assert match, printed
    store = open_store(load(config).store.url)
    directory = Directory(store, actor="test")
    directory.record_sighting(MAC, "pnp", ip="127.0.0.1", vendor="Yealink", model="SIP-T46U",
                              firmware="108.86.0.90")
    daemon = start_daemon(config, env={**os.environ, "NOTIFY_SOCKET": ""})
    try:
        yield daemon, match.group(1), directory
    finally:
        daemon.stop()
        store.dispose()


def test_first_boot_to_dismissal_in_a_real_browser(
        booted: tuple[RunningDaemon, str, Directory], tmp_path: Path) -> None:
    daemon, token, directory = booted
    base = f"http://{daemon.ports['web']}"
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 860}, locale="en-US")
            _walk(page, base, token, directory, shots)
        finally:
            browser.close()
    keep = os.environ.get("WEB_SCREENSHOTS")
    if keep:  # handy to look at them after a run
        shutil.copytree(shots, keep, dirs_exist_ok=True)
    assert len(list(shots.glob("*.png"))) >= 15


def _walk(page: object, base: str, token: str, directory: Directory, shots: Path) -> None:
    """The whole story, one step per page, with a screenshot of each."""
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    n = [0]

    def shot(name: str) -> None:
        n[0] += 1
        page.screenshot(path=str(shots / f"{n[0]:02d}-{name}.png"), full_page=True)

    # first boot: everything leads to setup; a wrong token is refused, the right one works
    page.goto(base + "/employees")
    expect(page).to_have_url(re.compile(r"/setup$"))
    shot("setup")
    page.fill("#f-token", "wrong-token")
    page.fill("#f-username", "admin")
    page.fill("#f-password", PASSWORD)
    page.fill("#f-password2", PASSWORD)
    page.click("button[type=submit].primary")
    expect(page.locator("#token-error")).to_be_visible()
    shot("setup-wrong-token")
    page.fill("#f-token", token)
    page.fill("#f-password", PASSWORD)
    page.fill("#f-password2", PASSWORD)
    page.click("button[type=submit].primary")
    expect(page.locator("h1")).to_have_text("Dashboard")
    expect(page.locator("#count-discovered")).to_have_text("1")
    shot("dashboard")

    # add an employee (first with a bad mobile number: the error shows next to the field)
    page.click("nav.main >> text=Employees")
    page.fill("#f-name", "Nguyễn Văn An")
    page.fill("#f-mobile", "0912")
    page.click("text=Add employee")
    expect(page.locator("#mobile-error")).to_contain_text("International digits")
    shot("employees-error")
    page.fill("#f-mobile", "+84 912 345 678")
    page.click("text=Add employee")
    expect(page.locator("h1")).to_contain_text("Nguyễn Văn An")
    shot("employee")

    # an extension for them, with every field
    page.click("nav.main >> text=Extensions")
    page.click("#new-extension")
    page.fill("#f-number", "101")
    page.fill("#f-name", "an.nguyen")
    page.select_option("#f-permission", "mobile")
    page.select_option("#f-receive", "both")
    page.fill("#f-description", "Sales desk")
    page.select_option("#f-employee", label="Nguyễn Văn An (#1)")
    shot("extension-new")
    page.click("text=Create extension")
    expect(page.locator("#holder")).to_contain_text("Nguyễn Văn An")
    shot("extension")
    page.click("#login-info")
    expect(page.locator("#sip-username")).to_have_text("101")
    assert page.locator("#sip-password").inner_text() == directory.get_extension(
        "101").sip_password
    expect(page.locator("figure.qr svg")).to_be_visible()
    shot("login-info")
    assert directory.audit_log(search="credentials_shown")[0].actor == "web:admin"

    # the discovered phone: it shows in the live list without a reload, then gets assigned
    page.click("nav.main >> text=Phones")
    expect(page.locator(f"tr[data-mac='{MAC}']")).to_contain_text("discovered")
    directory.record_sighting("805ec0000001", "tftp", ip="127.0.0.2", vendor="Yealink",
                              model="SIP-T54W")
    expect(page.locator("tr[data-mac='805ec0000001']")).to_be_visible(timeout=15_000)
    shot("phones")
    page.click(f"tr[data-mac='{MAC}'] a")
    page.select_option("#f-extension", "101")
    page.click("#assign-phone")
    expect(page.locator("h1 .badge")).to_have_text("assigned")
    shot("phone")

    # Vietnamese and back
    page.click("button[value=vi]")
    expect(page.locator("nav.main")).to_contain_text("Điện thoại")
    expect(page.locator("h1 .badge")).to_have_text("đã gán")
    shot("phone-vi")
    page.click("nav.main >> text=Nhân viên")
    shot("employees-vi")
    page.click("button[value=en]")
    expect(page.locator("nav.main")).to_contain_text("Employees")

    # dismiss: the confirmation says what will happen, then it happens
    page.click("text=Nguyễn Văn An")
    page.click("#dismiss")
    consequences = page.locator("ul.consequences")
    expect(consequences).to_contain_text("Extension 101 is freed")
    expect(consequences).to_contain_text("00:15:65:a1:b2:c3")
    shot("dismiss-confirm")
    page.click("#confirm-dismiss")
    expect(page.locator("h1 .badge")).to_have_text("dismissed")
    shot("employee-dismissed")
    page.click("nav.main >> text=Phones")
    expect(page.locator(f"tr[data-mac='{MAC}']")).to_contain_text("disabled")
    page.click("nav.main >> text=Extensions")
    expect(page.locator("#extensions tbody tr").first).to_contain_text("free")
    shot("extensions-free")
    assert directory.get_extension("101").employee_id is None
    assert directory.get_phone(MAC).state == "disabled"

    # the rest of the pages
    for name, path in (("audit", "/audit"), ("settings", "/settings"), ("users", "/users"),
                       ("password", "/account/password"), ("dashboard-after", "/")):
        page.goto(base + path)
        shot(name)
    page.set_viewport_size({"width": 390, "height": 844})  # a phone-sized screen
    for name, path in (("mobile-dashboard", "/"), ("mobile-phones", "/phones"),
                       ("mobile-extension", "/extensions/101")):
        page.goto(base + path)
        shot(name)
    page.set_viewport_size({"width": 1280, "height": 860})
    page.click("#logout")
    expect(page.locator("h1")).to_have_text("Sign in")
    shot("login")
