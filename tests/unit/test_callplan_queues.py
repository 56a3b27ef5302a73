"""Queue groups: who rings (presence, on a call, freed extensions) and in which order by
strategy; and routing cycles refused."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from appliance.callplan import cycles, queues
from appliance.callplan.model import (
    CallState,
    Destination,
    DirectoryView,
    ExtensionView,
    LineActivity,
    Number,
    Queue,
)
from appliance.callplan.queues import Round
from appliance.errors import ValidationError

DIRECTORY = DirectoryView({
    "101": ExtensionView("101", 1, True),
    "102": ExtensionView("102", 2, True),
    "103": ExtensionView("103", 3, True),
    "104": ExtensionView("104", None, False),  # freed
    "105": ExtensionView("105", 5, False),  # held by a dismissed employee (never, but safe)
})
SALES = Queue("sales", ("101", "102", "103", "104", "105"), "in_order", ring_time=15,
              timeout=60)


def members(queue: Queue, presence: dict[int, str] | None = None,
            state: CallState | None = None) -> list[tuple[tuple[str, ...], int]]:
    rounds = queues.schedule(queue, DIRECTORY, presence or {},  # type: ignore[arg-type]
                             state or CallState())
    return [(r.extensions, r.seconds) for r in rounds]


def test_in_order_rings_one_by_one_round_again_until_the_timeout() -> None:
    assert members(SALES) == [(("101",), 15), (("102",), 15), (("103",), 15), (("101",), 15)]
    short = replace(SALES, timeout=40)
    assert members(short) == [(("101",), 15), (("102",), 15), (("103",), 10)]


def test_freed_and_dismissed_extensions_never_ring() -> None:
    everyone = replace(SALES, strategy="ring_all")
    assert members(everyone) == [(("101", "102", "103"), 60)]


def test_members_on_break_or_off_are_skipped_no_presence_is_working() -> None:
    assert members(replace(SALES, strategy="ring_all"), {1: "on_break", 2: "off"}) == [
        (("103",), 60)]
    assert members(replace(SALES, strategy="ring_all"), {1: "working"})[0][0] == (
        "101", "102", "103")


def test_members_on_a_call_are_skipped_unless_the_group_rings_them() -> None:
    busy = CallState(lines={"102": LineActivity(on_call=True)})
    assert [m for m, _ in members(SALES, state=busy)][:2] == [("101",), ("103",)]
    ring_busy = replace(SALES, ring_busy=True)
    assert [m for m, _ in members(ring_busy, state=busy)][:3] == [("101",), ("102",), ("103",)]


def test_nobody_to_ring_gives_no_rounds() -> None:
    assert members(SALES, {1: "off", 2: "off", 3: "on_break"}) == []
    assert members(replace(SALES, timeout=0)) == []


def test_round_robin_starts_after_the_member_rung_last() -> None:
    rr = replace(SALES, strategy="round_robin", timeout=45)
    assert members(rr) == [(("101",), 15), (("102",), 15), (("103",), 15)]
    after_101 = CallState(pointers={"sales": "101"})
    assert [m for m, _ in members(rr, state=after_101)] == [("102",), ("103",), ("101",)]
    after_103 = CallState(pointers={"sales": "103"})
    assert [m for m, _ in members(rr, state=after_103)] == [("101",), ("102",), ("103",)]
    # The pointer on a member who may not ring now still places the start.
    after_102_off = CallState(pointers={"sales": "102"})
    assert [m for m, _ in members(rr, {2: "off"}, after_102_off)][:2] == [("103",), ("101",)]
    assert queues.next_pointer(rr, "102") == "102"
    assert queues.next_pointer(SALES, "102") is None
    assert queues.next_pointer(rr, "999") is None


def test_least_recent_rings_the_longest_idle_first() -> None:
    t = datetime(2027, 3, 1, 9, tzinfo=UTC)
    state = CallState(lines={"101": LineActivity(last_call_at=t.replace(hour=10)),
                             "102": LineActivity(last_call_at=t),
                             "103": LineActivity()})  # never called: first
    lr = replace(SALES, strategy="least_recent", timeout=45)
    assert [m for m, _ in members(lr, state=state)] == [("103",), ("102",), ("101",)]


def test_fewest_calls_first_ties_by_the_member_list() -> None:
    state = CallState(lines={"101": LineActivity(calls=5), "102": LineActivity(calls=1),
                             "103": LineActivity(calls=1)})
    fc = replace(SALES, strategy="fewest_calls", timeout=45)
    assert [m for m, _ in members(fc, state=state)] == [("102",), ("103",), ("101",)]


def test_a_round_is_plain_data() -> None:
    assert Round(("101",), 15) == Round(("101",), 15)


# -- cycles ----------------------------------------------------------------------------------

def test_a_number_queue_fallback_number_cycle_is_refused() -> None:
    a = Number("+842838000001", 1, Destination("queue", "sales"))
    b = Number("+842838000002", 1, Destination("queue", "support"))
    sales = Queue("sales", ("101",), fallback=Destination("outside", "+842838000002"))
    support = Queue("support", ("102",), fallback=Destination("outside", "+842838000001"))
    with pytest.raises(ValidationError, match="cycle") as caught:
        cycles.check([a, b], [sales, support])
    assert caught.value.field == "routing"
    assert "queue sales" in str(caught.value) and "number +842838000002" in str(caught.value)
    cycles.check([a, b], [sales, replace(support, fallback=Destination("extension", "101"))])


def test_queue_fallback_to_itself_and_after_hours_edges() -> None:
    loop = Queue("q", ("101",), fallback=Destination("queue", "q"))
    assert cycles.find_cycle(cycles.graph([], [loop])) == (("queue", "q"), ("queue", "q"))
    me = Number("+842838000001", 1, Destination("hangup"),
                after_hours=Destination("outside", "+842838000001"))
    assert cycles.find_cycle(cycles.graph([me], [])) is not None
    outside = Number("+842838000001", 1, Destination("outside", "+84912345678"))
    assert cycles.find_cycle(cycles.graph([outside], [])) is None


def test_a_diamond_is_not_a_cycle() -> None:
    a = Number("+842838000001", 1, Destination("queue", "x"),
               after_hours=Destination("queue", "y"))
    x = Queue("x", ("101",), fallback=Destination("queue", "z"))
    y = Queue("y", ("101",), fallback=Destination("queue", "z"))
    z = Queue("z", ("101",))
    cycles.check([a], [x, y, z])
