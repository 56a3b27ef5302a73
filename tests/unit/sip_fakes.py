"""Test doubles for the sans-I/O SIP layers: a fake clock with timers, a recording wire."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from appliance.sip.message import Request, Response
from appliance.sip.transaction import Peer


@dataclass
class FakeHandle:
    """A timer that can be cancelled."""

    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class FakeTimers:
    """Timers on a clock that moves only when ``advance`` is called."""

    now: float = 0.0
    _queue: list[tuple[float, int, Callable[[], None], FakeHandle]] = field(default_factory=list)
    _seq: itertools.count[int] = field(default_factory=itertools.count)

    def call_later(self, delay: float, callback: Callable[[], None]) -> FakeHandle:
        handle = FakeHandle()
        heapq.heappush(self._queue, (self.now + delay, next(self._seq), callback, handle))
        return handle

    def clock(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while self._queue and self._queue[0][0] <= end:
            when, _, callback, handle = heapq.heappop(self._queue)
            self.now = max(self.now, when)
            if not handle.cancelled:
                callback()
        self.now = end


@dataclass
class Wire:
    """Everything the layer sent, in order."""

    sent: list[tuple[Request | Response, Peer]] = field(default_factory=list)

    def __call__(self, message: Request | Response, peer: Peer) -> None:
        self.sent.append((message, peer))

    def statuses(self) -> list[int]:
        return [m.status for m, _ in self.sent if isinstance(m, Response)]

    def methods(self) -> list[str]:
        return [m.method for m, _ in self.sent if isinstance(m, Request)]
