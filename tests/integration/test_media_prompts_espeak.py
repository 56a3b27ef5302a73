"""The real espeak-ng (and sox) speak the built-in greeting in English and in Vietnamese:
8000 Hz mono 16-bit, long enough to be the sentence, and not silence."""

from __future__ import annotations

import math
import shutil
import wave
from pathlib import Path

import pytest

from appliance.media.prompts import LANGUAGES, builtin_greeting, wav_seconds

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("espeak-ng") is None,
                       reason="needs espeak-ng (make deps-test installs it)"),
    pytest.mark.skipif(shutil.which("sox") is None, reason="needs sox"),
]


def rms(path: Path) -> float:
    """The RMS amplitude of a 16-bit mono WAV, 0..1 of full scale."""
    with wave.open(str(path), "rb") as w:
        samples = memoryview(w.readframes(w.getnframes())).cast("h")
    return math.sqrt(sum(s * s for s in samples) / len(samples)) / 32768


@pytest.mark.parametrize("language", LANGUAGES)
def test_builtin_greeting_is_spoken(tmp_path: Path, language: str) -> None:
    path = builtin_greeting(language, tmp_path / "prompts")
    assert path.is_absolute() and path.name.startswith(f"speech-{language}-")
    with wave.open(str(path), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        assert w.getcomptype() == "NONE"
    assert wav_seconds(path) > 1.5
    assert rms(path) > 0.01
    assert [p.name for p in path.parent.iterdir()] == [path.name]
    before = path.stat().st_mtime_ns
    assert builtin_greeting(language, tmp_path / "prompts") == path
    assert path.stat().st_mtime_ns == before


def test_languages_sound_different(tmp_path: Path) -> None:
    en, vi = (builtin_greeting(language, tmp_path) for language in LANGUAGES)
    assert en != vi
    assert en.read_bytes() != vi.read_bytes()
