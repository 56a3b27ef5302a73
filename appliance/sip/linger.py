"""``Lingering``: what finished transactions leave behind for a while, in bulk.

A finished transaction is kept only to absorb or answer retransmissions for up to 64*T1
(RFC 3261 §17, RFC 6026). One object and one timer each would make that window cost most
of the daemon's memory at a few hundred calls a second, so the layer keeps small entries
here instead: grouped in buckets opened for ``width`` seconds each, a bucket expiring
``ttl`` seconds after it closes (two timers per bucket, none per entry), and bounded by
``cap`` (under a flood the oldest go first).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Absorb:
    """The entry of something finished that only swallows what repeats (no answer)."""


ABSORB = Absorb()


class _Handle(Protocol):
    def cancel(self) -> None:
        """Stop the timer."""
        ...


class _Timers(Protocol):
    def call_later(self, delay: float, callback: Callable[[], None]) -> _Handle:
        """Run ``callback`` after ``delay`` seconds."""
        ...


class Lingering(Generic[K, V]):
    """Entries kept at least ``ttl`` seconds (at most ``width`` more), at most ``cap``."""

    def __init__(self, timers: _Timers, ttl: float, width: float, cap: int) -> None:
        """Time with ``timers``; keep each entry ``ttl`` seconds, ``cap`` entries at most."""
        self.timers, self.ttl, self.width, self.cap = timers, ttl, width, cap
        self.items: dict[K, V] = {}
        self._bucket: list[K] | None = None

    def __len__(self) -> int:
        return len(self.items)

    def get(self, key: K) -> V | None:
        """The entry of ``key``, or None."""
        return self.items.get(key)

    def put(self, key: K, value: V) -> None:
        """Keep ``value`` under ``key`` from now on."""
        items = self.items
        items.pop(key, None)
        items[key] = value
        while len(items) > self.cap:
            del items[next(iter(items))]
        if self._bucket is None:
            bucket: list[K] = []
            self._bucket = bucket
            self.timers.call_later(self.width, self._close)
            self.timers.call_later(self.width + self.ttl, lambda: self._expire(bucket))
        self._bucket.append(key)

    def _close(self) -> None:
        self._bucket = None

    def _expire(self, bucket: list[K]) -> None:
        items = self.items
        for key in bucket:
            items.pop(key, None)

