"""Prompts without espeak-ng: a fake espeak program (Python, counting its runs), sox for the
conversion (those tests skip without it), tones written by the module, and wav_seconds."""

from __future__ import annotations

import hashlib
import itertools
import shutil
import sys
import unicodedata
import wave
from pathlib import Path

import pytest

from appliance.errors import MediaError, PromptError
from appliance.media import prompts
from appliance.media.prompts import (
    BUILTIN_GREETING,
    LANGUAGES,
    builtin_greeting,
    speak,
    tone,
    wav_seconds,
)

needs_sox = pytest.mark.skipif(shutil.which("sox") is None, reason="needs sox")

FAKE_ESPEAK = """\
#!{python}
import math, struct, sys, time, wave
with open({runs!r}, "a") as f:
    f.write(repr(sys.argv[1:]) + "\\n")
mode = {mode!r}
if mode == "fail":
    sys.stderr.write("Error: the voice is broken\\n" + sys.argv[-1] + "\\n")
    open(sys.argv[sys.argv.index("-w") + 1], "wb").write(b"RIFF partial")
    sys.exit(3)
if mode == "hang":
    time.sleep(30)
if mode == "silent":
    sys.exit(0)
with wave.open(sys.argv[sys.argv.index("-w") + 1], "wb") as w:
    w.setnchannels(1)
    w.setsampwidth(2)
    w.setframerate(22050)
    n = 11025
    w.writeframes(struct.pack("<%dh" % n, *(int(8000 * math.sin(i / 10)) for i in range(n))))
"""


def fake_espeak(tmp_path: Path, mode: str = "ok") -> tuple[str, Path]:
    """An executable standing in for espeak-ng, and the file where it logs its arguments."""
    runs = tmp_path / f"runs-{mode}.log"
    script = tmp_path / f"espeak-{mode}"
    script.write_text(FAKE_ESPEAK.format(python=sys.executable, runs=str(runs), mode=mode))
    script.chmod(0o755)
    return str(script), runs


def run_count(runs: Path) -> int:
    return len(runs.read_text().splitlines()) if runs.exists() else 0


@needs_sox
def test_speak_makes_an_8khz_mono_wav_once(tmp_path: Path) -> None:
    espeak, runs = fake_espeak(tmp_path)
    folder = tmp_path / "prompts" / "new"
    path = speak("Hello there", "en", folder, espeak)
    assert path.parent == folder and path.is_file()
    digest = hashlib.sha256(b"enHello there").hexdigest()[:16]
    assert path.name == f"speech-en-{digest}.wav"
    with wave.open(str(path), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
    assert wav_seconds(path) == pytest.approx(0.5, abs=0.01)
    assert run_count(runs) == 1
    args = runs.read_text().splitlines()[0]
    assert "'-v', 'en'" in args and "'--', 'Hello there'" in args
    before = path.stat().st_mtime_ns
    assert speak("Hello there", "en", folder, espeak) == path
    assert run_count(runs) == 1
    assert path.stat().st_mtime_ns == before
    assert sorted(p.name for p in folder.iterdir()) == [path.name]


@needs_sox
def test_name_depends_on_text_and_language(tmp_path: Path) -> None:
    espeak, runs = fake_espeak(tmp_path)
    folder = tmp_path / "prompts"
    a = speak("Hello", "en", folder, espeak)
    b = speak("Hello!", "en", folder, espeak)
    c = speak("Hello", "vi", folder, espeak)
    assert len({a, b, c}) == 3
    assert c.name.startswith("speech-vi-")
    assert run_count(runs) == 3
    assert "'-v', 'vi'" in runs.read_text().splitlines()[2]


@needs_sox
def test_text_is_an_argument_never_a_shell_or_option(tmp_path: Path) -> None:
    espeak, runs = fake_espeak(tmp_path)
    text = "--help; rm -rf / $(reboot) `id` 'quoted'"
    speak(text, "en", tmp_path / "p", espeak)
    assert runs.read_text().splitlines()[0].endswith(f"'--', {text!r}]")


@needs_sox
def test_builtin_greeting(tmp_path: Path) -> None:
    espeak, runs = fake_espeak(tmp_path)
    for language in LANGUAGES:
        path = builtin_greeting(language, tmp_path / "p", espeak)
        assert path == speak(BUILTIN_GREETING[language], language, tmp_path / "p", espeak)
    assert run_count(runs) == 2
    with pytest.raises(PromptError, match="language"):
        builtin_greeting("fr", tmp_path / "p", espeak)


def test_vietnamese_greeting_is_composed_unicode() -> None:
    vi = BUILTIN_GREETING["vi"]
    assert unicodedata.is_normalized("NFC", vi)
    assert "bấm số máy lẻ" in vi and "giữ máy" in vi


@pytest.mark.parametrize(("text", "language", "message"), [
    ("", "en", "empty"),
    ("  \n\t ", "en", "empty"),
    ("x" * 1001, "en", "longer than 1000"),
    ("Hello", "fr", "unknown prompt language"),
    ("Hello", "EN", "unknown prompt language"),
    ("Hello\x00there", "en", "control characters"),
    ("Hello\x1b[2J", "vi", "control characters"),
    ("Hello\rthere", "en", "control characters"),
])
def test_refused_text(tmp_path: Path, text: str, language: str, message: str) -> None:
    espeak, runs = fake_espeak(tmp_path)
    with pytest.raises(PromptError, match=message):
        speak(text, language, tmp_path / "p", espeak)
    assert run_count(runs) == 0
    assert not (tmp_path / "p").exists()


@needs_sox
def test_allowed_text_edges(tmp_path: Path) -> None:
    espeak, runs = fake_espeak(tmp_path)
    speak("x" * 1000, "en", tmp_path / "p", espeak)
    speak("line one\nline\ttwo", "en", tmp_path / "p", espeak)
    assert run_count(runs) == 2


def test_prompt_error_is_a_media_error() -> None:
    assert issubclass(PromptError, MediaError)


def test_missing_espeak_names_the_package(tmp_path: Path) -> None:
    with pytest.raises(PromptError, match="Debian package espeak-ng"):
        speak("Hello", "en", tmp_path / "p", str(tmp_path / "no-such-espeak"))
    assert list((tmp_path / "p").iterdir()) == []


def test_missing_sox_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    espeak, runs = fake_espeak(tmp_path)
    monkeypatch.setattr(prompts, "SOX", str(tmp_path / "no-such-sox"))
    with pytest.raises(PromptError, match="Debian package sox"):
        speak("Hello", "en", tmp_path / "p", espeak)
    assert run_count(runs) == 0
    assert list((tmp_path / "p").iterdir()) == []


@needs_sox
def test_failing_espeak_leaves_nothing_and_hides_the_text(tmp_path: Path) -> None:
    espeak, runs = fake_espeak(tmp_path, "fail")
    with pytest.raises(PromptError) as caught:
        speak("the secret prompt text", "en", tmp_path / "p", espeak)
    message = str(caught.value)
    assert "espeak-ng failed" in message and "the voice is broken" in message
    assert "secret" not in message
    assert list((tmp_path / "p").iterdir()) == []
    assert run_count(runs) == 1


@needs_sox
def test_espeak_writing_nothing(tmp_path: Path) -> None:
    espeak, _ = fake_espeak(tmp_path, "silent")
    with pytest.raises(PromptError, match="no audio"):
        speak("Hello", "en", tmp_path / "p", espeak)
    assert list((tmp_path / "p").iterdir()) == []


@needs_sox
def test_timed_out_espeak(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    espeak, _ = fake_espeak(tmp_path, "hang")
    monkeypatch.setattr(prompts, "TIMEOUT_SECONDS", 0.5)
    with pytest.raises(PromptError, match=r"did not finish within 0\.5 s"):
        speak("Hello", "en", tmp_path / "p", espeak)
    assert list((tmp_path / "p").iterdir()) == []


def test_failing_sox_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    espeak, _ = fake_espeak(tmp_path)
    sox = tmp_path / "sox"
    sox.write_text("#!/bin/sh\necho 'sox FAIL formats: bad input' >&2\necho more >&2\nexit 2\n")
    sox.chmod(0o755)
    monkeypatch.setattr(prompts, "SOX", str(sox))
    with pytest.raises(PromptError, match=r"sox failed \(exit status 2\): sox FAIL formats"):
        speak("Hello", "en", tmp_path / "p", espeak)
    assert list((tmp_path / "p").iterdir()) == []


@pytest.mark.parametrize(("name", "seconds", "frequency"), [
    ("ringback", 5.0, 425),
    ("beep", 0.4, 1000),
])
def test_tones(tmp_path: Path, name: str, seconds: float, frequency: int) -> None:
    path = tone(name, tmp_path / "t")
    assert path.name.startswith(f"tone-{name}-") and path.suffix == ".wav"
    with wave.open(str(path), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        frames = w.readframes(w.getnframes())
    assert wav_seconds(path) == pytest.approx(seconds)
    samples = memoryview(frames).cast("h")
    peak = max(abs(s) for s in samples)
    assert 7000 < peak < 9500  # about -12 dBFS
    on = samples[:3200]  # the first 0.4 s is tone in both
    crossings = sum(1 for a, b in itertools.pairwise(on) if a < 0 <= b)
    assert crossings == pytest.approx(frequency * 0.4, abs=2)
    if name == "ringback":
        assert max(abs(s) for s in samples[8000:]) == 0  # 1 s on, then 4 s of silence
        assert max(abs(s) for s in samples[7000:7900]) > 7000
    before = path.stat().st_mtime_ns
    assert tone(name, tmp_path / "t") == path
    assert path.stat().st_mtime_ns == before
    assert [p.name for p in (tmp_path / "t").iterdir()] == [path.name]


def test_unknown_tone(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown tone"):
        tone("busy-signal", tmp_path)


def test_wav_seconds(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\0\0\0\0" * 24000)
    assert wav_seconds(path) == pytest.approx(1.5)
    text = tmp_path / "b.wav"
    text.write_text("not a wav")
    for bad in (text, tmp_path / "missing.wav"):
        with pytest.raises(PromptError, match="not a readable PCM WAV"):
            wav_seconds(bad)
