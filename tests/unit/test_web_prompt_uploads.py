"""Recorded prompts on the web page: an existing voice menu's recording played instead of its
text spoken (/menus/<name>, "Recorded prompt") and an office number's greeting recording
(/numbers/<did>, "Recorded greeting"). An admin uploads a mono MP3 (past the app's 64 kB:
the routes take what a voicemail greeting upload may), converted once into the prompts
folder as upload-<sha16>.wav and its name stored (audited as menu.updated / number.updated),
or goes back to the spoken text; a stereo file, not an MP3, one too big, one past the
request limit or none at all is refused beside the file field (English and Vietnamese) and
nothing is stored; a viewer sees what plays but no forms, and is refused the posts (403);
CSRF as every form."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from appliance.callplan.model import Server
from appliance.directory.office import CallPlanDirectory
from appliance.media import prompts
from appliance.media.uploads import upload_name
from appliance.store import Store
from appliance.store.tables import audit
from appliance.web import settings

pytest_plugins = ("tests.unit.conftest_web",)

MEDIA = Path(__file__).resolve().parents[1] / "data" / "media"
MONO = (MEDIA / "hold-mono.mp3").read_bytes()
STEREO = (MEDIA / "hold-stereo.mp3").read_bytes()
DID = "+842873001234"


@dataclass(frozen=True)
class Target:
    """A page with a recording card: where it is, where its forms post, what it stores."""

    kind: str  # "menu" or "number"
    page: str
    upload: str
    remove: str
    action: str  # its audit action
    field: str  # the directory field the name is kept in
    spoken: str  # what callers hear without a recording
    title: str
    back: str  # the button back to speech
    uploaded: str  # the flash after an upload
    removed: str  # the flash after the way back
    none: str  # the flash when there was no recording

    def stored(self, plan: CallPlanDirectory) -> str | None:
        if self.kind == "menu":
            return plan.get_menu("main").audio
        greeting = plan.get_number(DID).greeting
        return greeting.audio if greeting else None


MENU = Target("menu", "/menus/main", "/menus/main/audio", "/menus/main/audio/remove",
              "menu.updated", "audio", "Callers hear the menu's text spoken.",
              "Recorded prompt", "Use the spoken text",
              "Callers of voice menu main now hear the uploaded recording.",
              "Voice menu main speaks its text again.",
              "Voice menu main had no recording: its text is spoken.")
NUMBER = Target("number", "/numbers/+842873001234", "/numbers/+842873001234/greeting-audio",
                "/numbers/+842873001234/greeting-audio/remove", "number.updated",
                "greeting_audio", "Callers hear the built-in greeting.", "Recorded greeting",
                "Use the spoken greeting",
                f"Callers of number {DID} now hear the uploaded greeting.",
                f"Number {DID} speaks its greeting again.",
                f"Number {DID} had no recording: its greeting is spoken.")
TARGETS = pytest.mark.parametrize("target", [MENU, NUMBER], ids=["menu", "number"])


@pytest.fixture
def plan(store: Store) -> CallPlanDirectory:
    """A connection carrying DID (greeted, built-in greeting) and a voice menu ``main``."""
    directory = CallPlanDirectory(store, actor="test")
    directory.add_connection("viettel", "ip", [Server("127.0.0.2")],
                             allowed_sources=["127.0.0.2"])
    directory.add_number(DID, "viettel", "hangup", greeting=True)
    directory.add_menu("main", "Press 1 for sales.")
    return directory


def text(response: Any) -> str:
    return response.get_data(as_text=True)  # type: ignore[no-any-return]


def folder(tmp_path: Path) -> Path:
    return prompts.folder_of(tmp_path)


def uploads(tmp_path: Path) -> list[str]:
    """The recordings in the prompts folder."""
    where = folder(tmp_path)
    return sorted(p.name for p in where.glob("upload-*")) if where.exists() else []


def audited(store: Store, action: str) -> list[list[str]]:
    """The fields each ``action`` audit entry names."""
    with store.read() as db:
        return [list(r.detail["fields"]) for r in db.execute(
            select(audit.c.detail).where(audit.c.action == action).order_by(audit.c.id))]


def upload(client: FlaskClient, web: Any, target: Target, data: bytes,
           name: str = "hello.mp3") -> Any:
    return web.post(client, target.upload, {"file": (io.BytesIO(data), name)})


def card(html: str) -> str:
    """The recording card of a page."""
    start = html.index('id="recording"')
    return html[start:html.index("</section>", start)]


@TARGETS
def test_a_mono_mp3_is_played_instead_and_the_spoken_text_comes_back(
        client: FlaskClient, plan: CallPlanDirectory, store: Store, tmp_path: Path,
        web: Any, target: Target) -> None:
    shown = card(text(client.get(target.page)))
    assert f"<h2>{target.title}</h2>" in shown and target.spoken in shown
    assert 'enctype="multipart/form-data"' in shown and 'accept=".mp3,audio/mpeg"' in shown
    assert f'action="{target.upload}"' in shown and target.remove not in shown
    big = MONO * (settings.UPLOAD_LIMIT // 4 // len(MONO))  # past the app's 64 kB, up to 2 MB
    response = upload(client, web, target, big)
    assert response.status_code == 302, text(response)
    assert response.location == f"{target.page}#recording"
    name = upload_name(big)
    assert uploads(tmp_path) == [name] and target.stored(plan) == name
    assert audited(store, target.action) == [[target.field]]
    seconds = round(prompts.wav_seconds(folder(tmp_path) / name), 1)
    html = text(client.get(response.location))
    assert target.uploaded in html
    shown = card(html)
    assert f"Callers hear the uploaded recording ({seconds} s)." in shown
    assert f'action="{target.remove}"' in shown and target.back in shown
    assert 'data-confirm="Stop playing the recording and speak the text again?"' in shown
    done = web.post(client, target.remove)
    assert done.status_code == 302 and done.location == f"{target.page}#recording"
    html = text(client.get(done.location))
    assert target.removed in html and target.spoken in card(html)
    assert target.stored(plan) is None and target.remove not in card(html)
    assert audited(store, target.action) == [[target.field], [target.field]]
    assert uploads(tmp_path) == [name]  # the file stays: another prompt may hold it
    again = web.post(client, target.remove, follow=True)
    assert target.none in text(again)
    assert len(audited(store, target.action)) == 2  # nothing changed, nothing audited
    web.post(client, "/language", {"language": "vi"})
    assert "Dùng" not in card(text(client.get(target.page)))  # no way back without one
    assert upload(client, web, target, MONO).status_code == 302
    html = text(client.get(target.page))
    assert "Người gọi nghe bản ghi âm đã tải lên (" in card(html)


@TARGETS
@pytest.mark.parametrize(("data", "english", "vietnamese"), [
    (STEREO, "The MP3 must be mono; this one has 2 channels (stereo).",
     "Tệp MP3 phải là đơn kênh (mono); tệp này có 2 kênh (stereo)."),
    (b"RIFF....WAVEfmt not an mp3 at all", "This is not an MP3 file.",
     "Đây không phải là tệp MP3."),
    (b"\0" * (3 * 1024 * 1024), "At most 2 MB; this file is 3.0 MB.",
     "Tối đa 2 MB; tệp này nặng 3.0 MB."),
], ids=["stereo", "not-mp3", "too-big"])
def test_a_refused_file_says_why_beside_the_field_and_nothing_is_stored(
        client: FlaskClient, plan: CallPlanDirectory, store: Store, tmp_path: Path,
        web: Any, target: Target, data: bytes, english: str, vietnamese: str) -> None:
    response = upload(client, web, target, data)
    assert response.status_code == 400
    shown = card(text(response))
    assert f'<p class="field-error" id="file-error">{english}</p>' in shown
    assert 'aria-describedby="file-error"' in shown
    web.post(client, "/language", {"language": "vi"})
    assert vietnamese in card(text(upload(client, web, target, data)))
    assert uploads(tmp_path) == [] and target.stored(plan) is None
    assert audited(store, target.action) == []


@TARGETS
def test_a_file_past_the_request_limit_or_none_chosen_is_refused(
        client: FlaskClient, plan: CallPlanDirectory, store: Store, tmp_path: Path,
        web: Any, target: Target) -> None:
    response = upload(client, web, target, b"\0" * (settings.UPLOAD_LIMIT + 1))
    assert response.status_code == 302
    assert response.location == f"{target.page}?upload=too-big#recording"
    html = text(client.get(response.location))
    assert '<p class="field-error" id="file-error">The file is too large: at most 2 MB.</p>' \
        in card(html)
    none = web.post(client, target.upload, {})
    assert none.status_code == 400
    assert "Choose an MP3 file to upload." in card(text(none))
    empty = upload(client, web, target, b"", name="")
    assert empty.status_code == 400 and "Choose an MP3 file to upload." in text(empty)
    big = web.post(client, target.page, {"destination": "x" * (64 * 1024)})
    assert big.status_code == 413  # the page's own form keeps the app's small limit
    assert uploads(tmp_path) == [] and target.stored(plan) is None
    assert audited(store, target.action) == []


@TARGETS
def test_a_recording_whose_file_is_gone_says_the_text_is_spoken(
        client: FlaskClient, plan: CallPlanDirectory, tmp_path: Path, web: Any,
        target: Target) -> None:
    assert upload(client, web, target, MONO).status_code == 302
    (folder(tmp_path) / upload_name(MONO)).unlink()
    shown = card(text(client.get(target.page)))
    assert "The uploaded recording is missing from the box: callers hear the spoken text " \
        "instead." in shown
    assert target.back in shown  # and it can be cleared


def test_a_number_greeting_off_says_nothing_plays_and_a_text_is_spoken(
        client: FlaskClient, plan: CallPlanDirectory) -> None:
    shown = card(text(client.get(NUMBER.page)))
    assert 'id="recording-note"' not in shown
    plan.update_number(DID, greeting=False, greeting_text="Hello, this is the office.")
    shown = card(text(client.get(NUMBER.page)))
    assert "Callers hear the greeting text spoken." in shown
    assert "The greeting is off: nothing plays until “Greeting” is ticked and saved." in shown


def test_new_pages_have_no_card_and_unknown_ones_are_404(
        client: FlaskClient, plan: CallPlanDirectory, web: Any) -> None:
    assert 'id="recording"' not in text(client.get("/menus/new"))
    assert 'id="recording"' not in text(client.get("/numbers/new"))
    for path in ("/menus/nope/audio", "/menus/nope/audio/remove",
                 "/numbers/%2B842873009999/greeting-audio",
                 "/numbers/%2B842873009999/greeting-audio/remove"):
        assert web.post(client, path, {"file": (io.BytesIO(MONO), "a.mp3")}).status_code \
            == 404, path


@TARGETS
def test_a_viewer_sees_what_plays_but_cannot_change_it(
        client: FlaskClient, viewer: FlaskClient, plan: CallPlanDirectory, store: Store,
        tmp_path: Path, web: Any, target: Target) -> None:
    assert upload(client, web, target, MONO).status_code == 302
    shown = card(text(viewer.get(target.page)))
    assert "Callers hear the uploaded recording (" in shown
    assert "<form" not in shown and target.back not in shown
    stereo = upload(viewer, web, target, STEREO)
    assert stereo.status_code == 403
    assert "Your account can only view; ask an admin." in text(stereo)
    assert web.post(viewer, target.remove).status_code == 403
    assert target.stored(plan) == upload_name(MONO) and uploads(tmp_path) == [upload_name(MONO)]
    assert len(audited(store, target.action)) == 1


@TARGETS
def test_a_post_without_csrf_is_refused(
        client: FlaskClient, plan: CallPlanDirectory, store: Store, tmp_path: Path,
        web: Any, target: Target) -> None:
    response = client.post(target.upload, data={"file": (io.BytesIO(MONO), "hello.mp3")})
    assert response.status_code == 400
    assert uploads(tmp_path) == [] and target.stored(plan) is None
    assert upload(client, web, target, MONO).status_code == 302
    assert client.post(target.remove).status_code == 400
    assert target.stored(plan) == upload_name(MONO)
    assert len(audited(store, target.action)) == 1
