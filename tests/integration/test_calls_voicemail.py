"""Voicemail through the running daemon with the real rtpengine ([media] on) and espeak-ng:
SIPp as the carrier on 127.0.0.2 calls an office number whose destination is 102's voicemail;
the box answers, plays 102's greeting and the beep, and records what the carrier sends (a
440 Hz tone, SIPp's ``rtp_stream``) until it hangs up: the message is kept as a mono WAV
(checked with sox) with its row, and the call's history says ``voicemail``. A caller who
sends only silence leaves nothing. Then the employee's phone (SIPp with digest auth) dials
``*97``, keys its PIN and ``#`` as SIP INFO, hears the message and keeps it (``9``: heard)
or deletes it (``7``: row and file gone). A caller waiting in a queue hears the hold music
until a member answers."""

from __future__ import annotations

import email
import email.policy
import re
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.config import load
from appliance.directory.voicemail import VoicemailDirectory, VoicemailMessage
from appliance.sip.message import make_request
from appliance.store import open_store
from tests.integration.sip_helpers import address, free_port, wait_until
from tests.integration.test_call_history import history
from tests.integration.test_calls_greeting import (
    Office,
    _office,
    channel_frequency,
    heard,
    phone_sdp,
    registered_phone,
)
from tests.integration.test_calls_media import (
    answer,
    audio_of,
    no_sessions_left,
    receive_request,
    receive_response,
)
from tests.integration.test_calls_outside import (
    CARRIER_HOST,
    DID,
    carrier_sipp,
    finish,
    free_port_on,
    phone_sipp,
)
from tests.integration.test_mail_smtp import Inbox, relay
from tests.integration.test_media_rtpengine import RTPENGINE

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not RTPENGINE.exists(), reason="needs rtpengine-daemon")]


@pytest.fixture()
def inbox() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP relay (aiosmtpd) on 127.0.0.1 taking mail without TLS or a login."""
    found = Inbox()
    for port in relay(found):
        yield found, port


@pytest.fixture()
def voicemail_office(tmp_path: Path, inbox: tuple[Inbox, int]) -> Iterator[Office]:
    """The carrier's number sends its calls to 102's voicemail; 102's box mails its messages
    to the relay ``inbox``."""
    mail = (f'\n[mail]\nhost = "127.0.0.1"\nport = {inbox[1]}\nstarttls = false\n'
            'from = "phones@office.test"\ntimeout = 10\n')
    yield from _office(tmp_path, ("number", "edit", DID, "--destination", "voicemail:102"),
                       ("voicemail", "box", "102", "--email", "an@office.test"), extra=mail)


def messages(config: Path) -> list[VoicemailMessage]:
    store = open_store(load(config, {}).store.url, create=False)
    try:
        return VoicemailDirectory(store).messages()
    finally:
        store.dispose()


def pcaps_gone(tmp_path: Path) -> bool:
    return not list((tmp_path / "data" / "media" / "recording").rglob("*.pcap"))


def leave_message(office: Office, tmp_path: Path, tone: str, seconds: int) -> None:
    """The carrier calls, streams ``tone`` (a sox synth effect) and hangs up after
    ``seconds``."""
    _config, _accounts, carrier_port, daemon, _, _ng = office
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-e", "a-law",
                    str(tmp_path / "tone440.wav"), "synth", "30", *tone.split()], check=True)
    carrier = carrier_sipp("carrier_uac_talk.xml", address(daemon), carrier_port, tmp_path,
                           "-s", DID, "-d", str(seconds * 1000), "-mp",
                           str(free_port_on(CARRIER_HOST)), "-timeout", f"{seconds + 20}s")
    code, err = finish(carrier)
    assert code == 0, err


def test_a_message_is_kept_as_mono_audio_mailed_and_the_history_says_voicemail(
        voicemail_office: Office, tmp_path: Path, inbox: tuple[Inbox, int]) -> None:
    config, _accounts, _port, _daemon, _, ng = voicemail_office
    started = time.monotonic()
    leave_message(voicemail_office, tmp_path, "sine 440", 16)
    assert time.monotonic() - started > 15
    assert wait_until(lambda: bool(messages(config)), 20), "no message kept"
    message, = messages(config)
    assert (message.extension, message.caller, message.heard) == ("102", "0909123456", False)
    assert message.seconds > 2.0 and message.call_ref
    wav = tmp_path / "data" / "voicemail" / message.path
    info = subprocess.run(["soxi", str(wav)], capture_output=True, text=True, timeout=30,
                          check=True).stdout
    assert re.search(r"Channels\s*:\s*1", info) and re.search(r"Sample Rate\s*:\s*8000", info)
    assert abs(channel_frequency(wav, 1) - 440) < 60
    assert pcaps_gone(tmp_path)
    row, = history(config)
    assert (row["outcome"], row["ref"]) == ("voicemail", message.call_ref)
    # Mailed to the box's address with the very WAV attached.
    assert wait_until(lambda: bool(inbox[0].messages), 15), "no mail"
    (sender, recipients, content, _tls, _login), = inbox[0].messages
    assert (sender, recipients) == ("phones@office.test", ["an@office.test"])
    parsed = email.message_from_bytes(content, policy=email.policy.default)
    attachment, = list(parsed.iter_attachments())
    assert attachment.get_content_type() == "audio/wav"
    assert attachment.get_content() == wav.read_bytes()
    assert no_sessions_left(ng)


def test_a_silent_message_is_dropped(voicemail_office: Office, tmp_path: Path) -> None:
    config, _accounts, _port, _daemon, _, ng = voicemail_office
    leave_message(voicemail_office, tmp_path, "sine 440 vol 0", 14)
    row, = history(config)
    assert row["outcome"] == "voicemail"
    assert wait_until(lambda: pcaps_gone(tmp_path), 20)
    time.sleep(0.5)
    assert messages(config) == []
    assert not list((tmp_path / "data" / "voicemail").rglob("*.wav"))
    assert no_sessions_left(ng)


def keep_message(config: Path, employee_id: int, tmp_path: Path) -> VoicemailMessage:
    """A message for ``employee_id`` (extension 101) with a real 3 s WAV, and PIN 1234."""
    folder = tmp_path / "data" / "voicemail" / str(employee_id)
    folder.mkdir(parents=True, exist_ok=True)
    wav = folder / "kept.wav"
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(wav), "synth", "3",
                    "sine", "440"], check=True)
    store = open_store(load(config, {}).store.url, create=False)
    try:
        directory = VoicemailDirectory(store, actor="test")
        directory.set_box(employee_id, pin="1234")
        return directory.keep(employee_id, "101", caller="0909123456", caller_name=None,
                              call_ref=None, path=f"{employee_id}/kept.wav", seconds=3.0,
                              bytes_=wav.stat().st_size)
    finally:
        store.dispose()


@pytest.mark.parametrize(("choice", "kept"), [("9", True), ("7", False)])
def test_the_employee_listens_with_the_pin_and_keeps_or_deletes(
        voicemail_office: Office, tmp_path: Path, choice: str, kept: bool) -> None:
    config, accounts, _port, daemon, _, ng = voicemail_office
    account = accounts["101"]
    kept_message = keep_message(config, account.employee_id, tmp_path)
    phone = phone_sipp("uac_mailbox.xml", address(daemon), free_port(), tmp_path,
                       "-s", "*97", "-key", "caller", "101", "-au", "101", "-ap",
                       account.password, "-set", "choice", choice, "-timeout", "60s")
    code, err = finish(phone, timeout=70)
    assert code == 0, err
    found = messages(config)
    if kept:
        assert [(m.id, m.heard) for m in found] == [(kept_message.id, True)]
        assert (tmp_path / "data" / "voicemail" / kept_message.path).exists()
    else:
        assert found == []
        assert not (tmp_path / "data" / "voicemail" / kept_message.path).exists()
    assert no_sessions_left(ng)


# -- waiting in a queue -------------------------------------------------------------------------

@pytest.fixture()
def queue_office(tmp_path: Path) -> Iterator[Office]:
    """The carrier's number sends its calls to queue ``sales`` (101, ring all)."""
    yield from _office(tmp_path, ("queue", "add", "sales", "--member", "101"),
                       ("number", "edit", DID, "--destination", "queue:sales"))


def test_a_caller_waiting_in_a_queue_hears_music_until_a_member_answers(
        queue_office: Office, tmp_path: Path) -> None:
    """The carrier is a socket of the test on 127.0.0.2 (so it can listen to its RTP): the
    box answers it at once and plays the hold music while 101 rings; 101 answers, the music
    stops and the carrier hears the phone."""
    _config, accounts, carrier_port, daemon, _, ng = queue_office
    made = tmp_path / "data" / "media" / "prompts" / "hold-builtin-en.wav"
    assert wait_until(made.exists, 30)  # made in the background at start
    with registered_phone(daemon, accounts["101"], tmp_path) as (
            target, _phone_port, sip, media), \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as carrier, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as carrier_rtp:
        carrier.bind((CARRIER_HOST, carrier_port))
        carrier_rtp.bind((CARRIER_HOST, 0))
        sdp = (f"v=0\r\no=carrier 1 1 IN IP4 {CARRIER_HOST}\r\ns=-\r\nc=IN IP4 {CARRIER_HOST}"
               f"\r\nt=0 0\r\nm=audio {carrier_rtp.getsockname()[1]} RTP/AVP 0\r\n"
               "a=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n").encode()
        invite = make_request(
            "INVITE", f"sip:{DID}@127.0.0.1", via=f"SIP/2.0/UDP {CARRIER_HOST}:{carrier_port}"
            ";branch=z9hG4bK-queue1;rport", from_="<sip:0909123456@carrier>;tag=cq",
            to=f"<sip:{DID}@127.0.0.1>", call_id="queue-music-1", cseq=1,
            contact=f"<sip:0909123456@{CARRIER_HOST}:{carrier_port}>", body=sdp,
            content_type="application/sdp")
        carrier.sendto(invite.to_bytes(), target)
        ok = receive_response(carrier, 200)
        ack = make_request("ACK", f"sip:b2bua@{target[0]}:{target[1]}", via=f"SIP/2.0/UDP "
                           f"{CARRIER_HOST}:{carrier_port};branch=z9hG4bK-queue1a;rport",
                           from_=str(invite.from_), to=str(ok.to), call_id=invite.call_id,
                           cseq=1)
        carrier.sendto(ack.to_bytes(), target)
        ring = receive_request(sip, "INVITE", seconds=10)
        answer(sip, ring, 180, target)
        music = heard(carrier_rtp, 2.0)  # waiting: the box's music
        answer(sip, ring, 200, target, phone_sdp(media))
        receive_request(sip, "ACK")
        time.sleep(0.3)
        heard(carrier_rtp, 0.0)
        host, port = audio_of(ring.body)
        for seq in range(50):  # 1 s of the phone's voice (not silence)
            media.sendto(struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 0x2000) +
                         bytes([0x3A] * 160), (host, port))
            time.sleep(0.02)
        voice = heard(carrier_rtp, 0.5)
        bye = make_request("BYE", f"sip:b2bua@{target[0]}:{target[1]}", via=f"SIP/2.0/UDP "
                           f"{CARRIER_HOST}:{carrier_port};branch=z9hG4bK-queue1b;rport",
                           from_=str(invite.from_), to=str(ok.to), call_id=invite.call_id,
                           cseq=2)
        carrier.sendto(bye.to_bytes(), target)
        receive_response(carrier, 200)
        phone_bye = receive_request(sip, "BYE")
        answer(sip, phone_bye, 200, target)
    assert len(music) >= 60 and any(set(p[12:]) - {0xFF, 0x7F} for p in music), len(music)
    # Once bridged: what the phone says (0x3A bytes), not the music.
    assert voice and all(p[12:] == bytes([0x3A] * 160) for p in voice[-10:]), voice[-1:]
    assert no_sessions_left(ng)


def test_the_employee_records_the_greeting_by_phone_and_callers_hear_it(
        voicemail_office: Office, tmp_path: Path) -> None:
    """101 dials ``*98``, keys the PIN, speaks (a 440 Hz tone) after the beep and presses
    ``#``: the box's own greeting is that recording, a mono WAV with 440 Hz in it."""
    config, accounts, _port, daemon, _, ng = voicemail_office
    account = accounts["101"]
    keep_message(config, account.employee_id, tmp_path)  # sets PIN 1234
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-e", "a-law",
                    str(tmp_path / "tone440.wav"), "synth", "30", "sine", "440"], check=True)
    phone = phone_sipp("uac_greeting_record.xml", address(daemon), free_port(), tmp_path,
                       "-s", "*98", "-key", "caller", "101", "-au", "101", "-ap",
                       account.password, "-timeout", "60s", "-mp", str(free_port()))
    code, err = finish(phone, timeout=70)
    assert code == 0, err
    greeting = tmp_path / "data" / "voicemail" / str(account.employee_id) / "greeting.wav"

    def set_() -> bool:
        store = open_store(load(config, {}).store.url, create=False)
        try:
            return VoicemailDirectory(store).box(account.employee_id).greeting is not None
        finally:
            store.dispose()
    assert wait_until(set_, 20), "no greeting kept"
    assert greeting.is_file() and abs(channel_frequency(greeting, 1) - 440) < 60
    assert no_sessions_left(ng)
