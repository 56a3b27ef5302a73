"""HTTPS with a configured certificate: the real daemon on 127.0.0.1, spoken to by curl.

The certificate is self-signed, made by the test for 127.0.0.1; curl trusts it with --cacert.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.integration.conftest import RunningDaemon, appliance, start_daemon, write_config

pytestmark = pytest.mark.integration
if shutil.which("curl") is None:  # pragma: no cover - `make test` installs it
    pytest.skip("curl is missing", allow_module_level=True)


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "appliance test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "tls" / "box.crt", folder / "tls" / "box.key"
    cert_path.parent.mkdir()
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


@pytest.fixture
def tls_daemon(tmp_path: Path) -> Iterator[RunningDaemon]:
    """The daemon with a certificate: HTTPS on an OS-chosen port, relative paths in the file."""
    make_certificate(tmp_path)
    config = write_config(tmp_path)
    text = config.read_text(encoding="utf-8").replace(
        'listen = "127.0.0.1:0"\n[sip]',
        'listen = "127.0.0.1:0"\ntls_cert = "tls/box.crt"\ntls_key = "tls/box.key"\n'
        'tls_listen = "127.0.0.1:0"\n[sip]', 1)
    config.write_text(text, encoding="utf-8")
    appliance(config, "init")
    daemon = start_daemon(config, env={**os.environ, "NOTIFY_SOCKET": ""})
    try:
        yield daemon
    finally:
        daemon.stop()


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    """curl with headers on stdout, nothing from a proxy, 10 s at most."""
    return subprocess.run(["curl", "-sS", "-i", "--noproxy", "*", "--max-time", "10", *args],
                          capture_output=True, text=True, timeout=30, check=False)


def test_https_with_the_configured_certificate(tls_daemon: RunningDaemon, tmp_path: Path) -> None:
    web, tls = tls_daemon.ports["web"], tls_daemon.ports["web_tls"]
    assert web.startswith("127.0.0.1:") and tls.startswith("127.0.0.1:") and web != tls
    assert f"admin page: https://{tls}/" in tls_daemon.log()
    cacert = str(tmp_path / "tls" / "box.crt")
    # over HTTPS: the page, HSTS, and a Secure session cookie
    answer = curl("--cacert", cacert, f"https://{tls}/setup")
    assert answer.returncode == 0, answer.stderr
    head = answer.stdout.split("\r\n\r\n", 1)[0].lower()
    assert head.startswith("http/1.1 200")
    assert "strict-transport-security: max-age=31536000" in head
    cookie = next(line for line in head.splitlines() if line.startswith("set-cookie:"))
    assert "secure" in cookie and "httponly" in cookie
    assert "first-boot setup" in answer.stdout.lower()
    healthy = curl("--cacert", cacert, f"https://{tls}/healthz")
    assert healthy.returncode == 0 and '"status":"ok"' in healthy.stdout.replace(" ", "")
    # without trusting the certificate, curl refuses it (it is the configured one, self-signed)
    assert curl(f"https://{tls}/healthz").returncode == 60
    # plain HTTP redirects there, except /healthz
    moved = curl(f"http://{web}/employees?show=all")
    assert moved.stdout.startswith("HTTP/1.1 308")
    assert f"location: https://{tls}/employees?show=all" in moved.stdout.lower()
    plain = curl(f"http://{web}/healthz")
    assert plain.stdout.startswith("HTTP/1.1 200")
    assert "strict-transport-security" not in plain.stdout.lower()
    # following the redirect lands on the HTTPS page
    followed = curl("-L", "--cacert", cacert, f"http://{web}/login")
    assert "HTTP/1.1 200" in followed.stdout and "first-boot setup" in followed.stdout.lower()


def test_a_key_that_does_not_fit_stops_the_daemon_with_one_line(tmp_path: Path) -> None:
    make_certificate(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    _, wrong_key = make_certificate(other)
    config = write_config(tmp_path)
    config.write_text(config.read_text(encoding="utf-8").replace(
        'listen = "127.0.0.1:0"\n[sip]',
        f'listen = "127.0.0.1:0"\ntls_cert = "tls/box.crt"\ntls_key = "{wrong_key}"\n'
        'tls_listen = "127.0.0.1:0"\n[sip]', 1), encoding="utf-8")
    appliance(config, "init")
    result = appliance(config, "run", check=False)
    assert result.returncode == 1
    assert "web.tls_key: cannot serve HTTPS" in result.stderr
    assert "Traceback" not in result.stderr
