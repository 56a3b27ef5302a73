"""Prompts: the audio the box plays to callers (greetings, ringback, beeps).

A prompt is a WAV file, 8000 Hz mono 16-bit PCM, that rtpengine plays from its absolute path.
Speech is made by espeak-ng (English ``en`` or Vietnamese ``vi``) and converted with sox;
tones are written here with the ``wave`` module. Files live in a folder the caller names
(the box's data folder) and are returned as absolute paths. Each file is named after what
it holds (``speech-<language>-<16 hex of sha256>.wav``, ``tone-<name>-<16 hex>.wav``), so it
is made once: a file already there is returned without running anything, and a new one
appears atomically (``os.replace``) or not at all.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
import shutil
import struct
import subprocess
import tempfile
import unicodedata
import wave
from collections.abc import Callable
from pathlib import Path

from appliance.errors import PromptError, ValidationError

LANGUAGES = ("en", "vi")
BUILTIN_GREETING = {
    "en": "Welcome. Please dial the extension number you want, or stay on the line.",
    "vi": "Xin chào quý khách. Vui lòng bấm số máy lẻ cần gặp, hoặc giữ máy.",
}
# Told to an outside caller before the first bridge of a recorded call.
RECORDED = {
    "en": "This call is recorded.",
    "vi": "Cuộc gọi này được ghi âm.",
}
# Asked of an outside caller once the employee hung up, on a number that wants ratings.
RATING = {
    "en": "Please rate this call. Press a key from 1 to 5, 5 being the best.",
    "vi": "Xin quý khách đánh giá cuộc gọi này. Bấm một phím từ 1 đến 5, 5 là tốt nhất.",
}
THANKS = {"en": "Thank you. Goodbye.", "vi": "Cảm ơn quý khách. Xin chào."}
# A voicemail box's built-in greeting ({extension}: read digit by digit).
VOICEMAIL = {
    "en": "The person at extension {extension} cannot take your call. Please leave a message "
          "after the tone, then hang up or press the hash key.",
    "vi": "Người dùng máy lẻ {extension} hiện không nghe máy được. Vui lòng để lại lời nhắn "
          "sau tiếng bíp, rồi gác máy hoặc bấm phím thăng.",
}
# What the mailbox (*97, *98) says to the employee.
MAILBOX = {
    "pin": {"en": "Please enter your voicemail PIN, then press the hash key.",
            "vi": "Vui lòng nhập mã PIN hộp thư thoại, rồi bấm phím thăng."},
    "wrong_pin": {"en": "That PIN is not right.", "vi": "Mã PIN không đúng."},
    "wrong_pin_goodbye": {"en": "That PIN is not right. Goodbye.",
                          "vi": "Mã PIN không đúng. Xin chào."},
    "no_pin": {"en": "Your voicemail has no PIN yet. Please ask your administrator to set one.",
               "vi": "Hộp thư thoại của bạn chưa có mã PIN. Vui lòng nhờ quản trị viên đặt mã."},
    "choices": {"en": "Press 7 to delete this message, 1 to hear it again, or 9 to keep it.",
                "vi": "Bấm 7 để xóa tin nhắn này, 1 để nghe lại, hoặc 9 để giữ lại."},
    "deleted": {"en": "Message deleted.", "vi": "Đã xóa tin nhắn."},
    "no_more": {"en": "No more messages. Goodbye.", "vi": "Hết tin nhắn. Xin chào."},
    "goodbye": {"en": "Goodbye.", "vi": "Xin chào."},
    "record": {"en": "Record your greeting after the tone, then press the hash key.",
               "vi": "Hãy ghi lời chào của bạn sau tiếng bíp, rồi bấm phím thăng."},
}


def count_of_messages(language: str, new: int, saved: int) -> str:
    """What the mailbox says first: how many new and saved messages there are."""
    if language == "vi":
        return f"Bạn có {new} tin nhắn mới và {saved} tin nhắn đã nghe."
    return (f"You have {new} new message{'s' if new != 1 else ''} and {saved} saved "
            f"message{'s' if saved != 1 else ''}.")
MAX_TEXT = 1000
RATE = 8000
SOX = "sox"
TIMEOUT_SECONDS = 30.0
_VOICES = {"en": "en", "vi": "vi"}
_ALLOWED_CONTROLS = frozenset("\n\t")
# name -> (frequency Hz, seconds on, seconds of silence after), at about -12 dBFS.
_TONES = {"ringback": (425.0, 1.0, 4.0), "beep": (1000.0, 0.4, 0.0)}
_AMPLITUDE = round(32767 * 10 ** (-12 / 20))
_RAMP_SECONDS = 0.005  # fade in and out, so the tone starts and stops without a click


def _digest(*parts: str) -> str:
    return hashlib.sha256("".join(parts).encode("utf-8")).hexdigest()[:16]


def _check_text(text: str, language: str) -> str:
    if language not in LANGUAGES:
        raise PromptError(
            f"unknown prompt language {language!r} (expected one of {', '.join(LANGUAGES)})")
    text = unicodedata.normalize("NFC", text)
    if not text.strip():
        raise PromptError("the prompt text is empty")
    if len(text) > MAX_TEXT:
        raise PromptError(f"the prompt text is longer than {MAX_TEXT} characters ({len(text)})")
    if any(unicodedata.category(c) == "Cc" and c not in _ALLOWED_CONTROLS for c in text):
        raise PromptError("the prompt text contains control characters")
    return text


def _tool(program: str, package: str) -> str:
    found = shutil.which(program)
    if found is None:
        raise PromptError(f"{program} is not installed (install the Debian package {package})")
    return found


def _run(argv: list[str], name: str) -> None:
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        raise PromptError(f"{name} did not finish within {TIMEOUT_SECONDS:g} s") from None
    except OSError as e:
        raise PromptError(f"{name} cannot be run: {e.strerror or e}") from None
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        first = lines[0].strip()[:200] if lines else "no message"
        raise PromptError(f"{name} failed (exit status {done.returncode}): {first}")


def _make_once(folder: Path, name: str, make: Callable[[Path], None]) -> Path:
    """``folder/name`` (absolute) if it is there, else made by ``make(tmp)`` and moved there."""
    folder = folder.absolute()
    target = folder / name
    if target.is_file():
        return target
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=".part-", suffix=".wav")
    except OSError as e:
        raise PromptError(f"cannot write prompts in {folder}: {e.strerror or e}") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        make(tmp)
        os.replace(tmp, target)
    except OSError as e:
        raise PromptError(f"cannot write the prompt {target}: {e.strerror or e}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return target


def speak(text: str, language: str, folder: Path, espeak: str = "espeak-ng") -> Path:
    """The 8000 Hz mono WAV of ``text`` spoken in ``language``, made once in ``folder``."""
    text = _check_text(text, language)

    def make(out: Path) -> None:
        espeak_path = _tool(espeak, "espeak-ng")
        sox_path = _tool(SOX, "sox")
        fd, raw_name = tempfile.mkstemp(dir=out.parent, prefix=".raw-", suffix=".wav")
        os.close(fd)
        raw = Path(raw_name)
        try:
            _run([espeak_path, "-v", _VOICES[language], "-w", str(raw), "--", text], "espeak-ng")
            if raw.stat().st_size == 0:
                raise PromptError("espeak-ng wrote no audio")
            _run([sox_path, str(raw), "-r", str(RATE), "-c", "1", "-b", "16", str(out)], "sox")
        finally:
            raw.unlink(missing_ok=True)

    return _make_once(folder, f"speech-{language}-{_digest(language, text)}.wav", make)


def builtin_greeting(language: str, folder: Path, espeak: str = "espeak-ng") -> Path:
    """The built-in greeting (``BUILTIN_GREETING[language]``) spoken, made once in ``folder``."""
    if language not in BUILTIN_GREETING:
        raise PromptError(
            f"unknown prompt language {language!r} (expected one of {', '.join(LANGUAGES)})")
    return speak(BUILTIN_GREETING[language], language, folder, espeak)


def _tone_frames(frequency: float, on: float, off: float) -> bytes:
    count, ramp = round(on * RATE), round(_RAMP_SECONDS * RATE)
    samples = []
    for i in range(count):
        gain = min(1.0, i / ramp, (count - 1 - i) / ramp)
        samples.append(round(_AMPLITUDE * gain * math.sin(2 * math.pi * frequency * i / RATE)))
    samples.extend([0] * round(off * RATE))
    return struct.pack(f"<{len(samples)}h", *samples)


def tone(name: str, folder: Path) -> Path:
    """The built-in tone ``name`` (``ringback``, ``beep``) as an 8000 Hz mono WAV, made once."""
    if name not in _TONES:
        raise ValueError(f"unknown tone {name!r} (expected one of {', '.join(_TONES)})")
    frequency, on, off = _TONES[name]

    def make(out: Path) -> None:
        with wave.open(str(out), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(_tone_frames(frequency, on, off))

    spec = f"{frequency}/{on}/{off}/{_AMPLITUDE}/{_RAMP_SECONDS}/{RATE}"
    return _make_once(folder, f"tone-{name}-{_digest(spec)}.wav", make)


def wav_seconds(path: Path) -> float:
    """The duration in seconds of the PCM WAV at ``path`` (PromptError if it is not one)."""
    try:
        with wave.open(str(path), "rb") as w:
            frames, rate = w.getnframes(), w.getframerate()
    except (wave.Error, EOFError, OSError) as e:
        raise PromptError(f"{path} is not a readable PCM WAV file: {e}") from None
    if rate <= 0:
        raise PromptError(f"{path} is not a readable PCM WAV file: frame rate {rate}")
    return frames / rate


def speak_or_refuse(text: str, language: str, folder: Path) -> Path:
    """``speak``, a failure as the ValidationError of the field ``greeting_text`` (a form or
    a command refusing what it was about to save)."""
    try:
        return speak(text, language, folder)
    except PromptError as exc:
        raise ValidationError(f"greeting_text: {exc}", "greeting_text") from exc


def folder_of(data: Path) -> Path:
    """Where the box keeps its prompts: under its data folder."""
    return data / "media" / "prompts"


class PromptFiles:
    """The box's prompts under one folder, speech made on a thread (espeak-ng takes ~1 s)."""

    def __init__(self, folder: Path, espeak: str = "espeak-ng", language: str = "en") -> None:
        self.folder = folder
        self.espeak = espeak
        self.language = language if language in LANGUAGES else "en"  # the hold music's

    async def greeting(self, language: str, text: str | None = None) -> Path:
        """The built-in greeting in ``language``, or ``text`` spoken in it."""
        if text is None:
            return await asyncio.to_thread(builtin_greeting, language, self.folder, self.espeak)
        return await asyncio.to_thread(speak, text, language, self.folder, self.espeak)

    def tone(self, name: str) -> Path:
        """A built-in tone (``ringback``, ``beep``)."""
        return tone(name, self.folder)

    def hold_music(self) -> Path | None:
        """The hold music when it is ready (an upload, else the built-in music once made):
        never made here, on the call's time."""
        from appliance.media import hold  # it builds on this module

        uploaded = self.folder / hold.UPLOADED
        if uploaded.exists():
            return uploaded.resolve()
        made = self.folder / f"hold-builtin-{self.language}.wav"
        return made.resolve() if made.exists() else None
