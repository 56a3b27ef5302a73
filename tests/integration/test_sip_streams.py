"""SIP over streams against the running daemon: TLS with a configured certificate, and TCP
pipelining, keep-alives and an unframeable stream."""

from __future__ import annotations

import socket
import ssl
import subprocess
from pathlib import Path

import pytest

from appliance.sip.framing import KEEPALIVE, StreamFramer
from appliance.sip.message import Response, parse
from tests.integration.sip_helpers import (
    UdpClient,
    add_accounts,
    address,
    credentials,
    sip_config,
    start_sip_daemon,
)

pytestmark = pytest.mark.integration


def _certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


class Stream:
    """A SIP client over one TCP or TLS connection."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.framer = StreamFramer()
        self.pending: list[bytes] = []
        self.raw = b""
        conn.settimeout(5)

    def next(self) -> bytes:
        while not self.pending:
            data = self.conn.recv(65536)
            if not data:
                raise ConnectionError("closed")
            self.raw += data
            self.pending += self.framer.feed(data)
        return self.pending.pop(0)

    def response(self) -> Response:
        message = parse(self.next(), datagram=False)
        assert isinstance(message, Response)
        return message


def _request(client: UdpClient, transport: str, port: int, *args: str, **kwargs: object) -> bytes:
    data = client.request(*args, **kwargs)  # type: ignore[arg-type]
    return data.replace(b"SIP/2.0/UDP 127.0.0.1:" + str(client.port).encode(),
                        f"SIP/2.0/{transport} 127.0.0.1:{port}".encode())


def test_register_over_tls(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path)
    config = sip_config(tmp_path, f'tls_listen = "127.0.0.1:0"\ntls_cert = "{cert}"\n'
                                  f'tls_key = "{key}"')
    accounts = add_accounts(config, "101")
    daemon = start_sip_daemon(config)
    helper = UdpClient(address(daemon))
    try:
        target = address(daemon, "tls")
        context = ssl.create_default_context(cafile=str(cert))
        context.check_hostname = False
        with context.wrap_socket(socket.create_connection(target, timeout=5)) as conn:
            stream = Stream(conn)
            port = conn.getsockname()[1]
            uri = f"sips:{target[0]}:{target[1]}"
            conn.sendall(_request(helper, "TLS", port, "REGISTER", uri, user="101",
                                  call_id="tls-1"))
            challenge = stream.response()
            assert challenge.status == 401
            conn.sendall(_request(helper, "TLS", port, "REGISTER", uri, user="101",
                                  call_id="tls-1", cseq=2, headers=credentials(
                                      challenge, "REGISTER", uri, "101",
                                      accounts["101"].password)))
            assert stream.response().status == 200
    finally:
        helper.close()
        daemon.stop()


def test_tcp_pipelining_keepalive_and_garbage(tmp_path: Path) -> None:
    daemon = start_sip_daemon(sip_config(tmp_path))
    helper = UdpClient(address(daemon))
    try:
        target = address(daemon, "tcp")
        with socket.create_connection(target, timeout=5) as conn:
            stream = Stream(conn)
            port = conn.getsockname()[1]
            first = _request(helper, "TCP", port, "OPTIONS", "sip:office.test", call_id="p1")
            second = _request(helper, "TCP", port, "OPTIONS", "sip:office.test", call_id="p2")
            both = first + KEEPALIVE + second
            conn.sendall(both[:50])
            conn.sendall(both[50:])
            assert [stream.response().status for _ in range(2)] == [200, 200]
            # RFC 5626 §3.5.1: the double-CRLF ping got its single-CRLF pong in between.
            assert b"\r\n\r\n\r\nSIP/2.0 200" in stream.raw
        with socket.create_connection(target, timeout=5) as conn:
            conn.sendall(b"OPTIONS sip:x SIP/2.0\r\nContent-Length: -1\r\n\r\n")
            assert conn.recv(100) == b""  # unframeable: the connection is closed
        helper.send(helper.request("OPTIONS", "sip:office.test"))
        alive = helper.final()
        assert alive is not None and alive.status == 200
    finally:
        helper.close()
        daemon.stop()
