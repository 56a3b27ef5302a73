"""The SIP guard: what is dropped or refused before any routing work (DESIGN.md §4).

Per source address: a flood limit (token bucket), and a ban after repeated failed digest
authentications (stale nonces never count). Requests from known scanner User-Agents are
dropped without an answer; oversize messages are dropped; long Request-URIs get 414. Every
per-source table is bounded: the least recently seen source is forgotten first.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Generic, TypeVar

from appliance.config import SipConfig
from appliance.sip.message import MAX_MESSAGE, Request

log = logging.getLogger(__name__)

V = TypeVar("V")


class BoundedTable(Generic[V]):
    """A mapping that forgets its least recently used keys beyond ``size``."""

    def __init__(self, size: int) -> None:
        """A table holding at most ``size`` keys."""
        self.size = size
        self._data: OrderedDict[str, V] = OrderedDict()

    def get(self, key: str) -> V | None:
        """The value, marking the key as recently used; None if absent."""
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def put(self, key: str, value: V) -> None:
        """Set the value; forget the oldest keys if the table is full."""
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.size:
            self._data.popitem(last=False)

    def pop(self, key: str) -> None:
        """Forget a key."""
        self._data.pop(key, None)

    def __len__(self) -> int:
        """How many keys are held."""
        return len(self._data)


class Guard:
    """Decides, per source address, whether a message gets any further."""

    def __init__(self, cfg: SipConfig, clock: Callable[[], float] = time.monotonic) -> None:
        """Limits from ``cfg``; ``clock`` in seconds (monotonic)."""
        self.cfg = cfg
        self.clock = clock
        self.failures: BoundedTable[deque[float]] = BoundedTable(cfg.max_sources)
        self.bans: BoundedTable[float] = BoundedTable(cfg.max_sources)
        self.buckets: BoundedTable[list[float]] = BoundedTable(cfg.max_sources)
        self.dropped = 0

    def banned(self, source: str) -> bool:
        """True while ``source`` is banned."""
        until = self.bans.get(source)
        if until is None:
            return False
        if self.clock() >= until:
            self.bans.pop(source)
            return False
        return True

    def admit(self, data: bytes, source: str) -> bool:
        """Whether raw bytes from ``source`` may be parsed at all (size, ban, flood)."""
        if len(data) > MAX_MESSAGE or self.banned(source) or not self._within_rate(source):
            self.dropped += 1
            return False
        return True

    def _within_rate(self, source: str) -> bool:
        rate = self.cfg.flood_rate
        if rate <= 0:
            return True
        now, burst = self.clock(), 2 * rate
        bucket = self.buckets.get(source)
        if bucket is None:
            bucket = [burst, now]
            self.buckets.put(source, bucket)
        bucket[0] = min(burst, bucket[0] + (now - bucket[1]) * rate)
        bucket[1] = now
        if bucket[0] < 1:
            return False
        bucket[0] -= 1
        return True

    def screen(self, request: Request) -> int | None:
        """0 to drop silently (scanner), a status to refuse with (414), or None to go on."""
        agent = (request.headers.get("user-agent") or "").lower()
        if agent and any(name in agent for name in self.cfg.scanner_agents):
            self.dropped += 1
            return 0
        if len(str(request.uri)) > self.cfg.max_uri:
            return 414
        return None

    def auth_failed(self, source: str) -> None:
        """Count a failed authentication; ban the source at the limit."""
        limit = self.cfg.ban_failures
        if limit <= 0:
            return
        now = self.clock()
        times = self.failures.get(source)
        if times is None:
            times = deque(maxlen=limit)
            self.failures.put(source, times)
        times.append(now)
        if len(times) >= limit and now - times[0] <= self.cfg.ban_window:
            self.bans.put(source, now + self.cfg.ban_seconds)
            self.failures.pop(source)
            log.warning("sip guard: %s banned for %.0f s after %d failed authentications",
                        source, self.cfg.ban_seconds, limit)
