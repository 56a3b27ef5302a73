"""The pure rules of a trunk registration (``calls/registration.py``): what a target is and
how it is checked, the status it shows, refresh and backoff timing, the expiry a 2xx grants,
and the contact user of a connection."""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from appliance.errors import ConfigError, SipParseError
from appliance.sip.locate import HOST_NAME, TRANSPORTS, Address, literal
from appliance.sip.message import Response, SipUri, parse_uri

MIN_REFRESH = 10.0  # never refresh more often than this
REFRESH_MARGIN = 40.0  # refresh this long before expiry: more than a transaction timeout (32 s)
BACKOFF_BASE = 5.0
BACKOFF_CAP = 300.0
JITTER = 0.25  # a backoff is shortened by up to this fraction, so trunks do not retry in step
EXPIRES_RANGE = (10, 86400)
_DIGITS_RE = re.compile(r"\s*([0-9]{1,10})")


# A server as configured (host a name or an IP, port 0: not given) or an address found for it.
Server = Address
Secure = Callable[[Address, Callable[[str | None], None]], None]


@dataclass(frozen=True)
class TrunkTarget:
    """What a registration needs of a register-based connection (mapped from callplan's model).

    ``auth_username`` "" means ``username``; ``servers`` (IP addresses or host names, port 0
    for a name: found by SRV) are tried in order.
    """

    name: str
    servers: tuple[Server, ...]
    username: str
    password: str = field(repr=False)
    domain: str = ""
    auth_username: str = ""
    expires: int = 3600

    def __post_init__(self) -> None:
        """Check every field; ConfigError naming the connection and the field otherwise."""
        servers = tuple(Server(*server) for server in self.servers)
        object.__setattr__(self, "servers", servers)
        where = f"connection {self.name!r}"
        if not self.name or not self.name.isprintable():
            raise ConfigError("a connection needs a printable name")
        if not servers:
            raise ConfigError(f"{where}: servers: at least one is needed")
        for server in servers:
            if not _is_address(server.host) and not HOST_NAME.fullmatch(server.host):
                raise ConfigError(f"{where}: servers: {server.host!r} is not a host name or "
                                  "an IP address")
            if not 0 <= server.port < 65536:
                raise ConfigError(f"{where}: servers: port {server.port} is out of range")
            if server.transport not in TRANSPORTS:
                raise ConfigError(f"{where}: servers: transport {server.transport!r} is not "
                                  "one of udp, tcp, tls")
        for key, value in (("username", self.username), ("auth_username", self.auth_username)):
            if (key == "username" and not value) or not value.isprintable() or len(value) > 64:
                raise ConfigError(f"{where}: {key}: 1-64 printable characters")
        if not self.password.isprintable() or len(self.password) > 128:
            raise ConfigError(f"{where}: password: up to 128 printable characters")
        try:
            uri = parse_uri(f"sip:{self.domain}")
        except SipParseError:
            uri = None
        if uri is None or not self.domain or uri.port is not None or uri.params or uri.user:
            raise ConfigError(f"{where}: domain: a host name or address alone")
        low, high = EXPIRES_RANGE
        if not low <= self.expires <= high:
            raise ConfigError(f"{where}: expires: {low}..{high} seconds")


    @property
    def literal_addresses(self) -> tuple[Address, ...] | None:
        """The addresses when every server is an IP literal (no lookup needed), else None."""
        found = [literal(s.host, s.port, s.transport) for s in self.servers]
        return tuple(a for a in found if a is not None) if None not in found else None


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class RegistrationStatus:
    """What the status page shows: state (registering | registered | failing | stopped), the
    server in use, the last answer ("200 OK", "401 Unauthorized", "timeout"), since when the
    state holds, when the latest binding runs out, and when the next REGISTER (refresh or
    retry) is due; times are ``clock`` times."""

    name: str
    state: str
    server: Address | None
    last_answer: str | None
    since: float
    expires_at: float | None
    next_at: float | None


def refresh_delay(granted: int) -> float:
    """Seconds until a binding granted for ``granted`` s is refreshed: at half its life, or
    ``REFRESH_MARGIN`` before it ends when that is later, never sooner than ``MIN_REFRESH``."""
    return max(MIN_REFRESH, granted / 2, granted - REFRESH_MARGIN)


def backoff_delay(failures: int, draw: float, retry_after: int | None = None) -> float:
    """Seconds before the next round after ``failures`` failed rounds in a row (1, 2, ...):
    ``BACKOFF_BASE`` doubling to ``BACKOFF_CAP``, shortened by up to ``JITTER`` as ``draw``
    (0..1) says, at least a Retry-After (itself capped)."""
    delay = min(BACKOFF_CAP, BACKOFF_BASE * 2.0 ** min(max(failures, 1) - 1, 16))
    delay *= 1 - JITTER * min(max(draw, 0.0), 1.0)
    if retry_after is not None:
        delay = max(delay, float(min(retry_after, BACKOFF_CAP)))
    return delay


def same_contact(a: SipUri, b: SipUri) -> bool:
    """Whether two Contact URIs name the same binding (scheme, user, host, port)."""
    return (a.scheme == b.scheme and (a.user or "") == (b.user or "")
            and a.host.lower() == b.host.lower() and (a.port or 5060) == (b.port or 5060))


def granted_expires(response: Response, contact: SipUri, requested: int) -> int:
    """The expiry a 2xx grants ``contact``: the expires parameter of its Contact, else the
    Expires header, else ``requested`` (RFC 3261 §10.2.4); malformed values are skipped."""
    try:
        contacts = response.contacts
    except SipParseError:
        contacts = []
    for item in contacts:
        if same_contact(item.uri, contact):
            try:
                value = item.expires
            except SipParseError:
                value = None
            if value is not None:
                return value
            break
    try:
        header = response.expires
    except SipParseError:
        header = None
    return requested if header is None else header


def seconds_header(response: Response, name: str) -> int | None:
    """The leading delta-seconds of a header such as Min-Expires or Retry-After, or None."""
    value = response.headers.get(name)
    match = _DIGITS_RE.match(value or "")
    return int(match.group(1)) if match else None


def contact_user(target: TrunkTarget) -> str:
    """The user part of our Contact for ``target``: the same for the same connection."""
    seed = "\n".join((target.name, target.username, target.domain))
    return "trunk-" + hashlib.sha256(seed.encode()).hexdigest()[:12]
