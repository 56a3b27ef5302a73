"""Working hours: open or closed at an instant, in the schedule's own time zone.

Evaluated in this order: the manual override (``open`` / ``closed``; ``auto`` defers),
then holidays (closed all day, by the local date), then the weekly ranges. A weekly range
may wrap past midnight (Fri 22:00 to Sat 06:00) or past the end of the week (Sat 20:00 to
Mon 08:00). Ranges are written ``mon 08:00-17:30``, ``mon-fri 08:00-17:30`` (one range a
day), ``fri 22:00-06:00`` (an end at or before the start is the next day), or
``sat 20:00-mon 08:00``.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from appliance.callplan.model import WeeklyRange, WorkingHours
from appliance.errors import ValidationError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY = 24 * 60
WEEK = 7 * DAY

_TIME = r"([0-2]?[0-9]):([0-5][0-9])"
_DAYS = "|".join(DAYS)
_RANGE = re.compile(
    rf"({_DAYS})(?:-({_DAYS}))?\s+{_TIME}\s*-\s*(?:({_DAYS})\s+)?{_TIME}", re.IGNORECASE)


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (e.g. ``Asia/Ho_Chi_Minh``)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"zone: not an IANA time zone such as Asia/Ho_Chi_Minh, got {name!r}", "zone"
        ) from None


def is_open(hours: WorkingHours, now: datetime) -> bool:
    """Whether ``hours`` is open at ``now`` (an aware datetime)."""
    if hours.override != "auto":
        return hours.override == "open"
    local = now.astimezone(zone(hours.zone))
    today = local.date()
    if any(h.first <= today <= h.last for h in hours.holidays):
        return False
    minute = local.weekday() * DAY + local.hour * 60 + local.minute
    return any(_inside(r, minute) for r in hours.weekly)


def _inside(weekly: WeeklyRange, minute: int) -> bool:
    if weekly.start < weekly.end:
        return weekly.start <= minute < weekly.end
    return minute >= weekly.start or minute < weekly.end


def _minutes(hour: str, minute: str, text: str) -> int:
    value = int(hour) * 60 + int(minute)
    if value > DAY:
        raise ValidationError(f"weekly: no such time in {text!r}", "weekly")
    return value


def parse_range(text: str) -> tuple[WeeklyRange, ...]:
    """The ranges a written range stands for (see the module's doc)."""
    match = _RANGE.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValidationError(
            "weekly: write a range as 'mon 08:00-17:30', 'mon-fri 08:00-17:30', "
            f"'fri 22:00-06:00' or 'sat 20:00-mon 08:00', got {text!r}", "weekly")
    first, last, h1, m1, end_day, h2, m2 = match.groups()
    start, end = _minutes(h1, m1, text), _minutes(h2, m2, text)
    first_i = DAYS.index(first.lower())
    if end_day is not None:
        if last is not None:
            raise ValidationError(f"weekly: a day span and an end day at once in {text!r}",
                                  "weekly")
        begin = first_i * DAY + start
        finish = DAYS.index(end_day.lower()) * DAY + end
        if begin == finish:
            raise ValidationError(f"weekly: the range {text!r} is empty", "weekly")
        return (WeeklyRange(begin % WEEK, finish % WEEK),)
    if start == end:
        raise ValidationError(f"weekly: the range {text!r} is empty", "weekly")
    last_i = first_i if last is None else DAYS.index(last.lower())
    days = [d % 7 for d in range(first_i, last_i + (7 if last_i < first_i else 0) + 1)]
    span = end - start if end > start else DAY - start + end
    return tuple(WeeklyRange((d * DAY + start) % WEEK, (d * DAY + start + span) % WEEK)
                 for d in days)


def format_range(weekly: WeeklyRange) -> str:
    """A range written back (``mon 08:00-mon 17:30``); ``parse_range`` reads it."""
    def at(minute: int) -> str:
        day, rest = divmod(minute % WEEK, DAY)
        return f"{DAYS[day]} {rest // 60:02d}:{rest % 60:02d}"
    return f"{at(weekly.start)}-{at(weekly.end)}"
