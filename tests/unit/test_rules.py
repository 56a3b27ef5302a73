"""The directory's value rules, one by one."""

from __future__ import annotations

import pytest

from appliance.directory import rules
from appliance.errors import ValidationError


@pytest.mark.parametrize("good", ["0", "7", "100", "1234", " 101 "])
def test_extension_numbers(good: str) -> None:
    assert rules.extension_number(good) == good.strip()


@pytest.mark.parametrize("bad", ["", "12345", "10a", "-1", "1 2", "١٢٣", "+101", "1.0"])
def test_extension_numbers_rejected(bad: str) -> None:
    with pytest.raises(ValidationError, match="1 to 4 digits") as info:
        rules.extension_number(bad)
    assert info.value.field == "number"


@pytest.mark.parametrize("good", ["reception", "an.nguyen", "a_b-c.D9", "x" * 32])
def test_memorable_names(good: str) -> None:
    assert rules.memorable_name(good) == good


@pytest.mark.parametrize("bad", ["an nguyen", "Nguyễn", "a/b", "x" * 33, "a@b", "ta\tb"])
def test_memorable_names_rejected(bad: str) -> None:
    with pytest.raises(ValidationError, match="ASCII letters"):
        rules.memorable_name(bad)


def test_empty_memorable_name_means_none() -> None:
    assert rules.memorable_name("") is None and rules.memorable_name(None) is None


@pytest.mark.parametrize(("given", "stored"), [
    ("84912345678", "84912345678"), ("+84 912 345 678", "84912345678"),
    ("0084-912-345-678", "84912345678"), ("14155550123", "14155550123"),
])
def test_mobile_numbers(given: str, stored: str) -> None:
    assert rules.mobile_number(given) == stored


@pytest.mark.parametrize("bad", ["0912345678", "84abc45678", "1234567", "8491234567890123",
                                 "+", "84 91x"])
def test_mobile_numbers_rejected(bad: str) -> None:
    with pytest.raises(ValidationError, match="international digits"):
        rules.mobile_number(bad)


def test_permission_order_each_level_includes_those_below() -> None:
    levels = rules.PERMISSIONS
    assert levels == ("internal", "local", "mobile", "international")
    for i, have in enumerate(levels):
        for j, need in enumerate(levels):
            assert rules.permits(have, need) is (i >= j)
    assert rules.permission("Mobile") == "mobile"
    with pytest.raises(ValidationError, match="permission"):
        rules.permission("premium")


def test_receive_methods() -> None:
    assert [rules.receive_method(m) for m in ("desk", "APP", "both", "mobile")] == [
        "desk", "app", "both", "mobile"]
    with pytest.raises(ValidationError, match="receive"):
        rules.receive_method("fax")


@pytest.mark.parametrize("given", ["00:15:65:AA:BB:CC", "00-15-65-aa-bb-cc", "0015.65aa.bbcc",
                                   "001565AABBCC"])
def test_mac_normalised(given: str) -> None:
    assert rules.mac_address(given) == "001565aabbcc"


@pytest.mark.parametrize("bad", ["00:15:65:AA:BB", "001565aabbcg", "000000000000",
                                 "01005e000001", "ffffffffffff", ""])
def test_mac_rejected(bad: str) -> None:
    with pytest.raises(ValidationError, match="mac"):
        rules.mac_address(bad)


def test_generated_passwords_are_long_random_and_plain() -> None:
    seen = {rules.new_password() for _ in range(200)}
    assert len(seen) == 200
    for password in seen:
        assert len(password) == 24 and password.isalnum() and password.isascii()
    # 24 symbols of 62: at least 128 bits
    assert 24 * 5.954 > 128


@pytest.mark.parametrize("bad", ["short", "x" * 65, "has space 12345", "quote\"123456789",
                                 "amp&123456789", "hash#123456789", "tab\t123456789",
                                 "mật-khẩu-12345"])
def test_chosen_password_rules(bad: str) -> None:
    with pytest.raises(ValidationError, match="password"):
        rules.chosen_password(bad)
    assert rules.chosen_password("Good-pass_word.123") == "Good-pass_word.123"


@pytest.mark.parametrize("bad", ["", "   ", "x" * 101, "bell\x07"])
def test_person_names_rejected(bad: str) -> None:
    with pytest.raises(ValidationError, match="name"):
        rules.person_name(bad)
    assert rules.person_name("  Nguyễn   Văn  An ") == "Nguyễn Văn An"


def test_vendor_names_are_one_spelling_per_family() -> None:
    assert rules.vendor_name("yealink") == rules.vendor_name("YEALINK") == "Yealink"
    assert rules.vendor_name(" grandstream ") == "Grandstream"
    assert rules.vendor_name("Acme Phones") == "Acme Phones"
    assert rules.vendor_name("") is None and rules.vendor_name(None) is None


@pytest.mark.parametrize("number", ["0", "0101", "113", "114", "115", "112", "911"])
def test_a_new_extension_never_takes_an_outside_or_emergency_number(number: str) -> None:
    with pytest.raises(ValidationError) as caught:
        rules.new_extension_number(number)
    assert caught.value.field == "number"
    assert rules.extension_number(number) == number  # existing ones are still found


def test_new_extension_numbers_that_are_fine() -> None:
    assert [rules.new_extension_number(n) for n in ("1", "101", "9999", "110")] == [
        "1", "101", "9999", "110"]
