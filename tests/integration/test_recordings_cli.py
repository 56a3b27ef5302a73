"""Call recordings from the CLI, as separate processes over a real migrated store: an office
number set to record its calls, the recordings listed (none, then one the daemon's directory
kept), shown on its call in ``appliance calls --json``, and swept by the quota."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from appliance.directory import call_history
from appliance.directory.recordings import RecordingsDirectory
from appliance.store import open_store
from tests.integration.conftest import appliance, appliance_json, write_config
from tests.integration.sip_helpers import sip_config

DID = "+842873001234"
REF = "ab12cd34"


def test_a_number_records_and_its_recording_is_listed_and_on_its_call(config: Path) -> None:
    appliance(config, "trunk", "add", "viettel", "--kind", "ip", "--server", "127.0.0.2",
              "--source", "127.0.0.2", "--did", DID)
    assert appliance_json(config, "number", "show", DID)["record"] is False
    assert appliance_json(config, "number", "edit", DID, "--record")["record"] is True
    assert appliance_json(config, "number", "list")[0]["record"] is True
    assert appliance_json(config, "recordings", "list") == []
    assert appliance(config, "recordings", "list").stdout.split() == [
        "ID", "CALL_REF", "CREATED_AT", "SECONDS", "SIZE"]

    data = config.parent / "data"
    store = open_store(f"sqlite:///{data / 'appliance.db'}", create=False)
    started = datetime.now(UTC) - timedelta(minutes=1)
    call_history.write(store, [{
        "ref": REF, "call_id": "c-1", "direction": "inbound", "caller": "0909123456",
        "caller_employee_id": None, "callee": "101", "callee_employee_id": None,
        "dialled": DID, "connection": "viettel", "answered_by": "101",
        "answered_by_employee_id": None, "started_at": started, "answered_at": started,
        "ended_at": started + timedelta(seconds=30), "ring_seconds": 2.0,
        "talk_seconds": 28.0, "outcome": "answered", "status": 200, "reason": "bye"}],
        {}, [], started)
    wav = data / "recordings" / "2025" / "03" / f"{REF}.wav"
    wav.parent.mkdir(parents=True)
    wav.write_bytes(b"R" * 2 * (1 << 20))
    key = RecordingsDirectory(store, actor="sip").keep(REF, f"2025/03/{REF}.wav", 28.0,
                                                       2 * (1 << 20))
    store.dispose()

    listed, = appliance_json(config, "recordings", "list")
    assert (listed["id"], listed["call_ref"], listed["seconds"], listed["bytes"],
            listed["path"]) == (key, REF, 28.0, 2 * (1 << 20), f"2025/03/{REF}.wav")
    table = appliance(config, "recordings", "list").stdout.splitlines()
    assert REF in table[1] and "28s" in table[1] and "2.0 MB" in table[1]
    call, = appliance_json(config, "calls")
    assert (call["ref"], call["recording"]) == (REF, key)

    swept = appliance(config, "recordings", "sweep").stdout  # 2 MB fit the default 2048 MB
    assert "0 recording(s) removed" in swept and wav.exists()


def test_the_sweep_applies_the_configured_quota(tmp_path: Path) -> None:
    config = write_config(tmp_path, "[recording]\nquota_mb = 1\nretention_days = 30\n")
    appliance(config, "init")
    data = tmp_path / "data"
    store = open_store(f"sqlite:///{data / 'appliance.db'}", create=False)
    wav = data / "recordings" / "2025" / "03" / f"{REF}.wav"
    wav.parent.mkdir(parents=True)
    wav.write_bytes(b"R" * 2 * (1 << 20))
    RecordingsDirectory(store).keep(REF, f"2025/03/{REF}.wav", 60.0, 2 * (1 << 20))
    store.dispose()
    out = appliance(config, "recordings", "sweep").stdout.splitlines()
    assert out == [f"removed 2025/03/{REF}.wav",
                   "1 recording(s) removed (quota 1 MB, kept 30 days)"]
    assert not wav.exists() and appliance_json(config, "recordings", "list") == []


def test_hold_music_upload_is_checked_and_audited(tmp_path: Path) -> None:
    """A stereo MP3 and a file that is no MP3 are refused with the reason and change
    nothing; a mono one is converted and plays from then on; removing it goes back."""
    config = sip_config(tmp_path)
    media = Path(__file__).resolve().parents[1] / "data" / "media"
    assert appliance_json(config, "hold-music", "show")["music"] == "built-in"
    refused = appliance(config, "hold-music", "upload", str(media / "hold-stereo.mp3"),
                        check=False)
    assert refused.returncode == 1 and "must be mono" in refused.stderr
    not_mp3 = tmp_path / "notes.mp3"
    not_mp3.write_text("not music at all\n" * 50)
    refused = appliance(config, "hold-music", "upload", str(not_mp3), check=False)
    assert refused.returncode == 1 and "not an MP3" in refused.stderr
    assert appliance_json(config, "hold-music", "show")["music"] == "built-in"
    shown = appliance_json(config, "hold-music", "upload", str(media / "hold-mono.mp3"))
    assert shown["music"] == "uploaded" and 1.9 <= shown["seconds"] <= 2.2
    assert (tmp_path / "data" / "media" / "prompts" / "hold-uploaded.wav").exists()
    assert "back to the built-in" in appliance(config, "hold-music", "remove").stdout
    actions = [e["action"] for e in appliance_json(config, "audit")]
    assert "hold_music.uploaded" in actions and "hold_music.removed" in actions
