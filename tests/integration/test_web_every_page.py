"""Every page of the admin page in Debian's Chromium (Playwright), in English and Vietnamese, at
1280 and 390 px wide: no horizontal overflow, and no English left on the Vietnamese pages (every
msgid of the catalog whose translation differs must not show in the page's text).

Also the first hour as a browser sees it: setup with every error at once and the time zone,
the menu at phone width, the registrations column and table, the vendor of a phone added by MAC.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po

from appliance.config import load
from appliance.directory import Directory, call_history, utcnow
from appliance.directory.office import CallPlanDirectory
from appliance.directory.recordings import RecordingsDirectory
from appliance.directory.voicemail import VoicemailDirectory
from appliance.store import Store, open_store
from appliance.store.sip_tables import sip_bindings
from appliance.web import i18n
from appliance.web.accounts import Accounts
from tests.integration.conftest import RunningDaemon, appliance, start_daemon, write_config

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
PASSWORD = "a long admin password"
WIDTHS = (1280, 390)
SEEN_MAC, ADDED_MAC = "001565a1b2c3", "805ec0000002"

pytestmark = pytest.mark.integration
sync_api = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists():  # pragma: no cover - `make test` installs it
    pytest.skip(f"{CHROMIUM} is missing (Debian package chromium)", allow_module_level=True)


def _english_strings() -> list[re.Pattern[str]]:
    """The catalog's English texts that have a different Vietnamese translation, as patterns
    (the text before the first placeholder, at least two words or one long word)."""
    po = i18n.TRANSLATIONS / "vi" / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as source:
        catalog = read_po(source, locale="vi")
    found = set()
    for message in catalog:
        if not message.id or message.string == message.id:
            continue
        head = re.split(r"%\(\w+\)s", str(message.id))[0].strip(" .:,(")
        if len(head.split()) >= 2 or len(head) >= 7:
            found.add(head)
    # a word before ":" is syntax to type (extension:101), not text to read
    return [re.compile(r"(?<![\w/.-])" + re.escape(text) + r"(?![\w/:-])") for text in found]


ENGLISH = _english_strings()


def register(store: Store, number: str, host: str, kind: str, agent: str) -> None:
    """A live binding as the registrar persists it."""
    now = utcnow()
    with store.write() as conn:
        conn.execute(sip_bindings.insert().values(
            aor=number, contact=f"sip:{number}@{host}:5062", params="", call_id=f"c-{host}",
            cseq=1, expires_at=now + timedelta(seconds=600), transport="udp", host=host,
            port=5062, user_agent=agent, kind=kind, registered_at=now))


@pytest.fixture
def box(tmp_path: Path) -> Iterator[tuple[RunningDaemon, Directory, Accounts]]:
    """A fresh box before setup, with a discovered phone; the daemon up."""
    config = write_config(tmp_path)
    appliance(config, "init")
    store = open_store(load(config).store.url)
    directory = Directory(store, actor="test")
    directory.record_sighting(SEEN_MAC, "pnp", ip="127.0.0.1", vendor="Yealink",
                              model="SIP-T46U", firmware="108.86.0.90")
    daemon = start_daemon(config, env={**os.environ, "NOTIFY_SOCKET": ""})
    try:
        yield daemon, directory, Accounts(store)
    finally:
        daemon.stop()
        store.dispose()


def _fill_office(directory: Directory, accounts: Accounts) -> None:
    """Employees, extensions, registrations, phones, a connection: every page has content."""
    an = directory.add_employee("Nguyễn Văn An", "84912345678")
    directory.add_employee("Trần Thị Bình")
    directory.add_employee("Nguyễn Văn An")  # a namesake: allowed
    directory.add_extension("101", name="an.nguyen", permission="mobile", receive="both")
    directory.add_extension("102")
    directory.assign_extension("101", an.id)
    directory.assign_phone(SEEN_MAC, "101")
    directory.assign_phone(ADDED_MAC, "102")  # added by MAC, never seen
    register(directory.store, "101", "127.0.0.1", "desk", "Yealink SIP-T46U 108.86.0.90")
    register(directory.store, "101", "127.0.0.9", "app", "Linphone/5.2 (belle-sip)")
    plan = CallPlanDirectory(directory.store, actor="test")
    plan.add_connection("viettel", "ip", servers=["127.0.0.2"], allowed_sources=["127.0.0.2"])
    plan.add_number("+842838123456", "viettel", "extension:101")
    plan.add_queue("sales", ["101", "102"], strategy="round_robin", ring_busy=True,
                   fallback="outside:0909123456@viettel")
    plan.add_menu("main", "Bấm phím 1 để gặp bộ phận bán hàng, phím sao để nghe lại.",
                  language="vi", keys={"1": "queue:sales", "2": "extension:101", "*": "repeat"},
                  timeout_destination="queue:sales")
    plan.set_presence(an.id, "on_break")
    _fill_calls(directory.store, an.id)
    VoicemailDirectory(directory.store, actor="test").keep(
        an.id, "101", caller="0909123456", caller_name="Khách hàng", call_ref="r1",
        path=f"{an.id}/20260101-090000-r1.wav", seconds=12.5, bytes_=200_044)
    accounts.create("vien", PASSWORD, "admin", actor="test", language="vi")


def _fill_calls(store: Store, employee_id: int) -> None:
    """A call in progress and a few in the history, every direction and outcome shown, the
    first one recorded."""
    now = utcnow()
    start = now - timedelta(hours=2)
    rows = [{"ref": f"r{n}", "call_id": f"c{n}", "direction": direction, "caller": caller,
             "caller_employee_id": employee_id if caller == "101" else None,
             "callee": callee, "callee_employee_id": None, "dialled": callee,
             "connection": None if direction == "internal" else "viettel",
             "answered_by": callee if outcome == "answered" else None,
             "answered_by_employee_id": None, "started_at": start + timedelta(minutes=n),
             "answered_at": None, "ended_at": start + timedelta(minutes=n, seconds=30),
             "ring_seconds": 5.0, "talk_seconds": 25.0 if outcome == "answered" else 0.0,
             "outcome": outcome, "status": 200 if outcome == "answered" else 486,
             "reason": "bye"}
            for n, (direction, caller, callee, outcome) in enumerate([
                ("internal", "101", "102", "answered"), ("inbound", "0909123456", "101",
                                                         "missed"),
                ("outbound", "101", "84912345678", "busy"),
                ("forwarded", "0909123456", "84912345678", "cancelled")])]
    live = {"livecall": {"ref": "livecall", "direction": "inbound", "state": "ringing",
                         "caller": "0909123456", "callee": "101", "dialled": "+842838123456",
                         "connection": "viettel", "started_at": now, "answered_at": None}}
    call_history.write(store, rows, live, [], now)
    RecordingsDirectory(store, actor="test").keep("r0", "2026/01/r0.wav", 25.0, 400_044)


def _pages(directory: Directory) -> list[str]:
    return ["/", "/employees", "/employees/1", "/employees/2/dismiss", "/extensions",
            "/extensions/new", "/extensions/101", "/extensions/102", "/phones",
            f"/phones/{SEEN_MAC}", f"/phones/{ADDED_MAC}", "/audit", "/audit?q=nguyen",
            "/sip/bans", "/users", "/settings", "/transfer", "/account/password",
            "/connections", "/connections/new", "/connections/viettel", "/numbers/new",
            "/numbers/+842838123456", "/calls", "/calls?outcome=missed&direction=inbound",
            "/queues", "/queues/new", "/queues/sales", "/menus", "/menus/new", "/menus/main",
            "/callbacks", "/callbacks?state=pending", "/voicemail", "/voicemail/box/1"]


# The page's text as read, without code (commands, CSV columns, addresses stay as they are).
TEXT = """(() => { const copy = document.body.cloneNode(true);
  copy.querySelectorAll("code, pre, kbd, samp, script, style").forEach((e) => e.remove());
  document.body.appendChild(copy); const text = copy.innerText; copy.remove(); return text; })()"""


COMMANDS = re.compile(r"'appliance [^']*'")  # commands are typed as they are


def _check(page: Any, path: str, language: str, width: int, problems: list[str]) -> None:
    """No horizontal overflow; no English on a Vietnamese page."""
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    if overflow > 0:
        problems.append(f"{language} {width}px {path}: {overflow}px wider than the window")
    if language == "vi":
        text = COMMANDS.sub("", page.evaluate(TEXT))
        english = sorted({m.group(0) + " in «" + text[max(0, m.start() - 30):m.end() + 30] + "»"
                          for p in ENGLISH for m in [p.search(text)] if m})
        if english:
            problems.append(f"vi {width}px {path}: English left: {english[:8]}")


def _sign_in(page: Any, base: str, username: str) -> None:
    page.goto(base + "/login")
    page.fill("#f-username", username)
    page.fill("#f-password", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(re.compile(r"/$"))


def test_every_page_both_languages_both_widths(
        box: tuple[RunningDaemon, Directory, Accounts], tmp_path: Path) -> None:
    from playwright.sync_api import expect

    daemon, directory, accounts = box
    base = f"http://{daemon.ports['web']}"
    token = (load(daemon.config).paths.data / "run" / "setup-token").read_text().strip()
    problems: list[str] = []
    shots = Path(os.environ.get("WEB_SCREENSHOTS", tmp_path / "shots"))
    shots.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            # before setup: the setup page in both languages, both widths
            for language in ("en", "vi"):
                for width in WIDTHS:
                    context = browser.new_context(viewport={"width": width, "height": 860},
                                                  locale=language)
                    page = context.new_page()
                    page.goto(base + "/setup")
                    _check(page, "/setup", language, width, problems)
                    context.close()
            # setup: every error at once, then done with the time zone
            page = browser.new_page(viewport={"width": 1280, "height": 860}, locale="en-US")
            page.goto(base + "/setup")
            page.fill("#f-username", "bad name!")
            page.fill("#f-password", "short")
            page.fill("#f-password2", "other")
            page.fill("#f-timezone", "Mars/Base")
            page.click("button[type=submit].primary")
            for field in ("token", "username", "password", "password2", "timezone"):
                expect(page.locator(f"#{field}-error")).to_be_visible()
            page.fill("#f-token", token)
            page.fill("#f-username", "admin")
            page.fill("#f-password", PASSWORD)
            page.fill("#f-password2", PASSWORD)
            page.fill("#f-timezone", "Asia/Ho_Chi_Minh")
            page.click("button[type=submit].primary")
            expect(page.locator("h1")).to_have_text("Dashboard")
            expect(page.locator("#version")).to_contain_text("Asia/Ho_Chi_Minh")
            page.close()
            _fill_office(directory, accounts)
            for language, user in (("en", "admin"), ("vi", "vien")):
                for width in WIDTHS:
                    context = browser.new_context(viewport={"width": width, "height": 860},
                                                  locale=language)
                    page = context.new_page()
                    _sign_in(page, base, user)
                    for path in _pages(directory):
                        page.goto(base + path)
                        _check(page, path, language, width, problems)
                        name = re.sub(r"\W+", "_", path).strip("_") or "dashboard"
                        page.screenshot(path=str(shots / f"{language}-{width}-{name}.png"),
                                        full_page=True)
                    _first_hour(page, base, language, width)
                    if width < 700:
                        page.click("#menu-toggle")
                    page.click("#logout")
                    page.wait_for_url(re.compile(r"/login"))  # the click navigates
                    page.wait_for_load_state()
                    _check(page, "/login", language, width, problems)
                    context.close()
        finally:
            browser.close()
    assert not problems, "\n".join(problems)


def _first_hour(page: Any, base: str, language: str, width: int) -> None:
    """What a new admin sees: registrations, counts, vendor by OUI, the menu at phone size."""
    from playwright.sync_api import expect

    page.goto(base + "/")
    expect(page.locator("#count-desk")).to_have_text("1")
    expect(page.locator("#count-apps")).to_have_text("1")
    page.goto(base + "/extensions/101")
    rows = page.locator("#registrations tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Yealink SIP-T46U")
    expect(page.locator("#registrations")).to_contain_text("udp 127.0.0.9:5062")
    page.goto(base + "/extensions")
    expect(page.locator("#extensions tbody tr").first).to_contain_text("127.0.0.9")
    page.goto(base + "/phones")
    added = page.locator(f"tr[data-mac='{ADDED_MAC}']")
    expect(added).to_contain_text("Yealink")  # from the OUI list, before it is ever seen
    expect(added).to_contain_text("not seen yet" if language == "en" else "chưa thấy")
    nav = page.locator("nav.main")
    if width < 700:
        expect(nav).to_be_hidden()
        page.click("#menu-toggle")
        expect(nav).to_be_visible()
        page.click("#menu-toggle")
        expect(nav).to_be_hidden()
    else:
        expect(page.locator("#menu-toggle")).to_be_hidden()
        expect(nav).to_be_visible()
