"""Value rules of the call plan (connections, numbers, queues, hours, contacts, presence):
pure checks that return the normalised value or raise ValidationError naming the field.
Every text is held to its column's length (PostgreSQL enforces them)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any, TypeVar

from appliance.callplan import hours, numbers
from appliance.callplan.model import (
    DESTINATION_KINDS,
    TRANSPORTS,
    Destination,
    DestinationKind,
    Greeting,
    Menu,
    Server,
)
from appliance.directory import rules
from appliance.errors import ValidationError

T = TypeVar("T", bound=str)

CODECS = {c.lower(): c for c in (
    "PCMU", "PCMA", "G722", "G729", "opus", "GSM", "iLBC", "AMR", "AMR-WB", "speex",
    "telephone-event")}
MAX_SERVERS = 4
MAX_SOURCES = 64
MAX_MEMBERS = 100
MAX_LIST = 200
MAX_RANGES = 64
MAX_HOLIDAY_DAYS = 366
_HOST = re.compile(r"(?=.{1,253}\Z)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
                   r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?")
_SERVER = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[^:;\[\]]+)(?::(?P<port>[0-9]{1,5}))?"
                     r"(?:;transport=(?P<transport>[A-Za-z]+))?")
_PREFIX = re.compile(r"\*[0-9]{1,6}\*|[1-9][0-9]{1,6}")
_CREDENTIAL = re.compile(r"[\x21-\x7e]+")


_UPLOAD = re.compile(r"upload-[0-9a-f]{16}\.wav")


def name(value: str, field: str = "name") -> str:
    """A connection, queue or schedule name: 1-32 ASCII letters, digits, '.', '_', '-'."""
    clean = rules.memorable_name(value, field)
    if clean is None:
        raise ValidationError(f"{field}: a name is needed", field)
    return clean


def choice(value: str, choices: tuple[T, ...], field: str) -> T:
    """One of ``choices`` (case-insensitive), typed as the choices are."""
    text = rules.choice(value, choices, field)
    return next(c for c in choices if c == text)


GREETING_LANGUAGES = ("en", "vi")  # the voices the box speaks (media/prompts.py)
GREETING_WAIT = (1, 30)  # seconds callers have to dial after the greeting
GREETING_TEXT = 1000  # characters of a greeting's own text
RING_TIMEOUT = (5, 600)  # seconds a person is rung: a number's, or an extension's own
MENU_TEXT = 1000  # characters of an IVR menu's text
MENU_TIMEOUT = (1, 30)  # seconds a menu waits for a key after its prompt
MENU_RETRIES = (0, 5)  # times a menu is played again (no key, or an invalid one)
MENU_KEYS = "1234567890*"  # the keys a menu may give a destination ('#' ends an entry)


def whole(value: int | str, field: str, low: int, high: int) -> int:
    """A whole number from ``low`` to ``high``."""
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValidationError(f"{field}: a whole number, got {value!r}", field) from None
    if not low <= number <= high:
        raise ValidationError(f"{field}: from {low} to {high}, got {number}", field)
    return number


def flag(value: bool | str, field: str) -> bool:
    """A yes/no setting (``true``/``false``, ``yes``/``no``, ``on``/``off``, ``1``/``0``)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValidationError(f"{field}: yes or no, got {value!r}", field)


def phone_number(value: str, field: str) -> str:
    """A telephone number in E.164 with ``+`` (any usual spelling accepted)."""
    found = numbers.e164(value) if isinstance(value, str) else None
    if found is None or len(found) > 16:
        raise ValidationError(
            f"{field}: a telephone number such as +842838123456 or 0912345678, got {value!r}",
            field)
    return found


def optional_phone(value: str | None, field: str) -> str | None:
    """A telephone number, or None for an empty value."""
    return None if value is None or not value.strip() else phone_number(value, field)


def text(value: str | None, field: str, size: int) -> str:
    """A free text of up to ``size`` printable characters (empty allowed)."""
    clean = " ".join((value or "").split())
    if len(clean) > size or not clean.isprintable():
        raise ValidationError(f"{field}: up to {size} printable characters", field)
    return clean


def credential(value: str | None, field: str, size: int) -> str | None:
    """A trunk user name or password: printable ASCII without spaces, up to ``size``;
    empty means none. The value is never put in the message."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > size or not _CREDENTIAL.fullmatch(value):
        raise ValidationError(
            f"{field}: 1 to {size} printable ASCII characters without spaces", field)
    return value


def server(value: Server | str) -> Server:
    """A server: ``host``, ``host:port`` or ``[v6]:port``, optionally ``;transport=tcp``. No
    port: an address gets its transport's (5060, TLS 5061), a name 0 (found by DNS SRV,
    RFC 3263)."""
    if isinstance(value, Server):
        host, port, transport = value.host, str(value.port), str(value.transport)
    else:
        match = _SERVER.fullmatch(value.strip()) if isinstance(value, str) else None
        if match is None:
            raise ValidationError(
                f"servers: write host[:port][;transport=udp|tcp|tls], got {value!r}",
                "servers")
        host = match["host"].strip("[]")
        port, transport = match["port"] or "0", match["transport"] or "udp"
    kind = choice(transport, TRANSPORTS, "servers")
    try:
        host = str(ipaddress.ip_address(host))
        named = False
    except ValueError:
        if not _HOST.fullmatch(host):
            raise ValidationError(f"servers: {host!r} is not a host name or address",
                                  "servers") from None
        host = host.lower().rstrip(".")
        named = True
    number = 0 if port == "0" else whole(port, "servers", 1, 65535)
    if not number and not named:
        number = 5061 if kind == "tls" else 5060
    return Server(host, number, kind)


def servers(values: Iterable[Server | str]) -> tuple[Server, ...]:
    """One to four servers, in failover order, none twice."""
    found = tuple(server(v) for v in values)
    if not 1 <= len(found) <= MAX_SERVERS or len(set(found)) != len(found):
        raise ValidationError(f"servers: 1 to {MAX_SERVERS} different servers", "servers")
    return found


def sources(values: Iterable[str]) -> tuple[str, ...]:
    """Addresses or CIDR subnets (``203.0.113.7``, ``203.0.113.0/28``), normalised."""
    found: list[str] = []
    for value in values:
        try:
            network = ipaddress.ip_network(str(value).strip(), strict=True)
        except ValueError:
            raise ValidationError(
                f"allowed_sources: an address or subnet such as 203.0.113.0/28, got {value!r}",
                "allowed_sources") from None
        found.append(str(network.network_address) if network.num_addresses == 1
                     and network.prefixlen == network.max_prefixlen else str(network))
    if len(found) > MAX_SOURCES:
        raise ValidationError(f"allowed_sources: at most {MAX_SOURCES}", "allowed_sources")
    return tuple(dict.fromkeys(found))


def codecs(values: Iterable[str]) -> tuple[str, ...]:
    """Codec names, preferred first, from the known ones."""
    found = []
    for value in values:
        codec = CODECS.get(str(value).strip().lower())
        if codec is None:
            raise ValidationError(
                f"codecs: one of {', '.join(CODECS.values())}, got {value!r}", "codecs")
        found.append(codec)
    return tuple(dict.fromkeys(found))


def extension_list(values: Iterable[str], field: str, limit: int = MAX_LIST) -> tuple[str, ...]:
    """Extension numbers, each once, in the given order."""
    found = tuple(dict.fromkeys(rules.extension_number(v, field) for v in values))
    if len(found) > limit:
        raise ValidationError(f"{field}: at most {limit}", field)
    return found


def group_list(values: Iterable[str]) -> tuple[str, ...]:
    """Outbound number group names."""
    found = tuple(dict.fromkeys(name(v, "allowed_groups") for v in values))
    if len(found) > MAX_LIST:
        raise ValidationError(f"allowed_groups: at most {MAX_LIST}", "allowed_groups")
    return found


def prefix(value: str | None) -> str | None:
    """A connection's dialling prefix: ``*`` digits ``*`` (``*123*``) or 2-7 digits not
    starting with 0 (``802``); empty means none."""
    if value is None or not value.strip():
        return None
    clean = value.strip()
    if not _PREFIX.fullmatch(clean):
        raise ValidationError(
            f"prefix: '*' digits '*' such as *123*, or digits such as 802, got {value!r}",
            "prefix")
    return clean


def destination(value: Destination | str, field: str = "destination",
                kinds: tuple[DestinationKind, ...] = DESTINATION_KINDS) -> Destination:
    """A destination: ``extension:101``, ``voicemail:101``, ``queue:sales``, ``menu:main``,
    ``outside:+84909000000`` or ``hangup`` (the connection of an outside one is resolved by
    the directory), of ``kinds`` (``MENU_KEY_KINDS`` adds a menu key's ``repeat``)."""
    if isinstance(value, Destination):
        given, target, conn = str(value.kind), value.target, value.connection_id
    else:
        given, _, target = str(value).strip().partition(":")
        target, conn = target.strip(), None
    kind = choice(given, kinds, field)
    if kind in ("extension", "voicemail"):
        return Destination(kind, rules.extension_number(target, field))
    if kind in ("queue", "menu"):
        return Destination(kind, name(target, field))
    if kind == "outside":
        return Destination(kind, phone_number(target, field), conn)
    if target or conn:
        raise ValidationError(f"{field}: {kind} takes no target", field)
    return Destination(kind)


def destination_text(dest: Destination, connection: str | None = None) -> str:
    """A destination written as ``destination`` reads it (``@connection`` for an outside
    number through a chosen connection)."""
    if dest.kind in ("hangup", "repeat"):
        return dest.kind
    via = f"@{connection}" if connection else ""
    return f"{dest.kind}:{dest.target}{via}"


def weekly(values: Iterable[str]) -> tuple[tuple[int, int], ...]:
    """Weekly ranges, written as ``hours.parse_range`` reads them, as (start, end) minutes."""
    found = [(r.start, r.end) for v in values for r in hours.parse_range(v)]
    if len(found) > MAX_RANGES:
        raise ValidationError(f"weekly: at most {MAX_RANGES} ranges", "weekly")
    return tuple(dict.fromkeys(found))


def zone(value: str) -> str:
    """An IANA time zone name."""
    return str(hours.zone(text(value, "zone", 64)))


def day(value: date | str, field: str) -> date:
    """A date, or its ISO text (2027-02-05)."""
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValidationError(f"{field}: a date such as 2027-02-05, got {value!r}",
                              field) from None


def holiday_range(first: date | str, last: date | str | None) -> tuple[date, date]:
    """A holiday's first and last day (the same day when no last is given)."""
    start = day(first, "first")
    end = start if last is None or last == "" else day(last, "last")
    if end < start:
        raise ValidationError("last: the last day is before the first", "last")
    if (end - start).days >= MAX_HOLIDAY_DAYS:
        raise ValidationError(f"last: a holiday is at most {MAX_HOLIDAY_DAYS} days", "last")
    return start, end


def members(values: Sequence[str]) -> tuple[str, ...]:
    """A queue's members: extension numbers, in ringing order."""
    return extension_list(values, "members", MAX_MEMBERS)


def greeting_text(value: str | None) -> str | None:
    """A greeting's own text (printable, lines kept apart by spaces); empty: None, the
    built-in greeting."""
    clean = " ".join((value or "").split())
    if len(clean) > GREETING_TEXT or not clean.isprintable():
        raise ValidationError(f"greeting_text: up to {GREETING_TEXT} printable characters",
                              "greeting_text")
    return clean or None


def greeting_to_speak(current: Greeting | None,
                      fields: Mapping[str, Any]) -> tuple[str, str] | None:
    """The (text, language) an office number's own greeting must be spoken in once
    ``fields`` are saved over ``current`` (None: nothing new to speak, e.g. the built-in
    greeting); the fields are checked on the way."""
    if not {"greeting_text", "greeting_language"} & fields.keys():
        return None
    text = greeting_text(fields["greeting_text"]) if "greeting_text" in fields \
        else (current.text if current else None)
    language = choice(fields.get("greeting_language") or (
        current.language if current else "en"), GREETING_LANGUAGES, "greeting_language")
    return None if text is None else (text, language)


def menu_text(value: str | None) -> str:
    """An IVR menu's text, spoken to callers: 1 to ``MENU_TEXT`` printable characters
    (lines kept apart by spaces)."""
    clean = " ".join((value or "").split())
    if not clean or len(clean) > MENU_TEXT or not clean.isprintable():
        raise ValidationError(f"text: 1 to {MENU_TEXT} printable characters", "text")
    return clean


def menu_key(value: str) -> str:
    """A key of an IVR menu: one of 0-9 or ``*`` (``#`` ends what a caller dials)."""
    clean = value.strip() if isinstance(value, str) else ""
    if len(clean) != 1 or clean not in MENU_KEYS:
        raise ValidationError(f"key: one of 0-9 or * ('#' ends an entry), got {value!r}", "key")
    return clean


def prompt_audio(value: str | None, field: str) -> str | None:
    """An uploaded prompt's file name in the prompts folder (``media.prompts.upload_name``),
    or None ('' too): never a path."""
    if value is None or not str(value).strip():
        return None
    clean = str(value).strip()
    if not _UPLOAD.fullmatch(clean):
        raise ValidationError(f"{field}: an uploaded prompt's name, got {clean[:40]!r}", field)
    return clean


def menu_to_speak(current: Menu | None, fields: Mapping[str, Any]) -> tuple[str, str] | None:
    """The (text, language) an IVR menu must be spoken in once ``fields`` are saved over
    ``current`` (None: a new menu; the result None: nothing new to speak); the two fields
    are checked on the way."""
    if current is not None and not {"text", "language"} & fields.keys():
        return None
    text = menu_text(fields.get("text") if "text" in fields or current is None
                     else current.text)
    language = choice(fields.get("language", current.language if current else "en"),
                      GREETING_LANGUAGES, "language")
    return text, language
