"""IVR menus on a fake clock and a fake media plane: a key goes where it says (an
extension, a sub-menu, hang-up), ``repeat`` plays the menu again, no key and invalid keys
are counted apart (the prompt replayed up to each one's retries, then each one's
destination), an extension may be dialled in a menu that allows it, and a key pressed
during the number's greeting goes straight where the following menu sends it."""

from __future__ import annotations

from dataclasses import replace

from appliance.callplan.model import Destination, Greeting, Menu, Number
from appliance.calls.greeting import INTER_DIGIT
from tests.unit.test_b2bua import CARRIER, DESK, DID
from tests.unit.test_b2bua_greeting import PHONE_103, GreetingPlane, carrier_ok, greeting_box
from tests.unit.test_b2bua_media import MediaBox

MAIN = Menu("main", "For sales press 1, for support press 2", "en", {
    "1": Destination("extension", "102"), "2": Destination("menu", "support"),
    "9": Destination("repeat"), "0": Destination("hangup")}, extensions=False, timeout=4,
    timeout_retries=1, timeout_destination=Destination("extension", "103"),
    invalid_retries=1, invalid_destination=Destination("hangup"))
SUPPORT = Menu("support", "Support: press 1", "en", {"1": Destination("extension", "103")},
               extensions=False)


def menu_box(greeting: Greeting | None = None, main: Menu = MAIN) -> tuple[MediaBox,
                                                                         GreetingPlane]:
    """The carrier's number goes to menu ``main`` (after ``greeting``, if given)."""
    box, plane = greeting_box()
    number = Number(DID, 1, Destination("menu", "main"), contacts_map=False, to_header=False,
                    greeting=greeting)
    box.routing = replace(box.routing, numbers={DID: number},
                          menus={"main": main, "support": SUPPORT})
    return box, plane


def bye_to_carrier(box: MediaBox) -> bool:
    return bool(box.sent(CARRIER, "BYE"))


def test_a_key_rings_its_extension_and_the_phone_is_bridged_in() -> None:
    box, plane = menu_box()
    box.carrier_call()
    assert carrier_ok(box) and plane.played == [f"{MAIN.text}-en.wav"]
    plane.press("1")  # no extension allowed: the key resolves at once
    invite, = box.sent(DESK, "INVITE")
    assert invite.body == b"v=0 onward" and plane.played[-1] == "ringback.wav"


def test_a_sub_menu_and_its_key() -> None:
    box, plane = menu_box()
    box.carrier_call()
    plane.press("2")
    assert plane.played[-1] == f"{SUPPORT.text}-en.wav" and not box.sent(DESK)
    plane.press("1")
    assert box.sent(PHONE_103, "INVITE")


def test_repeat_plays_the_menu_again_and_hangup_ends_the_call() -> None:
    box, plane = menu_box()
    box.carrier_call()
    plane.press("9")
    assert plane.played == [f"{MAIN.text}-en.wav"] * 2
    plane.press("0")
    assert bye_to_carrier(box) and not box.sent(DESK)


def test_no_key_replays_up_to_its_retries_then_its_destination() -> None:
    box, plane = menu_box()
    box.carrier_call()
    box.timers.advance(4.0 + 4.1)  # the 4 s prompt and the 4 s timeout
    assert plane.played == [f"{MAIN.text}-en.wav"] * 2 and not box.sent(PHONE_103)
    box.timers.advance(8.1)
    assert box.sent(PHONE_103, "INVITE")  # the timeout destination


def test_invalid_keys_are_counted_apart_from_timeouts() -> None:
    box, plane = menu_box()
    box.carrier_call()
    box.timers.advance(8.1)  # one timeout: replayed
    plane.press("7")  # one invalid: replayed (its own count)
    assert plane.played == [f"{MAIN.text}-en.wav"] * 3 and not bye_to_carrier(box)
    plane.press("7")  # the second invalid is past invalid_retries: hang up
    assert bye_to_carrier(box) and not box.sent(PHONE_103)


def test_an_extension_in_a_menu_that_allows_them() -> None:
    box, plane = menu_box(main=replace(MAIN, extensions=True))
    box.carrier_call()
    plane.press("1")  # key 1, and the start of 101, 102, 103, 1030: ambiguous
    assert not box.sent(DESK)
    plane.press("03")
    box.timers.advance(INTER_DIGIT + 0.1)  # 103 or 1030: waits, then 103
    assert box.sent(PHONE_103, "INVITE")


def test_a_key_during_the_greeting_goes_where_the_menu_sends_it() -> None:
    box, plane = menu_box(greeting=Greeting("vi", None, wait=3))
    box.carrier_call()
    assert plane.played == ["greeting-vi.wav"]
    plane.press("2")  # a key of the menu that follows (2 starts no extension)
    assert plane.played[-1] == f"{SUPPORT.text}-en.wav"


def test_after_the_greeting_the_menu_plays() -> None:
    box, plane = menu_box(greeting=Greeting("en", None, wait=3))
    box.carrier_call()
    box.timers.advance(4.0 + 3.1)
    assert plane.played == ["greeting-en.wav", f"{MAIN.text}-en.wav"]
    assert len(carrier_ok(box)) >= 1 and {m.body for m in carrier_ok(box)} == {
        b"v=0 to-the-caller"}  # answered once
