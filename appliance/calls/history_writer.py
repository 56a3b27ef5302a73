"""The daemon's call log: the call registry's observer, writing the call history and
publishing the live calls, and carrying out an admin's hang-up.

Why this design: the call registry (``routing/calls.py``) lives in the daemon's memory,
while ``appliance calls`` and the web page run in other processes (and a second box may
share a PostgreSQL store). So the daemon publishes what they need in the store, as it does
the connections' registration status (``connection_status``): a ``live_calls`` row per call
in progress, and a ``call_history`` row per ended call. Requests go the other way through
the events outbox, like every directory change: ``request_hangup`` writes a ``call.hangup``
event; ``on_hangup`` here finds the call by its ref and ends it through
``CallControl.end``, the same path a dismissal's hang-up takes (CANCEL and 480 while it
rings, a BYE to each end once answered; a B2BUA call ends both its legs itself).

The SIP hot path pays only a dict write per change (``changed``); one writer task lingers
``LINGER`` seconds so that a burst shares one transaction, builds the rows, and writes them
on a thread of its own (never queued behind the registrar's binding writes). A call that
starts and ends within one linger never gets a live row. A failed write is kept (history
rows up to ``MAX_PENDING``) and tried again after ``RETRY`` seconds. Every ``SWEEP``
seconds the live rows of calls the registry no longer holds (evicted) are dropped, and
history older than the retention setting is pruned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from appliance.calls import history
from appliance.directory import Extension, call_history, utcnow
from appliance.events import Event
from appliance.routing import bindings
from appliance.routing.callcontrol import CallControl
from appliance.routing.calls import Call
from appliance.store import Store
from appliance.workers import Workers

log = logging.getLogger(__name__)

LINGER = 0.25
RETRY = 5.0
SWEEP = 300.0
MAX_PENDING = 20_000
HUNG_UP = 'SIP;cause=480;text="Hung up by the administrator"'


class Extensions(Protocol):
    """The directory's extensions as the router caches them."""

    def get(self, number: str) -> Extension | None:
        """The extension, or None."""


class CallLog:
    """Observes ``control``'s registry; see the module docstring."""

    def __init__(self, store: Store, control: CallControl, extensions: Extensions,
                 clock: Callable[[], datetime] = utcnow) -> None:
        """Become the registry's observer; nothing is written until ``start``."""
        self.store = store
        self.control = control
        self.extensions = extensions
        self.clock = clock
        self.workers = Workers("call-history", 1)
        self._pending: dict[str, Call] = {}  # by ref, changed since the last write
        self._people: dict[str, dict[str, int]] = {}  # ref -> extension -> employee id
        self._history: list[dict[str, Any]] = []  # rows a failed write left
        self._live: set[str] = set()  # refs with a live row in the store
        self._gone: set[str] = set()  # refs whose live row is to be deleted
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        control.registry.observer = self

    # -- the registry's observer (on the SIP hot path) -----------------------------------------

    def changed(self, call: Call) -> None:
        """Note ``call`` for the next write, and who holds its extensions now."""
        people = self._people.setdefault(call.ref, {})
        for number in history.extensions_of(call):
            if number not in people:
                ext = self.extensions.get(number)
                if ext is not None and ext.employee_id is not None:
                    people[number] = ext.employee_id
        self._pending[call.ref] = call
        if not self._wake.is_set():
            self._wake.set()

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Forget live rows a previous run left, then write and sweep in the background."""
        await self.workers.run(call_history.clear_live, self.store)
        self._tasks = [asyncio.create_task(self._writer(), name="call-history"),
                       asyncio.create_task(self._sweeper(), name="call-history-sweep")]

    async def stop(self) -> None:
        """Write what is pending (the calls still live are left out), clear the live rows."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.flush()
        try:
            await self.workers.run(call_history.clear_live, self.store)
        except Exception:
            log.exception("calls: clearing the live calls failed")
        self.workers.close()

    async def _writer(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(LINGER)
            if not await self.flush():
                await asyncio.sleep(RETRY)
                self._wake.set()

    async def flush(self) -> bool:
        """Write the pending changes; False (kept for later) when the write failed."""
        self._wake.clear()
        pending, self._pending = self._pending, {}
        ended, live = [], {}
        for ref, call in pending.items():
            if call.state == "ended":
                ended.append(history.entry(call, self._people.pop(ref, {})))
                if ref in self._live:
                    self._gone.add(ref)
            else:
                live[ref] = history.live_row(call)
        rows, self._history = self._history + ended, []
        gone, self._gone = self._gone, set()
        if not rows and not live and not gone:
            return True
        try:
            await self.workers.run(call_history.write, self.store, rows, live, gone,
                                   self.clock())
        except Exception:
            log.exception("calls: writing %d history rows and %d live calls failed",
                          len(rows), len(live) + len(gone))
            self._history = (rows + self._history)[-MAX_PENDING:]
            self._gone |= gone
            for ref, call in pending.items():
                if call.state != "ended":
                    self._pending.setdefault(ref, call)
            return False
        self._live = (self._live | live.keys()) - gone
        return True

    async def _sweeper(self) -> None:
        while True:
            await self.sweep()
            await asyncio.sleep(SWEEP)

    async def sweep(self) -> int:
        """Drop what the registry forgot without an end (eviction); prune old history;
        how many history rows were pruned."""
        alive = {call.ref for call in self.control.registry.live()}
        stale = self._live - alive - self._pending.keys()
        if stale:
            self._gone |= stale
            self._wake.set()
        for ref in list(self._people):
            if ref not in alive and ref not in self._pending:
                del self._people[ref]
        try:
            days = await self.workers.run(call_history.retention_days, self.store)
            pruned = await self.workers.run(call_history.prune, self.store, self.clock(), days)
        except Exception:
            log.exception("calls: pruning the call history failed")
            return 0
        if pruned:
            log.info("calls: %d history rows older than %d days pruned", pruned, days)
        return pruned

    # -- an admin's hang-up ----------------------------------------------------------------

    async def on_hangup(self, event: Event) -> None:
        """``call.hangup``: end the live call the event names (both ends), audited."""
        ref = event.payload.get("ref")
        call = next((c for c in self.control.registry.live() if c.ref == ref), None)
        if call is None:
            log.info("calls: hang-up of %r asked, but no such call is live", ref)
            return
        answered = call.answered_at is not None
        self.control.end(call, HUNG_UP)
        caller, callee = history.caller_of(call), history.callee_of(call)
        log.info("sip: call %s between %s and %s hung up by an admin", call.call_id[:32],
                 caller, callee)
        try:
            await self.workers.run(bindings.audit, self.store, "sip.call_ended",
                                   callee if callee.isdigit() else call.ref, {
                                       "call_id": call.call_id[:128], "caller": caller,
                                       "callee": callee, "reason": "hung up",
                                       "answered": answered})
        except Exception:
            log.exception("calls: auditing a hang-up failed")
