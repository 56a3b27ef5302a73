"""Digit collection after a greeting or in an IVR menu: resolved as soon as unambiguous, the
inter-digit timeout only when ambiguous, an extension wins a tie with a menu key, ``#`` ends."""

from __future__ import annotations

import pytest

from appliance.callplan.digits import Choice, DigitTree, Invalid, Pending, Resolved


def ext(value: str) -> Resolved:
    return Resolved(Choice("extension", value))


def key(value: str) -> Resolved:
    return Resolved(Choice("key", value))


def test_extension_resolves_on_its_last_digit_when_nothing_longer_starts_with_it() -> None:
    tree = DigitTree(extensions=["101", "102", "200"])
    assert tree.feed("1") == Pending(wait=False)
    assert tree.feed("10") == Pending(wait=False)
    assert tree.feed("101") == ext("101")
    assert tree.feed("102") == ext("102")
    assert tree.feed("2") == Pending(wait=False)
    assert tree.feed("200") == ext("200")


def test_menu_key_that_starts_an_extension_waits_and_its_timeout_resolves_the_key() -> None:
    tree = DigitTree(extensions=["101", "102", "200"], keys=["1"])
    assert tree.feed("1") == Pending(wait=True)
    assert tree.timeout("1") == key("1")
    assert tree.feed("10") == Pending(wait=False)
    assert tree.feed("101") == ext("101")


def test_menu_key_alone_resolves_at_once() -> None:
    tree = DigitTree(extensions=["101"], keys=["2", "0"])
    assert tree.feed("2") == key("2")
    assert tree.feed("0") == key("0")


def test_extension_wins_a_tie_with_a_menu_key() -> None:
    tree = DigitTree(extensions=["2", "101"], keys=["2", "1"])
    assert tree.feed("2") == ext("2")
    assert tree.timeout("2") == ext("2")
    assert tree.feed("2#") == ext("2")
    # the key still counts where no extension has the same string
    assert tree.feed("1") == Pending(wait=True)
    assert tree.timeout("1") == key("1")


def test_tie_order_of_arguments_does_not_matter() -> None:
    assert DigitTree(keys=["5"], extensions=["5"]).feed("5") == ext("5")


def test_shorter_extension_waits_and_longer_resolves_at_once() -> None:
    tree = DigitTree(extensions=["10", "101"])
    assert tree.feed("1") == Pending(wait=False)
    assert tree.feed("10") == Pending(wait=True)
    assert tree.timeout("10") == ext("10")
    assert tree.feed("101") == ext("101")
    assert tree.timeout("101") == ext("101")


def test_hash_ends_entry_early() -> None:
    tree = DigitTree(extensions=["10", "101"], keys=["1"])
    assert tree.feed("10#") == ext("10")
    assert tree.feed("1#") == key("1")
    assert tree.feed("101#") == ext("101")


def test_hash_alone_is_an_empty_entry() -> None:
    tree = DigitTree(extensions=["10"], keys=["1"])
    assert tree.feed("#") == Invalid("")


def test_hash_after_no_entry_is_invalid() -> None:
    tree = DigitTree(extensions=["10", "101"], keys=["1"])
    assert tree.feed("9#") == Invalid("9")
    assert tree.feed("1010#") == Invalid("1010")


def test_hash_after_a_mere_prefix_is_invalid() -> None:
    tree = DigitTree(extensions=["101"])
    assert tree.feed("10#") == Invalid("10")


def test_first_hash_ends_entry_when_digits_follow_it() -> None:
    tree = DigitTree(extensions=["10", "101"])
    assert tree.feed("10#1") == ext("10")
    assert tree.feed("#10") == Invalid("")
    assert tree.timeout("10#1") == ext("10")


def test_digit_no_entry_starts_with_is_invalid_at_once() -> None:
    tree = DigitTree(extensions=["101", "200"], keys=["1"])
    assert tree.feed("3") == Invalid("3")
    assert tree.feed("11") == Invalid("11")
    assert tree.feed("1011") == Invalid("1011")


def test_timeout_on_a_mere_prefix_is_invalid() -> None:
    tree = DigitTree(extensions=["101", "200"])
    assert tree.timeout("1") == Invalid("1")
    assert tree.timeout("10") == Invalid("10")
    assert tree.timeout("3") == Invalid("3")


def test_timeout_before_any_digit_is_invalid() -> None:
    tree = DigitTree(extensions=["101"], keys=["1"])
    assert tree.feed("") == Pending(wait=False)
    assert tree.timeout("") == Invalid("")


def test_star_key() -> None:
    tree = DigitTree(extensions=["101"], keys=["*", "9"])
    assert tree.feed("*") == key("*")
    assert tree.feed("*#") == key("*")
    assert tree.feed("9") == key("9")
    assert tree.feed("*1") == Invalid("*1")


def test_character_outside_the_keypad_is_invalid() -> None:
    tree = DigitTree(extensions=["101"], keys=["1"])
    assert tree.feed("a") == Invalid("a")
    assert tree.feed("1a") == Invalid("1a")
    assert tree.feed(" 1") == Invalid(" 1")
    assert tree.feed("A#") == Invalid("A")
    assert tree.timeout("x") == Invalid("x")


def test_empty_tree_makes_every_entry_invalid() -> None:
    tree = DigitTree()
    assert tree.empty
    assert tree.feed("") == Invalid("")
    assert tree.feed("1") == Invalid("1")
    assert tree.feed("*") == Invalid("*")
    assert tree.feed("#") == Invalid("")
    assert tree.feed("1#") == Invalid("1")
    assert tree.timeout("1") == Invalid("1")
    assert not DigitTree(keys=["1"]).empty
    assert not DigitTree(extensions=["101"]).empty


def test_trees_take_any_iterable_once() -> None:
    tree = DigitTree(extensions=iter(["101", "102"]), keys=(k for k in "19"))
    assert tree.feed("101") == ext("101")
    assert tree.feed("102") == ext("102")
    assert tree.feed("9") == key("9")
    assert tree.feed("1") == Pending(wait=True)


@pytest.mark.parametrize("bad", ["", "12345", "1a", "#", "*1"])
def test_malformed_extension_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="extension"):
        DigitTree(extensions=[bad])


@pytest.mark.parametrize("bad", ["", "#", "12", "a", "**"])
def test_malformed_menu_key_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="menu key"):
        DigitTree(keys=[bad])
