"""Working hours: override, then holidays, then weekly ranges, in the box's zone, with ranges
that wrap past midnight and over the weekend, and Tết as a holiday range."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from appliance.callplan import hours
from appliance.callplan.model import Holiday, WeeklyRange, WorkingHours
from appliance.errors import ValidationError

VN = timezone(timedelta(hours=7))


def at(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    """A Vietnamese wall-clock time, as an aware datetime in UTC (what the engine passes)."""
    return datetime(y, m, d, hh, mm, tzinfo=VN).astimezone(UTC)


def schedule(*ranges: str, holidays: tuple[Holiday, ...] = (),
             override: str = "auto") -> WorkingHours:
    weekly = tuple(r for text in ranges for r in hours.parse_range(text))
    return WorkingHours("office", "Asia/Ho_Chi_Minh", weekly, holidays,
                        override)  # type: ignore[arg-type]


OFFICE = schedule("mon-fri 08:00-17:30", "sat 08:00-12:00")


@pytest.mark.parametrize(("when", "open_"), [
    (at(2027, 3, 1, 7, 59), False),  # Monday, just before
    (at(2027, 3, 1, 8, 0), True),
    (at(2027, 3, 1, 17, 29), True),
    (at(2027, 3, 1, 17, 30), False),  # the end is not inside
    (at(2027, 3, 5, 12, 0), True),  # Friday
    (at(2027, 3, 6, 11, 59), True),  # Saturday morning
    (at(2027, 3, 6, 12, 0), False),
    (at(2027, 3, 7, 10, 0), False),  # Sunday
])
def test_weekly_ranges_in_the_box_zone(when: datetime, open_: bool) -> None:
    assert hours.is_open(OFFICE, when) is open_


def test_the_zone_is_the_schedule_s_not_utc() -> None:
    # 01:30 UTC on a Monday is 08:30 in Ho Chi Minh City: open.
    assert hours.is_open(OFFICE, datetime(2027, 3, 1, 1, 30, tzinfo=UTC))
    utc_office = WorkingHours("x", "UTC", OFFICE.weekly)
    assert not hours.is_open(utc_office, datetime(2027, 3, 1, 1, 30, tzinfo=UTC))


def test_a_range_wrapping_past_midnight() -> None:
    night = schedule("fri 22:00-06:00")
    assert hours.is_open(night, at(2027, 3, 5, 23, 0))  # Friday night
    assert hours.is_open(night, at(2027, 3, 6, 5, 59))  # Saturday early
    assert not hours.is_open(night, at(2027, 3, 6, 6, 0))
    assert not hours.is_open(night, at(2027, 3, 5, 21, 59))
    assert not hours.is_open(night, at(2027, 3, 4, 23, 0))  # Thursday night


def test_a_range_wrapping_over_the_weekend_and_the_week_boundary() -> None:
    weekend = schedule("sat 20:00-mon 08:00")
    assert hours.is_open(weekend, at(2027, 3, 6, 21, 0))  # Saturday
    assert hours.is_open(weekend, at(2027, 3, 7, 12, 0))  # Sunday
    assert hours.is_open(weekend, at(2027, 3, 8, 7, 59))  # Monday, across Sunday midnight
    assert not hours.is_open(weekend, at(2027, 3, 8, 8, 0))
    assert not hours.is_open(weekend, at(2027, 3, 5, 21, 0))
    sunday_night = schedule("sun 22:00-02:00")
    assert hours.is_open(sunday_night, at(2027, 3, 8, 1, 0))


def test_tet_closes_the_office_for_its_whole_range() -> None:
    tet = Holiday(date(2027, 2, 5), date(2027, 2, 11), "Tết Nguyên Đán")
    office = schedule("mon-fri 08:00-17:30", holidays=(tet,))
    assert hours.is_open(office, at(2027, 2, 4, 10, 0))  # Thursday before
    assert not hours.is_open(office, at(2027, 2, 5, 10, 0))  # first day
    assert not hours.is_open(office, at(2027, 2, 8, 10, 0))  # a Monday inside
    assert not hours.is_open(office, at(2027, 2, 11, 17, 0))  # last day
    assert hours.is_open(office, at(2027, 2, 12, 8, 0))  # the day after
    # The local date counts: 23:30 UTC on the 4th is already the 5th in Vietnam.
    night = schedule("thu 22:00-fri 08:00", holidays=(tet,))
    assert not hours.is_open(night, datetime(2027, 2, 4, 17, 30, tzinfo=UTC))


def test_the_override_wins_over_holidays_and_hours() -> None:
    tet = Holiday(date(2027, 2, 5), date(2027, 2, 11))
    opened = schedule("mon-fri 08:00-17:30", holidays=(tet,), override="open")
    assert hours.is_open(opened, at(2027, 2, 6, 3, 0))
    closed = schedule("mon-fri 08:00-17:30", override="closed")
    assert not hours.is_open(closed, at(2027, 3, 1, 10, 0))


def test_no_ranges_is_always_closed() -> None:
    assert not hours.is_open(schedule(), at(2027, 3, 1, 10, 0))


def test_ranges_are_parsed_and_written_back() -> None:
    assert hours.parse_range("mon 08:00-17:30") == (WeeklyRange(480, 1050),)
    assert hours.parse_range("MON 08:00 - 24:00") == (WeeklyRange(480, 1440),)
    assert len(hours.parse_range("mon-fri 08:00-17:30")) == 5
    assert [r.start // 1440 for r in hours.parse_range("sat-mon 09:00-10:00")] == [5, 6, 0]
    sunday = hours.parse_range("sun 22:00-06:00")
    assert sunday == (WeeklyRange(6 * 1440 + 1320, 360),)
    for text in ("fri 22:00-06:00", "sat 20:00-mon 08:00", "tue 09:15-11:45"):
        for weekly in hours.parse_range(text):
            assert hours.parse_range(hours.format_range(weekly)) == (weekly,)


@pytest.mark.parametrize("text", [
    "", "monday 08:00-17:00", "mon 8-17", "mon 25:00-26:00", "mon 08:00-08:00",
    "mon 24:30-10:00", "mon-fri 08:00-sat 10:00", "sat 10:00-sat 10:00", "mon 08:60-09:00",
])
def test_bad_ranges_are_refused(text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        hours.parse_range(text)
    assert caught.value.field == "weekly"


def test_an_unknown_zone_is_refused() -> None:
    with pytest.raises(ValidationError, match="IANA") as caught:
        hours.zone("Mars/Olympus")
    assert caught.value.field == "zone"
    assert str(hours.zone("Asia/Ho_Chi_Minh")) == "Asia/Ho_Chi_Minh"
