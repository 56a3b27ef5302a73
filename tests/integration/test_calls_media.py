"""Outside calls anchored in the real rtpengine by the running daemon ([media] on). In: SIPp as
the carrier on 127.0.0.2 calls an office number with RTP echo on, the phone (a socket of the
test, registered by SIPp) answers; the SDP each side gets names rtpengine's ports, the
phone's audio goes through rtpengine to the carrier and its echo comes back the same way,
and the session is gone from rtpengine once the carrier hangs up. Out: the phone (the test's
socket, digest-authenticated) calls a mobile number, SIPp answers as the carrier with RTP
echo on, and the same holds."""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import socket
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from appliance.media.ng import NgClient
from appliance.sip.message import Request, Response, make_request, make_response, parse
from tests.integration.conftest import RunningDaemon
from tests.integration.sip_helpers import (
    Account,
    UdpClient,
    add_accounts,
    address,
    credentials,
    free_port,
    need,
    register,
    sip_config,
    start_sip_daemon,
)
from tests.integration.test_calls_outside import (
    CARRIER_HOST,
    DID,
    add_connection,
    carrier_sipp,
    finish,
    free_port_on,
    received_invite,
)
from tests.integration.test_media_rtpengine import RTPENGINE, free_range, free_udp_port

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not RTPENGINE.exists(), reason="needs rtpengine-daemon")]
Office = tuple[dict[str, Account], int, RunningDaemon, tuple[int, int], int]


@pytest.fixture()
def office(tmp_path: Path) -> Iterator[Office]:
    need("sipp")
    config = sip_config(tmp_path)
    low, high = free_range()
    ng = free_udp_port()
    with config.open("a") as f:
        f.write(f'\n[media]\nenabled = true\nng_listen = "127.0.0.1:{ng}"\n'
                f"rtp_port_min = {low}\nrtp_port_max = {high}\nmax_sessions = 10\n")
    accounts = add_accounts(config, "102")
    accounts |= add_accounts(config, "101", permission="international")
    carrier_port = free_port_on(CARRIER_HOST)
    add_connection(config, carrier_port)
    daemon = start_sip_daemon(config)
    yield accounts, carrier_port, daemon, (low, high), ng
    daemon.stop()


def audio_of(body: bytes) -> tuple[str, int]:
    text = body.decode()
    host = re.search(r"^c=IN IP4 (\S+)", text, re.M)
    port = re.search(r"^m=audio (\d+) ", text, re.M)
    assert host and port, text
    return host.group(1), int(port.group(1))


def _receive(sock: socket.socket, wanted: Callable[[Request | Response], bool], what: str,
             seconds: float) -> Request | Response:
    """The first message on ``sock`` that is ``wanted`` (others are skipped)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            data, _ = sock.recvfrom(65536)
        except TimeoutError:
            break
        message = parse(data)
        if wanted(message):
            return message
    raise AssertionError(f"no {what} within {seconds} s")


def receive_request(sock: socket.socket, method: str, seconds: float = 10) -> Request:
    found = _receive(sock, lambda m: isinstance(m, Request) and m.method == method, method,
                     seconds)
    assert isinstance(found, Request)
    return found


def receive_response(sock: socket.socket, status: int | None = None,
                     seconds: float = 10) -> Response:
    """The next response ``status`` (None: the next final one) on ``sock``."""
    found = _receive(sock, lambda m: isinstance(m, Response) and (
        m.status == status if status is not None else m.status >= 200),
        f"{status or 'final'} response", seconds)
    assert isinstance(found, Response)
    return found


def answer(sock: socket.socket, request: Request, status: int, box: tuple[str, int],
           body: bytes = b"") -> None:
    port = sock.getsockname()[1]
    headers = [("Contact", f"<sip:102@127.0.0.1:{port}>")]
    if body:
        headers.append(("Content-Type", "application/sdp"))
    sock.sendto(make_response(request, status, to_tag="phone", headers=headers,
                              body=body).to_bytes(), box)


def rtp(seq: int, payload_type: int = 8) -> bytes:
    return struct.pack("!BBHI", 0x80, payload_type, seq, seq * 160) + b"\x12\x34\x56\x78" + bytes(
        [seq % 256]) * 160


def sessions(ng: int) -> list[object]:
    async def ask() -> list[object]:
        client = NgClient("127.0.0.1", ng)
        try:
            reply = await client.request({"command": "list"})
        finally:
            client.close()
        calls = reply.get("calls")
        return list(calls) if isinstance(calls, list) else []
    return asyncio.run(ask())


def echoed(media: socket.socket, to: tuple[str, int],
           payload_type: int) -> list[tuple[bytes, tuple[str, int]]]:
    """Send 50 RTP packets (20 ms apart) to ``to``; every packet ``media`` got meanwhile and
    within a second after, with who sent it."""
    media.settimeout(0.02)
    got: list[tuple[bytes, tuple[str, int]]] = []
    for seq in range(50):
        media.sendto(rtp(seq, payload_type), to)
        with contextlib.suppress(TimeoutError):
            got.append(media.recvfrom(2048))
    deadline = time.monotonic() + 1
    while time.monotonic() < deadline:
        with contextlib.suppress(TimeoutError):
            got.append(media.recvfrom(2048))
    return got


def no_sessions_left(ng: int, seconds: float = 5) -> bool:
    """Whether rtpengine has no session within ``seconds`` (a bound wait)."""
    deadline = time.monotonic() + seconds
    while sessions(ng) and time.monotonic() < deadline:
        time.sleep(0.1)
    return sessions(ng) == []


def test_a_carrier_call_is_anchored_and_its_audio_goes_through_rtpengine(
        office: Office, tmp_path: Path) -> None:
    accounts, carrier_port, daemon, (low, high), ng = office
    target = address(daemon)
    phone_port = free_port()
    assert register(target, accounts["102"], port=phone_port, cwd=tmp_path).returncode == 0
    carrier_media = free_port_on(CARRIER_HOST)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sip, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as media:
        sip.bind(("127.0.0.1", phone_port))
        media.bind(("127.0.0.1", 0))
        carrier = carrier_sipp("carrier_uac_call.xml", target, carrier_port, tmp_path,
                               "-s", DID, "-d", "4000", "-rtp_echo", "-mp", str(carrier_media))
        try:
            invite = receive_request(sip, "INVITE")
            host, port = audio_of(invite.body)
            # The phone is offered rtpengine's port, not the carrier's.
            assert host == "127.0.0.1" and low <= port <= high, invite.body
            assert str(carrier_media).encode() not in invite.body
            ours = (f"v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
                    f"t=0 0\r\nm=audio {media.getsockname()[1]} RTP/AVP 8\r\n"
                    "a=rtpmap:8 PCMA/8000\r\na=sendrecv\r\n").encode()
            answer(sip, invite, 180, target)
            answer(sip, invite, 200, target, ours)
            receive_request(sip, "ACK")
            assert len(sessions(ng)) == 1  # one rtpengine session for the call
            got = echoed(media, (host, port), 8)
            # SIPp echoed what reached it; it came back from rtpengine's port for the phone.
            assert len(got) >= 40, len(got)
            assert {peer for _, peer in got} == {(host, port)}
            assert {packet[12:] for packet, _ in got} <= {rtp(s)[12:] for s in range(50)}
            bye = receive_request(sip, "BYE")
            answer(sip, bye, 200, target)
        finally:
            code, err = finish(carrier)
        assert code == 0, err
    log = (tmp_path / "carrier-carrier_uac_call.xml.log").read_text(errors="replace")
    sdp_200 = log[log.index("SIP/2.0 200"):]
    host200, port200 = audio_of(sdp_200[sdp_200.index("v=0"):].split("\n\n")[0].encode())
    assert host200 == "127.0.0.1" and low <= port200 <= high  # the carrier sends there too
    assert no_sessions_left(ng)


def phone_request(method: str, ok: Response, port: int, cseq: int) -> bytes:
    """An in-dialog request of the phone's call, from the 2xx the box gave it."""
    contact = ok.contacts[0].uri
    return make_request(method, str(contact), via=f"SIP/2.0/UDP 127.0.0.1:{port};"
                        f"branch=z9hG4bK{secrets.token_hex(6)};rport", from_=str(ok.from_),
                        to=str(ok.to), call_id=ok.call_id, cseq=cseq).to_bytes()


def test_a_call_out_is_anchored_and_the_phones_audio_reaches_the_carrier(
        office: Office, tmp_path: Path) -> None:
    accounts, carrier_port, daemon, (low, high), ng = office
    target = address(daemon)
    carrier_media = free_port_on(CARRIER_HOST)
    carrier = carrier_sipp("uas_call.xml", target, carrier_port, tmp_path, "-rtp_echo",
                           "-mp", str(carrier_media))
    phone = UdpClient(target)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as media:
            media.bind(("127.0.0.1", 0))
            body = (f"v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
                    f"t=0 0\r\nm=audio {media.getsockname()[1]} RTP/AVP 0\r\n"
                    "a=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n")
            uri = f"sip:0912345678@{target[0]}:{target[1]}"
            call_id = secrets.token_hex(8)
            sdp_type = "Content-Type: application/sdp"
            phone.send(phone.request("INVITE", uri, user="101", call_id=call_id, body=body,
                                     headers=sdp_type))
            challenge = phone.final()
            assert challenge is not None and challenge.status == 407
            auth = credentials(challenge, "INVITE", uri, "101", accounts["101"].password)
            phone.send(phone.request("INVITE", uri, user="101", call_id=call_id, cseq=2,
                                     body=body, headers=f"{auth}\n{sdp_type}"))
            ok = None
            deadline = time.monotonic() + 10
            while ok is None and time.monotonic() < deadline:
                final = phone.final()
                if final is not None and final.status == 200 and final.cseq.seq == 2:
                    ok = final
            assert ok is not None, "the call out was not answered"
            host, port = audio_of(ok.body)
            assert host == "127.0.0.1" and low <= port <= high, ok.body
            phone.send(phone_request("ACK", ok, phone.port, 2))
            got = echoed(media, (host, port), 0)
            assert len(got) >= 40, len(got)
            assert {peer for _, peer in got} == {(host, port)}
            phone.send(phone_request("BYE", ok, phone.port, 3))
            bye_ok = None
            deadline = time.monotonic() + 5  # the 407 of the first INVITE may come again
            while bye_ok is None and time.monotonic() < deadline:
                final = phone.final()
                if final is not None and final.cseq.method == "BYE":
                    bye_ok = final
            assert bye_ok is not None and bye_ok.status == 200
    finally:
        phone.close()
        code, err = finish(carrier)
    assert code == 0, err
    invite = received_invite(tmp_path / "carrier-uas_call.xml.log")
    out_host, out_port = audio_of(invite[invite.index("v=0"):].encode())
    assert out_host == "127.0.0.1" and low <= out_port <= high  # not the phone's own port
    assert no_sessions_left(ng)
