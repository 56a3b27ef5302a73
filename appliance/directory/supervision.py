"""Supervisor listen-ins in the audit log: who listened in on which extension, and when (the
call engine's ``calls/supervise.py`` writes it before the supervisor hears anything)."""

from __future__ import annotations

from appliance.directory.core import DirectoryBase
from appliance.directory.rules import extension_number
from appliance.store import journal

LISTENED = "supervisor.listened"


class SupervisionDirectory(DirectoryBase):
    """Audit entries of listen-ins, acting as the supervisor's extension (``actor``)."""

    def listened(self, supervised: str) -> None:
        """Audit that the actor listened in on extension ``supervised``."""
        number = extension_number(supervised, "extension")
        with self.store.write() as db:
            journal.record(db, self.actor, LISTENED, f"extension {number}",
                           {"extension": number}, self.clock())
