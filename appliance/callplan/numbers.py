"""Number plans: what a dialled number is, the permission class it needs, its normal form,
and how to write it for a connection.

Vietnam first (``VIETNAM``): emergency 113 (police), 114 (fire), 115 (ambulance), and 112
and 911 accepted too; mobiles 03x, 05x, 07x, 08x, 09x, 10 digits with the 0 (``84`` and 9
digits internationally); landlines 02x, 11 digits with the 0, or 7-8 digits within the
office's area when the plan knows its area code; 1800 (free) and 1900 (premium, charged to
the caller: it needs the ``international`` class, a classic toll fraud target) with 4 or 6
more digits. ``+`` or ``00`` starts an E.164 number of any country (8 to 15 digits): one
of the plan's own country is classed as if dialled nationally, any other is international.
Separators (space, ``-``, ``.``, parentheses) are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

from appliance.callplan.model import NumberFormat, Permission

NumberKind = Literal[
    "emergency", "extension", "landline", "mobile", "tollfree", "premium", "international"]

_SEPARATORS = str.maketrans("", "", " -.()\t")
_EXTENSION = re.compile(r"[0-9]{1,4}")
_E164_DIGITS = re.compile(r"[1-9][0-9]{7,14}")


@dataclass(frozen=True)
class NumberPlan:
    """One country's plan. Patterns match the national significant number (NSN: after the
    trunk prefix or the country code) unless said otherwise."""

    country: str
    country_code: str
    trunk_prefix: str
    intl_prefix: str
    emergency: frozenset[str]
    mobile: re.Pattern[str]
    landline: re.Pattern[str]
    tollfree: re.Pattern[str]  # as dialled
    premium: re.Pattern[str]  # as dialled
    subscriber: re.Pattern[str]  # a landline within the area, dialled without its code
    area_code: str | None = None  # the office's, without the trunk prefix (e.g. "28")

    def with_area(self, area_code: str | None) -> NumberPlan:
        """The same plan for an office in area ``area_code`` (e.g. ``28``, Ho Chi Minh City)."""
        return replace(self, area_code=area_code)


VIETNAM = NumberPlan(
    country="VN",
    country_code="84",
    trunk_prefix="0",
    intl_prefix="00",
    emergency=frozenset({"113", "114", "115", "112", "911"}),
    mobile=re.compile(r"[35789][0-9]{8}"),
    landline=re.compile(r"2[0-9]{9}"),
    tollfree=re.compile(r"1800(?:[0-9]{4}|[0-9]{6})"),
    premium=re.compile(r"1900(?:[0-9]{4}|[0-9]{6})"),
    subscriber=re.compile(r"[2-9][0-9]{6,7}"),
)

PLANS = {"VN": VIETNAM}

NEEDS: dict[NumberKind, Permission] = {
    "emergency": "internal",
    "extension": "internal",
    "landline": "local",
    "tollfree": "local",
    "mobile": "mobile",
    "premium": "international",
    "international": "international",
}


@dataclass(frozen=True)
class Dialled:
    """A dialled number understood: its kind, the permission class it needs, the digits as
    dialled nationally, and its E.164 form (``+84...``; None for emergency, extension and
    service numbers, and for a subscriber number when the area is unknown)."""

    kind: NumberKind
    national: str
    e164: str | None

    @property
    def needs(self) -> Permission:
        """The permission class a caller needs (emergency: none, always allowed)."""
        return NEEDS[self.kind]

    @property
    def emergency(self) -> bool:
        """An emergency number: always goes out, whatever the caller's permission."""
        return self.kind == "emergency"


def _national(nsn: str, plan: NumberPlan) -> Dialled | None:
    """A national significant number of ``plan``'s country."""
    e164 = f"+{plan.country_code}{nsn}"
    if plan.mobile.fullmatch(nsn):
        return Dialled("mobile", plan.trunk_prefix + nsn, e164)
    if plan.landline.fullmatch(nsn):
        return Dialled("landline", plan.trunk_prefix + nsn, e164)
    return None


def _international(digits: str, plan: NumberPlan) -> Dialled | None:
    """E.164 digits (country code first, no ``+``)."""
    if not _E164_DIGITS.fullmatch(digits):
        return None
    if digits.startswith(plan.country_code):
        return _national(digits[len(plan.country_code):], plan)
    return Dialled("international", plan.intl_prefix + digits, "+" + digits)


def _service(digits: str, plan: NumberPlan) -> Dialled | None:
    """Emergency, extension, free and premium numbers (no E.164 form)."""
    if digits in plan.emergency:
        return Dialled("emergency", digits, None)
    if _EXTENSION.fullmatch(digits):
        return Dialled("extension", digits, None)
    if plan.tollfree.fullmatch(digits):
        return Dialled("tollfree", digits, None)
    if plan.premium.fullmatch(digits):
        return Dialled("premium", digits, None)
    return None


def _domestic(digits: str, plan: NumberPlan) -> Dialled | None:
    """Digits dialled without ``+`` or the international prefix."""
    if digits.startswith(plan.trunk_prefix):
        return _national(digits[len(plan.trunk_prefix):], plan)
    if digits.startswith(plan.country_code):
        # International digits without "+" (84912345678): only the plan's own country.
        found = _national(digits[len(plan.country_code):], plan)
        if found is not None:
            return found
    if plan.subscriber.fullmatch(digits):
        if plan.area_code is None:
            return Dialled("landline", digits, None)
        return _national(plan.area_code + digits, plan) or Dialled("landline", digits, None)
    return None


def classify(text: str, plan: NumberPlan = VIETNAM) -> Dialled | None:
    """What ``text`` dials under ``plan``, or None when it is not a number one can call."""
    digits = text.translate(_SEPARATORS) if isinstance(text, str) else ""
    service = _service(digits, plan)
    if service is not None:
        return service
    if digits.startswith("+"):
        return _international(digits[1:], plan)
    if not digits.isdigit() or not digits.isascii():
        return None
    if digits.startswith(plan.intl_prefix):
        return _international(digits[len(plan.intl_prefix):], plan)
    return _domestic(digits, plan)


def e164(text: str, plan: NumberPlan = VIETNAM) -> str | None:
    """The E.164 form (``+84912345678``) of a telephone number in any usual spelling
    (``+84…``, ``0084…``, ``84…``, ``0…``, or a bare NSN as carriers send a caller's), or
    None when it is not one."""
    found = classify(text, plan)
    if found is not None and found.e164 is not None:
        return found.e164
    digits = text.translate(_SEPARATORS) if isinstance(text, str) else ""
    if digits.isdigit() and digits.isascii():
        bare = _national(digits, plan)
        if bare is not None:
            return bare.e164
    return None


def write(number: Dialled, style: NumberFormat, plan: NumberPlan = VIETNAM) -> str:
    """``number`` written as a connection wants it: ``e164_plus`` (+84912345678),
    ``intl_digits`` (84912345678) or ``national`` (0912345678; another country's with the
    international prefix, 0044…). Numbers without an E.164 form go as dialled."""
    if number.e164 is None:
        return number.national
    return write_e164(number.e164, style, plan)


def write_e164(value: str, style: NumberFormat, plan: NumberPlan = VIETNAM) -> str:
    """An E.164 number (``+…``) written in ``style`` (see ``write``)."""
    digits = value.removeprefix("+")
    if style == "e164_plus":
        return "+" + digits
    if style == "intl_digits":
        return digits
    if digits.startswith(plan.country_code):
        return plan.trunk_prefix + digits[len(plan.country_code):]
    return plan.intl_prefix + digits
