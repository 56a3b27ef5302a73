"""Typed reads of each TOML section: every key checked, one clear line naming a bad one."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any

from appliance.config.model import (
    AUTO_INTERFACE,
    BackupConfig,
    DiscoveryConfig,
    EventsConfig,
    Listen,
    MailConfig,
    MediaConfig,
    ProvisioningConfig,
    RecordingConfig,
    SipConfig,
    SnmpV3User,
    WebConfig,
)
from appliance.errors import ConfigError


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


class Section:
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


def path_of(value: str, base: Path, key: str) -> Path:
    if not value or "\x00" in value:
        raise ConfigError(f"{key}: expected a folder path, got {value!r}")
    path = Path(value).expanduser()
    return (path if path.is_absolute() else base / path).resolve()


def _file(value: str, base: Path, key: str) -> Path:
    path = path_of(value, base, key)
    if not path.is_file():
        raise ConfigError(f"{key}: no such file {str(path)!r}")
    return path


def _subnet(text: str, key: str) -> str:
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise ConfigError(f"{key}: {text!r} is not a subnet such as 192.0.2.0/24") from None


def _phone_subnet(text: str) -> str:
    key = "provisioning.phone_subnets"
    net = ipaddress.ip_network(_subnet(text, key))
    if net.is_loopback or net.prefixlen == 0:
        raise ConfigError(f"{key}: {text!r} is no phone subnet (loopback or everything)")
    return str(net)


# One reader per section: a part adds its keys to its dataclass above and to its reader here.

def web(s: Section, base: Path) -> WebConfig:
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


def sip(s: Section, base: Path) -> SipConfig:
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
        path = path_of(value, base, s.key(key))
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
        ban_usernames=count("ban_usernames", d.ban_usernames, 0, 1000),
        ban_window=s.number("ban_window", d.ban_window, 1.0, 86_400.0),
        ban_seconds=s.number("ban_seconds", d.ban_seconds, 1.0, 604_800.0),
        retired_grace=s.number("retired_grace", d.retired_grace, 0.0, 90 * 86_400.0),
        flood_rate=s.number("flood_rate", d.flood_rate, 0.0, 1_000_000.0),
        max_sources=count("max_sources", d.max_sources, 16, 10_000_000),
        max_uri=count("max_uri", d.max_uri, 64, 8192),
        scanner_agents=tuple(a.lower() for a in s.strings("scanner_agents"))
        if "scanner_agents" in s.values else d.scanner_agents,
        tcp_idle=s.number("tcp_idle", d.tcp_idle, 1.0, 86_400.0),
        ring_timeout=s.number("ring_timeout", d.ring_timeout, 5.0, 600.0),
        tcp_per_source=count("tcp_per_source", d.tcp_per_source, 1, 1024),
        trunk_ca_file=file("trunk_ca_file"),
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


def provisioning(s: Section, base: Path) -> ProvisioningConfig:
    d = ProvisioningConfig

    def count(key: str, default: int, high: int, low: int = 0) -> int:
        value = s.number(key, default, low, high)
        if value != int(value):
            raise ConfigError(f"{s.key(key)}: expected a whole number, got {value!r}")
        return int(value)

    def folder(key: str) -> Path | None:
        value = s.string(key, "")
        return path_of(value, base, s.key(key)) if value else None

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
    https = "https_listen" in s.values
    cert, key = s.string("tls_cert", ""), s.string("tls_key", "")
    if https and not (cert and key):
        raise ConfigError("provisioning.https_listen: needs provisioning.tls_cert and "
                          "provisioning.tls_key (the web's certificate files will do)")
    if (cert or key) and not https:
        raise ConfigError("provisioning.tls_cert, tls_key: only with provisioning.https_listen")
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
        language=s.choice("language", "en", ("en", "fr", "de", "es", "it", "nl", "pt", "vi")),
        ban_misses=count("ban_misses", d.ban_misses, 100_000),
        ban_window=s.number("ban_window", d.ban_window, 1.0, 86_400.0),
        ban_seconds=s.number("ban_seconds", d.ban_seconds, 1.0, 604_800.0),
        macs_per_source=count("macs_per_source", d.macs_per_source, 100_000),
        neighbor_check=s.boolean("neighbor_check", True),
        http_auth=s.boolean("http_auth", True),
        push_port=count("push_port", d.push_port, 65535),
        templates=folder("templates"),
        firmware_profiles=folder("firmware_profiles"),
        phone_subnets=tuple(_phone_subnet(n) for n in s.strings("phone_subnets")),
        https_listen=s.listen("https_listen", d.http_listen) if https else None,
        tls_cert=_file(cert, base, s.key("tls_cert")) if cert else None,
        tls_key=_file(key, base, s.key("tls_key")) if key else None,
        tftp_transfers=count("tftp_transfers", d.tftp_transfers, 100_000, low=1),
        tftp_transfers_per_source=count("tftp_transfers_per_source",
                                        d.tftp_transfers_per_source, 100_000, low=1),
    )


def _snmp_v3(s: Section) -> tuple[SnmpV3User, ...]:
    entries = s.values.pop("snmp_v3", [])
    if not isinstance(entries, list):
        raise ConfigError("discovery.snmp_v3: expected [[discovery.snmp_v3]] tables")
    users = []
    for i, entry in enumerate(entries):
        t = Section(f"discovery.snmp_v3[{i}]", entry)
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


def discovery(s: Section) -> DiscoveryConfig:
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


def events(s: Section) -> EventsConfig:
    consumer = s.string("consumer", "daemon")
    if not consumer or len(consumer) > 64:
        raise ConfigError("events.consumer: expected 1 to 64 characters")
    return EventsConfig(poll_interval=s.number("poll_interval", 0.25, 0.01, 10.0),
                        consumer=consumer)


def backup(s: Section, base: Path) -> BackupConfig:
    at = s.string("at", BackupConfig.at)
    hour, sep, minute = at.partition(":")
    if not (sep and hour.isdigit() and minute.isdigit() and len(minute) == 2
            and int(hour) < 24 and int(minute) < 60):
        raise ConfigError(f"backup.at: expected a local time such as '03:00', got {at!r}")
    keep = s.number("keep", BackupConfig.keep, 1, 1000)
    if keep != int(keep):
        raise ConfigError(f"backup.keep: expected a whole number, got {keep!r}")
    folder = s.string("folder", "")
    return BackupConfig(nightly=s.boolean("nightly", True), at=f"{int(hour):02d}:{minute}",
                        keep=int(keep),
                        folder=path_of(folder, base, "backup.folder") if folder else None)


def recording(s: Section) -> RecordingConfig:
    d = RecordingConfig

    def whole(key: str, default: int, low: int, high: int) -> int:
        value = s.number(key, default, low, high)
        if value != int(value):
            raise ConfigError(f"{s.key(key)}: expected a whole number, got {value!r}")
        return int(value)

    return RecordingConfig(quota_mb=whole("quota_mb", d.quota_mb, 1, 1_000_000),
                           retention_days=whole("retention_days", d.retention_days, 1, 3650))


_MAIL_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}"
                           r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_LOOPBACK_NAMES = ("localhost", "localhost.localdomain")


def _host_name(text: str, key: str) -> str:
    """A host name or IP address (brackets allowed around IPv6)."""
    host = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    if not host or len(host) > 253 or not all(
            label and len(label) <= 63 and all(c.isalnum() or c == "-" for c in label)
            and not label.startswith("-") and not label.endswith("-") for label in labels):
        raise ConfigError(f"{key}: expected a host name or IP address, got {text!r}")
    return host.lower()


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in _LOOPBACK_NAMES


def mail(s: Section, base: Path) -> MailConfig:
    d = MailConfig
    host = s.string("host", "")
    port = s.number("port", d.port, 1, 65535)
    if port != int(port):
        raise ConfigError(f"{s.key('port')}: expected a whole number, got {port!r}")
    starttls = s.boolean("starttls", d.starttls)
    username, password = s.string("username", ""), s.string("password", "")
    sender = s.string("from", "")
    timeout = s.number("timeout", d.timeout, 1.0, 600.0)
    ca = s.string("ca_file", "")
    ca_file = _file(ca, base, s.key("ca_file")) if ca else None
    if not host:
        return MailConfig(port=int(port), starttls=starttls, timeout=timeout, ca_file=ca_file)
    host = _host_name(host, s.key("host"))
    if not sender:
        raise ConfigError(f"{s.key('from')}: the sender's address is needed with mail.host, "
                          "e.g. from = \"phones@example.com\"")
    if len(sender) > 254 or not _MAIL_ADDRESS.fullmatch(sender):
        raise ConfigError(f"{s.key('from')}: expected an e-mail address such as "
                          f"phones@example.com, got {sender!r}")
    if bool(username) != bool(password):
        given, missing = ("username", "password") if username else ("password", "username")
        raise ConfigError(f"{s.key(missing)}: needed with {s.key(given)} (set both or neither)")
    if any(not c.isprintable() for c in username + password):
        raise ConfigError(f"{s.key('username')}, {s.key('password')}: control characters "
                          "are not allowed")
    if username and not starttls and not _is_loopback(host):
        raise ConfigError(f"{s.key('starttls')}: a login without STARTTLS would send the "
                          f"password in clear to {host}; switch it on (or relay through "
                          "127.0.0.1)")
    return MailConfig(host=host, port=int(port), starttls=starttls, username=username,
                      password=password, from_address=sender, timeout=timeout, ca_file=ca_file)


PORTS_PER_SESSION = 4  # an anchored call: RTP and RTCP on each of its two sides


def media(s: Section, base: Path) -> MediaConfig:
    d = MediaConfig

    def whole(key: str, default: int, low: int, high: int) -> int:
        value = s.number(key, default, low, high)
        if value != int(value):
            raise ConfigError(f"{s.key(key)}: expected a whole number, got {value!r}")
        return int(value)

    ng = s.listen("ng_listen", d.ng_listen)
    try:
        loopback = ipaddress.ip_address(ng.host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigError(f"{s.key('ng_listen')}: rtpengine's control port has no password, "
                          f"so it must be on 127.0.0.1 or ::1, got {str(ng)!r}")
    if ng.port == 0:
        raise ConfigError(f"{s.key('ng_listen')}: needs a fixed port (the daemon must know "
                          f"where to reach rtpengine), got {str(ng)!r}")
    interface = s.string("interface", d.interface)
    if interface != AUTO_INTERFACE:
        try:
            address = ipaddress.ip_address(interface)
        except ValueError:
            raise ConfigError(f"{s.key('interface')}: expected the IP address RTP is bound to, "
                              f"or \"auto\", got {interface!r}") from None
        if address.is_unspecified or address.is_multicast:
            raise ConfigError(f"{s.key('interface')}: must be one address of this box, not "
                              f"{interface!r} (never every interface)")
        interface = str(address)
    low = whole("rtp_port_min", d.rtp_port_min, 1024, 65535)
    high = whole("rtp_port_max", d.rtp_port_max, 1024, 65535)
    if low % 2:
        raise ConfigError(f"{s.key('rtp_port_min')}: must be even (RTP on even ports, RTCP on "
                          f"the odd one above), got {low}")
    if low >= high:
        raise ConfigError(f"{s.key('rtp_port_max')}: must be above rtp_port_min ({low}), "
                          f"got {high}")
    sessions = whole("max_sessions", d.max_sessions, 1, 10_000)
    if (high - low + 1) < sessions * PORTS_PER_SESSION:
        raise ConfigError(f"{s.key('max_sessions')}: {sessions} calls need "
                          f"{sessions * PORTS_PER_SESSION} RTP ports, rtp_port_min to "
                          f"rtp_port_max give {high - low + 1}")
    enabled = s.boolean("enabled", d.enabled)
    program = s.string("rtpengine", str(d.rtpengine))
    if not program or "\x00" in program:
        raise ConfigError(f"{s.key('rtpengine')}: expected the path of the rtpengine program, "
                          f"got {program!r}")
    binary = path_of(program, base, s.key("rtpengine"))
    if enabled and not binary.is_file():
        raise ConfigError(f"{s.key('rtpengine')}: no such file {str(binary)!r} (install the "
                          f"Debian package rtpengine-daemon)")
    return MediaConfig(enabled=enabled, ng_listen=ng, interface=interface, rtp_port_min=low,
                       rtp_port_max=high, max_sessions=sessions, rtpengine=binary)
