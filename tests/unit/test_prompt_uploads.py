"""Prompts uploaded as audio: an MP3 (mono, at most 2 MB) converted once into the prompts
folder under a name of its content; a stereo one refused by the field's name with nothing
written; the store keeps the name of a menu's and a greeting's recording, never a path; the
engine plays it instead of the text spoken, and the text when the file is gone."""

from __future__ import annotations

import wave
from dataclasses import replace
from pathlib import Path

import pytest

from appliance.callplan.model import Destination, Greeting, Menu, Number
from appliance.directory import Directory
from appliance.directory.office import CallPlanDirectory
from appliance.errors import ValidationError
from appliance.media.uploads import install_prompt, upload_name
from appliance.store import Store
from tests.unit.test_b2bua import DID
from tests.unit.test_b2bua_greeting import greeting_box

MEDIA = Path(__file__).parent.parent / "data" / "media"
MONO, STEREO = (MEDIA / "hold-mono.mp3").read_bytes(), (MEDIA / "hold-stereo.mp3").read_bytes()


def test_an_upload_is_converted_once_under_its_contents_name(tmp_path: Path) -> None:
    name = install_prompt(MONO, tmp_path, "audio")
    assert name == upload_name(MONO) and name.startswith("upload-") and name.endswith(".wav")
    with wave.open(str(tmp_path / name)) as w:
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (1, 8000, 2)
    made = (tmp_path / name).stat().st_mtime_ns
    assert install_prompt(MONO, tmp_path, "audio") == name
    assert (tmp_path / name).stat().st_mtime_ns == made  # not made again
    with pytest.raises(ValidationError) as refused:
        install_prompt(STEREO, tmp_path / "other", "greeting_audio")
    assert refused.value.field == "greeting_audio" and "mono" in str(refused.value)
    assert not (tmp_path / "other").exists() or not list((tmp_path / "other").iterdir())
    with pytest.raises(ValidationError, match="not an MP3"):
        install_prompt(b"hello", tmp_path, "audio")


def test_the_store_keeps_the_recordings_name_and_refuses_a_path(store: Store) -> None:
    plan = CallPlanDirectory(store, actor="test")
    Directory(store, actor="test")
    plan.add_connection("vnpt", "register", ["sip.vnpt.test"], username="842838000001",
                        password="Tr0nk-s3cret!x")
    plan.add_number("+842838123456", "vnpt", "hangup")
    name = upload_name(MONO)
    menu = plan.add_menu("main", "Press 1.", audio=name)
    assert menu.audio == name and plan.routing().menus["main"].audio == name
    assert plan.update_menu("main", audio="").audio is None
    number = plan.update_number("+842838123456", greeting=True, greeting_audio=name)
    assert number.greeting is not None and number.greeting.audio == name
    for bad in ("../../etc/passwd", "/tmp/x.wav", "upload-xyz.wav", name + "/"):
        with pytest.raises(ValidationError) as refused:
            plan.update_menu("main", audio=bad)
        assert refused.value.field == "audio"
        with pytest.raises(ValidationError):
            plan.update_number("+842838123456", greeting_audio=bad)
    assert plan.get_number("+842838123456").greeting.audio == name  # type: ignore[union-attr]


def test_the_engine_plays_the_recording_and_the_text_when_it_is_gone(tmp_path: Path) -> None:
    box, plane = greeting_box()
    name = install_prompt(MONO, tmp_path, "audio")
    box.b2bua.prompt_folder = tmp_path
    number = box.routing.numbers[DID]
    box.routing = replace(box.routing, numbers={DID: replace(number, greeting=Greeting(
        "en", None, 5, audio=name))})
    box.carrier_call()
    assert plane.played == [name]
    box, plane = greeting_box()
    box.b2bua.prompt_folder = tmp_path
    box.routing = replace(box.routing, numbers={DID: Number(
        DID, 1, Destination("menu", "main"), contacts_map=False, to_header=False)},
        menus={"main": Menu("main", "Press 1.", audio="upload-0000000000000000.wav")})
    box.carrier_call()
    assert plane.played == ["Press 1.-en.wav"]  # no such file: the text spoken
