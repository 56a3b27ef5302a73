"""The Settings page's music on hold: what plays (built in, or the upload and its length), an
admin uploads a mono MP3 (up to 2 MB: past the page's usual request limit) or goes back to the
built-in music, both audited as the web user; a file refused says why beside the field and
nothing is stored; a viewer sees what plays but changes nothing."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from appliance.media import hold, prompts
from appliance.store import Store
from appliance.store import settings as kv
from appliance.store.tables import audit
from appliance.web import settings

pytest_plugins = ("tests.unit.conftest_web",)

MEDIA = Path(__file__).resolve().parents[1] / "data" / "media"
MONO = (MEDIA / "hold-mono.mp3").read_bytes()
STEREO = (MEDIA / "hold-stereo.mp3").read_bytes()


def text(response: Any) -> str:
    """A response's HTML."""
    return response.get_data(as_text=True)  # type: ignore[no-any-return]


def uploaded(tmp_path: Path) -> Path:
    """Where the uploaded hold music is kept (the test box's data folder is tmp_path)."""
    return prompts.folder_of(tmp_path) / hold.UPLOADED


def hold_entries(store: Store) -> list[tuple[str, str, str, dict[str, Any]]]:
    """The hold music's audit entries: actor, action, target, detail."""
    with store.read() as db:
        return [(r.actor, r.action, r.target, dict(r.detail)) for r in db.execute(
            select(audit).where(audit.c.action.like("hold_music.%")).order_by(audit.c.id))]


def upload(client: FlaskClient, web: Any, data: bytes, name: str = "music.mp3") -> Any:
    """Post ``data`` as the hold music form does (multipart, with the CSRF token)."""
    return web.post(client, "/settings/hold-music", {"file": (io.BytesIO(data), name)})


def test_the_built_in_music_plays_until_an_admin_uploads_a_mono_mp3(
        client: FlaskClient, web: Any, store: Store, tmp_path: Path) -> None:
    html = text(client.get("/settings"))
    assert "Music on hold" in html
    assert "Callers on hold hear the built-in music" in html and "in English" in html
    assert 'enctype="multipart/form-data"' in html and 'accept=".mp3,audio/mpeg"' in html
    assert "Use the built-in music" not in html  # nothing uploaded to remove
    response = upload(client, web, MONO)
    assert response.status_code == 302
    assert response.location == "/settings#hold-music"
    seconds = round(prompts.wav_seconds(uploaded(tmp_path)), 1)
    assert seconds > 0
    assert hold_entries(store) == [("web:boss", "hold_music.uploaded", "hold music",
                                    {"bytes": len(MONO), "seconds": seconds})]
    html = text(client.get("/settings"))
    assert f"Callers on hold hear the uploaded music ({seconds} s)." in html
    assert "Use the built-in music" in html
    page = text(client.get("/audit"))
    assert "Hold music uploaded" in page and f"{seconds} s of music." in page


def test_an_upload_of_up_to_2_mb_passes_the_request_limit(
        client: FlaskClient, web: Any, store: Store, tmp_path: Path) -> None:
    big = MONO * (hold.MAX_UPLOAD // len(MONO))  # MP3 frames one after the other: one MP3
    assert 64 * 1024 < len(big) <= hold.MAX_UPLOAD
    assert upload(client, web, big).status_code == 302
    assert uploaded(tmp_path).exists()
    [(_, action, _, detail)] = hold_entries(store)
    assert action == "hold_music.uploaded" and detail["bytes"] == len(big)


@pytest.mark.parametrize(("data", "english", "vietnamese"), [
    (STEREO, "The MP3 must be mono; this one has 2 channels (stereo).",
     "Tệp MP3 phải là đơn kênh (mono); tệp này có 2 kênh (stereo)."),
    (b"RIFF....WAVEfmt not an mp3 at all", "This is not an MP3 file.",
     "Đây không phải là tệp MP3."),
    (b"\0" * (3 * 1024 * 1024), "At most 2 MB; this file is 3.0 MB.",
     "Tối đa 2 MB; tệp này nặng 3.0 MB."),
], ids=["stereo", "not-mp3", "too-big"])
def test_a_refused_file_says_why_beside_the_field_and_nothing_is_stored(
        client: FlaskClient, web: Any, store: Store, tmp_path: Path, data: bytes,
        english: str, vietnamese: str) -> None:
    response = upload(client, web, data)
    assert response.status_code == 400
    html = text(response)
    assert f'<p class="field-error" id="file-error">{english}</p>' in html
    assert 'aria-describedby="file-error"' in html
    web.post(client, "/language", {"language": "vi"})
    assert vietnamese in text(upload(client, web, data))
    assert not uploaded(tmp_path).exists() and hold_entries(store) == []


def test_a_file_past_the_request_limit_is_refused_before_it_is_read(
        client: FlaskClient, web: Any, store: Store, tmp_path: Path) -> None:
    response = upload(client, web, b"\0" * (settings.UPLOAD_LIMIT + 1))
    assert response.status_code == 302
    assert response.location == "/settings?upload=too-big#hold-music"
    html = text(client.get(response.location))
    assert '<p class="field-error" id="file-error">The file is too large: at most 2 MB.</p>' \
        in html
    assert not uploaded(tmp_path).exists() and hold_entries(store) == []
    # the rest of the page keeps its small limit
    big = web.post(client, "/settings", {"sip_domain": "x" * (settings.UPLOAD_LIMIT + 1)})
    assert big.status_code == 413 and "What was sent is too large." in text(big)


def test_no_file_chosen(client: FlaskClient, web: Any, store: Store) -> None:
    response = web.post(client, "/settings/hold-music", {})
    assert response.status_code == 400
    assert "Choose an MP3 file to upload." in text(response) and hold_entries(store) == []


def test_back_to_the_built_in_music_audited(client: FlaskClient, web: Any, store: Store,
                                            tmp_path: Path) -> None:
    assert upload(client, web, MONO).status_code == 302
    response = web.post(client, "/settings/hold-music/remove", follow=True)
    html = text(response)
    assert "The built-in music plays to callers on hold again." in html
    assert "Callers on hold hear the built-in music" in html
    assert not uploaded(tmp_path).exists()
    assert hold_entries(store)[-1] == ("web:boss", "hold_music.removed", "hold music", {})
    again = text(web.post(client, "/settings/hold-music/remove", follow=True))
    assert "No music was uploaded: the built-in music plays." in again
    assert len(hold_entries(store)) == 2
    assert "Hold music back to the built-in one" in text(client.get("/audit"))


def test_a_viewer_sees_what_plays_but_cannot_change_it(
        client: FlaskClient, viewer: FlaskClient, web: Any, store: Store,
        tmp_path: Path) -> None:
    html = text(viewer.get("/settings"))
    assert "Callers on hold hear the built-in music" in html
    assert 'id="hold-music-form"' not in html and 'name="file"' not in html
    assert upload(viewer, web, MONO).status_code == 403
    assert not uploaded(tmp_path).exists()
    assert upload(client, web, MONO).status_code == 302  # the admin's
    html = text(viewer.get("/settings"))
    assert "Callers on hold hear the uploaded music" in html
    assert "Use the built-in music" not in html
    assert web.post(viewer, "/settings/hold-music/remove").status_code == 403
    assert uploaded(tmp_path).exists() and len(hold_entries(store)) == 1


def test_the_section_in_vietnamese(client: FlaskClient, web: Any, store: Store) -> None:
    web.post(client, "/language", {"language": "vi"})
    html = text(client.get("/settings"))
    assert "Nhạc chờ" in html and "Người gọi đang chờ nghe nhạc có sẵn" in html
    assert "“xin vui lòng giữ máy” bằng tiếng Anh." in html
    assert "Nhạc của bạn (MP3)" in html and "Tải lên" in html
    with store.write() as db:  # the phones speak Vietnamese: so does the built-in music
        kv.put_overrides(db, {"provisioning": {"language": "vi"}})
    assert "“xin vui lòng giữ máy” bằng tiếng Việt." in text(client.get("/settings"))
