"""Settings changed on the admin page: overrides merged over the config file, same checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.config import OVERRIDABLE, load, with_overrides
from appliance.errors import ConfigError

FILE = """
[paths]
data = "state"
[sip]
enabled = false
domain = "file.example"
[provisioning]
timezone = "UTC"
ntp_server = "ntp.file.example"
[discovery]
subnets = ["192.0.2.0/24"]
snmp_interval = 600
"""


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """A config file with a few of the overridable keys set."""
    file = tmp_path / "appliance.toml"
    file.write_text(FILE, encoding="utf-8")
    return file


def test_overrides_win_over_the_file_and_the_rest_stays(path: Path, tmp_path: Path) -> None:
    cfg = load(path, {}, overrides={"sip": {"domain": "Pbx.Example"},
                                    "provisioning": {"timezone": "Asia/Ho_Chi_Minh"},
                                    "discovery": {"pnp": True, "subnets": ["10.1.2.3/24"]}})
    assert cfg.sip.domain == "pbx.example"  # the same reader: lower-cased
    assert cfg.sip.enabled is False
    assert cfg.provisioning.timezone == "Asia/Ho_Chi_Minh"
    assert cfg.provisioning.ntp_server == "ntp.file.example"
    assert cfg.discovery.pnp and cfg.discovery.subnets == ("10.1.2.0/24",)
    assert cfg.discovery.snmp_interval == 600.0
    assert cfg.paths.data == tmp_path / "state"
    assert cfg.overrides == {"sip": {"domain": "Pbx.Example"},
                             "provisioning": {"timezone": "Asia/Ho_Chi_Minh"},
                             "discovery": {"pnp": True, "subnets": ["10.1.2.3/24"]}}


def test_without_overrides_nothing_changes(path: Path) -> None:
    assert load(path, {}, overrides={}) == load(path, {}) == load(path, {}, overrides=None)
    assert load(path, {}).overrides == {}


def test_with_overrides_rebuilds_from_the_file_not_from_older_overrides(path: Path) -> None:
    first = load(path, {}, overrides={"sip": {"domain": "one.example"},
                                      "discovery": {"mdns": True}})
    second = with_overrides(first, {"provisioning": {"language": "fr"}})
    assert second.sip.domain == "file.example"  # the earlier override is gone
    assert not second.discovery.mdns
    assert second.provisioning.language == "fr"
    assert second == load(path, {}, overrides={"provisioning": {"language": "fr"}})
    assert with_overrides(second, {}) == load(path, {})


def test_with_overrides_keeps_sections_the_admin_page_cannot_change(path: Path,
                                                                     tmp_path: Path) -> None:
    cfg = load(path, {})
    moved = type(cfg)(**{**cfg.__dict__, "paths": type(cfg.paths)(data=tmp_path / "else")})
    assert with_overrides(moved, {"sip": {"domain": "x.example"}}).paths.data == tmp_path / "else"


def test_dev_defaults_take_overrides_too() -> None:
    cfg = with_overrides(load(None, {}), {"discovery": {"neighbors": True,
                                                        "neighbors_interval": 30}})
    assert cfg.discovery.neighbors and cfg.discovery.neighbors_interval == 30.0


@pytest.mark.parametrize(("overrides", "key"), [
    ({"web": {"listen": "0.0.0.0:80"}}, "web.listen"),
    ({"sip": {"listen": "0.0.0.0:5060"}}, "sip.listen"),
    ({"store": {"url": "sqlite:////tmp/x.db"}}, "store.url"),
    ({"discovery": {"snmp_v3": []}}, "discovery.snmp_v3"),
    ({"sip": "pbx.example"}, "[sip]"),
    ({"nowhere": {"x": 1}}, "nowhere"),
])
def test_only_the_listed_keys_may_be_overridden(path: Path, overrides: dict[str, object],
                                                key: str) -> None:
    with pytest.raises(ConfigError) as error:
        load(path, {}, overrides=overrides)  # type: ignore[arg-type]
    message = str(error.value)
    assert key in message and "admin page" in message and "\n" not in message
    with pytest.raises(ConfigError):
        with_overrides(load(path, {}), overrides)  # type: ignore[arg-type]


@pytest.mark.parametrize(("overrides", "key"), [
    ({"sip": {"domain": "not a host"}}, "sip.domain"),
    ({"provisioning": {"timezone": "Mars/Olympus"}}, "provisioning.timezone"),
    ({"provisioning": {"url": "ftp://box"}}, "provisioning.url"),
    ({"provisioning": {"language": "xx"}}, "provisioning.language"),
    ({"provisioning": {"ntp_server": ""}}, "provisioning.ntp_server"),
    ({"discovery": {"subnets": ["10.0.0.300/8"]}}, "discovery.subnets"),
    ({"discovery": {"snmp_interval": 5}}, "discovery.snmp_interval"),
    ({"discovery": {"neighbors_interval": "often"}}, "discovery.neighbors_interval"),
    ({"discovery": {"pnp": "yes"}}, "discovery.pnp"),
])
def test_bad_override_values_name_their_key(path: Path, overrides: dict[str, object],
                                            key: str) -> None:
    with pytest.raises(ConfigError) as error:
        with_overrides(load(path, {}), overrides)  # type: ignore[arg-type]
    assert str(error.value).startswith(f"{key}: ")
    with pytest.raises(ConfigError) as error:
        load(path, {}, overrides=overrides)  # type: ignore[arg-type]
    assert str(error.value).startswith(f"{path}: {key}: ")


def test_the_listed_keys() -> None:
    assert OVERRIDABLE == {
        "sip": ("domain",),
        "provisioning": ("url", "ntp_server", "timezone", "language"),
        "discovery": ("pnp", "mdns", "snmp", "neighbors", "subnets", "snmp_communities",
                      "snmp_interval", "neighbors_interval"),
    }
