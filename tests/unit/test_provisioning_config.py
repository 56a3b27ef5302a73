"""[provisioning] keys: defaults, values, and one clear line for each bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.config import load
from appliance.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "appliance.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_dev_safe(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    p = load(None, {}).provisioning
    assert p.tftp_listen.host == p.http_listen.host == "127.0.0.1"
    assert (p.url, p.sip_server, p.sip_transport, p.timezone, p.language) == (
        "", "", "udp", "UTC", "en")
    assert (p.ban_misses, p.macs_per_source, p.neighbor_check, p.http_auth) == (30, 4, True, True)
    assert p.push_port == 5060 and p.templates is None and p.firmware_profiles is None


def test_values_and_relative_folders(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, """
[provisioning]
url = "http://192.0.2.10/"
sip_server = "192.0.2.10:5070"
sip_transport = "tcp"
ntp_server = "ntp.example"
timezone = "Asia/Ho_Chi_Minh"
language = "fr"
ban_misses = 0
ban_window = 30
ban_seconds = 60
macs_per_source = 2
neighbor_check = false
http_auth = false
push_port = 5062
templates = "tpl"
firmware_profiles = "fw"
"""), {})
    p = cfg.provisioning
    assert p.url == "http://192.0.2.10" and p.sip_server == "192.0.2.10:5070"
    assert (p.sip_transport, p.ntp_server, p.timezone, p.language) == (
        "tcp", "ntp.example", "Asia/Ho_Chi_Minh", "fr")
    assert (p.ban_misses, p.ban_window, p.ban_seconds, p.macs_per_source) == (0, 30, 60, 2)
    assert not p.neighbor_check and not p.http_auth and p.push_port == 5062
    assert p.templates == tmp_path / "tpl" and p.firmware_profiles == tmp_path / "fw"


@pytest.mark.parametrize(("line", "key"), [
    ('url = "ftp://x"', "provisioning.url"),
    ('sip_server = "a b"', "provisioning.sip_server"),
    ('sip_transport = "sctp"', "provisioning.sip_transport"),
    ('timezone = "Mars/Base"', "provisioning.timezone"),
    ('language = "xx"', "provisioning.language"),
    ('ntp_server = ""', "provisioning.ntp_server"),
    ("ban_misses = 2.5", "provisioning.ban_misses"),
    ("ban_misses = -1", "provisioning.ban_misses"),
    ("push_port = 70000", "provisioning.push_port"),
    ('neighbor_check = "yes"', "provisioning.neighbor_check"),
    ("bogus = 1", "provisioning.bogus"),
    ('phone_subnets = ["10.20.0.0/33"]', "provisioning.phone_subnets"),
    ('phone_subnets = ["127.0.0.0/8"]', "provisioning.phone_subnets"),
    ('phone_subnets = ["0.0.0.0/0"]', "provisioning.phone_subnets"),
    ('phone_subnets = "10.0.0.0/8"', "provisioning.phone_subnets"),
    ('https_listen = "0.0.0.0:443"', "provisioning.https_listen"),
    ('tls_cert = "cert.pem"', "provisioning.tls_cert"),
    ("tftp_transfers = 0", "provisioning.tftp_transfers"),
    ("tftp_transfers_per_source = 0", "provisioning.tftp_transfers_per_source"),
])
def test_bad_values_name_the_key(tmp_path: Path, line: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(write(tmp_path, f"[provisioning]\n{line}\n"), {})
    assert key in str(err.value) and "\n" not in str(err.value)


def test_phone_subnets_https_and_transfer_caps(tmp_path: Path) -> None:
    p = load(write(tmp_path, "[provisioning]\n"), {}).provisioning
    assert p.phone_subnets == () and p.https_listen is None
    assert (p.tftp_transfers, p.tftp_transfers_per_source) == (1000, 8)
    (tmp_path / "box.pem").write_text("cert")
    (tmp_path / "box.key").write_text("key")
    p = load(write(tmp_path, """
[provisioning]
phone_subnets = ["10.20.0.5/16", "2001:db8:20::/48"]
https_listen = "0.0.0.0:443"
tls_cert = "box.pem"
tls_key = "box.key"
tftp_transfers = 50
tftp_transfers_per_source = 2
"""), {}).provisioning
    assert p.phone_subnets == ("10.20.0.0/16", "2001:db8:20::/48")
    assert str(p.https_listen) == "0.0.0.0:443"
    assert p.tls_cert == tmp_path / "box.pem" and p.tls_key == tmp_path / "box.key"
    assert (p.tftp_transfers, p.tftp_transfers_per_source) == (50, 2)
