"""Music on hold: what a caller hears while an employee holds them, or while they wait.

The built-in music is made here, so it is the project's own and free of any licence: a slow
pentatonic melody of soft sine tones, then "please stay on the line" spoken by espeak-ng in
the box's language (``en`` or ``vi``), one WAV (8 kHz mono, 16-bit) made once under the
prompts folder. An admin may upload their own instead: an MP3, mono, at most 2 MB, checked
when uploaded (anything else refused with the reason) and converted once to the phones'
rate (miniaudio: the maintained MP3 decoder with wheels, no encoder tool needed).
"""

from __future__ import annotations

import io
import math
import os
import struct
import wave
from pathlib import Path

import miniaudio

from appliance.errors import ValidationError
from appliance.media.prompts import RATE, speak

MAX_UPLOAD = 2 * 1024 * 1024  # bytes of an uploaded MP3
UPLOADED = "hold-uploaded.wav"
PLEASE_HOLD = {
    "en": "Thank you for waiting. Please stay on the line.",
    "vi": "Cảm ơn quý khách đã chờ. Xin vui lòng giữ máy.",
}
# A pentatonic line (Hz) and how long each note lasts, with rests: about 12 s.
_MELODY = (392.0, 440.0, 523.25, 587.33, 659.25, 587.33, 523.25, 440.0,
           392.0, 329.63, 392.0, 440.0, 523.25, 440.0, 392.0, 0.0)
_NOTE = 0.75
_LEVEL = 0.18  # of full scale: quiet, below speech


def _melody_frames() -> bytes:
    """The melody as 16-bit samples: each note fades in and out (no clicks), with a soft
    fifth above it."""
    out = bytearray()
    count = round(_NOTE * RATE)
    for frequency in _MELODY:
        for i in range(count):
            envelope = math.sin(math.pi * i / count) ** 2
            value = 0.0 if not frequency else envelope * _LEVEL * (
                math.sin(2 * math.pi * frequency * i / RATE)
                + 0.3 * math.sin(2 * math.pi * frequency * 1.5 * i / RATE))
            out += struct.pack("<h", round(32767 * value / 1.3))
    return bytes(out)


def _frames(path: Path) -> bytes:
    with wave.open(str(path), "rb") as wav:
        return wav.readframes(wav.getnframes())


def _write(path: Path, frames: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".part-{path.name}")
    with wave.open(str(tmp), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(frames)
    os.replace(tmp, path)
    return path.resolve()


def builtin(folder: Path, language: str, espeak: str = "espeak-ng") -> Path:
    """The built-in hold music for ``language`` (``en`` unless ``vi``), made once."""
    language = language if language in PLEASE_HOLD else "en"
    path = folder / f"hold-builtin-{language}.wav"
    if path.exists():
        return path.resolve()
    spoken = _frames(speak(PLEASE_HOLD[language], language, folder, espeak))
    pause = bytes(2 * RATE // 2)
    return _write(path, _melody_frames() + pause + spoken + pause)


def check_upload(data: bytes) -> miniaudio.SoundFileInfo:
    """What an uploaded file is, if it may be hold music: an MP3, mono, at most 2 MB;
    ValidationError (field ``file``) with the reason otherwise."""
    if len(data) > MAX_UPLOAD:
        raise ValidationError(f"file: at most {MAX_UPLOAD // (1024 * 1024)} MB, this one is "
                              f"{len(data) / (1024 * 1024):.1f} MB", "file")
    try:
        info = miniaudio.mp3_get_info(data)
    except miniaudio.DecodeError:
        raise ValidationError("file: not an MP3 file", "file") from None
    if info.nchannels != 1:
        raise ValidationError(f"file: the MP3 must be mono, this one has {info.nchannels} "
                              "channels (stereo)", "file")
    if info.num_frames <= 0:
        raise ValidationError("file: the MP3 holds no audio", "file")
    return info


def install_upload(data: bytes, folder: Path) -> Path:
    """Check ``data`` and convert it once to 8 kHz mono: the box's hold music from now on."""
    return convert_upload(data, folder / UPLOADED)


def convert_upload(data: bytes, path: Path) -> Path:
    """Check ``data`` as ``check_upload`` does and convert it once to an 8 kHz mono WAV at
    ``path`` (it appears whole, or not at all); a voicemail box's own greeting too."""
    check_upload(data)
    try:
        decoded = miniaudio.decode(data, output_format=miniaudio.SampleFormat.SIGNED16,
                                   nchannels=1, sample_rate=RATE)
    except miniaudio.DecodeError as exc:
        raise ValidationError(f"file: the MP3 cannot be decoded ({exc})", "file") from None
    buffer = io.BytesIO()
    buffer.write(decoded.samples.tobytes())
    return _write(path, buffer.getvalue())


def remove_upload(folder: Path) -> bool:
    """Go back to the built-in music; False when none was uploaded."""
    try:
        (folder / UPLOADED).unlink()
    except FileNotFoundError:
        return False
    return True


def current(folder: Path, language: str, espeak: str = "espeak-ng") -> Path:
    """The hold music to play now: the uploaded one, else the built-in one."""
    uploaded = folder / UPLOADED
    return uploaded.resolve() if uploaded.exists() else builtin(folder, language, espeak)
