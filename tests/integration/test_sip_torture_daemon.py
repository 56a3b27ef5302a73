"""The 49 RFC 4475 torture messages through the running daemon: each request gets its
expected answer (or 400), responses get none, and the daemon keeps answering.

The bytes are sent unchanged over UDP from 127.0.0.1:5060 (and 5050 listens too), because
the messages' Vias name port 5060 (5050 for quotbal) and answers go to the source address
and the Via port (RFC 3261 §18.2.2). Where the RFC lets a UAS choose, the expected status is
the proxy's: authentication (407) comes before routing.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import pytest

from tests.integration.conftest import RunningDaemon
from tests.integration.sip_helpers import (
    TORTURE,
    UdpClient,
    address,
    sip_config,
    start_sip_daemon,
)

pytestmark = pytest.mark.integration
if not TORTURE.is_dir():
    pytest.skip("../shared/testdata/rfc4475 not found", allow_module_level=True)

NONE = 0  # a response, or unreadable: nothing is sent back
EXPECT = {
    "wsinv": 481,  # valid, but in-dialog (To tag) for a dialog the box does not know
    "intmeth": 501, "esc01": 407, "escnull": 401, "esc02": 501, "lwsdisp": 200, "longreq": 407,
    "dblreq": 401, "semiuri": 200, "transports": 200, "mpart01": 407, "unreason": NONE,
    "noreason": NONE,
    "badinv01": 400, "clerr": 400, "ncl": 400, "scalar02": 400, "scalarlg": NONE,
    "quotbal": 400, "ltgtruri": 400, "lwsruri": 400, "lwsstart": 400, "trws": 400,
    "escruri": 400, "baddate": 407, "regbadct": 400, "badaspec": 400, "baddn": 400,
    "badvers": 505, "mismatch01": 400, "mismatch02": 400, "bigcode": NONE,
    "badbranch": 200,
    "insuf": 400, "unkscm": 416, "novelsc": 416, "unksm2": 400, "bext01": 420,
    "invut": 407,  # a proxy forwards it (after authentication); the UAS would say 415
    "regaut01": 401, "multi01": 400, "mcl01": 400, "bcast": NONE, "zeromf": 483,
    "cparam01": 401, "cparam02": 401, "regescrt": 401,
    "sdp01": 407,  # as invut: the callee, not the proxy, judges the Accept header
    "inv2543": 407,
}


def _bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        pytest.skip(f"127.0.0.1:{port} is in use; the torture Vias need it")
    sock.settimeout(0.05)
    return sock


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    folder = tmp_path_factory.mktemp("torture")
    running = start_sip_daemon(sip_config(folder))
    yield running
    running.stop()


def _answers(sockets: list[socket.socket], call_ids: set[bytes], wait: float) -> list[int]:
    import time

    statuses: list[int] = []
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        for sock in sockets:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            if any(c in data for c in call_ids) and data.startswith(b"SIP/2.0 "):
                statuses.append(int(data[8:11]))
        if any(status >= 200 for status in statuses):
            break
    return statuses


def test_every_file_has_an_expectation() -> None:
    assert sorted(EXPECT) == sorted(path.stem for path in TORTURE.glob("*.dat"))


def test_torture_messages_through_the_daemon(daemon: RunningDaemon) -> None:
    main, other = _bind(5060), _bind(5050)
    try:
        target = address(daemon)
        wrong = {}
        seen: dict[bytes, tuple[bytes, int]] = {}
        for path in sorted(TORTURE.glob("*.dat")):
            data = path.read_bytes()
            if path.stem == "baddn":
                data += b"\r\n"  # the archive lacks the final empty line (see the README)
            lines = data.split(b"\r\n")
            call_id = next((line.split(b":", 1)[1].strip() for line in lines
                            if line.lower().startswith((b"call-id:", b"i:"))), b"")
            via = next((line for line in lines if line.lower().startswith(b"via:")), b"")
            main.sendto(data, target)
            expected = {EXPECT[path.stem]}
            call_ids = {call_id}
            if via in seen:
                # Same branch and sent-by as an earlier file: if it parses, RFC 3261 §17.2.3
                # makes it a retransmission of that transaction, answered with its answer.
                call_ids.add(seen[via][0])
                expected.add(seen[via][1])
            seen.setdefault(via, (call_id, EXPECT[path.stem]))
            finals = [s for s in _answers([main, other], call_ids, 1.5 if any(expected) else 0.3)
                      if s >= 200]
            got = finals[0] if finals else NONE
            if got not in expected | {400} or (expected == {NONE} and got):
                wrong[path.stem] = (expected, got)
        assert not wrong, wrong
        client = UdpClient(target)
        try:
            client.send(client.request("OPTIONS", "sip:office.test"))
            alive = client.final()
            assert alive is not None and alive.status == 200
        finally:
            client.close()
    finally:
        main.close()
        other.close()
    assert "Traceback" not in daemon.log()


def test_torture_messages_over_tcp_never_crash(daemon: RunningDaemon) -> None:
    target = address(daemon, "tcp")
    for path in sorted(TORTURE.glob("*.dat")):
        with socket.create_connection(target, timeout=2) as conn:
            conn.sendall(path.read_bytes())
            conn.settimeout(0.3)
            with contextlib.suppress(TimeoutError, ConnectionError):
                conn.recv(65536)
    client = UdpClient(address(daemon))
    try:
        client.send(client.request("OPTIONS", "sip:office.test"))
        alive = client.final()
        assert alive is not None and alive.status == 200
    finally:
        client.close()
    assert "Traceback" not in daemon.log()
