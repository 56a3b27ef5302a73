"""A phone's message lamp (RFC 3842) through the running daemon: SIPp registers and
subscribes to its own mailbox's message-summary with digest, gets the NOTIFY with no message
waiting, then the one with Voice-Message 1/0 once the test keeps a message through
``VoicemailDirectory.keep`` (another process: the change reaches the daemon through the
events outbox), and unsubscribes. All on 127.0.0.1."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.sip_helpers import (
    UdpClient,
    add_accounts,
    address,
    credentials,
    sip_config,
    sipp_command,
    start_sip_daemon,
)

pytestmark = pytest.mark.integration


def _keep_a_message(config: Path, employee_id: int, extension: str) -> None:
    """What the call engine does once a message is recorded: its WAV, then its row."""
    from appliance import config as config_mod
    from appliance.directory.voicemail import VoicemailDirectory, folder_of
    from appliance.store import open_store

    cfg = config_mod.load(config, {})
    folder = folder_of(cfg.paths.data) / str(employee_id)
    folder.mkdir(parents=True, exist_ok=True)
    wav = folder / "message-1.wav"
    wav.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(32))
    store = open_store(cfg.store.url, create=False)
    try:
        VoicemailDirectory(store, actor="test").keep(
            employee_id, extension, caller="0912345678", caller_name=None, call_ref=None,
            path=f"{employee_id}/message-1.wav", seconds=3.0, bytes_=wav.stat().st_size)
    finally:
        store.dispose()


def _wait_for(path: Path, text: str, process: subprocess.Popen[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(encoding="utf-8", errors="replace"):
            return
        if process.poll() is not None:
            break
        time.sleep(0.05)
    log = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    raise AssertionError(f"SIPp never received {text!r}: {log[-3000:]}")


def test_sipp_subscribes_and_its_lamp_follows_the_mailbox(tmp_path: Path) -> None:
    config = sip_config(tmp_path)
    accounts = add_accounts(config, "101")
    daemon = start_sip_daemon(config)
    messages = tmp_path / "sipp_messages.log"
    try:
        target = address(daemon)
        sipp = subprocess.Popen(
            sipp_command("uac_mwi.xml", target, "-s", "101", "-au", "101", "-ap",
                         accounts["101"].password, "-trace_msg", "-message_file",
                         str(messages)),
            cwd=tmp_path, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL)
        try:
            _wait_for(messages, "Messages-Waiting: no", sipp, 10)
            _keep_a_message(config, accounts["101"].employee_id, "101")
            _, err = sipp.communicate(timeout=60)
        finally:
            if sipp.poll() is None:
                sipp.kill()
                sipp.wait()
        log = messages.read_text(encoding="utf-8", errors="replace")
        assert sipp.returncode == 0, f"{err[-2000:]}\n{log[-4000:]}"
        assert "Voice-Message: 1/0" in log and "Subscription-State: terminated" in log
    finally:
        daemon.stop()
    assert "Traceback" not in daemon.log()


def test_another_mailbox_is_refused_and_other_packages_are_489(tmp_path: Path) -> None:
    config = sip_config(tmp_path)
    accounts = add_accounts(config, "101", "102")
    daemon = start_sip_daemon(config)
    client = UdpClient(address(daemon))
    try:
        uri = "sip:102@office.test"
        headers = "Event: message-summary\nExpires: 600\nUser-Agent: SIPp"
        client.send(client.request("SUBSCRIBE", uri, user="101", headers=headers,
                                   call_id="other"))
        challenge = client.final()
        assert challenge is not None and challenge.status == 401
        line = credentials(challenge, "SUBSCRIBE", uri, "101", accounts["101"].password)
        client.send(client.request("SUBSCRIBE", uri, user="101", call_id="other", cseq=2,
                                   headers=f"{headers}\n{line}"))
        refused = client.final()
        assert refused is not None and refused.status == 403
        client.send(client.request("SUBSCRIBE", "sip:101@office.test", user="101",
                                   headers="Event: presence"))
        foreign = client.final()
        assert foreign is not None and foreign.status == 489
        client.send(client.request("SUBSCRIBE", "sip:101@office.test", user="101",
                                   headers="Event: message summary"))
        malformed = client.final()
        assert malformed is not None and malformed.status == 400
    finally:
        client.close()
        daemon.stop()
    assert "Traceback" not in daemon.log()
