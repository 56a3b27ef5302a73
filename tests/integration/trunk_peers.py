"""Real providers for the trunk tests of names and TLS: Kamailio as the carrier (the config of
test_trunk_registration.py, tests/data/kamailio/carrier.cfg) on any loopback address, in a
network namespace when asked, optionally with TLS listeners (its tls module, Debian package
kamailio-tls-modules), one certificate per listener; a test CA made with ``cryptography``.
"""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.integration.test_trunk_registration import (
    CARRIER_CFG,
    DOMAIN,
    MODULES,
    USERS,
    Carrier,
    _install_kamailio,
)

TLS_MODULE = MODULES / "tls.so"


@dataclass
class Authority:
    """A test CA: its key and certificate (PEM written to ``pem``)."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    pem: Path

    @classmethod
    def make(cls, folder: Path, name: str) -> Authority:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        public = key.public_key()
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                .public_key(public).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                             False, False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(public),
                               critical=False)
                .sign(key, hashes.SHA256()))
        pem = folder / f"{name}.pem"
        pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cls(key, cert, pem)

    def issue(self, folder: Path, stem: str, names: Sequence[str]) -> tuple[Path, Path]:
        """A server certificate for ``names`` (host names or IPs as SANs): (cert, key)."""
        key = ec.generate_private_key(ec.SECP256R1())
        sans: list[x509.GeneralName] = []
        for name in names:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                sans.append(x509.DNSName(name))
        now = datetime.datetime.now(datetime.UTC)
        ski = self.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
                .issuer_name(self.cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                               critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                    ski), critical=False)
                .sign(self.key, hashes.SHA256()))
        cert_path, key_path = folder / f"{stem}.crt", folder / f"{stem}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return cert_path, key_path


def need_kamailio(tls: bool = False) -> None:
    """Skip with the reason when Kamailio (and its tls module) is not installed."""
    _install_kamailio()
    if tls and not TLS_MODULE.exists():
        pytest.skip("Kamailio's tls module is missing (Debian package kamailio-tls-modules)")


def start_kamailio(folder: Path, address: str, port: int, *,
                   tls: Sequence[tuple[int, Path, Path]] = (),
                   wrap: Sequence[str] = ()) -> Carrier:
    """The carrier on ``address``: UDP and TCP on ``port``, a TLS listener on each port of
    ``tls`` with its (certificate, key); run inside ``wrap`` (``ip netns exec NS``). Ready
    once its control socket answers."""
    folder.mkdir(parents=True)
    db = folder / "db"
    db.mkdir()
    (db / "version").write_text("table_name(str) table_version(int)\nsubscriber:7\n")
    rows = "".join(f"{n}:{user}:{DOMAIN}:{password}:::\n"
                   for n, (user, password) in enumerate(USERS.values(), 1))
    (db / "subscriber").write_text("id(int,auto) username(str) domain(str) password(str) "
                                   "ha1(str,null) ha1b(str,null) email_address(str,null)\n"
                                   + rows)
    ctl = folder / "ctl"
    text = CARRIER_CFG.read_text()
    for name, value in (("MODULES", f"{MODULES}/"), ("CTL", str(ctl)), ("DB", str(db)),
                        ("ALGORITHM", "MD5")):
        text = text.replace(f"@{name}@", value)
    text = text.replace("udp:127.0.0.1:@PORT@", f"udp:{address}:{port}")
    text = text.replace("tcp:127.0.0.1:@PORT@", f"tcp:{address}:{port}")
    if tls:
        sections = ["[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\n"
                    f"require_certificate = no\ncertificate = {tls[0][1]}\n"
                    f"private_key = {tls[0][2]}\n"]
        sections += [f"[server:{address}:{p}]\nmethod = TLSv1.2+\nverify_certificate = no\n"
                     f"require_certificate = no\ncertificate = {c}\nprivate_key = {k}\n"
                     for p, c, k in tls]
        sections.append("[client:default]\nverify_certificate = no\nrequire_certificate = no\n")
        (folder / "tls.cfg").write_text("\n".join(sections))
        listens = "".join(f"listen=tls:{address}:{p}\n" for p, _, _ in tls)
        text = text.replace(f'mpath="{MODULES}/"\n',
                            f'mpath="{MODULES}/"\nenable_tls=yes\n{listens}'
                            'loadmodule "tls.so"\n'
                            f'modparam("tls", "config", "{folder / "tls.cfg"}")\n')
    cfg = folder / "kamailio.cfg"
    cfg.write_text(text)
    log = folder / "kamailio.log"
    with log.open("wb") as out:
        process = subprocess.Popen([*wrap, "kamailio", "-f", str(cfg), "-DD", "-E", "-m", "64",
                                    "-P", str(folder / "kamailio.pid")],
                                   stdout=out, stderr=subprocess.STDOUT)
    carrier = Carrier(process, port, folder, log, ctl)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and process.poll() is None:
        if ctl.exists() and subprocess.run(
                ["kamcmd", "-s", f"unix:{ctl}", "core.uptime"], capture_output=True,
                timeout=10, check=False).returncode == 0:
            return carrier
        time.sleep(0.1)
    stop_kamailio(carrier)
    raise AssertionError("kamailio did not start:\n" + log.read_text(errors="replace"))


def stop_kamailio(carrier: Carrier) -> None:
    """Stop that Kamailio by its PID."""
    if carrier.process.poll() is None:
        carrier.process.terminate()
        try:
            carrier.process.wait(10)
        except subprocess.TimeoutExpired:
            carrier.process.kill()
            carrier.process.wait(5)


def registers_of(carrier: Carrier, user: str) -> int:
    """How many REGISTERs from ``user`` the carrier logged (any Call-ID)."""
    return sum(1 for line in carrier.log.read_text(errors="replace").splitlines()
               if f"carrier-register user={user} " in line)


def have(program: str) -> str:
    """The path of ``program``, or skip."""
    path = shutil.which(program)
    if path is None:
        pytest.skip(f"{program} is not installed")
    return path
