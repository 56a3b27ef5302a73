"""The directory's value rules: pure checks that return the normalised value or raise."""

from __future__ import annotations

import re
import secrets
import string

from appliance.errors import ValidationError

PERMISSIONS = ("internal", "local", "mobile", "international")
RECEIVE_METHODS = ("desk", "app", "both", "mobile")
# What a call from an office number does when the extension does not answer.
EXTENSION_NO_ANSWER = ("number", "continue", "mobile", "voicemail")
PHONE_STATES = ("discovered", "assigned", "disabled")
PASSWORD_ALPHABET = string.ascii_letters + string.digits
GENERATED_PASSWORD_LENGTH = 24  # 24 of 62 symbols: about 143 bits
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 64
# Characters that some vendor file format treats specially (XML, cfg comments, quoting).
PASSWORD_FORBIDDEN = set(" \t\"'\\<>&#;`")

_NUMBER = re.compile(r"[0-9]{1,4}")
_NAME = re.compile(r"[A-Za-z0-9._-]{1,32}")
_MOBILE = re.compile(r"[1-9][0-9]{7,14}")
_MAC = re.compile(r"[0-9a-f]{12}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def extension_number(value: str, field: str = "number") -> str:
    """An extension number: 1 to 4 ASCII digits."""
    text = value.strip() if isinstance(value, str) else ""
    if not _NUMBER.fullmatch(text):
        raise ValidationError(f"{field}: an extension is 1 to 4 digits (0-9), got {value!r}", field)
    return text


# Numbers a phone must always be able to dial out: Vietnam's 113, 114, 115, and 112 and 911
# (callplan/numbers.py routes them out whatever the caller's permission).
EMERGENCY = frozenset({"112", "113", "114", "115", "911"})


def new_extension_number(value: str, field: str = "number") -> str:
    """A number a new extension may take: 1 to 4 digits, not starting with 0 (the dial plan
    keeps 0 for outside numbers) and not an emergency number."""
    text = extension_number(value, field)
    if text.startswith("0"):
        raise ValidationError(f"{field}: an extension may not start with 0 (0 dials out), "
                              f"got {text!r}", field)
    if text in EMERGENCY:
        raise ValidationError(f"{field}: {text} is an emergency number, not an extension",
                              field)
    return text


def memorable_name(value: str | None, field: str = "name") -> str | None:
    """A memorable name: 1-32 ASCII letters, digits, '.', '_' or '-'; empty means none."""
    if value is None or value.strip() == "":
        return None
    text = value.strip()
    if not _NAME.fullmatch(text):
        raise ValidationError(
            f"{field}: use 1 to 32 ASCII letters, digits, '.', '_' or '-', got {value!r}", field
        )
    return text


def group_name(value: str | None) -> str | None:
    """An outbound number group: same charset as a memorable name; empty means none."""
    return memorable_name(value, "group")


def person_name(value: str) -> str:
    """An employee's name: 1 to 100 printable characters."""
    text = " ".join(value.split()) if isinstance(value, str) else ""
    if not text or len(text) > 100 or _CONTROL.search(text):
        raise ValidationError(f"name: 1 to 100 printable characters, got {value!r}", "name")
    return text


def description(value: str | None) -> str | None:
    """A free description: up to 200 printable characters; empty means none."""
    if value is None or value.strip() == "":
        return None
    text = value.strip()
    if len(text) > 200 or _CONTROL.search(text):
        raise ValidationError("description: up to 200 printable characters", "description")
    return text


def mobile_number(value: str | None) -> str | None:
    """A mobile number in international digits (e.g. 84912345678); '+', spaces, dashes dropped."""
    if value is None or value.strip() == "":
        return None
    text = re.sub(r"[\s\-().]", "", value)
    if text.startswith("+"):
        text = text[1:]
    elif text.startswith("00"):
        text = text[2:]
    if not _MOBILE.fullmatch(text):
        raise ValidationError(
            "mobile: international digits with the country code, 8 to 15 digits, "
            f"no leading 0 (e.g. 84912345678), got {value!r}",
            "mobile",
        )
    return text


def choice(value: str, choices: tuple[str, ...], field: str) -> str:
    """One of ``choices``, compared case-insensitively."""
    text = value.strip().lower() if isinstance(value, str) else ""
    if text not in choices:
        raise ValidationError(f"{field}: one of {', '.join(choices)}, got {value!r}", field)
    return text


def permission(value: str) -> str:
    """A call permission level."""
    return choice(value, PERMISSIONS, "permission")


def receive_method(value: str) -> str:
    """How calls reach the person."""
    return choice(value, RECEIVE_METHODS, "receive")


def extension_no_answer(value: str) -> str:
    """``number`` (as the office number says), ``continue`` or ``mobile``."""
    return choice(value, EXTENSION_NO_ANSWER, "no_answer")


def permits(level: str, needed: str) -> bool:
    """True when permission ``level`` includes ``needed`` (each level includes those below)."""
    return PERMISSIONS.index(level) >= PERMISSIONS.index(needed)


VENDOR_FAMILIES = {v.lower(): v for v in
                   ("Yealink", "Polycom", "Cisco", "Grandstream", "Snom", "Fanvil")}


def vendor_name(value: str | None) -> str | None:
    """A vendor as stored: a known family in its own spelling (``yealink`` -> ``Yealink``),
    any other name trimmed as given; empty means unknown."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    return VENDOR_FAMILIES.get(text.lower(), text)


def mac_address(value: str) -> str:
    """A MAC normalised to 12 lower-case hex digits; ':', '-', '.' separators accepted."""
    text = re.sub(r"[:\-.]", "", value.strip().lower()) if isinstance(value, str) else ""
    if not _MAC.fullmatch(text):
        raise ValidationError(f"mac: 12 hex digits such as 00:15:65:12:34:56, got {value!r}", "mac")
    if text == "000000000000" or int(text[:2], 16) & 1:
        raise ValidationError(f"mac: {value!r} is not a device address", "mac")
    return text


def new_password() -> str:
    """A fresh random SIP password of about 143 bits, letters and digits only."""
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(GENERATED_PASSWORD_LENGTH))


def chosen_password(value: str) -> str:
    """An admin-chosen SIP password: 12-64 printable ASCII, none of space \" ' \\ < > & # ; `."""
    if not isinstance(value, str) or not MIN_PASSWORD_LENGTH <= len(value) <= MAX_PASSWORD_LENGTH:
        raise ValidationError(
            f"password: {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters", "password"
        )
    bad = {c for c in value if c in PASSWORD_FORBIDDEN or not 0x20 < ord(c) < 0x7F}
    if bad:
        raise ValidationError(
            "password: printable ASCII only, without spaces or any of \" ' \\ < > & # ; `",
            "password",
        )
    return value
