"""The Voicemail page: messages listed (extension, employee, caller, when, length, new or
heard) and filtered by employee; admins play and download them (each audited once as the
web user, never the sound, and the message marked heard), delete them (row and file); a
viewer sees the list but no sound, and is refused it (403) and every change; a message
whose row or file is gone, or whose path leaves the voicemail folder, is 404. Each active
employee's box: taking messages, PIN set or cleared (never shown, audited by name), e-mail,
the built-in greeting's language, an own greeting uploaded as a mono MP3 (a stereo one
refused with the reason beside the field) or removed; bad input says why and changes
nothing; CSRF as every form; English and Vietnamese."""

from __future__ import annotations

import io
import wave
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update

from appliance.directory import Directory
from appliance.directory.voicemail import VoicemailBox, VoicemailDirectory, folder_of
from appliance.media import prompts
from appliance.store import Store
from appliance.store.tables import audit
from appliance.store.voicemail_tables import voicemail_messages
from appliance.web import settings

pytest_plugins = ("tests.unit.conftest_web",)

MEDIA = Path(__file__).resolve().parents[1] / "data" / "media"
MONO = (MEDIA / "hold-mono.mp3").read_bytes()
STEREO = (MEDIA / "hold-stereo.mp3").read_bytes()


def text(response: Any) -> str:
    return response.get_data(as_text=True)  # type: ignore[no-any-return]


@pytest.fixture
def people(directory: Directory) -> tuple[int, int]:
    """An (holding 101) and Bình (holding 102)."""
    an = directory.add_employee("An").id
    binh = directory.add_employee("Bình").id
    for number, who in (("101", an), ("102", binh)):
        directory.add_extension(number)
        directory.assign_extension(number, who)
    return an, binh


@pytest.fixture
def vm(store: Store) -> VoicemailDirectory:
    return VoicemailDirectory(store, actor="sip")


def _wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(range(256)) * 64)
    return out.getvalue()


def left(vm: VoicemailDirectory, tmp_path: Path, employee_id: int, extension: str,
         name: str = "m1.wav", caller: str = "0909123456") -> tuple[int, bytes]:
    """A message the daemon kept (its WAV under the voicemail folder); its id, its bytes."""
    sound = _wav()
    file = folder_of(tmp_path) / str(employee_id) / name
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_bytes(sound)
    kept = vm.keep(employee_id, extension, caller=caller, caller_name="Khách",
                   call_ref="ab12cd34", path=f"{employee_id}/{name}", seconds=8.2,
                   bytes_=len(sound))
    return kept.id, sound


def entries(store: Store) -> list[tuple[str, str, str, dict[str, Any]]]:
    with store.read() as db:
        return [(r.actor, r.action, r.target, dict(r.detail)) for r in db.execute(
            select(audit).where(audit.c.action.like("voicemail.%")).order_by(audit.c.id))]


# -- messages -----------------------------------------------------------------------------------

def test_the_page_lists_messages_and_boxes_and_sits_next_to_calls(
        client: FlaskClient, vm: VoicemailDirectory, people: tuple[int, int],
        tmp_path: Path, web: type) -> None:
    an, binh = people
    first, _ = left(vm, tmp_path, an, "101")
    left(vm, tmp_path, binh, "102", caller="02838221234")
    vm.mark_heard(first)
    html = text(client.get("/"))
    assert html.index('href="/calls"') < html.index('href="/voicemail"') < html.index(
        'href="/callbacks"')
    html = text(client.get("/voicemail"))
    assert "<h1>Voicemail</h1>" in html and 'id="voicemail-messages"' in html
    assert "0909123456" in html and "02838221234" in html and "Khách" in html
    assert ">8 s</td>" in html and ">heard</span>" in html and ">new</span>" in html
    assert f'<audio controls preload="none" src="/voicemail/message/{first}">' in html
    assert f'href="/voicemail/message/{first}?download=1" download>Download</a>' in html
    assert f'action="/voicemail/message/{first}/remove"' in html
    assert f'href="/voicemail/box/{an}"' in html and 'id="voicemail-boxes"' in html
    assert "built-in (English)" in html
    only = text(client.get(f"/voicemail?employee={binh}"))
    assert "02838221234" in only and "0909123456" not in only
    assert "0909123456" in text(client.get("/voicemail?employee=nonsense"))
    web.post(client, "/language", {"language": "vi"})
    html = text(client.get("/voicemail"))
    assert "Hộp thư thoại" in html and ">Nghe</summary>" in html and ">Tải xuống</a>" in html


def test_an_admin_plays_and_downloads_a_message_audited_and_heard(
        client: FlaskClient, vm: VoicemailDirectory, people: tuple[int, int],
        tmp_path: Path, store: Store, web: type) -> None:
    an, _ = people
    key, sound = left(vm, tmp_path, an, "101")
    played = f"/voicemail/message/{key}"
    answer = client.get(played)
    assert answer.status_code == 200 and answer.mimetype == "audio/wav"
    assert answer.get_data() == sound and answer.headers["Cache-Control"] == "no-store"
    assert vm.message(key).heard and vm.counts(an) == (0, 1)
    part = client.get(played, headers={"Range": "bytes=100-199"})  # a player seeking
    assert part.status_code == 206 and part.get_data() == sound[100:200]
    got = client.get(f"{played}?download=1")
    assert got.status_code == 200 and got.get_data() == sound
    assert f"attachment; filename=voicemail-{key}.wav" in got.headers["Content-Disposition"]
    assert entries(store) == [
        ("web:boss", "voicemail.listened", str(an),
         {"employee_id": an, "message": key, "how": "played"}),
        ("web:boss", "voicemail.listened", str(an),
         {"employee_id": an, "message": key, "how": "downloaded"})]
    page = text(client.get("/audit"))
    assert "Voicemail message listened to" in page and f"Message {key}, downloaded." in page
    assert "voicemail of An (#1)" in page
    web.post(client, "/language", {"language": "vi"})
    assert "Đã nghe tin nhắn thoại" in text(client.get("/audit"))


def test_a_viewer_sees_the_list_but_no_sound_and_changes_nothing(
        viewer: FlaskClient, vm: VoicemailDirectory, people: tuple[int, int],
        tmp_path: Path, store: Store, web: type) -> None:
    an, _ = people
    key, _ = left(vm, tmp_path, an, "101")
    html = text(viewer.get("/voicemail"))
    assert "0909123456" in html
    assert "/voicemail/message/" not in html and "<audio" not in html and "Delete" not in html
    assert viewer.get(f"/voicemail/message/{key}").status_code == 403
    assert viewer.get(f"/voicemail/message/{key}?download=1").status_code == 403
    token = web.csrf_of(viewer, "/")
    for path, form in ((f"/voicemail/message/{key}/remove", {}),
                       (f"/voicemail/box/{an}", {"enabled": "", "pin": "1234",
                                                  "language": "vi"}),
                       (f"/voicemail/box/{an}/greeting/remove", {})):
        assert viewer.post(path, data={**form, "csrf_token": token}).status_code == 403, path
    box = text(viewer.get(f"/voicemail/box/{an}"))
    assert "Takes messages" in box and 'id="box-form"' not in box and 'id="greeting-form"' \
        not in box
    assert vm.messages() == [vm.message(key)] and not vm.message(key).heard
    assert vm.box(an) == VoicemailBox(an) and entries(store) == []


def test_a_missing_message_or_file_or_a_path_leading_out_is_404(
        client: FlaskClient, vm: VoicemailDirectory, people: tuple[int, int],
        tmp_path: Path, store: Store) -> None:
    an, binh = people
    key, _ = left(vm, tmp_path, an, "101")
    assert client.get(f"/voicemail/message/{key + 1}").status_code == 404
    (folder_of(tmp_path) / str(an) / "m1.wav").unlink()
    gone = client.get(f"/voicemail/message/{key}")
    assert gone.status_code == 404 and "There is no such page." in text(gone)
    secret = tmp_path / "secret.wav"
    secret.write_bytes(_wav())
    for path in ("../secret.wav", str(secret), f"{an}/../../secret.wav"):
        with store.write() as db:  # rows the daemon never writes: as if the store were edited
            db.execute(update(voicemail_messages).where(voicemail_messages.c.id == key)
                       .values(path=path))
        assert client.get(f"/voicemail/message/{key}").status_code == 404, path
    (folder_of(tmp_path) / str(binh)).mkdir(parents=True)
    (folder_of(tmp_path) / str(binh) / "link.wav").symlink_to(secret)  # a link leading out
    (folder_of(tmp_path) / str(binh) / "out").symlink_to(tmp_path)
    for path in (f"{binh}/link.wav", f"{binh}/out/secret.wav"):
        with store.write() as db:
            db.execute(update(voicemail_messages).where(voicemail_messages.c.id == key)
                       .values(path=path))
        assert client.get(f"/voicemail/message/{key}?download=1").status_code == 404, path
    assert entries(store) == [] and not vm.message(key).heard


def test_an_admin_deletes_a_message_and_its_file(
        client: FlaskClient, vm: VoicemailDirectory, people: tuple[int, int],
        tmp_path: Path, store: Store, web: type) -> None:
    an, _ = people
    key, _ = left(vm, tmp_path, an, "101")
    other, _ = left(vm, tmp_path, an, "101", "m2.wav")
    refused = client.post(f"/voicemail/message/{key}/remove")  # no CSRF token
    assert refused.status_code == 400 and vm.message(key).id == key
    done = web.post(client, f"/voicemail/message/{key}/remove", follow=True)
    assert "The message from 0909123456 was deleted." in text(done)
    assert [m.id for m in vm.messages()] == [other]
    assert not (folder_of(tmp_path) / str(an) / "m1.wav").exists()
    assert (folder_of(tmp_path) / str(an) / "m2.wav").exists()
    again = web.post(client, f"/voicemail/message/{key}/remove", follow=True)
    assert "That message was deleted already." in text(again)
    assert entries(store) == [("web:boss", "voicemail.removed", str(an), {
        "employee_id": an, "message": key, "extension": "101", "caller": "0909123456"})]
    assert "Message 1 from 0909123456, left at extension 101." in text(client.get("/audit"))


# -- boxes --------------------------------------------------------------------------------------

def _save(client: FlaskClient, web: Any, employee_id: int, **form: str) -> Any:
    data = {"enabled": "on", "pin": "", "email": "", "language": "en", **form}
    return web.post(client, f"/voicemail/box/{employee_id}", {k: v for k, v in data.items()
                                                              if v is not None})


def test_an_admin_changes_a_box_audited_by_field_never_the_pin(
        client: FlaskClient, vm: VoicemailDirectory, people: tuple[int, int],
        store: Store, web: type) -> None:
    an, binh = people
    html = text(client.get(f"/voicemail/box/{an}"))
    assert "Voicemail of An" in html and "Extension 101." in html
    assert "No PIN yet: the box cannot be opened from a phone." in html
    response = _save(client, web, an, enabled=None, pin="24681357",
                     email="An@Example.com", language="vi")
    assert response.status_code == 302 and response.location == f"/voicemail/box/{an}"
    assert vm.box(an) == VoicemailBox(an, enabled=False, has_pin=True,
                                      email="An@example.com", language="vi")
    assert vm.check_pin(an, "24681357") and vm.box(binh) == VoicemailBox(binh)
    html = text(client.get(f"/voicemail/box/{an}"))
    assert "A PIN is set." in html and "24681357" not in html and "Clear the PIN" in html
    assert 'value="An@example.com"' in html
    _save(client, web, an, enabled="on", email="An@example.com", language="vi")  # PIN kept
    assert vm.check_pin(an, "24681357")
    _save(client, web, an, clear_pin="on")
    assert vm.box(an) == VoicemailBox(an)  # on, no PIN, no e-mail, English
    assert [(a, d["fields"]) for _, a, _, d in entries(store)] == [
        ("voicemail.updated", ["email", "enabled", "language", "pin"]),
        ("voicemail.updated", ["enabled"]),
        ("voicemail.updated", ["email", "language", "pin"])]
    page = text(client.get("/audit"))
    assert "24681357" not in page
    assert "Changed: e-mail address, taking messages, language, PIN." in page


@pytest.mark.parametrize(("form", "field", "english", "vietnamese"), [
    ({"pin": "123"}, "pin", "A PIN is 4 to 8 digits.", "Mã PIN gồm 4 đến 8 chữ số."),
    ({"pin": "12ab"}, "pin", "A PIN is 4 to 8 digits.", "Mã PIN gồm 4 đến 8 chữ số."),
    ({"pin": "1234", "clear_pin": "on"}, "pin", "Type a new PIN or clear it, not both.",
     "Hãy nhập mã PIN mới hoặc xoá mã PIN, không làm cả hai."),
    ({"email": "an at example"}, "email",
     "An e-mail address such as an@example.com, got &#39;an at example&#39;.",
     "Một địa chỉ e-mail như an@example.com, đã nhập &#39;an at example&#39;."),
    ({"language": "fr"}, "language", "Choose one of: en, vi.", "Chọn một trong: en, vi."),
], ids=["short-pin", "letters", "pin-and-clear", "email", "language"])
def test_a_bad_setting_says_why_beside_its_field_and_changes_nothing(
        client: FlaskClient, vm: VoicemailDirectory, people: tuple[int, int], store: Store,
        web: type, form: dict[str, str], field: str, english: str, vietnamese: str) -> None:
    an, _ = people
    vm.set_box(an, pin="9999", email="an@example.com")
    before = (vm.box(an), entries(store))
    response = _save(client, web, an, **{"enabled": None, "email": "b@example.com", **form})
    assert response.status_code == 400
    html = text(response)
    assert f'<p class="field-error" id="{field}-error">' in html and english in html, html
    assert f'aria-describedby="{field}-error"' in html
    assert "123" not in html.split('id="f-pin"')[1].split(">")[0]  # a PIN is never echoed
    web.post(client, "/language", {"language": "vi"})
    assert vietnamese in text(_save(client, web, an, **{"enabled": None, **form}))
    assert (vm.box(an), entries(store)) == before and vm.check_pin(an, "9999")


def test_an_unknown_or_dismissed_employees_box(
        client: FlaskClient, vm: VoicemailDirectory, directory: Directory,
        people: tuple[int, int], tmp_path: Path, store: Store, web: type) -> None:
    an, _ = people
    assert client.get("/voicemail/box/99").status_code == 404
    assert _save(client, web, 99, pin="1234").status_code == 404
    key, _ = left(vm, tmp_path, an, "101")
    directory.dismiss(an)
    html = text(client.get(f"/voicemail/box/{an}"))
    assert "Dismissed: the box takes no more messages; its messages are kept." in html
    assert 'id="box-form"' not in html and 'id="greeting-form"' not in html
    assert f'href="/voicemail/box/{an}"' not in text(client.get("/voicemail")).split(
        'id="voicemail-boxes"')[1]  # only active employees' boxes are listed
    refused = _save(client, web, an, pin="1234")
    assert refused.status_code == 400
    assert f"Employee {an} is dismissed and cannot be changed." in text(refused)
    upload = web.post(client, f"/voicemail/box/{an}/greeting",
                      {"file": (io.BytesIO(MONO), "hello.mp3")})
    assert upload.status_code == 400 and "is dismissed" in text(upload)
    assert vm.box(an) == VoicemailBox(an) and entries(store) == []
    assert [m.id for m in vm.messages(an)] == [key]  # kept


# -- greetings ----------------------------------------------------------------------------------

def _upload(client: FlaskClient, web: Any, employee_id: int, data: bytes) -> Any:
    return web.post(client, f"/voicemail/box/{employee_id}/greeting",
                    {"file": (io.BytesIO(data), "hello.mp3")})


def test_a_mono_mp3_becomes_the_own_greeting_and_can_be_removed(
        client: FlaskClient, vm: VoicemailDirectory, people: tuple[int, int],
        tmp_path: Path, store: Store, web: type) -> None:
    an, _ = people
    html = text(client.get(f"/voicemail/box/{an}"))
    assert "Callers hear the built-in greeting." in html and "Use the built-in greeting" \
        not in html
    assert 'enctype="multipart/form-data"' in html and 'accept=".mp3,audio/mpeg"' in html
    big = MONO * (settings.UPLOAD_LIMIT // 4 // len(MONO))  # past the app's 64 kB, up to 2 MB
    response = _upload(client, web, an, big)
    assert response.status_code == 302, text(response)
    assert response.location == f"/voicemail/box/{an}#greeting"
    wav = folder_of(tmp_path) / str(an) / "greeting.wav"
    seconds = round(prompts.wav_seconds(wav), 1)
    assert vm.box(an).greeting == f"{an}/greeting.wav"
    assert (folder_of(tmp_path) / str(an)).stat().st_mode & 0o077 == 0
    html = text(client.get(f"/voicemail/box/{an}"))
    assert f"Callers hear the box's own greeting ({seconds} s)." in html
    assert "Use the built-in greeting" in html
    done = web.post(client, f"/voicemail/box/{an}/greeting/remove", follow=True)
    assert "Callers hear the built-in greeting again." in text(done)
    assert not wav.exists() and vm.box(an).greeting is None
    again = web.post(client, f"/voicemail/box/{an}/greeting/remove", follow=True)
    assert "There was no own greeting: the built-in one plays." in text(again)
    assert [a for _, a, _, _ in entries(store)] == ["voicemail.greeting_set",
                                                   "voicemail.greeting_removed"]
    page = text(client.get("/audit"))
    assert "Voicemail greeting set" in page and "Callers hear the box&#39;s own greeting." in page


@pytest.mark.parametrize(("data", "english", "vietnamese"), [
    (STEREO, "The MP3 must be mono; this one has 2 channels (stereo).",
     "Tệp MP3 phải là đơn kênh (mono); tệp này có 2 kênh (stereo)."),
    (b"RIFF....WAVEfmt not an mp3 at all", "This is not an MP3 file.",
     "Đây không phải là tệp MP3."),
    (b"\0" * (3 * 1024 * 1024), "At most 2 MB; this file is 3.0 MB.",
     "Tối đa 2 MB; tệp này nặng 3.0 MB."),
], ids=["stereo", "not-mp3", "too-big"])
def test_a_refused_greeting_says_why_beside_the_field_and_nothing_is_stored(
        client: FlaskClient, vm: VoicemailDirectory, people: tuple[int, int],
        tmp_path: Path, store: Store, web: type, data: bytes, english: str,
        vietnamese: str) -> None:
    an, _ = people
    response = _upload(client, web, an, data)
    assert response.status_code == 400
    html = text(response)
    assert f'<p class="field-error" id="file-error">{english}</p>' in html
    assert 'aria-describedby="file-error"' in html
    web.post(client, "/language", {"language": "vi"})
    assert vietnamese in text(_upload(client, web, an, data))
    assert not (folder_of(tmp_path) / str(an)).exists()
    assert vm.box(an).greeting is None and entries(store) == []


def test_a_greeting_past_the_request_limit_or_none_chosen(
        client: FlaskClient, vm: VoicemailDirectory, people: tuple[int, int],
        tmp_path: Path, store: Store, web: type) -> None:
    an, _ = people
    response = _upload(client, web, an, b"\0" * (settings.UPLOAD_LIMIT + 1))
    assert response.status_code == 302
    assert response.location == f"/voicemail/box/{an}?upload=too-big#greeting"
    html = text(client.get(response.location))
    assert '<p class="field-error" id="file-error">The file is too large: at most 2 MB.</p>' \
        in html
    none = web.post(client, f"/voicemail/box/{an}/greeting", {})
    assert none.status_code == 400 and "Choose an MP3 file to upload." in text(none)
    big = _save(client, web, an, email="x" * (settings.UPLOAD_LIMIT + 1))
    assert big.status_code == 413  # the settings form keeps the app's small limit
    assert vm.box(an) == VoicemailBox(an) and entries(store) == []
    assert not (folder_of(tmp_path) / str(an)).exists()
