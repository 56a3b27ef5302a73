"""The call plan kept in memory for the call engine: callplan's ``Routing`` (connections,
office numbers, queues, hours, extensions, presence, contacts) read whole from the store
(``CallPlanDirectory.routing``) at start and again after each event that changes it, so a
call never waits on the store and a change made in the CLI or on the web page counts for
the next call (within the events tail interval)."""

from __future__ import annotations

import logging

from appliance.callplan.inbound import Routing
from appliance.directory.office import CallPlanDirectory
from appliance.events import Event
from appliance.store import Store
from appliance.workers import Workers

log = logging.getLogger(__name__)

# Event kinds (prefixes) after which the plan is read again.
CHANGES = ("connection.", "number.", "queue.", "menu.", "hours.", "holiday.", "contact.",
           "presence.", "extension.", "employee.", "voicemail.updated")


class PlanCache:
    """The latest ``Routing`` read from the store; empty until ``reload`` ran."""

    def __init__(self, store: Store, workers: Workers) -> None:
        """Read ``store`` on ``workers`` (the SIP part's store threads)."""
        self.directory = CallPlanDirectory(store, actor="sip")
        self.workers = workers
        self.current = Routing()

    def __call__(self) -> Routing:
        """The plan as last read."""
        return self.current

    async def reload(self) -> None:
        """Read the plan again; on a failure the previous one stays (and it is logged)."""
        try:
            self.current = await self.workers.run(self.directory.routing)
        except Exception:
            log.exception("calls: reading the call plan failed; the previous one stays")

    async def on_event(self, event: Event) -> None:
        """A change to the plan or to an extension: read it again."""
        await self.reload()
