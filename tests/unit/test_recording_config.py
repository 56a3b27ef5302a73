"""The ``[recording]`` section: its defaults, whole numbers in range, one clear line naming
each bad key, and the shipped config's commented keys at those defaults."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from appliance.config import load
from appliance.config.model import RecordingConfig
from appliance.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "appliance.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_defaults_keep_2_gb_for_90_days(tmp_path: Path) -> None:
    assert load(None, {}).recording == RecordingConfig(quota_mb=2048, retention_days=90)
    assert load(write(tmp_path, "[recording]\n"), {}).recording == RecordingConfig()


def test_values_from_the_file(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, "[recording]\nquota_mb = 1_000_000\nretention_days = 1\n"), {})
    assert cfg.recording == RecordingConfig(quota_mb=1_000_000, retention_days=1)
    assert isinstance(cfg.recording.quota_mb, int)
    cfg = load(write(tmp_path, "[recording]\nquota_mb = 1\nretention_days = 3650\n"), {})
    assert (cfg.recording.quota_mb, cfg.recording.retention_days) == (1, 3650)


@pytest.mark.parametrize(("line", "says"), [
    ("quota_mb = 0", "recording.quota_mb: must be between 1 and 1000000"),
    ("quota_mb = 1_000_001", "recording.quota_mb: must be between"),
    ("quota_mb = 10.5", "recording.quota_mb: expected a whole number"),
    ("quota_mb = \"2048\"", "recording.quota_mb: expected a number"),
    ("quota_mb = true", "recording.quota_mb: expected a number"),
    ("retention_days = 0", "recording.retention_days: must be between 1 and 3650"),
    ("retention_days = 3651", "recording.retention_days: must be between"),
    ("retention_days = -5", "recording.retention_days: must be between"),
    ("retention_days = 1.5", "recording.retention_days: expected a whole number"),
    ("keep = 3", "unknown config key: recording.keep"),
])
def test_a_bad_value_is_one_line_naming_its_key(tmp_path: Path, line: str, says: str) -> None:
    path = write(tmp_path, f"[recording]\n{line}\n")
    with pytest.raises(ConfigError) as caught:
        load(path, {})
    message = str(caught.value)
    assert "\n" not in message and says in message and str(path) in message


def test_the_section_must_be_a_table(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[recording\]: expected a table"):
        load(write(tmp_path, "recording = 5\n"), {})


def test_the_shipped_config_names_the_keys_at_their_defaults() -> None:
    text = (ROOT / "systemd" / "appliance.toml").read_text(encoding="utf-8")
    section = text.split("[recording]\n", 1)[1]
    found = dict(re.findall(r"^# (\w+) = (\d+)", section, re.M))
    assert found == {"quota_mb": str(RecordingConfig.quota_mb),
                     "retention_days": str(RecordingConfig.retention_days)}
    assert load(ROOT / "systemd" / "appliance.toml", {}).recording == RecordingConfig()
