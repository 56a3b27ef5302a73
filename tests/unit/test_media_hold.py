"""Music on hold: the built-in music (the project's own melody and a spoken line, made once),
an uploaded MP3 checked (MP3, mono, at most 2 MB; refused with the reason) and converted once
to 8 kHz mono, and what plays now. The MP3s in tests/data/media were made with lame from
sox's sine (2 s of 300 Hz)."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from appliance.errors import ValidationError
from appliance.media import hold
from appliance.media.codecs import sdp_holds

DATA = Path(__file__).resolve().parents[1] / "data" / "media"
BASE = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n" \
       "m=audio 4000 RTP/AVP 0\r\n"


def fake_espeak(tmp_path: Path) -> str:
    """An espeak-ng stand-in that writes 1 s of silence to its -w file."""
    script = tmp_path / "espeak"
    script.write_text("#!/usr/bin/env python3\nimport sys, wave\n"
                      "out = sys.argv[sys.argv.index('-w') + 1]\n"
                      "w = wave.open(out, 'wb'); w.setnchannels(1); w.setsampwidth(2)\n"
                      "w.setframerate(22050); w.writeframes(bytes(44100)); w.close()\n")
    script.chmod(0o755)
    return str(script)


def seconds(path: Path) -> tuple[int, int, float]:
    with wave.open(str(path)) as w:
        return w.getframerate(), w.getnchannels(), w.getnframes() / w.getframerate()


def test_the_builtin_music_is_made_once_per_language(tmp_path: Path) -> None:
    espeak = fake_espeak(tmp_path)
    made = hold.builtin(tmp_path / "p", "vi", espeak)
    rate, channels, length = seconds(made)
    assert (rate, channels) == (8000, 1) and length > 12
    stamp = made.stat().st_mtime_ns
    assert hold.builtin(tmp_path / "p", "vi", espeak) == made and made.stat().st_mtime_ns == stamp
    assert hold.builtin(tmp_path / "p", "fr", espeak).name == "hold-builtin-en.wav"


def test_an_uploaded_mono_mp3_is_converted_once_and_plays_instead(tmp_path: Path) -> None:
    espeak = fake_espeak(tmp_path)
    folder = tmp_path / "p"
    assert hold.current(folder, "en", espeak).name == "hold-builtin-en.wav"
    made = hold.install_upload((DATA / "hold-mono.mp3").read_bytes(), folder)
    rate, channels, length = seconds(made)
    assert (rate, channels) == (8000, 1) and 1.9 < length < 2.2
    assert hold.current(folder, "en", espeak) == made
    assert hold.remove_upload(folder) and not hold.remove_upload(folder)
    assert hold.current(folder, "en", espeak).name == "hold-builtin-en.wav"


@pytest.mark.parametrize(("data", "reason"), [
    ((DATA / "hold-stereo.mp3").read_bytes(), "must be mono, this one has 2 channels"),
    (b"RIFF" + bytes(4000), "not an MP3"),
    (b"", "not an MP3"),
    (bytes(2 * 1024 * 1024 + 1), "at most 2 MB"),
], ids=["stereo", "wav", "empty", "too-big"])
def test_what_cannot_be_hold_music_is_refused_with_the_reason(tmp_path: Path, data: bytes,
                                                               reason: str) -> None:
    with pytest.raises(ValidationError, match=reason) as refused:
        hold.install_upload(data, tmp_path)
    assert refused.value.field == "file"
    assert not list(tmp_path.iterdir())  # nothing written


def test_which_offers_put_the_other_party_on_hold() -> None:
    assert not sdp_holds(BASE) and not sdp_holds(BASE + "a=sendrecv\r\n")
    assert sdp_holds(BASE + "a=sendonly\r\n") and sdp_holds(BASE + "a=inactive\r\n")
    assert not sdp_holds(BASE + "a=recvonly\r\n")
    assert sdp_holds(BASE.replace("c=IN IP4 192.0.2.1\r\nt", "c=IN IP4 0.0.0.0\r\nt"))
    session = BASE.replace("t=0 0\r\n", "t=0 0\r\na=sendonly\r\n")
    assert sdp_holds(session) and not sdp_holds(session + "a=sendrecv\r\n")
    assert not sdp_holds(BASE + "a=sendrecv\r\nm=video 5000 RTP/AVP 96\r\na=inactive\r\n")
    assert not sdp_holds("v=0\r\n")
