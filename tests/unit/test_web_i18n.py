"""Every message of the admin page has its Vietnamese translation, with the same values."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from flask import Flask

from appliance.errors import ConflictError, DirectoryError, NotFoundError, ValidationError
from appliance.web import i18n
from appliance.web.messages import PATTERNS, translate

pytest_plugins = ("tests.unit.conftest_web",)

WEB = Path(i18n.__file__).parent
PO = WEB / "translations" / "vi" / "LC_MESSAGES" / "messages.po"
KEYWORDS = {"_": None, "gettext": None, "N_": None, "lazy": None}
METHODS = [("**.py", "python"), ("**/templates/**.html", "jinja2")]


def _source_messages() -> set[str]:
    found = extract_from_dir(str(WEB), METHODS, keywords=KEYWORDS)
    return {m[2] if isinstance(m[2], str) else m[2][0] for m in found}


def test_every_message_is_translated_to_vietnamese() -> None:
    with PO.open("rb") as f:
        catalog = read_po(f, locale="vi")
    translated = {m.id: m.string for m in catalog if m.id and m.string and not m.fuzzy}
    missing = sorted(_source_messages() - set(translated))
    assert not missing, f"add to {PO}: {missing}"


def test_translations_keep_their_placeholders() -> None:
    with PO.open("rb") as f:
        catalog = read_po(f, locale="vi")
    for message in catalog:
        if message.id:
            wanted = sorted(re.findall(r"%\(\w+\)s", str(message.id)))
            assert sorted(re.findall(r"%\(\w+\)s", str(message.string))) == wanted, message.id


def test_catalog_compiles_in_memory() -> None:
    catalog = i18n.load_catalog("vi")
    assert catalog.gettext("Phones") == "Điện thoại"
    assert i18n.load_catalog("en").gettext("Phones") == "Phones"


ERRORS: list[DirectoryError] = [
    ValidationError("number: an extension is 1 to 4 digits (0-9), got '12345'", "number"),
    ValidationError("name: use 1 to 32 ASCII letters, digits, '.', '_' or '-', got 'a b'", "name"),
    ValidationError("name: 1 to 100 printable characters, got ''", "name"),
    ValidationError("description: up to 200 printable characters", "description"),
    ValidationError("mobile: international digits with the country code, 8 to 15 digits, "
                    "no leading 0 (e.g. 84912345678), got '0912'", "mobile"),
    ValidationError("permission: one of internal, local, mobile, international, got 'x'",
                    "permission"),
    ValidationError("mac: 12 hex digits such as 00:15:65:12:34:56, got 'x'", "mac"),
    ValidationError("mac: 'ff:ff:ff:ff:ff:ff' is not a device address", "mac"),
    ValidationError("password: 12 to 64 characters", "password"),
    ValidationError("password: printable ASCII only, without spaces or any of \" ' \\ < > & # ; `",
                    "password"),
    ConflictError("password: this password was used before; choose another", "password"),
    NotFoundError("employee 7 does not exist", "employee"),
    NotFoundError("extension 101 does not exist", "number"),
    NotFoundError("supervisor: extension 100 does not exist", "supervisor"),
    ConflictError("employee 7 is dismissed and cannot be changed"),
    ConflictError("mobile: extension 101 sends calls to this mobile number; change its receive "
                  "method first", "mobile"),
    ConflictError("employee 7 is already dismissed"),
    ConflictError("number: extension 101 already exists", "number"),
    ConflictError("employee 7 is dismissed and cannot be assigned", "employee"),
    ConflictError("extension 101 is already assigned to this employee"),
    ConflictError("extension 101 belongs to employee 7; unassign it first", "number"),
    ConflictError("employee 7 already has extension 101", "employee"),
    ConflictError("extension 101 sends calls to a mobile number and employee 7 has none",
                  "employee"),
    ConflictError("extension 101 is already free", "number"),
    ValidationError("supervisor: an extension cannot supervise itself", "supervisor"),
    ConflictError("name: 'an' is already extension 101's name", "name"),
    ConflictError("receive: employee 7 has no mobile number to send calls to", "receive"),
    NotFoundError("phone 001565123456 is not in the inventory", "mac"),
    ConflictError("phone 001565123456 is already assigned to extension 101"),
    ConflictError("phone 001565123456 is already disabled"),
    ValidationError("username: use 1 to 32 ASCII letters, digits, '.', '_' or '-'", "username"),
    ValidationError("password: 10 to 128 characters", "password"),
    ValidationError("password: must not be the username", "password"),
    ConflictError("username: 'eve' is taken", "username"),
    ConflictError("username: the last admin cannot be removed", "username"),
    ValidationError("current_password: this is not your current password", "current_password"),
    NotFoundError("user 9 does not exist", "username"),
]


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: str(e)[:40])
def test_directory_errors_are_translated(app: Flask, error: DirectoryError) -> None:
    with app.test_request_context(headers={"Accept-Language": "vi"}):
        vietnamese = translate(error)
    with app.test_request_context(headers={"Accept-Language": "en"}):
        english = translate(error)
    assert vietnamese != english, english
    assert not english.startswith(f"{error.field}:")
    for value in re.findall(r"\d{3,}", str(error)):
        assert value in vietnamese


def test_every_pattern_is_exercised() -> None:
    used = set()
    for error in ERRORS:
        text = str(error)
        if error.field and text.startswith(f"{error.field}: "):
            text = text[len(error.field) + 2:]
        used |= {i for i, (p, _) in enumerate(PATTERNS) if p.match(text)}
    assert used == set(range(len(PATTERNS)))
