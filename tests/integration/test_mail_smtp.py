"""Voicemail by e-mail against a real SMTP server on 127.0.0.1 (aiosmtpd, the test extra:
Debian has no light SMTP server): STARTTLS with a private CA and a login, plain SMTP, and
each failure as one MailError without a secret."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from appliance.config.model import MailConfig
from appliance.errors import MailError
from appliance.mail import Mailer

aiosmtpd = pytest.importorskip("aiosmtpd", reason="aiosmtpd is in the test extra (.[test])")
from aiosmtpd.controller import Controller  # noqa: E402
from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: E402

pytestmark = pytest.mark.integration

PASSWORD = "relay-Pa55word"
RECEIVED = dt.datetime(2026, 3, 1, 8, 30, 5, tzinfo=dt.UTC)
WAV = b"RIFF\x00\x10\x00\x00WAVEfmt " + bytes(range(256)) * 64  # every byte value, 16 KiB


@dataclass
class Inbox:
    """What the server took: envelopes, and whether each came over TLS."""

    messages: list[tuple[str, list[str], bytes, bool, str | None]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        login = session.login_data.decode() if isinstance(session.login_data, bytes) else \
            session.login_data
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content,
                              session.ssl is not None, login))
        return "250 OK"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str,
                  data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.login == b"phones" and \
        data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False, auth_data=data if ok else None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Pki:
    """A private CA and the server's certificate for 127.0.0.1, as files."""

    ca: Path
    cert: Path
    key: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = tmp_path_factory.mktemp("pki")
    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test relay CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(hours=1))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                       crl_sign=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False,
                                       decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pki = Pki(folder / "ca.pem", folder / "cert.pem", folder / "key.pem")
    pki.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return pki


def relay(inbox: Inbox, **smtp: Any) -> Iterator[int]:
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **smtp)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@pytest.fixture
def tls_relay(pki: Pki) -> Iterator[tuple[Inbox, int]]:
    """A relay that requires STARTTLS, then a login."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.cert, pki.key)
    inbox = Inbox()
    for port in relay(inbox, tls_context=context, require_starttls=True, auth_required=True,
                      authenticator=_authenticate):
        yield inbox, port


@pytest.fixture
def plain_relay() -> Iterator[tuple[Inbox, int]]:
    """A relay on loopback that takes mail without TLS or a login."""
    inbox = Inbox()
    for port in relay(inbox):
        yield inbox, port


def send(config: MailConfig, wav: Path, to: str = "an@example.com") -> None:
    Mailer(config, zone=dt.UTC).send_voicemail(
        to, extension="101", caller="0912345678", caller_name="Nguyen Van A",
        received_at=RECEIVED, seconds=12.0, wav=wav)


@pytest.fixture
def wav(tmp_path: Path) -> Path:
    path = tmp_path / "message.wav"
    path.write_bytes(WAV)
    return path


def test_starttls_and_login_deliver_the_wav_intact(tls_relay: tuple[Inbox, int], pki: Pki,
                                                   wav: Path) -> None:
    inbox, port = tls_relay
    send(MailConfig(host="127.0.0.1", port=port, username="phones", password=PASSWORD,
                    from_address="phones@example.com", timeout=10, ca_file=pki.ca), wav)
    ((sender, recipients, content, over_tls, login),) = inbox.messages
    assert (sender, recipients, over_tls, login) == ("phones@example.com",
                                                      ["an@example.com"], True, "phones")
    parsed = email.message_from_bytes(content, policy=email.policy.default)
    assert parsed["Subject"] == "Voicemail for 101 from Nguyen Van A (0912345678)"
    body = parsed.get_body(("plain",))
    assert body is not None and "2026-03-01 08:30:05" in body.get_content()
    (attachment,) = list(parsed.iter_attachments())
    assert attachment.get_content_type() == "audio/wav"
    assert attachment.get_content() == WAV  # bytes equal after the relay


def test_plain_smtp_without_starttls(plain_relay: tuple[Inbox, int], wav: Path) -> None:
    inbox, port = plain_relay
    send(MailConfig(host="127.0.0.1", port=port, starttls=False,
                    from_address="phones@example.com", timeout=10), wav)
    ((_, recipients, content, over_tls, login),) = inbox.messages
    assert recipients == ["an@example.com"] and not over_tls and login is None
    parsed = email.message_from_bytes(content, policy=email.policy.default)
    (attachment,) = list(parsed.iter_attachments())
    assert attachment.get_content() == WAV


def _refused(config: MailConfig, wav: Path) -> str:
    with pytest.raises(MailError) as caught:
        send(config, wav)
    message = str(caught.value)
    assert PASSWORD not in message and "\n" not in message
    return message


def test_a_relay_that_is_down(wav: Path) -> None:
    port = free_port()  # nothing listens there
    message = _refused(MailConfig(host="127.0.0.1", port=port, from_address="p@example.com",
                                  timeout=5), wav)
    assert message == f"mail: connecting to 127.0.0.1:{port} failed: Connection refused"


def test_a_relay_that_never_greets(wav: Path) -> None:
    with socket.socket() as silent:  # accepts connections (the backlog), says nothing
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        port = silent.getsockname()[1]
        message = _refused(MailConfig(host="127.0.0.1", port=port,
                                      from_address="p@example.com", timeout=1), wav)
    assert message == f"mail: no answer from 127.0.0.1:{port} within 1 s"


def test_a_wrong_password_and_an_untrusted_certificate(tls_relay: tuple[Inbox, int],
                                                       pki: Pki, wav: Path) -> None:
    inbox, port = tls_relay
    wrong = MailConfig(host="127.0.0.1", port=port, username="phones", password="wrong-" +
                       PASSWORD, from_address="p@example.com", timeout=10, ca_file=pki.ca)
    assert _refused(wrong, wav) == f"mail: 127.0.0.1:{port} refused the login of 'phones'"
    untrusted = MailConfig(host="127.0.0.1", port=port, username="phones", password=PASSWORD,
                           from_address="p@example.com", timeout=10)
    assert "is not trusted" in _refused(untrusted, wav)
    no_login = MailConfig(host="127.0.0.1", port=port, from_address="p@example.com",
                          timeout=10, ca_file=pki.ca)
    assert "failed: it answered 530" in _refused(no_login, wav)  # auth required
    assert inbox.messages == []


def test_starttls_asked_of_a_relay_without_it(plain_relay: tuple[Inbox, int],
                                              wav: Path) -> None:
    inbox, port = plain_relay
    message = _refused(MailConfig(host="127.0.0.1", port=port, from_address="p@example.com",
                                  timeout=10), wav)
    assert message == f"mail: 127.0.0.1:{port} does not offer STARTTLS"
    assert inbox.messages == []
