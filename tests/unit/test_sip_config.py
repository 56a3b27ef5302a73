"""The [sip] config keys: defaults, values, and one clear line for each bad one."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.config import Listen, load
from appliance.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "appliance.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults() -> None:
    sip = load(None, {}).sip
    assert sip.listen == sip.tcp_listen == Listen("127.0.0.1", 5060) and sip.tls_listen is None
    assert (sip.min_expires, sip.default_expires, sip.max_expires) == (60, 3600, 3600)
    assert sip.digest_algorithms == ("SHA-256", "MD5") and sip.effective_realm == "appliance"
    assert (sip.ban_failures, sip.ban_window, sip.ban_seconds) == (5, 60.0, 900.0)
    assert "friendly-scanner" in sip.scanner_agents and sip.max_uri == 512


def test_values(tmp_path: Path) -> None:
    (tmp_path / "c.pem").write_text("x")
    (tmp_path / "k.pem").write_text("x")
    sip = load(write(tmp_path, """
[sip]
listen = "127.0.0.1:5070"
tcp_listen = ""
tls_listen = "127.0.0.1:5071"
tls_cert = "c.pem"
tls_key = "k.pem"
domain = "Office.Example"
min_expires = 120
default_expires = 600
max_expires = 7200
digest_algorithms = ["MD5"]
ban_failures = 0
flood_rate = 0
scanner_agents = ["EvilScan"]
"""), {}).sip
    assert sip.tcp_listen is None and sip.tls_listen == Listen("127.0.0.1", 5071)
    assert sip.tls_cert == tmp_path / "c.pem" and sip.effective_realm == "office.example"
    assert (sip.min_expires, sip.default_expires, sip.max_expires) == (120, 600, 7200)
    assert sip.digest_algorithms == ("MD5",) and sip.scanner_agents == ("evilscan",)


@pytest.mark.parametrize(("text", "message"), [
    ('min_expires = 600\ndefault_expires = 60', "sip.default_expires"),
    ('digest_algorithms = ["SHA-512"]', "sip.digest_algorithms"),
    ('digest_algorithms = []', "sip.digest_algorithms"),
    ('tls_listen = "127.0.0.1:5061"', "sip.tls_listen: needs"),
    ('tls_cert = "missing.pem"', "sip.tls_cert"),
    ('domain = "bad domain"', "sip.domain"),
    ('max_uri = 10', "sip.max_uri"),
    ('ban_failures = 2.5', "sip.ban_failures"),
    ('tcp_listen = "nowhere"', "sip.tcp_listen"),
    ('bogus = 1', "sip.bogus"),
])
def test_bad_values_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load(write(tmp_path, f"[sip]\n{text}\n"), {})


def test_ring_timeout(tmp_path: Path) -> None:
    assert load(None, {}).sip.ring_timeout == 60.0
    assert load(write(tmp_path, "[sip]\nring_timeout = 45\n"), {}).sip.ring_timeout == 45.0
    for bad in ("2", "601", '"long"'):
        with pytest.raises(ConfigError, match=r"sip\.ring_timeout"):
            load(write(tmp_path, f"[sip]\nring_timeout = {bad}\n"), {})
