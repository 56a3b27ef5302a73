"""One typed config: frozen dataclasses loaded from one TOML file.

``load(path, env)`` reads the file named by ``path`` (or ``APPLIANCE_CONFIG`` in
``env``), checks every key and value, and returns a ``Config``; anything wrong
raises ``ConfigError`` with one line naming the file and key. With no file at
all, the dev defaults apply: everything on 127.0.0.1, data in ``./var``, no LAN
discovery. Relative paths in a file are relative to that file's folder.
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.errors import ConfigError

ENV_CONFIG = "APPLIANCE_CONFIG"
LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True)
class Listen:
    """A listen address: host (IPv4, IPv6 or name) and port (0 lets the OS pick)."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class PathsConfig:
    """Where the appliance keeps its state."""

    data: Path


@dataclass(frozen=True)
class StoreConfig:
    """The database: a SQLAlchemy URL, SQLite by default, PostgreSQL by URL."""

    url: str


@dataclass(frozen=True)
class LogConfig:
    """Logging to stderr."""

    level: str = "info"


@dataclass(frozen=True)
class EventsConfig:
    """How the daemon tails the events outbox."""

    poll_interval: float = 0.25
    consumer: str = "daemon"


@dataclass(frozen=True)
class WebConfig:
    """The admin web server."""

    enabled: bool = True
    listen: Listen = Listen("127.0.0.1", 8000)


@dataclass(frozen=True)
class SipConfig:
    """The SIP routing core (reserved: its keys grow with the routing issue)."""

    enabled: bool = True
    listen: Listen = Listen("127.0.0.1", 5060)
    domain: str = ""


@dataclass(frozen=True)
class ProvisioningConfig:
    """The provisioning servers (reserved: keys grow with the provisioning issue)."""

    enabled: bool = True
    tftp_listen: Listen = Listen("127.0.0.1", 6969)
    http_listen: Listen = Listen("127.0.0.1", 8080)


@dataclass(frozen=True)
class DiscoveryConfig:
    """LAN discovery; every method is off unless switched on (never in dev)."""

    pnp: bool = False
    mdns: bool = False
    snmp: bool = False
    neighbors: bool = False
    interfaces: tuple[str, ...] = ()
    subnets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Config:
    """The whole appliance config."""

    paths: PathsConfig
    store: StoreConfig
    log: LogConfig = field(default_factory=LogConfig)
    events: EventsConfig = field(default_factory=EventsConfig)
    web: WebConfig = field(default_factory=WebConfig)
    sip: SipConfig = field(default_factory=SipConfig)
    provisioning: ProvisioningConfig = field(default_factory=ProvisioningConfig)
    discovery: DiscoveryConfig = field(default_factory=DiscoveryConfig)
    source: Path | None = None

    @property
    def run_dir(self) -> Path:
        """Folder for runtime files such as ``ports.json``."""
        return self.paths.data / "run"


def parse_listen(text: str, key: str = "listen") -> Listen:
    """Parse ``host:port`` or ``[v6]:port``; raise ConfigError naming ``key``."""
    if not isinstance(text, str):
        raise ConfigError(f"{key}: expected a 'host:port' string, got {text!r}")
    if text.startswith("["):
        host, sep, port_text = text[1:].partition("]:")
        if not sep:
            raise ConfigError(f"{key}: expected '[address]:port', got {text!r}")
        _check_ip(host, key, text, version=6)
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep or not host or ":" in host:
            raise ConfigError(f"{key}: expected 'host:port' (IPv6 as '[addr]:port'), got {text!r}")
        if host[0].isdigit():
            _check_ip(host, key, text, version=4)
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ConfigError(f"{key}: port must be 0 to 65535, got {text!r}")
    return Listen(host, int(port_text))


def _check_ip(host: str, key: str, text: str, version: int) -> None:
    try:
        if ipaddress.ip_address(host).version != version:
            raise ValueError(host)
    except ValueError:
        raise ConfigError(f"{key}: {host!r} is not an IPv{version} address in {text!r}") from None


class _Section:
    """Typed reads from one TOML table; every key read is consumed, leftovers are errors."""

    def __init__(self, name: str, table: Any) -> None:
        if not isinstance(table, dict):
            raise ConfigError(f"[{name}]: expected a table, got {type(table).__name__}")
        self.name = name
        self.values: dict[str, Any] = dict(table)

    def _take(self, key: str) -> Any:
        return self.values.pop(key, None)

    def key(self, key: str) -> str:
        return f"{self.name}.{key}"

    def boolean(self, key: str, default: bool) -> bool:
        value = self._take(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise ConfigError(f"{self.key(key)}: expected true or false, got {value!r}")
        return value

    def string(self, key: str, default: str) -> str:
        value = self._take(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise ConfigError(f"{self.key(key)}: expected a string, got {value!r}")
        return value

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.string(key, default)
        if value not in choices:
            allowed = ", ".join(choices)
            raise ConfigError(f"{self.key(key)}: expected one of {allowed}, got {value!r}")
        return value

    def number(self, key: str, default: float, low: float, high: float) -> float:
        value = self._take(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{self.key(key)}: expected a number, got {value!r}")
        if not low <= value <= high:
            raise ConfigError(f"{self.key(key)}: must be between {low} and {high}, got {value!r}")
        return float(value)

    def listen(self, key: str, default: Listen) -> Listen:
        value = self._take(key)
        return default if value is None else parse_listen(value, self.key(key))

    def strings(self, key: str) -> tuple[str, ...]:
        value = self._take(key)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{self.key(key)}: expected a list of strings, got {value!r}")
        return tuple(value)

    def finish(self) -> None:
        if self.values:
            unknown = ", ".join(sorted(self.key(k) for k in self.values))
            raise ConfigError(f"unknown config key: {unknown}")


def _path(value: str, base: Path, key: str) -> Path:
    if not value or "\x00" in value:
        raise ConfigError(f"{key}: expected a folder path, got {value!r}")
    path = Path(value).expanduser()
    return (path if path.is_absolute() else base / path).resolve()


def _subnet(text: str, key: str) -> str:
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise ConfigError(f"{key}: {text!r} is not a subnet such as 192.0.2.0/24") from None


# One reader per section: a part adds its keys to its dataclass above and to its reader here.

def _web(s: _Section) -> WebConfig:
    return WebConfig(enabled=s.boolean("enabled", True),
                     listen=s.listen("listen", WebConfig.listen))


def _sip(s: _Section) -> SipConfig:
    return SipConfig(
        enabled=s.boolean("enabled", True),
        listen=s.listen("listen", SipConfig.listen),
        domain=s.string("domain", ""),
    )


def _provisioning(s: _Section) -> ProvisioningConfig:
    return ProvisioningConfig(
        enabled=s.boolean("enabled", True),
        tftp_listen=s.listen("tftp_listen", ProvisioningConfig.tftp_listen),
        http_listen=s.listen("http_listen", ProvisioningConfig.http_listen),
    )


def _discovery(s: _Section) -> DiscoveryConfig:
    return DiscoveryConfig(
        pnp=s.boolean("pnp", False),
        mdns=s.boolean("mdns", False),
        snmp=s.boolean("snmp", False),
        neighbors=s.boolean("neighbors", False),
        interfaces=s.strings("interfaces"),
        subnets=tuple(_subnet(n, "discovery.subnets") for n in s.strings("subnets")),
    )


def _events(s: _Section) -> EventsConfig:
    consumer = s.string("consumer", "daemon")
    if not consumer or len(consumer) > 64:
        raise ConfigError("events.consumer: expected 1 to 64 characters")
    return EventsConfig(poll_interval=s.number("poll_interval", 0.25, 0.01, 10.0),
                        consumer=consumer)


def _build(raw: Mapping[str, Any], base: Path, source: Path | None) -> Config:
    tables = dict(raw)
    known = ("paths", "store", "log", "events", "web", "sip", "provisioning", "discovery")
    s = {name: _Section(name, tables.pop(name, {})) for name in known}
    if tables:
        raise ConfigError(f"unknown config section: {', '.join(sorted(tables))}")
    data = _path(s["paths"].string("data", "var"), base, "paths.data")
    url = s["store"].string("url", f"sqlite:///{data / 'appliance.db'}")
    if "://" not in url:
        raise ConfigError(f"store.url: expected a URL such as sqlite:///path.db, got {url!r}")
    config = Config(
        paths=PathsConfig(data=data),
        store=StoreConfig(url=url),
        log=LogConfig(level=s["log"].choice("level", "info", LOG_LEVELS)),
        events=_events(s["events"]),
        web=_web(s["web"]),
        sip=_sip(s["sip"]),
        provisioning=_provisioning(s["provisioning"]),
        discovery=_discovery(s["discovery"]),
        source=source,
    )
    for section in s.values():
        section.finish()
    return config


def load(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Load the config from ``path``, else ``$APPLIANCE_CONFIG``, else the dev defaults."""
    env = env if env is not None else {}
    chosen = path if path else env.get(ENV_CONFIG) or None
    if chosen is None:
        return _build({}, Path.cwd(), None)
    file = Path(chosen).expanduser().resolve()
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {file} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {file} cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {file} is not valid TOML: {exc}") from None
    try:
        return _build(raw, file.parent, file)
    except ConfigError as exc:
        raise ConfigError(f"{file}: {exc}") from None
