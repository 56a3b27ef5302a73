"""Retired credentials as the router sees them: an in-memory copy, kept fresh by events.

Loaded at start for the box's realm and the grace period (``sip.retired_grace``); each
``extension.*`` event reloads the extension it names, and the housekeeping sweep forgets
what is past the grace period, in memory and in the store. Lookups never touch the store,
so a flood of failed REGISTERs costs no database work.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from appliance.directory import credentials, utcnow
from appliance.directory.credentials import RetiredCredential
from appliance.store import Store


class RetiredCache:
    """Retired digest HA1s by extension number, newest first, within the grace period."""

    def __init__(self, store: Store, realm: str, grace: float,
                 clock: Callable[[], datetime] = utcnow) -> None:
        """An empty cache; call ``reload`` (in a thread) to fill it."""
        self.store = store
        self.realm = realm
        self.grace = timedelta(seconds=grace)
        self.clock = clock
        self.by_number: dict[str, list[RetiredCredential]] = {}

    def reload(self) -> None:
        """Publish the realm, forget expired credentials, read the rest (all extensions)."""
        credentials.publish_realm(self.store, self.realm)
        self.by_number = credentials.load(self.store, self.realm, self.clock() - self.grace)

    def refresh(self, number: str) -> None:
        """Re-read one extension's retired credentials (after a password change)."""
        found = credentials.load(self.store, self.realm, self.clock() - self.grace, number)
        if found.get(number):
            self.by_number[number] = found[number]
        else:
            self.by_number.pop(number, None)

    def sweep(self) -> int:
        """Forget what is past the grace period, here and in the store; how many rows."""
        cutoff = self.clock() - self.grace
        for number in list(self.by_number):
            kept = [c for c in self.by_number[number] if c.retired_at > cutoff]
            if kept:
                self.by_number[number] = kept
            else:
                del self.by_number[number]
        return credentials.purge(self.store, cutoff)

    def __call__(self, username: str) -> list[dict[str, str]]:
        """The HA1s (by algorithm) of ``username``'s retired passwords, newest first."""
        found = self.by_number.get(username)
        if not found:
            return []
        cutoff = self.clock() - self.grace
        return [c.ha1 for c in found if c.retired_at > cutoff]
