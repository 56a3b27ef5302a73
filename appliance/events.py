"""The events outbox, tailed: directory changes handed to the daemon's subscribers once.

Every directory change writes its event row in the same transaction as the change
(``store.journal.publish``). The daemon's ``OutboxTail`` reads rows with an id above its
cursor a few times a second, hands each to the subscribers of its kind, then saves the
cursor in the store, so a change made by the CLI (another process) or by a second box
reaches the running daemon within about a second, and a crash never loses one (after a
crash, the last batch may be handed over again).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select

from appliance.store import Store
from appliance.store.tables import event_cursors, events
from appliance.workers import Workers

log = logging.getLogger(__name__)

BATCH = 500


@dataclass(frozen=True)
class Event:
    """One directory change: its outbox id, time, kind (e.g. ``employee.dismissed``), payload."""

    id: int
    at: datetime
    kind: str
    payload: dict[str, Any]


Subscriber = Callable[[Event], Awaitable[None] | None]


class EventBus:
    """Subscribers by kind; ``"employee."`` matches every employee event, ``""`` all events."""

    def __init__(self) -> None:
        self._subscribers: list[tuple[str, Subscriber]] = []

    def subscribe(self, prefix: str, subscriber: Subscriber) -> None:
        """Call ``subscriber`` (plain or async) for each event whose kind starts with ``prefix``."""
        self._subscribers.append((prefix, subscriber))

    async def deliver(self, event: Event) -> None:
        """Hand ``event`` to each matching subscriber; one that fails does not stop the rest."""
        for prefix, subscriber in self._subscribers:
            if not event.kind.startswith(prefix):
                continue
            try:
                result = subscriber(event)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("subscriber %r failed on event %d %s",
                              subscriber, event.id, event.kind)


class OutboxTail:
    """Reads the outbox after a saved cursor and delivers each new event once."""

    def __init__(self, store: Store, bus: EventBus, consumer: str = "daemon") -> None:
        self.store = store
        self.bus = bus
        self.consumer = consumer
        self.cursor = 0
        self.workers = Workers("events", 1)  # its own thread: never queued behind other parts

    def start(self) -> int:
        """Load the saved cursor, or begin after the newest event; return the cursor."""
        with self.store.write() as conn:
            saved = conn.execute(select(event_cursors.c.last_id)
                                 .where(event_cursors.c.consumer == self.consumer)).scalar()
            if saved is None:
                saved = conn.execute(select(func.coalesce(func.max(events.c.id), 0))).scalar_one()
                conn.execute(insert(event_cursors).values(consumer=self.consumer, last_id=saved))
        self.cursor = int(saved)
        return self.cursor

    def fetch(self) -> list[Event]:
        """The next batch of events after the cursor."""
        with self.store.read() as conn:
            rows = conn.execute(select(events).where(events.c.id > self.cursor)
                                .order_by(events.c.id).limit(BATCH))
            return [Event(**row._asdict()) for row in rows]

    def save(self, last_id: int) -> None:
        """Persist the cursor once a batch has been delivered."""
        with self.store.write() as conn:
            conn.execute(event_cursors.update()
                         .where(event_cursors.c.consumer == self.consumer)
                         .values(last_id=last_id))
        self.cursor = last_id

    async def poll_once(self) -> int:
        """Deliver every pending event; return how many."""
        delivered = 0
        while True:
            batch = await self.workers.run(self.fetch)
            if not batch:
                return delivered
            for event in batch:
                await self.bus.deliver(event)
            await self.workers.run(self.save, batch[-1].id)
            delivered += len(batch)

    async def run(self, interval: float, stop: asyncio.Event) -> None:
        """Poll every ``interval`` seconds until ``stop`` is set; store errors are retried."""
        try:
            while not stop.is_set():
                try:
                    await self.poll_once()
                except Exception:
                    log.exception("reading the events outbox failed; retrying")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=interval)
        finally:
            self.workers.close()
