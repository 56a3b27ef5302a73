"""Routing cycles with IVR menus (``callplan.cycles``): a menu leads to its keys', its
timeout and its invalid-key destinations; numbers and queues lead to menus; ``repeat`` and
the ends of a path (extensions, other outside numbers, hang-up) are no edges."""

from __future__ import annotations

import pytest

from appliance.callplan import cycles
from appliance.callplan.model import Destination, Menu, Number, Queue
from appliance.errors import ValidationError

OWN = "+842838000001"


def menu(name: str, *keys: Destination, timeout: Destination | None = None,
         invalid: Destination | None = None) -> Menu:
    return Menu(name, "Hello.", keys={str(i + 1): d for i, d in enumerate(keys)},
                timeout_destination=timeout or Destination("hangup"),
                invalid_destination=invalid or Destination("hangup"))


def to_menu(name: str) -> Destination:
    return Destination("menu", name)


def test_a_menu_leads_to_its_keys_timeout_and_invalid_destinations() -> None:
    main = menu("main", to_menu("sub"), Destination("queue", "sales"), Destination("repeat"),
                Destination("extension", "101"), timeout=Destination("outside", OWN),
                invalid=to_menu("sub"))
    number = Number(OWN, 1, to_menu("main"), after_hours=to_menu("closed"))
    sales = Queue("sales", ("101",), fallback=to_menu("closed"))
    edges = cycles.graph([number], [sales], [main, menu("sub"), menu("closed")])
    assert edges[("menu", "main")] == [("menu", "sub"), ("queue", "sales"), ("number", OWN)]
    assert edges[("number", OWN)] == [("menu", "main"), ("menu", "closed")]
    assert edges[("queue", "sales")] == [("menu", "closed")]
    assert edges[("menu", "sub")] == edges[("menu", "closed")] == []


def test_menu_cycles_are_found_and_named() -> None:
    a, b = menu("a", to_menu("b")), menu("b", invalid=to_menu("c"))
    c = menu("c", timeout=to_menu("a"))
    with pytest.raises(ValidationError) as caught:
        cycles.check([], [], [a, b, c])
    assert caught.value.field == "routing"
    assert str(caught.value).endswith("menu a -> menu b -> menu c -> menu a")
    cycles.check([], [], [a, b, menu("c")])
    assert cycles.find_cycle(cycles.graph([], [], [menu("self", to_menu("self"))])) == (
        ("menu", "self"), ("menu", "self"))


def test_a_cycle_through_a_queue_and_an_own_number() -> None:
    number = Number(OWN, 1, to_menu("main"))
    main = menu("main", Destination("queue", "sales"))
    back = Queue("sales", ("101",), fallback=Destination("outside", OWN))
    found = cycles.find_cycle(cycles.graph([number], [back], [main]))
    assert found == (("menu", "main"), ("queue", "sales"), ("number", OWN), ("menu", "main"))
    elsewhere = Queue("sales", ("101",), fallback=Destination("outside", "+84912345678"))
    cycles.check([number], [elsewhere], [main])


def test_repeat_and_menus_shared_by_several_are_no_cycle() -> None:
    shared = menu("shared", Destination("repeat"))
    cycles.check([Number(OWN, 1, to_menu("x"))], [Queue("q", (), fallback=to_menu("shared"))],
                 [menu("x", to_menu("shared"), Destination("queue", "q")), shared])
    cycles.check([], [])  # numbers and queues alone, as before
