"""A supervisor listens in, through the running daemon with the real rtpengine: SIPp as the
carrier on 127.0.0.2 talks (a 440 Hz tone) with 102 (a socket of the test, saying 1000 Hz);
101, 102's supervisor, dials ``*33102`` from its phone (a socket of the test, with digest
auth): the box answers it and sends one stream in which both tones are heard; the listen-in
is audited; nothing of 101 reaches the call. 102 itself may not listen in on 101 (403), and
when the call ends the supervisor's phone gets a BYE."""

from __future__ import annotations

import math
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.media.recording import decode
from appliance.sip.message import Request, Response, make_request
from tests.integration.conftest import appliance_json
from tests.integration.sip_helpers import Account, credentials
from tests.integration.test_calls_greeting import (
    Office,
    _office,
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
)
from tests.integration.test_media_rtpengine import RTPENGINE

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not RTPENGINE.exists(), reason="needs rtpengine-daemon")]


@pytest.fixture()
def supervised_office(tmp_path: Path) -> Iterator[Office]:
    """The carrier's number rings 102, whose supervisor is 101."""
    yield from _office(tmp_path, ("number", "edit", DID, "--destination", "extension:102"),
                       ("ext", "edit", "102", "--supervisor", "101"))


def power(samples: list[int], frequency: float) -> float:
    """Goertzel: the power of ``frequency`` in 8 kHz ``samples``."""
    coefficient = 2 * math.cos(2 * math.pi * frequency / 8000)
    s1 = s2 = 0.0
    for sample in samples:
        s1, s2 = sample + coefficient * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coefficient * s1 * s2


def dial(sock: socket.socket, target: tuple[str, int], account: Account, dialled: str,
         sdp: bytes) -> tuple[Request, Response]:
    """``account``'s phone dials ``dialled`` with digest auth: the INVITE sent and the box's
    final answer."""
    port = sock.getsockname()[1]
    uri = f"sip:{dialled}@{target[0]}:{target[1]}"

    def invite(cseq: int, auth: str | None) -> Request:
        request = make_request(
            "INVITE", uri, via=f"SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-sv{cseq};rport",
            from_=f"<sip:{account.number}@office.test>;tag=sup", to=f"<{uri}>",
            call_id=f"listen-{account.number}-{port}", cseq=cseq,
            contact=f"<sip:{account.number}@127.0.0.1:{port}>", body=sdp,
            content_type="application/sdp")
        if auth:
            name, _, value = auth.partition(": ")
            request.headers.add(name, value)
        return request

    sock.sendto(invite(1, None).to_bytes(), target)
    challenge = receive_response(sock)
    assert challenge.status == 407, challenge.status
    ack(sock, target, invite(1, None), challenge)
    second = invite(2, credentials(challenge, "INVITE", uri, account.number, account.password))
    sock.sendto(second.to_bytes(), target)
    return second, receive_response(sock)


def ack(sock: socket.socket, target: tuple[str, int], invite: Request, answer: Response) -> None:
    port = sock.getsockname()[1]
    request = make_request("ACK", str(invite.uri), via=f"SIP/2.0/UDP 127.0.0.1:{port};"
                           f"branch=z9hG4bK-ack{answer.status}{invite.cseq.seq};rport",
                           from_=str(invite.from_), to=str(answer.to), call_id=invite.call_id,
                           cseq=invite.cseq.seq)
    sock.sendto(request.to_bytes(), target)


def test_the_supervisor_hears_both_parties_and_only_a_supervisor_may(
        supervised_office: Office, tmp_path: Path) -> None:
    config, accounts, carrier_port, daemon, _, ng = supervised_office
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-e", "a-law",
                    str(tmp_path / "tone440.wav"), "synth", "20", "sine", "440"], check=True)
    raw = tmp_path / "tone1000.ul"
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-e", "u-law", "-t", "raw",
                    str(raw), "synth", "6", "sine", "1000"], check=True)
    tone = raw.read_bytes()
    with registered_phone(daemon, accounts["102"], tmp_path) as (
            target, _phone_port, sip, media), \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sup, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sup_media, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
        for s in (sup, sup_media, other):
            s.bind(("127.0.0.1", 0))
        carrier = carrier_sipp("carrier_uac_talk.xml", target, carrier_port, tmp_path,
                               "-s", DID, "-d", "8000", "-mp", str(free_port_on(CARRIER_HOST)),
                               "-timeout", "30s")
        try:
            invite = receive_request(sip, "INVITE", seconds=15)
            answer(sip, invite, 200, target, phone_sdp(media))
            receive_request(sip, "ACK")
            host, port = audio_of(invite.body)
            # 102 may not listen in on 101's calls: it is not 101's supervisor.
            _, refused = dial(other, target, accounts["102"], "*33101", phone_sdp(other))
            assert (refused.status, refused.reason) == (403, "Not Your Extension")
            listen_invite, ok = dial(sup, target, accounts["101"], "*33102",
                                     phone_sdp(sup_media))
            assert ok.status == 200, (ok.status, ok.reason)
            ack(sup, target, listen_invite, ok)
            mixer_host, _ = audio_of(ok.body)
            assert mixer_host == "127.0.0.1" and b"a=sendonly" in ok.body
            got: list[bytes] = []
            for seq in range(100):  # 2 s of 102's 1000 Hz while the supervisor listens
                media.sendto(struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 0x3000) +
                             tone[seq * 160:(seq + 1) * 160], (host, port))
                got += heard(sup_media, 0.0)
                time.sleep(0.02)
            got += heard(sup_media, 0.3)
            bye = receive_request(sip, "BYE", seconds=15)  # the carrier hangs up
            answer(sip, bye, 200, target)
            ended = receive_request(sup, "BYE", seconds=5)  # the listen-in ends with it
            answer(sup, ended, 200, target)
        finally:
            code, err = finish(carrier)
        assert code == 0, err
    assert len(got) >= 60, len(got)
    samples = [v for p in got[10:] for v in struct.unpack(
        f"<{len(decode(p[1] & 0x7F, p[12:])) // 2}h", decode(p[1] & 0x7F, p[12:]))]
    floor = power(samples, 700)
    assert power(samples, 440) > 20 * floor and power(samples, 1000) > 20 * floor
    entries = appliance_json(config, "audit", "--search", "supervisor.listened")
    assert [(e["actor"], e["target"]) for e in entries] == [("extension 101", "extension 102")]
    assert no_sessions_left(ng)
