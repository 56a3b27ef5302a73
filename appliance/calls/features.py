"""Feature codes an employee dials on the desk phone: ``*70`` starts a break, ``*71`` ends it
(presence, which queue groups skip members by). The box has no media for a confirmation
tone yet, so the phone is told by a final answer whose reason phrase says what was done
(phones show it): ``603 On Break`` / ``603 Back At Work``; a store failure is
``500 Presence Not Stored`` and nothing changed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from appliance.calls import legs
from appliance.directory import Extension
from appliance.directory.office import CallPlanDirectory
from appliance.sip.message import Request, make_response
from appliance.sip.transaction import ServerTransaction
from appliance.store import Store
from appliance.workers import Workers

log = logging.getLogger(__name__)

CODES = {"*70": "on_break", "*71": "working"}
DONE = {"on_break": "On Break", "working": "Back At Work"}

# Record ``state`` for employee ``employee_id`` on behalf of extension ``number``; then call
# back with whether it was stored.
SetPresence = Callable[[int, str, str, Callable[[bool], None]], None]


def dialled_code(user: str) -> str:
    """A dialled user part with ``*`` read back where phones send it escaped (``%2A``)."""
    return user.replace("%2A", "*").replace("%2a", "*")


class FeatureCodes:
    """Answers the INVITEs that dial a feature code; see the module docstring."""

    def __init__(self, set_presence: SetPresence) -> None:
        self.set_presence = set_presence

    def handle(self, txn: ServerTransaction, request: Request, caller: Extension) -> bool:
        """True when ``request`` dials a feature code (it is answered here)."""
        dialled = dialled_code(request.uri.user or "")
        state = CODES.get(dialled)
        if state is None:
            return False
        tag = legs.token()
        if caller.employee_id is None:  # an extension freed under the call
            txn.respond(make_response(request, 403, "Not Assigned", to_tag=tag))
            return True
        txn.respond(make_response(request, 100))

        def done(stored: bool) -> None:
            if txn.final:
                return
            if stored:
                log.info("sip: extension %s dialled %s: presence %s", caller.number,
                         dialled, state)
                txn.respond(make_response(request, 603, DONE[state], to_tag=tag))
            else:
                txn.respond(make_response(request, 500, "Presence Not Stored", to_tag=tag))

        self.set_presence(caller.employee_id, state, caller.number, done)
        return True


class StorePresence:
    """``SetPresence`` over the store, written on ``workers`` (audited as the extension)."""

    def __init__(self, store: Store, workers: Workers) -> None:
        self.store, self.workers = store, workers
        self._tasks: set[asyncio.Task[None]] = set()

    def __call__(self, employee_id: int, state: str, number: str,
                 then: Callable[[bool], None]) -> None:
        task = asyncio.ensure_future(self._write(employee_id, state, number, then))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self, employee_id: int, state: str, number: str,
                     then: Callable[[bool], None]) -> None:
        directory = CallPlanDirectory(self.store, actor=f"extension {number}")
        try:
            await self.workers.run(directory.set_presence, employee_id, state)
        except Exception:
            log.exception("sip: presence of employee %d not stored", employee_id)
            then(False)
            return
        then(True)
