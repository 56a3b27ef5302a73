"""Per-phone secrets stay on the LAN: real clients in namespaces (on-link phone and rogue, a
router, a routed phone subnet, an outsider), TFTP and HTTP(S) against the daemon in the box."""

from __future__ import annotations

import datetime
import ipaddress
import os
import random
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from appliance.config import load
from appliance.directory import Directory
from appliance.store import open_store
from tests.integration.conftest import RunningDaemon, appliance_json, start_daemon
from tests.integration.provisioning_helpers import (
    account_of,
    http_credentials,
    parse_cfg,
    port_of,
    prov_config,
    setup_extension,
    tftp_get,
    wait_for_phone,
)
from tests.integration.routed_lan import (
    BOX_IP,
    OUTSIDER_IP,
    PHONE_IP,
    PHONE_MAC,
    PHONE_SUBNET,
    ROGUE_MAC,
    ROUTED_IP,
    ROUTED_MAC,
    RoutedLan,
    routed_lan,
)

pytestmark = pytest.mark.integration

PHONE, ROGUE, ROUTED = (m.replace(":", "") for m in (PHONE_MAC, ROGUE_MAC, ROUTED_MAC))
COMMON = "y000000000108.cfg"


def user_agent(mac: str) -> str:
    """A Yealink's User-Agent naming ``mac``."""
    return f"Yealink SIP-T46U 108.86.0.90 {':'.join(mac[i:i + 2] for i in range(0, 12, 2))}"


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for the box's address and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "appliance provisioning test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(BOX_IP))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "box.crt", folder / "box.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


@dataclass
class Box:
    """The LAN, the daemon in its box namespace, its ports and its certificate."""

    lan: RoutedLan
    daemon: RunningDaemon
    cert: Path

    @property
    def config(self) -> Path:
        return self.daemon.config

    def port(self, name: str) -> int:
        return port_of(self.daemon.ports[name])

    def directory(self) -> Directory:
        return Directory(open_store(load(self.config, {}).store.url), actor="test")

    def get(self, role: str, name: str, *, https: bool = False, ua: str = "",
            digest: tuple[str, str] | None = None, extra: tuple[str, ...] = ()
            ) -> tuple[int, bytes]:
        """``(status, body)`` of curl in ``role``'s namespace (0: no HTTP answer)."""
        scheme, port = ("https", self.port("https")) if https else ("http", self.port("http"))
        with tempfile.TemporaryDirectory() as tmp:
            body = Path(tmp) / "body"
            cmd = ["curl", "-s", "-o", str(body), "-w", "%{http_code}", "--max-time", "15",
                   *extra]
            if https:
                cmd += ["--cacert", str(self.cert)]
            if ua:
                cmd += ["-A", ua]
            if digest:
                cmd += ["--digest", "-u", f"{digest[0]}:{digest[1]}"]
            cmd.append(f"{scheme}://{BOX_IP}:{port}/{name}")
            out = self.lan.run(role, *cmd, timeout=30).stdout
            code = int(out[-3:]) if out[-3:].isdigit() else 0
            return code, body.read_bytes() if body.exists() else b""

    def tftp(self, role: str, name: str) -> bytes | None:
        """``name`` over TFTP (curl) from ``role``'s namespace, None on an error packet."""
        return tftp_get(self.port("tftp"), name, "curl", host=BOX_IP, netns=self.lan.ns(role))


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    folder = tmp_path_factory.mktemp("reach")
    cert, key = make_certificate(folder)
    with routed_lan() as lan:
        config = prov_config(folder, f"""sip_server = "{BOX_IP}"
ban_misses = 0
phone_subnets = ["{PHONE_SUBNET}"]
https_listen = "{BOX_IP}:0"
tls_cert = "{cert}"
tls_key = "{key}"
""", host=BOX_IP)
        daemon = start_daemon(config, env={**os.environ, "NOTIFY_SOCKET": ""},
                              wrap=lan.cmd("box"))
        try:
            yield Box(lan, daemon, cert)
        finally:
            daemon.stop()


@pytest.fixture(scope="module")
def extensions(box: Box) -> dict[str, dict[str, object]]:
    """The on-link phone on extension 101 and the routed phone on 102."""
    return {PHONE: setup_extension(box.config, "101", "An Nguyen", PHONE),
            ROUTED: setup_extension(box.config, "102", "Binh Tran", ROUTED)}


def test_on_link_phone_gets_its_file_over_tftp_and_http(
        box: Box, extensions: dict[str, dict[str, object]]) -> None:
    ext = extensions[PHONE]
    own = box.directory().phone_credentials(PHONE)
    data = box.tftp("phone", f"{PHONE}.cfg")
    assert data is not None
    assert account_of("yealink", data)["password"] == ext["sip_password"]
    values = parse_cfg(data)
    assert values["static.security.user_password"] == f"admin:{own.admin_password}"
    assert http_credentials("yealink", data)[:2] == (PHONE, own.prov_password)
    # The other phone's admin password is its own: one leaked file opens one phone only.
    assert own.admin_password != box.directory().phone_credentials(ROUTED).admin_password
    # Enrolled by that fetch: HTTP wants its digest from now on.
    assert box.get("phone", f"{PHONE}.cfg", ua=user_agent(PHONE))[0] == 401
    status, body = box.get("phone", f"{PHONE}.cfg", ua=user_agent(PHONE),
                           digest=(PHONE, own.prov_password))
    assert status == 200 and account_of("yealink", body)["password"] == ext["sip_password"]
    phone = wait_for_phone(box.config, PHONE, ip=PHONE_IP)
    assert phone["state"] == "assigned"


def test_on_link_rogue_with_another_mac_gets_a_miss(
        box: Box, extensions: dict[str, dict[str, object]]) -> None:
    own = box.directory().phone_credentials(PHONE)
    missing = box.get("rogue", "no-such-file.cfg")
    assert missing[0] == 404
    assert box.tftp("rogue", f"{PHONE}.cfg") is None
    assert box.get("rogue", f"{PHONE}.cfg", ua=user_agent(PHONE)) == missing
    # Even holding the phone's credentials: the table maps this address to another MAC.
    assert box.get("rogue", f"{PHONE}.cfg", ua=user_agent(PHONE),
                   digest=(PHONE, own.prov_password)) == missing
    # Its own MAC is its own business: a welcome file, no secret.
    data = box.tftp("rogue", f"{ROGUE}.cfg")
    assert data is not None and account_of("yealink", data)["enabled"] == "0"
    assert str(extensions[PHONE]["sip_password"]).encode() not in data


def test_routed_phone_needs_https_with_its_credentials(
        box: Box, extensions: dict[str, dict[str, object]]) -> None:
    ext = extensions[ROUTED]
    own = box.directory().phone_credentials(ROUTED)  # what its web page shows the admin
    assert box.tftp("routed", f"{ROUTED}.cfg") is None  # never over TFTP
    assert box.tftp("routed", COMMON) is not None  # common files, as for anyone
    ua = user_agent(ROUTED)
    assert box.get("routed", f"{ROUTED}.cfg", ua=ua)[0] == 401
    assert box.get("routed", f"{ROUTED}.cfg", https=True, ua=ua)[0] == 401
    assert box.get("routed", f"{ROUTED}.cfg", https=True, ua=ua,
                   digest=(ROUTED, "x" * 24))[0] == 401
    status, body = box.get("routed", f"{ROUTED}.cfg", https=True, ua=ua,
                           digest=(ROUTED, own.prov_password))
    assert status == 200
    assert account_of("yealink", body)["password"] == ext["sip_password"]
    assert parse_cfg(body)["static.security.user_password"] == f"admin:{own.admin_password}"
    assert parse_cfg(body)["static.auto_provision.server.url"].startswith(f"https://{BOX_IP}:")
    # The box's certificate is what curl checked: without it the handshake is refused.
    no_ca = box.lan.run("routed", "curl", "-s", "-o", "/dev/null", "--max-time", "10",
                        f"https://{BOX_IP}:{box.port('https')}/{COMMON}")
    assert no_ca.returncode == 60  # peer certificate cannot be authenticated
    wait_for_phone(box.config, ROUTED, ip=ROUTED_IP)


def test_routed_phone_enrolls_by_a_one_time_url(
        box: Box, extensions: dict[str, dict[str, object]]) -> None:
    ext = extensions[ROUTED]
    token = box.directory().start_enrollment(ROUTED)
    ua = user_agent(ROUTED)
    assert box.get("routed", f"enroll/{token}/{COMMON}", https=True, ua=ua)[0] == 200
    assert box.get("outsider", f"enroll/{token}/{ROUTED}.cfg", https=True, ua=ua)[0] == 404
    status, body = box.get("routed", f"enroll/{token}/{ROUTED}.cfg", https=True, ua=ua)
    assert status == 200 and account_of("yealink", body)["password"] == ext["sip_password"]
    user, password, _ = http_credentials("yealink", body)
    assert (user, password) == (ROUTED, box.directory().phone_credentials(ROUTED).prov_password)
    assert box.get("routed", f"enroll/{token}/{ROUTED}.cfg", https=True, ua=ua)[0] == 401
    assert box.get("routed", f"{ROUTED}.cfg", https=True, ua=ua,
                   digest=(user, password))[0] == 200


def test_outsider_and_the_box_itself_never_get_a_secret(
        box: Box, extensions: dict[str, dict[str, object]]) -> None:
    routed = box.directory().phone_credentials(ROUTED)
    missing = box.get("outsider", "no-such-file.cfg")
    for role, extra in (("outsider", ()), ("box", ()), ("box", ("--interface", "127.0.0.1"))):
        for mac in (PHONE, ROUTED):
            assert box.get(role, f"{mac}.cfg", ua=user_agent(mac), extra=extra) == missing
        assert box.get(role, f"{ROUTED}.cfg", ua=user_agent(ROUTED), extra=extra,
                       digest=(ROUTED, routed.prov_password)) == missing, role
        assert box.get(role, f"{ROUTED}.cfg", https=True, extra=extra,
                       digest=(ROUTED, routed.prov_password))[0] == 404, role
        assert box.get(role, COMMON, extra=extra)[0] == 200  # common files: anyone
    for role in ("outsider", "box"):
        assert box.tftp(role, f"{PHONE}.cfg") is None
        assert box.tftp(role, f"{ROUTED}.cfg") is None
    assert str(extensions[PHONE]["sip_password"]) not in box.daemon.log()


def test_user_agent_floods_make_no_phantom_phones(
        box: Box, extensions: dict[str, dict[str, object]]) -> None:
    wait_for_phone(box.config, PHONE, ip=PHONE_IP)
    before = {p["mac"] for p in appliance_json(box.config, "phone", "list")}
    rng = random.Random(13)
    fakes = [f"001565{rng.getrandbits(24):06x}" for _ in range(40)]
    script = "; ".join(
        f"curl -s -o /dev/null -A '{user_agent(mac)}' http://{BOX_IP}:{box.port('http')}/{COMMON}"
        for mac in [*fakes, PHONE])  # the real phone's MAC too: its IP must stay its own
    for role in ("rogue", "outsider", "routed"):
        result = box.lan.run(role, "sh", "-c", script, timeout=120)
        assert result.returncode == 0, result.stderr
    after = appliance_json(box.config, "phone", "list")
    assert {p["mac"] for p in after} == before
    assert next(p for p in after if p["mac"] == PHONE)["ip"] == PHONE_IP
    assert OUTSIDER_IP not in {p["ip"] for p in after}
    audit = subprocess.run(
        ["ip", "netns", "exec", box.lan.ns("box"), ".venv/bin/python", "-m", "appliance",
         "audit", "--json", "--config", str(box.config)], capture_output=True, text=True,
        timeout=60, check=False, cwd=Path(__file__).resolve().parents[2])
    assert not any(mac in audit.stdout for mac in fakes)
