"""The config's types: frozen dataclasses, one per section, with the dev defaults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    ban_failures: int = 5  # failures on one username from one source in ban_window; 0: off
    ban_usernames: int = 10  # distinct usernames failing from one source in ban_window; 0: off
    ban_window: float = 60.0
    ban_seconds: float = 900.0
    retired_grace: float = 7 * 86_400.0  # seconds a retired password still marks a stale device
    flood_rate: float = 200.0  # messages per second per source (burst 2x); 0: off
    max_sources: int = 10_000  # entries in each per-source table
    max_uri: int = 512
    scanner_agents: tuple[str, ...] = SCANNER_AGENTS
    tcp_idle: float = 900.0  # seconds before an idle stream without bindings is closed
    ring_timeout: float = 60.0  # seconds a call rings before the caller gets 480
    tcp_per_source: int = 32  # TCP/TLS connections per source address (of 4096 in all)
    trunk_ca_file: Path | None = None  # CAs (PEM) trusted for connections' TLS besides the system's

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
    # Routed voice VLANs (CIDRs): per-MAC secrets over HTTP(S) with the phone's credentials.
    phone_subnets: tuple[str, ...] = ()
    https_listen: Listen | None = None  # needs tls_cert and tls_key (e.g. the web's files)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tftp_transfers: int = 1000  # TFTP transfers at once, in all
    tftp_transfers_per_source: int = 8  # and from one source address


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
class BackupConfig:
    """Nightly backups of the store and data folders (appliance/backup.py)."""

    nightly: bool = True
    at: str = "03:00"  # local time, HH:MM
    keep: int = 7  # nightly backups kept, the oldest removed
    folder: Path | None = None  # None: <data>/backups (pre-migration backups go there too)


@dataclass(frozen=True)
class RecordingConfig:
    """Recorded calls' WAVs under ``<data>/recordings``: the oldest removed past the quota,
    every one removed after the retention (``directory/recordings.py``)."""

    quota_mb: int = 2048  # megabytes (MiB) of recordings kept at most
    retention_days: int = 90  # days a recording is kept at most


@dataclass(frozen=True)
class MailConfig:
    """Outgoing e-mail (voicemail to the box's address, ``appliance/mail.py``): an SMTP relay
    such as the office's or a provider's submission port. ``host`` empty: no mail."""

    host: str = ""
    port: int = 587
    starttls: bool = True  # STARTTLS before anything else; a login needs it (or loopback)
    username: str = ""  # "" sends without logging in
    password: str = field(default="", repr=False)  # never logged, never shown
    from_address: str = ""  # the key ``from``: the sender's address, needed with a host
    timeout: float = 30.0  # seconds for the connection and each SMTP reply
    ca_file: Path | None = None  # CAs (PEM) trusted for STARTTLS besides the system's

    @property
    def enabled(self) -> bool:
        """True when a relay is configured."""
        return bool(self.host)


AUTO_INTERFACE = "auto"


@dataclass(frozen=True)
class MediaConfig:
    """The media plane: rtpengine run by the daemon in userspace, with a config of its own."""

    enabled: bool = False  # until calls use it
    ng_listen: Listen = Listen("127.0.0.1", 22223)  # rtpengine's control port, loopback only
    # Where RTP is bound and what the SDP advertises (the LAN's); "auto": the box's first LAN
    # address when the daemon starts (the one phones are given).
    interface: str = "127.0.0.1"
    rtp_port_min: int = 30000  # even: RTP on even ports, RTCP on the odd one above
    rtp_port_max: int = 30999
    max_sessions: int = 100  # calls with media at once; a new one past it gets 503
    rtpengine: Path = Path("/usr/bin/rtpengine")  # Debian's rtpengine-daemon


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
    backup: BackupConfig = field(default_factory=BackupConfig)
    media: MediaConfig = field(default_factory=MediaConfig)
    recording: RecordingConfig = field(default_factory=RecordingConfig)
    mail: MailConfig = field(default_factory=MailConfig)
    source: Path | None = None
    # The file's TOML as read, and the admin page's overrides laid over it (see with_overrides).
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    overrides: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def run_dir(self) -> Path:
        """Folder for runtime files such as ``ports.json``."""
        return self.paths.data / "run"

