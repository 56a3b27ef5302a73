"""Fixtures shared by unit and integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.directory import Directory
from appliance.store import Store, open_store, upgrade


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A migrated SQLite store in a temporary folder."""
    s = open_store(f"sqlite:///{tmp_path / 'appliance.db'}")
    upgrade(s)
    yield s
    s.dispose()


@pytest.fixture
def directory(store: Store) -> Directory:
    """The directory over the temporary store, acting as 'test'."""
    return Directory(store, actor="test")
