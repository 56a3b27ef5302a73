"""Config: dev defaults, typed keys, and one clear line for every bad file or value."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.config import Listen, load, parse_listen
from appliance.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "appliance.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_dev_defaults_bind_loopback_and_discover_nothing(monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = load(None, {})
    assert cfg.paths.data == tmp_path / "var"
    assert cfg.store.url == f"sqlite:///{tmp_path / 'var' / 'appliance.db'}"
    for listen in (cfg.web.listen, cfg.sip.listen, cfg.provisioning.tftp_listen,
                   cfg.provisioning.http_listen):
        assert listen.host == "127.0.0.1"
    d = cfg.discovery
    assert not (d.pnp or d.mdns or d.snmp or d.neighbors)
    assert d.subnets == () and d.interfaces == ()


def test_file_values_and_relative_paths(tmp_path: Path) -> None:
    path = write(tmp_path, """
[paths]
data = "state"
[web]
listen = "[::1]:0"
[sip]
listen = "127.0.0.1:5070"
domain = "office.example"
[discovery]
snmp = true
subnets = ["192.0.2.7/24"]
""")
    cfg = load(path, {})
    assert cfg.paths.data == tmp_path / "state"
    assert cfg.web.listen == Listen("::1", 0)
    assert str(cfg.web.listen) == "[::1]:0"
    assert cfg.sip.listen.port == 5070 and cfg.sip.domain == "office.example"
    assert cfg.discovery.snmp and cfg.discovery.subnets == ("192.0.2.0/24",)
    assert cfg.source == path


def test_env_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[store]\nurl = "postgresql://u@/db"\n')
    assert load(None, {"APPLIANCE_CONFIG": str(path)}).store.url == "postgresql://u@/db"


@pytest.mark.parametrize(("text", "names"), [
    ("[web]\nlisten = 8000\n", "web.listen"),
    ('[web]\nlisten = "127.0.0.1"\n', "web.listen"),
    ('[web]\nlisten = "127.0.0.1:70000"\n', "web.listen"),
    ('[web]\nlisten = "999.1.1.1:80"\n', "web.listen"),
    ('[web]\nenabled = "yes"\n', "web.enabled"),
    ('[web]\nlisen = "127.0.0.1:80"\n', "web.lisen"),
    ("[nosuch]\nx = 1\n", "nosuch"),
    ('[log]\nlevel = "loud"\n', "log.level"),
    ("[events]\npoll_interval = 0\n", "events.poll_interval"),
    ('[discovery]\nsubnets = ["10.0.0.0/33"]\n', "discovery.subnets"),
    ('[store]\nurl = "appliance.db"\n', "store.url"),
    ('web = 1\n', "[web]"),
])
def test_bad_values_fail_with_one_line_naming_the_key(tmp_path: Path, text: str,
                                                      names: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, text), {})
    message = str(info.value)
    assert names in message and "\n" not in message and str(tmp_path) in message


def test_broken_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(write(tmp_path, "[web\n"), {})
    with pytest.raises(ConfigError, match="does not exist"):
        load(tmp_path / "none.toml", {})


@pytest.mark.parametrize("text", ["1.2.3.4:5", "[::1]:5060", "localhost:0", "0.0.0.0:69"])
def test_listen_round_trips(text: str) -> None:
    assert str(parse_listen(text)) == text


@pytest.mark.parametrize("text", ["", ":80", "::1:80", "[::1]80", "[1.2.3.4]:80", "host:-1",
                                  "host:http"])
def test_listen_rejects(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_listen(text)
