"""The guard: the traversal set, bans by misses, the per-source MAC limit."""

from __future__ import annotations

import pytest

from appliance.provisioning.guard import Guard, clean_path


@pytest.mark.parametrize("raw", [
    "../etc/passwd", "a/../../b", "/..", "..", ".", "./x.cfg", "a//b", "a\\b.cfg", "..\\x",
    "%2e%2e/x", "%252e", "x\x00.cfg", "x\n.cfg", "x y.cfg", "é.cfg", "", "/", "x" * 513,
    "a/./b",
])
def test_unsafe_paths_are_refused(raw: str) -> None:
    assert clean_path(raw) is None


@pytest.mark.parametrize(("raw", "clean"), [
    ("/spa504G.cfg", "spa504G.cfg"), ("001565aabbcc.cfg", "001565aabbcc.cfg"),
    ("//Cisco/CP-7841-3PCC/00562b043615.cfg", "Cisco/CP-7841-3PCC/00562b043615.cfg"),
    ("x" * 512, "x" * 512),
])
def test_safe_paths_are_kept_relative(raw: str, clean: str) -> None:
    assert clean_path(raw) == clean


def test_misses_ban_for_a_while_then_expire() -> None:
    guard = Guard(ban_misses=3, window=10, ban_seconds=100)
    assert not guard.miss("192.0.2.9", 0) and not guard.miss("192.0.2.9", 1)
    assert guard.miss("192.0.2.9", 2)
    assert guard.banned("192.0.2.9", 50) and not guard.banned("192.0.2.8", 50)
    assert not guard.banned("192.0.2.9", 103)


def test_misses_outside_the_window_do_not_add_up() -> None:
    guard = Guard(ban_misses=3, window=10, ban_seconds=100)
    for t in (0, 11, 22, 33):
        assert not guard.miss("192.0.2.9", t)
    assert not guard.banned("192.0.2.9", 34)


def test_a_source_is_a_few_phones_not_a_sweep() -> None:
    guard = Guard(ban_misses=0, macs_per_source=2)
    assert guard.device("192.0.2.9", "001565000001", 0)
    assert guard.device("192.0.2.9", "001565000002", 0)
    assert guard.device("192.0.2.9", "001565000001", 1)  # the same phone again
    assert not guard.device("192.0.2.9", "001565000003", 2)
    assert guard.device("192.0.2.10", "001565000003", 2)
    assert guard.device("192.0.2.9", "001565000003", 100)  # after the window


def test_zero_switches_limits_off_and_tables_stay_bounded() -> None:
    guard = Guard(ban_misses=0, macs_per_source=0, max_sources=10)
    assert all(guard.device("192.0.2.9", f"001565{n:06x}", 0) for n in range(100))
    assert not any(guard.miss("192.0.2.9", 0) for _ in range(100))
    counting = Guard(ban_misses=5, max_sources=10)
    for n in range(100):
        counting.miss(f"10.0.0.{n}", 0)
    assert len(counting._sources) == 10


def test_sightings_per_source_are_bounded() -> None:
    guard = Guard(macs_per_source=2, window=60)
    assert guard.sighting("192.0.2.1", "001565000001", 0)
    assert guard.sighting("192.0.2.1", "001565000002", 1)
    assert not guard.sighting("192.0.2.1", "001565000003", 2)
    assert guard.sighting("192.0.2.1", "001565000001", 3)  # a phone already noted: always
    assert guard.sighting("192.0.2.2", "001565000003", 3)  # another source: its own bound
    assert guard.sighting("192.0.2.1", "001565000003", 62)  # the window moved on
    assert Guard(macs_per_source=0).sighting("192.0.2.1", "001565000009", 0)
