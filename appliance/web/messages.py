"""The directory's error messages in the user's language, shown next to the field they name.

The directory raises English messages (the CLI prints them as they are); each known message is
matched here and given back translated, with its values. An unknown message is shown as is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from appliance.errors import DirectoryError
from appliance.web.i18n import N_, _

_GOT = r"(?:, got (?P<got>.*))?"

# (pattern of the message after any "field: " prefix, translatable text with %(name)s values)
PATTERNS: list[tuple[re.Pattern[str], str]] = [(re.compile(p + r"\Z", re.S), m) for p, m in [
    (r"an extension is 1 to 4 digits \(0-9\)" + _GOT,
     N_("An extension is 1 to 4 digits (0-9).")),
    (r"use 1 to 32 ASCII letters, digits, '\.', '_' or '-'" + _GOT,
     N_("Use 1 to 32 ASCII letters, digits, '.', '_' or '-'.")),
    (r"1 to 100 printable characters" + _GOT, N_("Use 1 to 100 printable characters.")),
    (r"up to (?P<size>\d+) printable characters", N_("Up to %(size)s printable characters.")),
    (r"international digits with the country code.*?" + _GOT,
     N_("International digits with the country code, 8 to 15 digits, no leading 0 "
          "(e.g. 84912345678).")),
    (r"one of (?P<choices>[a-z, ]+)" + _GOT, N_("Choose one of: %(choices)s.")),
    (r"12 hex digits such as 00:15:65:12:34:56" + _GOT,
     N_("12 hex digits such as 00:15:65:12:34:56.")),
    (r"(?P<value>'.*') is not a device address", N_("%(value)s is not a device address.")),
    (r"(?P<low>\d+) to (?P<high>\d+) characters",
     N_("Use %(low)s to %(high)s characters.")),
    (r"printable ASCII only, without spaces or any of .*",
     N_("Printable ASCII only, without spaces or any of \" ' \\ < > & # ; `.")),
    (r"this password was used before; choose another",
     N_("This password was used before; choose another.")),
    (r"employee (?P<id>\d+) does not exist", N_("Employee %(id)s does not exist.")),
    (r"(?:supervisor: )?extension (?P<n>\d+) does not exist",
     N_("Extension %(n)s does not exist.")),
    (r"employee (?P<id>\d+) is dismissed and cannot be changed",
     N_("Employee %(id)s is dismissed and cannot be changed.")),
    (r"extension (?P<n>\d+) sends calls to this mobile number; change its receive method first",
     N_("Extension %(n)s sends calls to this mobile number; change its receive method "
          "first.")),
    (r"employee (?P<id>\d+) is already dismissed",
     N_("Employee %(id)s is already dismissed.")),
    (r"extension (?P<n>\d+) already exists", N_("Extension %(n)s already exists.")),
    (r"employee (?P<id>\d+) is dismissed and cannot be assigned",
     N_("Employee %(id)s is dismissed and cannot be assigned.")),
    (r"extension (?P<n>\d+) is already assigned to this employee",
     N_("Extension %(n)s is already assigned to this employee.")),
    (r"extension (?P<n>\d+) belongs to employee (?P<id>\d+); unassign it first",
     N_("Extension %(n)s belongs to employee %(id)s; free it first.")),
    (r"employee (?P<id>\d+) already has extension (?P<n>\d+)",
     N_("Employee %(id)s already has extension %(n)s.")),
    (r"extension (?P<n>\d+) sends calls to a mobile number and employee (?P<id>\d+) has none",
     N_("Extension %(n)s sends calls to a mobile number and employee %(id)s has none.")),
    (r"extension (?P<n>\d+) is already free", N_("Extension %(n)s is already free.")),
    (r"an extension cannot supervise itself", N_("An extension cannot supervise itself.")),
    (r"(?P<value>'.*') is already extension (?P<n>\d+)'s name",
     N_("%(value)s is already the name of extension %(n)s.")),
    (r"employee (?P<id>\d+) has no mobile number to send calls to",
     N_("Employee %(id)s has no mobile number to send calls to.")),
    (r"phone (?P<mac>[0-9a-f]+) is not in the inventory",
     N_("Phone %(mac)s is not in the inventory.")),
    (r"phone (?P<mac>[0-9a-f]+) is already assigned to extension (?P<n>\d+)",
     N_("Phone %(mac)s is already assigned to extension %(n)s.")),
    (r"phone (?P<mac>[0-9a-f]+) is already disabled", N_("Phone %(mac)s is already disabled.")),
    # web users (appliance/web/accounts.py)
    (r"must not be the username", N_("The password must not be the username.")),
    (r"(?P<value>'.*') is taken", N_("%(value)s is taken.")),
    (r"the last admin cannot be removed", N_("The last admin cannot be removed.")),
    (r"this is not your current password", N_("This is not your current password.")),
    (r"user (?P<id>\d+) does not exist", N_("User %(id)s does not exist.")),
]]


def bare(exc: DirectoryError) -> str:
    """The error's text without its field prefix (``name: ...``)."""
    text = str(exc)
    if exc.field and text.startswith(f"{exc.field}: "):
        return text[len(exc.field) + 2:]
    return text


def matched(text: str, patterns: Sequence[tuple[re.Pattern[str], str]]) -> str | None:
    """The message of the first of ``patterns`` that matches ``text``, in the current
    language with the groups it caught; None when none matches."""
    for pattern, message in patterns:
        match = pattern.match(text)
        if match:
            return _(message, **{k: v for k, v in match.groupdict().items() if v is not None})
    return None


def translate(exc: DirectoryError) -> str:
    """The error's message in the current language, without the field prefix."""
    text = bare(exc)
    for pattern, message in PATTERNS:
        match = pattern.match(text)
        if match:
            values = {k: v for k, v in match.groupdict().items() if v is not None}
            shown = _(message, **values)
            got = values.get("got")
            return _("%(rule)s (got %(value)s)", rule=shown, value=got) if got else shown
    return text
