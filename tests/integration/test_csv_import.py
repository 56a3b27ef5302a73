"""CSV import and export with the real CLI and the running daemon's admin page: dry runs
write nothing, a bad row stops the whole file, Vietnamese names round-trip through Excel's
UTF-8 with a byte-order mark."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.conftest import appliance, appliance_json, start_daemon
from tests.integration.test_backup import PASSWORD, add_admin
from tests.integration.web_client import WebClient

pytestmark = pytest.mark.integration
AN, BINH = "Nguyễn Văn An", "Trần Thị Bình"


def test_cli_dry_run_import_export_round_trip(config: Path, tmp_path: Path) -> None:
    appliance(config, "ext", "add", "100")
    sheet = tmp_path / "people.csv"
    # as Excel in a Vietnamese locale saves it: BOM, semicolons, CRLF
    sheet.write_bytes(f"\ufeffName;Mobile;Extension\r\n{AN};+84 912 345 678;100\r\n"
                      f"{BINH};;\r\n".encode())
    dry = appliance(config, "employee", "import", str(sheet), "--dry-run")
    assert f"row 2: employee 1 added: {AN}" in dry.stdout
    assert "row 2: extension 100 assigned: employee 1" in dry.stdout
    assert "3 change(s) would be made (dry run, nothing written)" in dry.stdout
    assert appliance_json(config, "employee", "list") == []
    done = appliance_json(config, "employee", "import", str(sheet))
    assert done["written"] and len(done["changes"]) == 3
    people = appliance_json(config, "employee", "list")
    assert [(p["name"], p["mobile"], p["extension"]) for p in people] == [
        (AN, "84912345678", "100"), (BINH, None, None)]
    actions = {a["action"] for a in appliance_json(config, "audit", "--search", "command line")}
    assert {"employee.added", "extension.assigned"} <= actions

    exported = tmp_path / "export.csv"
    appliance(config, "employee", "export", str(exported))
    raw = exported.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and AN.encode() in raw
    again = appliance(config, "employee", "import", str(exported))
    assert "0 change(s) made" in again.stdout
    stdout = appliance(config, "ext", "export", "-").stdout
    assert "number,name,permission,receive,supervisor,group,description,employee_id" in stdout


def test_cli_import_with_a_bad_row_writes_nothing(config: Path, tmp_path: Path) -> None:
    sheet = tmp_path / "ext.csv"
    sheet.write_text("number,name,permission,receive\n"
                     "200,reception,local,desk\n"
                     "20000,big,local,desk\n"
                     "201,reception,local,desk\n", encoding="utf-8")
    result = appliance(config, "ext", "import", str(sheet), check=False)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("row 3: number: an extension is 1 to 4 digits")
    assert lines[1] == "row 4: name: 'reception' is already extension 200's name"
    assert lines[-1] == f"Error: 2 problem(s) in {sheet}: nothing was imported"
    assert appliance_json(config, "ext", "list") == []
    assert appliance_json(config, "audit", "--search", "extension") == []
    latin = tmp_path / "latin.csv"
    latin.write_bytes("name\nNguyễn\n".encode("utf-16"))
    refused = appliance(config, "employee", "import", str(latin), check=False)
    assert refused.returncode == 1 and "not UTF-8" in refused.stderr


def test_web_upload_preview_and_import_on_the_running_daemon(config: Path) -> None:
    add_admin(config)
    daemon = start_daemon(config, env={**os.environ, "NOTIFY_SOCKET": ""})
    try:
        client = WebClient(daemon.ports["web"])
        assert client.login("boss", PASSWORD)[0] == 302
        sheet = f"number,name,receive\n101,an.nguyen,both\n102,{AN},desk\n".encode()
        status, _, body = client.post_multipart("/transfer", {"kind": "extensions",
                                                              "action": "preview"},
                                                "ext.csv", sheet)
        assert status == 400
        assert "Nothing was imported" in body.decode() and "<td>3</td><td>name</td>" \
            in body.decode()
        good = b"number,name,receive\n101,an.nguyen,both\n102,binh.tran,desk\n"
        status, _, body = client.post_multipart("/transfer", {"kind": "extensions",
                                                              "action": "import"},
                                                "ext.csv", good)
        assert status == 302, body[:500]
        assert [e["number"] for e in appliance_json(config, "ext", "list")] == ["101", "102"]
        status, _, data = client.get_raw("/transfer/extensions.csv")
        assert status == 200 and b"an.nguyen" in data
        daemon.wait_for_log("extension.added")  # the daemon hears of the import's changes
    finally:
        daemon.stop()
    actors = {a["actor"] for a in appliance_json(config, "audit", "--search", "extension.added")}
    assert actors == {"web:boss"}
