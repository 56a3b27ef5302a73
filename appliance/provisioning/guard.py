"""The guard: clean paths only, bans for sources that miss too often, one phone per source.

Pure and thread-safe: time is passed in, nothing is read from the system.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field

MAX_PATH_BYTES = 512
_SAFE = re.compile(r"[A-Za-z0-9._\-/]+")


def clean_path(raw: str) -> str | None:
    """``raw`` as a path relative to the root, or None when it could leave the root.

    Refused: over 512 bytes, NUL or other control characters, backslash, ``%`` (encoded
    names), any character outside ``A-Z a-z 0-9 . _ - /``, ``.`` or ``..`` or empty segments.
    Leading slashes are dropped (phones ask for ``/spa504G.cfg``).
    """
    if not isinstance(raw, str) or len(raw.encode("utf-8", "surrogateescape")) > MAX_PATH_BYTES:
        return None
    path = raw.lstrip("/")
    if not path or not _SAFE.fullmatch(path):
        return None
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return None
    return path


@dataclass
class _Source:
    misses: deque[float] = field(default_factory=deque)
    macs: dict[str, float] = field(default_factory=dict)
    noted: dict[str, float] = field(default_factory=dict)
    banned_until: float = 0.0


class Guard:
    """Per-source miss counting and bans; a ban is ``ban_seconds`` long.

    ``ban_misses`` misses within ``window`` seconds ban a source (0: never). A source asking
    for per-MAC files of more than ``macs_per_source`` distinct MACs within the window is
    sweeping: each further MAC is refused (0: no limit). The same bound holds for the
    distinct MACs whose sightings one source may record within the window.
    """

    def __init__(self, ban_misses: int = 30, window: float = 60.0, ban_seconds: float = 600.0,
                 macs_per_source: int = 4, max_sources: int = 10_000) -> None:
        self.ban_misses = ban_misses
        self.window = window
        self.ban_seconds = ban_seconds
        self.macs_per_source = macs_per_source
        self.max_sources = max_sources
        self._sources: OrderedDict[str, _Source] = OrderedDict()
        self._lock = threading.Lock()

    def _source(self, ip: str) -> _Source:
        source = self._sources.get(ip)
        if source is None:
            source = self._sources[ip] = _Source()
            while len(self._sources) > self.max_sources:
                self._sources.popitem(last=False)
        else:
            self._sources.move_to_end(ip)
        return source

    def banned(self, ip: str, now: float) -> bool:
        """True while ``ip`` is banned."""
        with self._lock:
            source = self._sources.get(ip)
            return source is not None and source.banned_until > now

    def miss(self, ip: str, now: float) -> bool:
        """Count a miss by ``ip``; True when this miss bans it."""
        if self.ban_misses <= 0:
            return False
        with self._lock:
            source = self._source(ip)
            source.misses.append(now)
            while source.misses and source.misses[0] <= now - self.window:
                source.misses.popleft()
            if len(source.misses) >= self.ban_misses and source.banned_until <= now:
                source.banned_until = now + self.ban_seconds
                source.misses.clear()
                return True
            return False

    def device(self, ip: str, mac: str, now: float) -> bool:
        """May ``ip`` ask for per-MAC files of ``mac``? False when sweeping (the caller counts
        the refusal as a miss)."""
        if self.macs_per_source <= 0:
            return True
        with self._lock:
            source = self._source(ip)
            source.macs = {m: t for m, t in source.macs.items() if t > now - self.window}
            if mac in source.macs or len(source.macs) < self.macs_per_source:
                source.macs[mac] = now
                return True
        return False

    def sighting(self, ip: str, mac: str, now: float) -> bool:
        """May a fetch by ``ip`` be recorded as a sighting of ``mac``? False once the source
        had ``macs_per_source`` other MACs recorded within the window."""
        if self.macs_per_source <= 0:
            return True
        with self._lock:
            source = self._source(ip)
            source.noted = {m: t for m, t in source.noted.items() if t > now - self.window}
            if mac in source.noted or len(source.noted) < self.macs_per_source:
                source.noted[mac] = now
                return True
        return False

    def unban(self, ip: str) -> None:
        """Forget everything about ``ip``."""
        with self._lock:
            self._sources.pop(ip, None)
