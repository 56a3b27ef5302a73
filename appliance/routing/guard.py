"""The SIP guard: what is dropped or refused before any routing work (DESIGN.md §4).

Per source address: a flood limit (token bucket), and bans after failed digest
authentications, counted per (source, username): a source is banned when one username
fails ``ban_failures`` times, or ``ban_usernames`` distinct usernames fail, within
``ban_window`` seconds. Stale nonces never count, and neither does a stale device (a
response made with a credential retired lately): one old softphone behind an office's NAT
address never locks the other phones out. Bans can be listed, restored and lifted.
Requests from known scanner User-Agents are dropped without an answer; oversize messages are
dropped; long Request-URIs get 414. Every per-source table is bounded: the least recently
seen source is forgotten first. Times are wall-clock seconds (bans are published), passed
in or read from the injected clock.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from appliance.config import SipConfig
from appliance.sip.message import MAX_MESSAGE, Request

log = logging.getLogger(__name__)

V = TypeVar("V")
MAX_USERNAME = 64  # characters of a username kept as a counting key
UNTRACKED_USERNAMES = 64  # usernames kept per source when ban_usernames is off
STALE_LOG_SECONDS = 3600.0  # a stale device is logged once an hour per (source, username)


@dataclass(frozen=True)
class Ban:
    """A banned source: since and until (wall-clock seconds), why, and what it had done."""

    source: str
    since: float
    until: float
    reason: str  # "failures" (one username) | "usernames" (many usernames)
    failures: int
    usernames: int


def ban_reason(history: Mapping[str, Sequence[float]], now: float,
               cfg: SipConfig) -> str | None:
    """Whether a source's failure times by username, at ``now``, earn it a ban: "failures",
    "usernames" or None. Only failures within ``cfg.ban_window`` count."""
    recent = [sum(1 for t in times if now - t <= cfg.ban_window) for times in history.values()]
    if cfg.ban_failures > 0 and any(n >= cfg.ban_failures for n in recent):
        return "failures"
    if cfg.ban_usernames > 0 and sum(1 for n in recent if n) >= cfg.ban_usernames:
        return "usernames"
    return None


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

    def pop(self, key: str) -> V | None:
        """Forget a key; its value, or None."""
        return self._data.pop(key, None)

    def values(self) -> list[V]:
        """Every value, least recently used first."""
        return list(self._data.values())

    def __len__(self) -> int:
        """How many keys are held."""
        return len(self._data)


class Guard:
    """Decides, per source address, whether a message gets any further."""

    def __init__(self, cfg: SipConfig, clock: Callable[[], float] = time.time,
                 on_ban: Callable[[Ban], None] = lambda ban: None) -> None:
        """Limits from ``cfg``; ``clock`` in wall-clock seconds; ``on_ban`` hears each new
        ban (to publish it)."""
        self.cfg = cfg
        self.clock = clock
        self.on_ban = on_ban
        # source -> username -> failure times (each deque holds at most ban_failures)
        self.failures: BoundedTable[OrderedDict[str, deque[float]]] = BoundedTable(
            cfg.max_sources)
        self.bans: BoundedTable[Ban] = BoundedTable(cfg.max_sources)
        self.buckets: BoundedTable[list[float]] = BoundedTable(cfg.max_sources)
        self.stale_seen: BoundedTable[float] = BoundedTable(cfg.max_sources)
        self.dropped = 0

    def banned(self, source: str, now: float | None = None) -> bool:
        """True while ``source`` is banned."""
        ban = self.bans.get(source)
        if ban is None:
            return False
        if (self.clock() if now is None else now) >= ban.until:
            self.bans.pop(source)
            return False
        return True

    def admit(self, data: bytes, source: str) -> bool:
        """Whether raw bytes from ``source`` may be parsed at all (size, ban, flood)."""
        now = self.clock()
        if len(data) > MAX_MESSAGE or self.banned(source, now) \
                or not self._within_rate(source, now):
            self.dropped += 1
            return False
        return True

    def _within_rate(self, source: str, now: float) -> bool:
        rate = self.cfg.flood_rate
        if rate <= 0:
            return True
        burst = 2 * rate
        bucket = self.buckets.get(source)
        if bucket is None:
            bucket = [burst, now]
            self.buckets.put(source, bucket)
        bucket[0] = min(burst, bucket[0] + max(0.0, now - bucket[1]) * rate)
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

    def auth_failed(self, source: str, username: str = "",
                    now: float | None = None) -> Ban | None:
        """Count a failed authentication of ``username`` from ``source``; the new ban if
        this one earns the source a ban."""
        cfg = self.cfg
        if cfg.ban_failures <= 0 and cfg.ban_usernames <= 0:
            return None
        now = self.clock() if now is None else now
        history = self.failures.get(source)
        if history is None:
            history = OrderedDict()
            self.failures.put(source, history)
        for user in [u for u, times in history.items() if now - times[-1] > cfg.ban_window]:
            del history[user]
        key = username[:MAX_USERNAME]
        times = history.get(key)
        if times is None:
            times = history[key] = deque(maxlen=max(cfg.ban_failures, 1))
        history.move_to_end(key)
        times.append(now)
        while len(history) > (cfg.ban_usernames or UNTRACKED_USERNAMES):
            history.popitem(last=False)
        reason = ban_reason(history, now, cfg)
        if reason is None:
            return None
        ban = Ban(source, now, now + cfg.ban_seconds, reason,
                  sum(len(t) for t in history.values()), len(history))
        self.bans.put(source, ban)
        self.failures.pop(source)
        log.warning("sip guard: %s banned for %.0f s after %d failed authentications "
                    "(%d usernames)", source, cfg.ban_seconds, ban.failures, ban.usernames)
        self.on_ban(ban)
        return ban

    def stale_device(self, source: str, username: str, now: float | None = None) -> bool:
        """Note a device at ``source`` still using a retired credential of ``username``:
        it never counts towards a ban. True when it is worth a log line (once an hour)."""
        now = self.clock() if now is None else now
        key = f"{source} {username[:MAX_USERNAME]}"
        last = self.stale_seen.get(key)
        if last is not None and now - last < STALE_LOG_SECONDS:
            return False
        self.stale_seen.put(key, now)
        return True

    def active(self, now: float | None = None) -> list[Ban]:
        """The bans in force, oldest first."""
        now = self.clock() if now is None else now
        return sorted((b for b in self.bans.values() if b.until > now), key=lambda b: b.since)

    def restore(self, bans: Sequence[Ban], now: float | None = None) -> None:
        """Take back bans published before a restart (the expired ones are skipped)."""
        now = self.clock() if now is None else now
        for ban in bans:
            if ban.until > now:
                self.bans.put(ban.source, ban)

    def lift(self, source: str) -> bool:
        """End a ban on ``source`` and forget its failures; whether it was banned."""
        self.failures.pop(source)
        return self.bans.pop(source) is not None
