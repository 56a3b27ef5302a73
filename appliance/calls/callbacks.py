"""Missed-call callbacks carried out (the decisions are ``callplan/callbacks.py``, the jobs
``directory/callbacks.py``): an outside call nobody answered becomes a job when its office
number has a callback rule; a new call from that customer drops their pending job; every
few seconds the due jobs are taken and dialled as ``CallbackCall``s, a few at a time, and
each attempt's end sets the job's next state. Jobs live in the store, so they survive a
restart (one that was dialling is due again at start).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from appliance.callplan import callbacks as decide
from appliance.callplan import numbers
from appliance.callplan.callbacks import Job, Missed
from appliance.calls.callback_call import CallbackCall
from appliance.directory.callbacks import CallbackDirectory
from appliance.store import Store
from appliance.workers import Workers

if TYPE_CHECKING:
    from appliance.calls.b2bua import B2BUA
    from appliance.calls.call import OutsideCall

log = logging.getLogger(__name__)

POLL = 5.0  # seconds between looks for due jobs
AT_ONCE = 4  # callback calls at the same time, at most


class Callbacks:
    """The callback engine of one daemon; see the module docstring."""

    def __init__(self, store: Store, workers: Workers, b2bua: B2BUA, *,
                 poll: float = POLL) -> None:
        self.directory = CallbackDirectory(store, actor="sip")
        self.workers = workers
        self.b2bua = b2bua
        self.poll = poll
        self.running: dict[int, CallbackCall] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.Task[None] | None = None
        b2bua.on_missed = self.missed
        b2bua.on_caller = self.caller

    async def start(self) -> None:
        """Jobs a stop left dialling are due again; then the due jobs are looked for."""
        recovered = await self.workers.run(self.directory.recover)
        if recovered:
            log.info("callbacks: %d job(s) interrupted by a restart are due again", recovered)
        self._loop = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop looking; what is being written finishes."""
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- from the B2BUA -----------------------------------------------------------------------

    def missed(self, call: OutsideCall) -> None:
        """An outside call ended unanswered."""
        if call.did is None:
            return
        request = call.server.request
        self._spawn(self._missed(Missed(request.from_.uri.user or "", call.did,
                                        call.missed_by, request.call_id)))

    def caller(self, from_user: str) -> None:
        """A new outside call from ``from_user``: their pending job is dropped."""
        customer = decide.callable_number(from_user)
        if customer is not None:
            self._spawn(self._dropped(customer, datetime.now(UTC)))

    async def _missed(self, missed: Missed) -> None:
        rule = await self.workers.run(self.directory.rule, missed.did)
        new = decide.job_for(missed, rule, datetime.now(UTC))
        if new is None:
            return
        job = await self.workers.run(self.directory.add_job, new)
        log.info("callbacks: job %d: call %s back about %s at %s (%s)", job.id, job.customer,
                 job.did, job.due_at.isoformat(timespec="seconds"), job.target)

    async def _dropped(self, customer: str, at: datetime) -> None:
        count = await self.workers.run(self.directory.drop_for_customer, customer,
                                       "the customer called again", at)
        if count:
            log.info("callbacks: %s called again: %d job(s) dropped", customer, count)

    # -- carrying jobs out --------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.poll)
            try:
                await self.due()
            except Exception:
                log.exception("callbacks: looking for due jobs failed; trying again")

    async def due(self) -> None:
        """Take the jobs due now (as many as may run) and dial them."""
        room = AT_ONCE - len(self.running)
        if room <= 0 or self.b2bua.layer is None:
            return
        for job in await self.workers.run(self.directory.take_due, room):
            self._dial(job)

    def _dial(self, job: Job) -> None:
        b2bua = self.b2bua
        routing = b2bua.routing()
        number = routing.numbers.get(job.did)
        conn = routing.connections.get(number.connection_id) if number is not None else None
        if number is None or conn is None or not b2bua.addresses(conn):
            self._finished(job, False, f"{job.did}: no office number or no server to call")
            return
        if conn.max_calls and b2bua.in_use().get(conn.id, 0) >= conn.max_calls:
            self._finished(job, False, f"{conn.name} is at its call limit")
            return
        extensions = decide.who_to_ring(job.target, routing, b2bua.call_state())
        customer = numbers.write_e164(job.customer, conn.number_format)
        presented = numbers.write_e164(job.did, conn.number_format)
        call = CallbackCall(b2bua, conn, customer, presented,
                            lambda reached, why: self._finished(job, reached, why))
        if not extensions or not call.start(extensions):
            self._finished(job, False, f"nobody of {job.target} can be rung")
            return
        self.running[job.id] = call
        log.info("callbacks: job %d attempt %d/%d: ringing %s for %s", job.id, job.attempts,
                 job.max_attempts, ", ".join(extensions), job.customer)

    def _finished(self, job: Job, reached: bool, why: str) -> None:
        self.running.pop(job.id, None)
        state, due_at = decide.after_attempt(job, reached, datetime.now(UTC))
        log.info("callbacks: job %d attempt %d: %s -> %s", job.id, job.attempts, why, state)
        self._spawn(self.workers.run(self.directory.finish, job.id, state, due_at, why))

    def _spawn(self, work: Awaitable[object]) -> None:
        async def run() -> None:
            try:
                await work
            except Exception:
                log.exception("callbacks: a store write failed")
        task = asyncio.ensure_future(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
