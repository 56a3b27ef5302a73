"""Greetings through the running daemon with the real rtpengine ([media] on) and espeak-ng:
SIPp as the carrier on 127.0.0.2 calls an office number whose greeting is on; the box
answers it itself (the 200 names rtpengine), plays the greeting, and the caller dials 102
as RFC 2833 events (sip-tester's captures) during it; only then does the phone (a socket of
the test) ring; it answers and is bridged in: its audio reaches the carrier through
rtpengine and SIPp's echo comes back, with no re-INVITE to the caller. Nothing dialled: the
number's destination after the wait."""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.callplan.model import Server
from appliance.config import load
from appliance.directory.office import CallPlanDirectory
from appliance.sip.message import make_request
from appliance.store import open_store
from tests.integration.conftest import RunningDaemon, appliance, appliance_json
from tests.integration.sip_helpers import (
    Account,
    add_accounts,
    address,
    free_port,
    need,
    register,
    sip_config,
    start_sip_daemon,
    wait_until,
)
from tests.integration.test_call_history import history
from tests.integration.test_calls_media import (
    answer,
    audio_of,
    echoed,
    no_sessions_left,
    receive_request,
    sessions,
)
from tests.integration.test_calls_outside import (
    CARRIER_HOST,
    DID,
    carrier_sipp,
    finish,
    free_port_on,
)
from tests.integration.test_media_rtpengine import RTPENGINE, free_range, free_udp_port

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not RTPENGINE.exists(), reason="needs rtpengine-daemon"),
              pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")]
Office = tuple[Path, dict[str, Account], int, RunningDaemon, tuple[int, int], int]


def _office(tmp_path: Path, *commands: tuple[str, ...], extra: str = "") -> Iterator[Office]:
    """Media on; the carrier's number rings 101; ``commands`` (CLI) run before the daemon
    starts; ``extra``: more of the config file."""
    need("sipp")
    config = sip_config(tmp_path)
    low, high = free_range()
    ng = free_udp_port()
    with config.open("a") as f:
        f.write(f'\n[media]\nenabled = true\nng_listen = "127.0.0.1:{ng}"\n'
                f"rtp_port_min = {low}\nrtp_port_max = {high}\nmax_sessions = 10\n{extra}")
    accounts = add_accounts(config, "101", "102")
    carrier_port = free_port_on(CARRIER_HOST)
    store = open_store(load(config, {}).store.url, create=False)
    try:
        plan = CallPlanDirectory(store, actor="test")
        plan.add_connection("carrier", kind="ip", servers=[Server(CARRIER_HOST, carrier_port)],
                            allowed_sources=[f"{CARRIER_HOST}/32"], caller_id=DID,
                            number_format="intl_digits")
        plan.add_number(DID, "carrier", "extension:101", contacts_map=False, to_header=False)
    finally:
        store.dispose()
    for command in commands:
        appliance(config, *command)
    daemon = start_sip_daemon(config)
    yield config, accounts, carrier_port, daemon, (low, high), ng
    daemon.stop()


@pytest.fixture()
def office(tmp_path: Path) -> Iterator[Office]:
    """The carrier's number greets (built-in, English, 2 s to dial after), then rings 101."""
    yield from _office(tmp_path, ("number", "edit", DID, "--greeting", "--greeting-wait", "2"))


@pytest.fixture()
def menu_office(tmp_path: Path) -> Iterator[Office]:
    """The carrier's number goes to menu ``main``: 2 rings 102, no key for 3 s (twice)
    rings 101."""
    yield from _office(
        tmp_path,
        ("menu", "add", "main", "--text", "For sales, press 2.", "--no-extensions",
         "--timeout", "3", "--timeout-retries", "1", "--timeout-destination",
         "extension:101"),
        ("menu", "key", "main", "2", "extension:102"),
        ("number", "edit", DID, "--destination", "menu:main"))


@contextlib.contextmanager
def registered_phone(daemon: RunningDaemon, account: Account, folder: Path) -> Iterator[
        tuple[tuple[str, int], int, socket.socket, socket.socket]]:
    """The office's phone: ``account`` registered from a port of the test, then that port's
    SIP socket and an RTP socket; yields the daemon's address, the port and both sockets."""
    target = address(daemon)
    port = free_port()
    assert register(target, account, port=port, cwd=folder).returncode == 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sip, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as media:
        sip.bind(("127.0.0.1", port))
        media.bind(("127.0.0.1", 0))
        yield target, port, sip, media


def phone_sdp(media: socket.socket, codec: int = 0) -> bytes:
    return (f"v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
            f"t=0 0\r\nm=audio {media.getsockname()[1]} RTP/AVP 0\r\n"
            "a=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n").encode()


def test_a_caller_dials_an_extension_during_the_greeting(office: Office,
                                                         tmp_path: Path) -> None:
    config, accounts, carrier_port, daemon, (low, high), ng = office
    carrier_media = free_port_on(CARRIER_HOST)
    with registered_phone(daemon, accounts["102"], tmp_path) as (
            target, _phone_port, sip, media):
        started = time.monotonic()
        carrier = carrier_sipp("carrier_uac_greeting.xml", target, carrier_port, tmp_path,
                               "-s", DID, "-d", "4000", "-rtp_echo", "-mp", str(carrier_media))
        try:
            invite = receive_request(sip, "INVITE", seconds=15)
            rang_after = time.monotonic() - started
            host, port = audio_of(invite.body)
            assert host == "127.0.0.1" and low <= port <= high, invite.body
            assert invite.to.uri.user == "102" and invite.from_.uri.user == "0909123456"
            answer(sip, invite, 180, target)
            answer(sip, invite, 200, target, phone_sdp(media))
            receive_request(sip, "ACK")
            got = echoed(media, (host, port), 0)
            # The carrier (answered by the box before) now hears the phone: SIPp's echo of
            # the phone's packets comes back through rtpengine's port for the phone.
            assert len(got) >= 40, len(got)
            assert {peer for _, peer in got} == {(host, port)}
            bye = receive_request(sip, "BYE")
            answer(sip, bye, 200, target)
        finally:
            code, err = finish(carrier)
        assert code == 0, err
    # The phone rang only once the caller had dialled (1.5 s into the greeting, then 1 s of
    # digits), not at once.
    assert rang_after > 2.0, rang_after
    log = (tmp_path / "carrier-carrier_uac_greeting.xml.log").read_text(errors="replace")
    assert log.count("INVITE sip:") == 1  # the caller was never re-INVITEd
    sdp_200 = log[log.index("SIP/2.0 200"):]
    host200, port200 = audio_of(sdp_200[sdp_200.index("v=0"):].split("\n\n")[0].encode())
    assert host200 == "127.0.0.1" and low <= port200 <= high
    row, = history(config)
    assert (row["direction"], row["answered_by"], row["outcome"]) == (
        "inbound", "102", "answered")
    assert no_sessions_left(ng)


def test_nothing_dialled_goes_on_to_the_destination_after_the_wait(office: Office,
                                                                   tmp_path: Path) -> None:
    _config, accounts, carrier_port, daemon, _, ng = office
    with registered_phone(daemon, accounts["101"], tmp_path) as (
            target, _phone_port, sip, media):
        started = time.monotonic()
        carrier = carrier_sipp("carrier_uac_call.xml", target, carrier_port, tmp_path,
                               "-s", DID, "-d", "9000")
        try:
            invite = receive_request(sip, "INVITE", seconds=20)
            waited = time.monotonic() - started
            assert len(sessions(ng)) == 1
            answer(sip, invite, 200, target, phone_sdp(media))
            receive_request(sip, "ACK")
            bye = receive_request(sip, "BYE", seconds=15)
            answer(sip, bye, 200, target)
        finally:
            code, err = finish(carrier)
        assert code == 0, err
    # The built-in greeting (~4.4 s) and the number's 2 s wait, then its destination.
    assert waited > 5.0, waited
    assert invite.to.uri.user == "101"


def test_a_caller_presses_a_menu_key(menu_office: Office, tmp_path: Path) -> None:
    config, accounts, carrier_port, daemon, (low, high), ng = menu_office
    carrier_media = free_port_on(CARRIER_HOST)
    with registered_phone(daemon, accounts["102"], tmp_path) as (
            target, _phone_port, sip, media):
        carrier = carrier_sipp("carrier_uac_menu.xml", target, carrier_port, tmp_path,
                               "-s", DID, "-d", "3000", "-rtp_echo", "-mp", str(carrier_media))
        try:
            invite = receive_request(sip, "INVITE", seconds=15)
            host, port = audio_of(invite.body)
            assert low <= port <= high and invite.to.uri.user == "102"
            answer(sip, invite, 200, target, phone_sdp(media))
            receive_request(sip, "ACK")
            assert len(echoed(media, (host, port), 0)) >= 40
            bye = receive_request(sip, "BYE")
            answer(sip, bye, 200, target)
        finally:
            code, err = finish(carrier)
        assert code == 0, err
    row, = history(config)
    assert (row["answered_by"], row["outcome"]) == ("102", "answered")
    assert no_sessions_left(ng)


def test_a_greeting_text_is_spoken_when_saved_and_a_bad_one_changes_nothing(
        tmp_path: Path) -> None:
    config = sip_config(tmp_path)
    store = open_store(load(config, {}).store.url, create=False)
    try:
        plan = CallPlanDirectory(store, actor="test")
        plan.add_connection("carrier", kind="ip", servers=[Server(CARRIER_HOST, 5060)],
                            allowed_sources=[f"{CARRIER_HOST}/32"], caller_id=DID)
        plan.add_number(DID, "carrier", "hangup")
    finally:
        store.dispose()
    folder = tmp_path / "data" / "media" / "prompts"
    text = "Cảm ơn quý khách đã gọi. Vui lòng bấm số máy lẻ."
    shown = appliance_json(config, "number", "edit", DID, "--greeting", "--greeting-text",
                           text, "--greeting-language", "vi")
    assert (shown["greeting"], shown["greeting_text"], shown["greeting_language"]) == (
        True, text, "vi")
    spoken = list(folder.glob("speech-vi-*.wav"))
    assert len(spoken) == 1 and spoken[0].stat().st_size > 8000  # made when saved
    refused = appliance(config, "number", "edit", DID, "--greeting-text", "x" * 1001,
                        check=False)
    assert refused.returncode == 1 and "greeting_text" in refused.stderr
    refused = appliance(config, "number", "edit", DID, "--greeting-wait", "99", check=False)
    assert refused.returncode == 1 and "greeting_wait" in refused.stderr
    kept = appliance_json(config, "number", "show", DID)
    assert (kept["greeting_text"], kept["greeting_wait"]) == (text, 5)
    # Back to the built-in text: nothing to speak, the greeting stays on.
    shown = appliance_json(config, "number", "edit", DID, "--greeting-text", "")
    assert shown["greeting_text"] is None and shown["greeting"] is True


@pytest.fixture()
def recorded_office(tmp_path: Path) -> Iterator[Office]:
    """The carrier's number is recorded, its calls ringing 101."""
    yield from _office(tmp_path, ("number", "edit", DID, "--record"))


def channel_frequency(wav: Path, channel: int) -> float:
    """sox's rough frequency of one channel of ``wav``."""
    done = subprocess.run(["sox", str(wav), "-n", "remix", str(channel), "stat"],
                          capture_output=True, text=True, timeout=30, check=True)
    found = re.search(r"Rough\s+frequency:\s+(\d+)", done.stderr)
    assert found, done.stderr
    return float(found.group(1))


def test_a_recorded_call_is_announced_and_kept_with_each_side_on_its_channel(
        recorded_office: Office, tmp_path: Path) -> None:
    config, accounts, carrier_port, daemon, _, ng = recorded_office
    # What each side says: the carrier (SIPp) a 440 Hz tone, the phone a 1000 Hz one.
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-e", "a-law",
                    str(tmp_path / "tone440.wav"), "synth", "3", "sine", "440"], check=True)
    raw = tmp_path / "tone1000.al"
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-e", "a-law", "-t", "raw",
                    str(raw), "synth", "3", "sine", "1000"], check=True)
    speech = raw.read_bytes()
    carrier_media = free_port_on(CARRIER_HOST)
    with registered_phone(daemon, accounts["101"], tmp_path) as (
            target, _phone_port, sip, media):
        started = time.monotonic()
        carrier = carrier_sipp("carrier_uac_talk.xml", target, carrier_port, tmp_path,
                               "-s", DID, "-d", "6000", "-mp", str(carrier_media))
        try:
            invite = receive_request(sip, "INVITE", seconds=15)
            announced = time.monotonic() - started
            host, port = audio_of(invite.body)
            ours = phone_sdp(media).replace(b"RTP/AVP 0", b"RTP/AVP 8").replace(
                b"0 PCMU/8000", b"8 PCMA/8000")
            answer(sip, invite, 200, target, ours)
            receive_request(sip, "ACK")
            for seq in range(100):  # 2 s of the phone's 1000 Hz, 20 ms a packet
                chunk = speech[seq * 160:(seq + 1) * 160]
                media.sendto(struct.pack("!BBHII", 0x80, 8, seq, seq * 160, 0x1000) + chunk,
                             (host, port))
                time.sleep(0.02)
            bye = receive_request(sip, "BYE", seconds=10)
            answer(sip, bye, 200, target)
        finally:
            code, err = finish(carrier)
        assert code == 0, err
    assert announced > 1.0, announced  # "this call is recorded" played before it rang
    row, = history(config)

    def kept() -> bool:
        found = appliance_json(config, "calls")
        return bool(found and found[0].get("recording"))
    assert wait_until(kept, 15), appliance_json(config, "calls")
    wav, = (tmp_path / "data" / "recordings").rglob(f"{row['ref']}.wav")
    info = subprocess.run(["soxi", str(wav)], capture_output=True, text=True, timeout=30,
                          check=True).stdout
    assert re.search(r"Channels\s*:\s*2", info) and re.search(r"Sample Rate\s*:\s*8000", info)
    # The caller (the carrier) on the left, the employee (the phone) on the right.
    assert abs(channel_frequency(wav, 1) - 440) < 60
    assert abs(channel_frequency(wav, 2) - 1000) < 100
    assert not list((tmp_path / "data" / "media" / "recording").rglob("*.pcap"))
    assert no_sessions_left(ng)


@pytest.fixture()
def plain_office(tmp_path: Path) -> Iterator[Office]:
    """Media on, the carrier's number ringing 101, nothing else."""
    yield from _office(tmp_path)


def test_a_party_put_on_hold_hears_the_hold_music_until_taken_off(
        plain_office: Office, tmp_path: Path) -> None:
    """The carrier (SIPp, sending no RTP) holds the office's phone (a socket of the test):
    the phone hears rtpengine play the built-in hold music, and nothing once off hold."""
    _config, accounts, carrier_port, daemon, _, ng = plain_office
    made = tmp_path / "data" / "media" / "prompts" / "hold-builtin-en.wav"
    assert wait_until(made.exists, 30)  # made in the background at start
    with registered_phone(daemon, accounts["101"], tmp_path) as (
            target, _phone_port, sip, media):
        carrier = carrier_sipp("carrier_uac_hold.xml", target, carrier_port, tmp_path,
                               "-s", DID, "-d", "1500",
                               "-mp", str(free_port_on(CARRIER_HOST)))
        try:
            invite = receive_request(sip, "INVITE", seconds=15)
            answer(sip, invite, 200, target, phone_sdp(media))
            receive_request(sip, "ACK")
            held = receive_request(sip, "INVITE", seconds=10)  # the hold, relayed
            assert b"sendonly" in held.body
            answer(sip, held, 200, target, phone_sdp(media).replace(b"sendrecv",
                                                                    b"recvonly"))
            receive_request(sip, "ACK")
            music = heard(media, 2.0)
            back = receive_request(sip, "INVITE", seconds=10)  # off hold
            answer(sip, back, 200, target, phone_sdp(media))
            receive_request(sip, "ACK")
            time.sleep(0.3)
            heard(media, 0.0)  # what queued up while the unhold went through
            after = heard(media, 1.0)
            bye = receive_request(sip, "BYE", seconds=10)
            answer(sip, bye, 200, target)
        finally:
            code, err = finish(carrier)
        assert code == 0, err
    # ~50 packets a second of music (PCMU, not silence) while held; none after.
    assert len(music) >= 60, len(music)
    assert any(set(p[12:]) - {0xFF, 0x7F} for p in music)
    assert len(after) <= 2, len(after)
    assert no_sessions_left(ng)


def heard(media: socket.socket, seconds: float) -> list[bytes]:
    """The RTP packets ``media`` receives within ``seconds``."""
    got: list[bytes] = []
    deadline = time.monotonic() + seconds
    while True:
        media.settimeout(max(0.0, deadline - time.monotonic()) or None)
        if not media.gettimeout():
            media.setblocking(False)
        try:
            got.append(media.recv(2048))
        except (TimeoutError, BlockingIOError):
            return got


@pytest.fixture()
def rated_office(tmp_path: Path) -> Iterator[Office]:
    """The carrier's number asks its callers to rate the call, its calls ringing 101."""
    yield from _office(tmp_path, ("number", "edit", DID, "--rating"))


def test_the_caller_rates_the_call_after_the_employee_hangs_up(
        rated_office: Office, tmp_path: Path) -> None:
    config, accounts, carrier_port, daemon, _, ng = rated_office
    with registered_phone(daemon, accounts["101"], tmp_path) as (
            target, phone_port, sip, media):
        carrier = carrier_sipp("carrier_uac_rate.xml", target, carrier_port, tmp_path,
                               "-s", DID, "-mp", str(free_port_on(CARRIER_HOST)))
        try:
            invite = receive_request(sip, "INVITE", seconds=15)
            # A desk phone's answer: PCMU and RFC 4733 events (so the caller's keys are
            # events rtpengine sees in the call).
            answer(sip, invite, 200, target, phone_sdp(media).replace(
                b"RTP/AVP 0\r\n", b"RTP/AVP 0 101\r\n").replace(
                b"a=sendrecv", b"a=rtpmap:101 telephone-event/8000\r\na=sendrecv"))
            ack = receive_request(sip, "ACK")
            time.sleep(0.5)
            # The employee hangs up: a BYE in the phone's dialog with the box.
            contact = invite.headers.get("contact") or ""
            uri = contact.strip("<>").split(";")[0] or str(invite.uri)
            bye = make_request("BYE", uri, via=f"SIP/2.0/UDP 127.0.0.1:{phone_port};"
                               "branch=z9hG4bK-phonebye;rport",
                               from_=f"{ack.to}", to=f"{ack.from_}", call_id=invite.call_id,
                               cseq=2)
            sip.sendto(bye.to_bytes(), target)
        finally:
            code, err = finish(carrier)
        assert code == 0, err  # the box asked, took the 4, and hung the caller up
    row, = history(config)
    assert (row["answered_by"], row["rating"]) == ("101", 4)
    assert no_sessions_left(ng)
