"""What a caller dialled after a greeting or in an IVR menu, decided digit by digit.

Digits are collected against one prefix tree of extensions (1-4 digits) and menu keys (one
of ``0``-``9`` or ``*``; ``#`` is never a key); when the same string is both, the extension
wins the tie. ``feed`` takes everything dialled so far in the entry: an entry that is not
the start of a longer one resolves at once; an entry that is also the start of a longer one
is ambiguous, so the caller waits the inter-digit timeout (``Pending(wait=True)``); a mere
prefix also waits the timeout (``Pending(wait=False)``); anything else, including a
character other than ``0``-``9``, ``*`` and ``#``, is invalid at once. ``#`` ends the entry:
what came before it resolves if it is an entry, else it is invalid (an empty entry too).
``timeout`` gives the exact entry dialled so far, else invalid.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

END = "#"

_EXTENSION = re.compile(r"[0-9]{1,4}")
_KEY = re.compile(r"[0-9*]")
_DIALLED = re.compile(r"[0-9*]*")


@dataclass(frozen=True)
class Choice:
    """An entry the caller can dial: an extension number or a menu key (``1``, ``*``)."""

    kind: Literal["extension", "key"]
    value: str


@dataclass(frozen=True)
class Resolved:
    """The caller chose ``choice``; stop collecting."""

    choice: Choice


@dataclass(frozen=True)
class Pending:
    """More digits could still make an entry; arm the inter-digit timeout, then ``timeout``.

    ``wait`` is True when what was dialled is itself an entry (ambiguous), False when it is
    only the start of one."""

    wait: bool


@dataclass(frozen=True)
class Invalid:
    """Nothing the caller can dial matches ``digits`` (the entry without any ``#``)."""

    digits: str


Result = Resolved | Pending | Invalid


class DigitTree:
    """The extensions and menu keys of one prompt, as a prefix tree; an extension wins a tie."""

    def __init__(self, extensions: Iterable[str] = (), keys: Iterable[str] = ()) -> None:
        """Build once from 1-4 digit ``extensions`` and one-character ``keys`` (0-9, ``*``)."""
        entries: dict[str, Choice] = {}
        for key in keys:
            if not _KEY.fullmatch(key):
                raise ValueError(f"menu key: one of 0-9 or *, got {key!r}")
            entries[key] = Choice("key", key)
        for number in extensions:
            if not _EXTENSION.fullmatch(number):
                raise ValueError(f"extension: 1 to 4 digits, got {number!r}")
            entries[number] = Choice("extension", number)
        self._entries = entries
        # Every proper prefix, "" included: before the first digit, any entry may follow.
        self._prefixes = frozenset(e[:n] for e in entries for n in range(len(e)))

    @property
    def empty(self) -> bool:
        """Whether there is nothing to dial."""
        return not self._entries

    def feed(self, digits: str) -> Result:
        """Decide on everything dialled so far in this entry; the first ``#`` ends it."""
        if END in digits:
            entry = digits[: digits.index(END)]
            return self._exact(entry)
        if not _DIALLED.fullmatch(digits):
            return Invalid(digits)
        choice = self._entries.get(digits)
        if digits in self._prefixes:
            return Pending(wait=choice is not None)
        if choice is not None:
            return Resolved(choice)
        return Invalid(digits)

    def timeout(self, digits: str) -> Resolved | Invalid:
        """The inter-digit timeout ran out after ``digits``: the exact entry, else invalid."""
        if END in digits:
            digits = digits[: digits.index(END)]
        return self._exact(digits)

    def _exact(self, digits: str) -> Resolved | Invalid:
        choice = self._entries.get(digits)
        return Invalid(digits) if choice is None else Resolved(choice)
