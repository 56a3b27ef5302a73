"""The outbox tail: each event handed to matching subscribers once, cursor kept in the store."""

from __future__ import annotations

import asyncio
import threading

from appliance.directory import Directory
from appliance.events import Event, EventBus, OutboxTail
from appliance.store import Store


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_tail_starts_after_existing_events_and_delivers_new_ones(store: Store) -> None:
    directory = Directory(store)
    directory.add_extension("100")
    seen: list[Event] = []
    bus = EventBus()
    bus.subscribe("extension.", seen.append)
    tail = OutboxTail(store, bus)
    start = tail.start()
    assert start > 0
    assert run(tail.poll_once()) == 0
    directory.add_extension("101")
    employee = directory.add_employee("A")
    assert run(tail.poll_once()) == 2
    assert [(e.kind, e.payload["target"]) for e in seen] == [("extension.added", "101")]
    assert run(tail.poll_once()) == 0
    directory.dismiss(employee.id)
    run(tail.poll_once())
    assert len(seen) == 1


def test_cursor_survives_a_restart_so_nothing_is_lost_or_repeated(store: Store) -> None:
    directory = Directory(store)
    first: list[str] = []
    bus = EventBus()
    bus.subscribe("", lambda e: first.append(e.kind))
    tail = OutboxTail(store, bus, consumer="box-a")
    tail.start()
    directory.add_extension("101")
    run(tail.poll_once())
    directory.add_extension("102")  # written while "the daemon is down"
    again: list[str] = []
    bus2 = EventBus()
    bus2.subscribe("", lambda e: again.append(e.payload["target"]))
    tail2 = OutboxTail(store, bus2, consumer="box-a")
    tail2.start()
    run(tail2.poll_once())
    assert first == ["extension.added"] and again == ["102"]


def test_async_subscribers_and_a_failing_one_does_not_stop_the_rest(store: Store) -> None:
    got: list[int] = []

    async def slow(event: Event) -> None:
        await asyncio.sleep(0)
        got.append(event.id)

    def broken(event: Event) -> None:
        raise RuntimeError("boom")

    bus = EventBus()
    bus.subscribe("", broken)
    bus.subscribe("", slow)
    tail = OutboxTail(store, bus)
    tail.start()
    Directory(store).add_employee("A")
    assert run(tail.poll_once()) == 1
    assert len(got) == 1


def test_run_loop_delivers_and_stops(store: Store) -> None:
    async def scenario() -> list[str]:
        seen: list[str] = []
        delivered = asyncio.Event()
        bus = EventBus()

        def note(event: Event) -> None:
            seen.append(event.kind)
            delivered.set()

        bus.subscribe("employee.", note)
        tail = OutboxTail(store, bus)
        tail.start()
        stop = asyncio.Event()
        task = asyncio.create_task(tail.run(0.02, stop))
        await asyncio.to_thread(Directory(store).add_employee, "A")
        await asyncio.wait_for(delivered.wait(), timeout=10)
        stop.set()
        await asyncio.wait_for(task, timeout=10)
        return seen

    assert run(scenario()) == ["employee.added"]


def test_tail_is_not_queued_behind_a_busy_default_executor(store: Store) -> None:
    directory = Directory(store)
    tail = OutboxTail(store, EventBus())
    tail.start()
    directory.add_extension("102")
    release = threading.Event()

    async def scenario() -> int:
        loop = asyncio.get_running_loop()
        # Every thread of asyncio's shared pool busy, as in a boot storm of renders.
        blockers = [loop.run_in_executor(None, release.wait) for _ in range(64)]
        try:
            return await asyncio.wait_for(tail.poll_once(), timeout=10)
        finally:
            release.set()
            await asyncio.gather(*blockers)

    assert run(scenario()) == 1
