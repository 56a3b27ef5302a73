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
from dataclasses import dataclass, field, replace
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
    session_idle_minutes: float = 30.0  # a session unused this long ends (1 to 1440)
    tls_cert: Path | None = None  # with tls_key: HTTPS on tls_listen, plain HTTP redirects
    tls_key: Path | None = None
    tls_listen: Listen = Listen("127.0.0.1", 8443)

    @property
    def tls(self) -> bool:
        """True when a certificate and its key are configured."""
        return self.tls_cert is not None and self.tls_key is not None


SCANNER_AGENTS = ("friendly-scanner", "sipvicious", "sipcli", "vaxsipuseragent", "pplsip",
                  "sip-scan", "sipsak-scan", "iwar", "sundayddr", "smap", "sivus", "cafesip")


@dataclass(frozen=True)
class SipConfig:
    """The SIP routing core: listeners, domain, registrar bounds, digest and guard limits."""

    enabled: bool = True
    listen: Listen = Listen("127.0.0.1", 5060)  # UDP
    tcp_listen: Listen | None = Listen("127.0.0.1", 5060)  # None: no TCP
    tls_listen: Listen | None = None  # needs tls_cert and tls_key
    tls_cert: Path | None = None
    tls_key: Path | None = None
    domain: str = ""  # "" accepts any host in a Request-URI
    realm: str = ""  # "" means the domain, else "appliance"
    min_expires: int = 60
    max_expires: int = 3600
    default_expires: int = 3600
    nonce_lifetime: float = 300.0
    digest_algorithms: tuple[str, ...] = ("SHA-256", "MD5")
    # User-Agents (lower-case substrings) that fail on any SHA-256 challenge: MD5 alone.
    md5_only_agents: tuple[str, ...] = ("baresip v0.", "baresip v1.", "sipp")
    ban_failures: int = 5  # failed authentications per source within ban_window; 0: off
    ban_window: float = 60.0
    ban_seconds: float = 900.0
    flood_rate: float = 200.0  # messages per second per source (burst 2x); 0: off
    max_sources: int = 10_000  # entries in each per-source table
    max_uri: int = 512
    scanner_agents: tuple[str, ...] = SCANNER_AGENTS
    tcp_idle: float = 900.0  # seconds before an idle stream without bindings is closed

    @property
    def effective_realm(self) -> str:
        """The digest realm: ``realm``, else ``domain``, else "appliance"."""
        return self.realm or self.domain or "appliance"


@dataclass(frozen=True)
class ProvisioningConfig:
    """The provisioning servers (TFTP and HTTP), what they render, and their guard."""

    enabled: bool = True
    tftp_listen: Listen = Listen("127.0.0.1", 6969)
    http_listen: Listen = Listen("127.0.0.1", 8080)
    # What phones are told: "" derives each from the bound addresses and [sip] listen.
    url: str = ""
    sip_server: str = ""
    sip_transport: str = "udp"
    ntp_server: str = "pool.ntp.org"
    timezone: str = "UTC"
    language: str = "en"
    # The guard: misses per source in a window before a ban; 0 switches a limit off.
    ban_misses: int = 30
    ban_window: float = 60.0
    ban_seconds: float = 600.0
    macs_per_source: int = 4
    neighbor_check: bool = True
    http_auth: bool = True
    push_port: int = 5060
    templates: Path | None = None
    firmware_profiles: Path | None = None


@dataclass(frozen=True)
class SnmpV3User:
    """An SNMPv3 user for the sweep: auth (md5, sha, sha256) and optional privacy (aes, des)."""

    user: str
    auth_key: str
    auth: str = "sha"
    priv_key: str = ""
    priv: str = "aes"


@dataclass(frozen=True)
class DiscoveryConfig:
    """LAN discovery; every method is off unless switched on (never in dev)."""

    pnp: bool = False
    mdns: bool = False
    snmp: bool = False
    neighbors: bool = False
    interfaces: tuple[str, ...] = ()
    subnets: tuple[str, ...] = ()
    snmp_communities: tuple[str, ...] = ("public",)
    snmp_v3: tuple[SnmpV3User, ...] = ()
    snmp_interval: float = 3600.0
    neighbors_interval: float = 60.0
    mdns_browse: tuple[str, ...] = ("_sip._udp.local.", "_sip._tcp.local.")


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
    # The file's TOML as read, and the admin page's overrides laid over it (see with_overrides).
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    overrides: Mapping[str, Any] = field(default_factory=dict, compare=False)

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


def _file(value: str, base: Path, key: str) -> Path:
    path = _path(value, base, key)
    if not path.is_file():
        raise ConfigError(f"{key}: no such file {str(path)!r}")
    return path


def _subnet(text: str, key: str) -> str:
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise ConfigError(f"{key}: {text!r} is not a subnet such as 192.0.2.0/24") from None


# One reader per section: a part adds its keys to its dataclass above and to its reader here.

def _web(s: _Section, base: Path) -> WebConfig:
    cert, key = s.string("tls_cert", ""), s.string("tls_key", "")
    if bool(cert) != bool(key):
        given, missing = ("tls_cert", "tls_key") if cert else ("tls_key", "tls_cert")
        raise ConfigError(f"{s.key(missing)}: needed with {s.key(given)} (set both or neither)")
    return WebConfig(enabled=s.boolean("enabled", True),
                     listen=s.listen("listen", WebConfig.listen),
                     session_idle_minutes=s.number("session_idle_minutes", 30.0, 1.0, 1440.0),
                     tls_cert=_file(cert, base, s.key("tls_cert")) if cert else None,
                     tls_key=_file(key, base, s.key("tls_key")) if key else None,
                     tls_listen=s.listen("tls_listen", WebConfig.tls_listen))


def _sip(s: _Section, base: Path) -> SipConfig:
    d = SipConfig

    def count(key: str, default: int, low: int, high: int) -> int:
        value = s.number(key, default, low, high)
        if value != int(value):
            raise ConfigError(f"{s.key(key)}: expected a whole number, got {value!r}")
        return int(value)

    def optional_listen(key: str, default: Listen | None) -> Listen | None:
        value = s.string(key, str(default) if default else "")
        return parse_listen(value, s.key(key)) if value else None

    def file(key: str) -> Path | None:
        value = s.string(key, "")
        if not value:
            return None
        path = _path(value, base, s.key(key))
        if not path.is_file():
            raise ConfigError(f"{s.key(key)}: no such file {str(path)!r}")
        return path

    listen = s.listen("listen", d.listen)
    names = {key: s.string(key, "") for key in ("domain", "realm")}
    for key, name in names.items():
        if not all(c.isalnum() or c in ".-" for c in name):
            raise ConfigError(f"{s.key(key)}: expected a host name, got {name!r}")
    cfg = SipConfig(
        enabled=s.boolean("enabled", True), listen=listen,
        tcp_listen=optional_listen("tcp_listen", listen), tls_listen=optional_listen(
            "tls_listen", None), tls_cert=file("tls_cert"), tls_key=file("tls_key"),
        domain=names["domain"].lower(), realm=names["realm"],
        min_expires=count("min_expires", d.min_expires, 1, 86_400),
        max_expires=count("max_expires", d.max_expires, 1, 86_400 * 7),
        default_expires=count("default_expires", d.default_expires, 1, 86_400 * 7),
        nonce_lifetime=s.number("nonce_lifetime", d.nonce_lifetime, 5.0, 86_400.0),
        digest_algorithms=(s.strings("digest_algorithms") if "digest_algorithms" in s.values
                           else d.digest_algorithms),
        md5_only_agents=tuple(a.lower() for a in s.strings("md5_only_agents"))
        if "md5_only_agents" in s.values else d.md5_only_agents,
        ban_failures=count("ban_failures", d.ban_failures, 0, 1000),
        ban_window=s.number("ban_window", d.ban_window, 1.0, 86_400.0),
        ban_seconds=s.number("ban_seconds", d.ban_seconds, 1.0, 604_800.0),
        flood_rate=s.number("flood_rate", d.flood_rate, 0.0, 1_000_000.0),
        max_sources=count("max_sources", d.max_sources, 16, 10_000_000),
        max_uri=count("max_uri", d.max_uri, 64, 8192),
        scanner_agents=tuple(a.lower() for a in s.strings("scanner_agents"))
        if "scanner_agents" in s.values else d.scanner_agents,
        tcp_idle=s.number("tcp_idle", d.tcp_idle, 1.0, 86_400.0),
    )
    if not cfg.min_expires <= cfg.default_expires <= cfg.max_expires:
        raise ConfigError("sip.default_expires: must lie between sip.min_expires and "
                          f"sip.max_expires, got {cfg.min_expires} <= {cfg.default_expires} "
                          f"<= {cfg.max_expires}")
    bad = [a for a in cfg.digest_algorithms if a not in ("SHA-256", "MD5")]
    if bad or not cfg.digest_algorithms or len(set(cfg.digest_algorithms)) != len(
            cfg.digest_algorithms):
        raise ConfigError(f"sip.digest_algorithms: expected SHA-256 and/or MD5, got "
                          f"{list(cfg.digest_algorithms)!r}")
    if cfg.tls_listen is not None and (cfg.tls_cert is None or cfg.tls_key is None):
        raise ConfigError("sip.tls_listen: needs sip.tls_cert and sip.tls_key")
    return cfg


def _provisioning(s: _Section, base: Path) -> ProvisioningConfig:
    d = ProvisioningConfig

    def count(key: str, default: int, high: int) -> int:
        value = s.number(key, default, 0, high)
        if value != int(value):
            raise ConfigError(f"{s.key(key)}: expected a whole number, got {value!r}")
        return int(value)

    def folder(key: str) -> Path | None:
        value = s.string(key, "")
        return _path(value, base, s.key(key)) if value else None

    url = s.string("url", "")
    if url and not url.startswith(("http://", "https://", "tftp://")):
        raise ConfigError(f"provisioning.url: expected an http://, https:// or tftp:// URL, "
                          f"got {url!r}")
    sip_server = s.string("sip_server", "")
    if sip_server and not all(c.isalnum() or c in ".-:[]" for c in sip_server):
        raise ConfigError(f"provisioning.sip_server: expected host or host:port, "
                          f"got {sip_server!r}")
    timezone = s.string("timezone", "UTC")
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(timezone)
    except (ValueError, KeyError, OSError):
        raise ConfigError(f"provisioning.timezone: not an IANA zone such as "
                          f"'Asia/Ho_Chi_Minh', got {timezone!r}") from None
    ntp = s.string("ntp_server", d.ntp_server)
    if not ntp or not all(c.isalnum() or c in ".-:" for c in ntp):
        raise ConfigError(f"provisioning.ntp_server: expected a host name or address, got {ntp!r}")
    return ProvisioningConfig(
        enabled=s.boolean("enabled", True),
        tftp_listen=s.listen("tftp_listen", d.tftp_listen),
        http_listen=s.listen("http_listen", d.http_listen),
        url=url.rstrip("/"),
        sip_server=sip_server,
        sip_transport=s.choice("sip_transport", "udp", ("udp", "tcp", "tls")),
        ntp_server=ntp,
        timezone=timezone,
        language=s.choice("language", "en", ("en", "fr", "de", "es", "it", "nl", "pt")),
        ban_misses=count("ban_misses", d.ban_misses, 100_000),
        ban_window=s.number("ban_window", d.ban_window, 1.0, 86_400.0),
        ban_seconds=s.number("ban_seconds", d.ban_seconds, 1.0, 604_800.0),
        macs_per_source=count("macs_per_source", d.macs_per_source, 100_000),
        neighbor_check=s.boolean("neighbor_check", True),
        http_auth=s.boolean("http_auth", True),
        push_port=count("push_port", d.push_port, 65535),
        templates=folder("templates"),
        firmware_profiles=folder("firmware_profiles"),
    )


def _snmp_v3(s: _Section) -> tuple[SnmpV3User, ...]:
    entries = s.values.pop("snmp_v3", [])
    if not isinstance(entries, list):
        raise ConfigError("discovery.snmp_v3: expected [[discovery.snmp_v3]] tables")
    users = []
    for i, entry in enumerate(entries):
        t = _Section(f"discovery.snmp_v3[{i}]", entry)
        user = SnmpV3User(
            user=t.string("user", ""), auth_key=t.string("auth_key", ""),
            auth=t.choice("auth", "sha", ("md5", "sha", "sha256")),
            priv_key=t.string("priv_key", ""), priv=t.choice("priv", "aes", ("aes", "des")))
        t.finish()
        if not user.user or len(user.auth_key) < 8 or (user.priv_key and len(user.priv_key) < 8):
            raise ConfigError(f"{t.name}: needs user and auth_key (and priv_key) of 8+ characters")
        users.append(user)
    return tuple(users)


def _mdns_type(text: str) -> str:
    if not (text.startswith("_") and text.endswith((".local.", "._udp", "._tcp"))):
        raise ConfigError(f"discovery.mdns_browse: {text!r} is not a type like _sip._udp.local.")
    return text if text.endswith(".local.") else text + ".local."


def _discovery(s: _Section) -> DiscoveryConfig:
    browse = s.strings("mdns_browse") if "mdns_browse" in s.values else DiscoveryConfig.mdns_browse
    return DiscoveryConfig(
        pnp=s.boolean("pnp", False),
        mdns=s.boolean("mdns", False),
        snmp=s.boolean("snmp", False),
        neighbors=s.boolean("neighbors", False),
        interfaces=s.strings("interfaces"),
        subnets=tuple(_subnet(n, "discovery.subnets") for n in s.strings("subnets")),
        snmp_communities=(s.strings("snmp_communities") if "snmp_communities" in s.values
                          else DiscoveryConfig.snmp_communities),
        snmp_v3=_snmp_v3(s),
        snmp_interval=s.number("snmp_interval", 3600.0, 60.0, 7 * 86400.0),
        neighbors_interval=s.number("neighbors_interval", 60.0, 1.0, 86400.0),
        mdns_browse=tuple(_mdns_type(t) for t in browse),
    )


def _events(s: _Section) -> EventsConfig:
    consumer = s.string("consumer", "daemon")
    if not consumer or len(consumer) > 64:
        raise ConfigError("events.consumer: expected 1 to 64 characters")
    return EventsConfig(poll_interval=s.number("poll_interval", 0.25, 0.01, 10.0),
                        consumer=consumer)


# What the admin page may change (kept in the store, laid over the file by with_overrides).
OVERRIDABLE: dict[str, tuple[str, ...]] = {
    "sip": ("domain",),
    "provisioning": ("url", "ntp_server", "timezone", "language"),
    "discovery": ("pnp", "mdns", "snmp", "neighbors", "subnets", "snmp_communities",
                  "snmp_interval", "neighbors_interval"),
}


def _merge(raw: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``raw`` with ``overrides`` laid over it; a key not in OVERRIDABLE is refused."""
    merged = {name: dict(t) if isinstance(t, dict) else t for name, t in raw.items()}
    for name, table in overrides.items():
        if not isinstance(table, Mapping):
            raise ConfigError(f"[{name}]: settings from the admin page must be a table, "
                              f"got {type(table).__name__}")
        for key in table:
            if key not in OVERRIDABLE.get(name, ()):
                raise ConfigError(f"{name}.{key}: cannot be changed on the admin page")
        if isinstance(merged.setdefault(name, {}), dict):
            merged[name].update(table)
    return merged


def with_overrides(config: Config, overrides: Mapping[str, Any]) -> Config:
    """``config`` with the overridable sections rebuilt from its file and ``overrides``."""
    base = config.source.parent if config.source else Path.cwd()
    built = _build(config.raw, base, config.source, overrides)
    return replace(config, sip=built.sip, provisioning=built.provisioning,
                   discovery=built.discovery, overrides=built.overrides)


def _build(raw: Mapping[str, Any], base: Path, source: Path | None,
           overrides: Mapping[str, Any] | None = None) -> Config:
    tables = _merge(raw, overrides or {})
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
        web=_web(s["web"], base),
        sip=_sip(s["sip"], base),
        provisioning=_provisioning(s["provisioning"], base),
        discovery=_discovery(s["discovery"]),
        source=source,
        raw=raw,
        overrides=dict(overrides or {}),
    )
    for section in s.values():
        section.finish()
    return config


def load(path: str | Path | None = None, env: Mapping[str, str] | None = None,
         overrides: Mapping[str, Any] | None = None) -> Config:
    """Load the config from ``path``, else ``$APPLIANCE_CONFIG``, else the dev defaults;
    ``overrides`` (the admin page's settings) are laid over the file."""
    env = env if env is not None else {}
    chosen = path if path else env.get(ENV_CONFIG) or None
    if chosen is None:
        return _build({}, Path.cwd(), None, overrides)
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
        return _build(raw, file.parent, file, overrides)
    except ConfigError as exc:
        raise ConfigError(f"{file}: {exc}") from None
