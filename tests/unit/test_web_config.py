"""The web section's config keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.config import load
from appliance.errors import ConfigError


def _load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "appliance.toml"
    path.write_text(text, encoding="utf-8")
    return load(path)


def test_session_idle_minutes_default_and_set(tmp_path: Path) -> None:
    assert load(None, {}).web.session_idle_minutes == 30.0
    assert _load(tmp_path, "[web]\nsession_idle_minutes = 5\n").web.session_idle_minutes == 5.0


@pytest.mark.parametrize("value", ["0", "1441", '"ten"', "true"])
def test_session_idle_minutes_refused_with_its_key(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError) as error:
        _load(tmp_path, f"[web]\nsession_idle_minutes = {value}\n")
    assert "web.session_idle_minutes" in str(error.value)
    assert "\n" not in str(error.value)
