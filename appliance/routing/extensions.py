"""The extensions as the router sees them: an in-memory copy of the directory, kept fresh.

Loaded whole at start; each ``extension.*`` or ``employee.*`` event reloads the extension
it names, so a password change or a dismissal reaches the router within the events tail
interval, and a full reload runs every few minutes as a safety net. Lookups never touch the
store, so an unknown-user flood costs no database work.
"""

from __future__ import annotations

from appliance.directory import Directory, Extension
from appliance.errors import NotFoundError


class ExtensionCache:
    """Extensions by number and by memorable name."""

    def __init__(self, directory: Directory) -> None:
        """An empty cache over ``directory``; call ``reload`` (in a thread) to fill it."""
        self.directory = directory
        self.numbers: dict[str, Extension] = {}
        self.names: dict[str, str] = {}

    def reload(self) -> None:
        """Read every extension from the store."""
        found = self.directory.list_extensions()
        self.numbers = {ext.number: ext for ext in found}
        self.names = {ext.name.lower(): ext.number for ext in found if ext.name}

    def refresh(self, number: str) -> Extension | None:
        """Re-read one extension (None if it no longer exists)."""
        try:
            ext: Extension | None = self.directory.get_extension(number)
        except NotFoundError:
            ext = None
        old = self.numbers.pop(number, None)
        if old is not None and old.name:
            self.names.pop(old.name.lower(), None)
        if ext is not None:
            self.numbers[number] = ext
            if ext.name:
                self.names[ext.name.lower()] = number
        return ext

    def get(self, number: str) -> Extension | None:
        """The extension, or None."""
        return self.numbers.get(number)

    def by_name(self, name: str) -> Extension | None:
        """The extension with that memorable name (case-insensitive), or None."""
        number = self.names.get(name.lower())
        return self.numbers.get(number) if number else None
