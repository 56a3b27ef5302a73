"""The number plan: Vietnamese numbers classed and normalised, E.164 in general, and written
the way each connection wants them."""

from __future__ import annotations

import pytest

from appliance.callplan import numbers
from appliance.callplan.numbers import VIETNAM


@pytest.mark.parametrize(("text", "kind", "needs", "e164"), [
    ("113", "emergency", "internal", None),
    ("114", "emergency", "internal", None),
    ("115", "emergency", "internal", None),
    ("112", "emergency", "internal", None),
    ("911", "emergency", "internal", None),
    ("101", "extension", "internal", None),
    ("0912345678", "mobile", "mobile", "+84912345678"),
    ("0912 345 678", "mobile", "mobile", "+84912345678"),
    ("038-123-4567", "mobile", "mobile", "+84381234567"),
    ("0561234567", "mobile", "mobile", "+84561234567"),
    ("0701234567", "mobile", "mobile", "+84701234567"),
    ("0861234567", "mobile", "mobile", "+84861234567"),
    ("84912345678", "mobile", "mobile", "+84912345678"),
    ("+84912345678", "mobile", "mobile", "+84912345678"),
    ("0084912345678", "mobile", "mobile", "+84912345678"),
    ("02838123456", "landline", "local", "+842838123456"),
    ("(024) 3825 1234", "landline", "local", "+842438251234"),
    ("+842838123456", "landline", "local", "+842838123456"),
    ("18001091", "tollfree", "local", None),
    ("1900123456", "premium", "international", None),
    ("+14155550123", "international", "international", "+14155550123"),
    ("0014155550123", "international", "international", "+14155550123"),
    ("+442079460000", "international", "international", "+442079460000"),
])
def test_vietnamese_numbers_are_classed(text: str, kind: str, needs: str,
                                        e164: str | None) -> None:
    found = numbers.classify(text)
    assert found is not None
    assert (found.kind, found.needs, found.e164) == (kind, needs, e164)
    assert found.emergency == (kind == "emergency")


@pytest.mark.parametrize("text", [
    "", "abc", "09123", "091234567",  # a mobile one digit short
    "09123456789",  # one too long (11-digit mobiles were renumbered in 2018)
    "0112345678",  # no such national prefix
    "+84113", "+1234", "+1234567890123456", "+0123456789", "*123*", "1234567890123",
    "٠٩١٢٣٤٥٦٧٨",  # Arabic-Indic digits are digits to Python, not to a carrier
])
def test_what_is_not_a_number_is_refused(text: str) -> None:
    assert numbers.classify(text) is None


def test_a_subscriber_number_within_the_area() -> None:
    unknown_area = numbers.classify("38123456")
    assert unknown_area is not None and unknown_area.kind == "landline"
    assert unknown_area.e164 is None and unknown_area.national == "38123456"
    saigon = VIETNAM.with_area("28")
    known = numbers.classify("38123456", saigon)
    assert known is not None and known.e164 == "+842838123456"
    assert known.national == "02838123456"


@pytest.mark.parametrize(("text", "want"), [
    ("0912345678", "+84912345678"), ("912345678", "+84912345678"),  # NSN, as carriers send
    ("84912345678", "+84912345678"), ("+84 912 345 678", "+84912345678"),
    ("2838123456", "+842838123456"), ("+14155550123", "+14155550123"),
    ("113", None), ("anonymous", None), ("101", None),
])
def test_e164_of_any_usual_spelling(text: str, want: str | None) -> None:
    assert numbers.e164(text) == want


@pytest.mark.parametrize(("text", "style", "written"), [
    ("0912345678", "e164_plus", "+84912345678"),
    ("0912345678", "intl_digits", "84912345678"),
    ("0912345678", "national", "0912345678"),
    ("+84912345678", "national", "0912345678"),
    ("+14155550123", "national", "0014155550123"),
    ("+14155550123", "intl_digits", "14155550123"),
    ("113", "e164_plus", "113"),  # emergency numbers go as dialled
    ("1900123456", "intl_digits", "1900123456"),
])
def test_numbers_written_as_the_connection_wants(text: str, style: str, written: str) -> None:
    found = numbers.classify(text)
    assert found is not None
    assert numbers.write(found, style) == written  # type: ignore[arg-type]
