"""SIP, SIPS and tel URIs (RFC 3261 §19.1, §25.1; RFC 3966), parsed into ``SipUri``.

Escapes (``%HH``) are decoded once, only in the parts whose grammar allows ``escaped``, and
re-encoded on output; the decoded octets must be UTF-8. Other schemes are kept opaque.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import quote, unquote_to_bytes

from appliance.errors import SipParseError

_TCHARS = r"A-Za-z0-9\-.!%*_+`'~"
TOKEN_RE = re.compile(f"[{_TCHARS}]+")
_GEN_VALUE_RE = re.compile(rf'"(?:[^"\\]|\\.)*"|\[[0-9A-Fa-f:.]+\]|[{_TCHARS}]+', re.DOTALL)
_WS = " \t"
MAX_DELTA = 2**32 - 1
_UNRESERVED = r"A-Za-z0-9\-_.!~*'()"
_ESC = r"%[0-9A-Fa-f]{2}"
_USER_RE = re.compile(rf"(?:[{_UNRESERVED}&=+$,;?/]|{_ESC})+")
_PASSWORD_RE = re.compile(rf"(?:[{_UNRESERVED}&=+$,]|{_ESC})*")
_PARAM_RE = re.compile(rf"(?:[{_UNRESERVED}\[\]/:&+$]|{_ESC})*")
_HNV_RE = re.compile(rf"(?:[{_UNRESERVED}\[\]/?:+$]|{_ESC})*")
# What stays unescaped on output, per component (quote() keeps letters, digits and "_.-~").
_USER_SAFE = "!*'()&=+$,;?/"
_PW_SAFE = "!*'()&=+$,"
_PARAM_SAFE = "!*'()[]/:&+$"
_HNV_SAFE = "!*'()[]/?:+$"

_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
# Labels separated by dots, one trailing dot allowed (a fully qualified name).
_HOSTNAME_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
_IPV6_RE = re.compile(r"[0-9A-Fa-f:.]+")
_PORT_RE = re.compile(r"[0-9]{1,5}")
# RFC 3966 §3: global number (with "+") or local number; visual separators allowed. Kept
# free of nested quantifiers so that a long non-matching number cannot backtrack for long.
_TEL_RE = re.compile(r"\+?[0-9A-Fa-f*#\-.()]+")
# RFC 3261 §25.1 absoluteURI opaque part: uric characters only.
_OPAQUE_RE = re.compile(rf"(?:[{_UNRESERVED};/?:@&=+$,\[\]]|{_ESC})+")


@dataclass
class SipUri:
    """A parsed URI: sip/sips (user, password, host, port, params, headers), tel, or opaque."""

    scheme: str = "sip"
    user: str | None = None
    password: str | None = None
    host: str = ""
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: list[tuple[str, str]] = field(default_factory=list)
    opaque: str | None = None

    def copy(self) -> SipUri:
        """An independent copy (parameters and headers are copied too)."""
        return SipUri(self.scheme, self.user, self.password, self.host, self.port,
                      dict(self.params), list(self.headers), self.opaque)

    @property
    def is_sip(self) -> bool:
        """True for the sip and sips schemes."""
        return self.scheme in ("sip", "sips")

    def __str__(self) -> str:
        """The URI as text, escaped where its grammar requires."""
        if self.opaque is not None:
            return f"{self.scheme}:{self.opaque}"
        out = [self.scheme, ":"]
        if self.scheme == "tel":
            out.append(self.user or "")
        else:
            if self.user is not None:
                out.append(quote(self.user, safe=_USER_SAFE))
                if self.password is not None:
                    out += [":", quote(self.password, safe=_PW_SAFE)]
                out.append("@")
            out.append(format_host(self.host))
            if self.port is not None:
                out.append(f":{self.port}")
        for name, value in self.params.items():
            out += [";", quote(name, safe=_PARAM_SAFE)]
            if value is not None:
                out += ["=", quote(value, safe=_PARAM_SAFE)]
        if self.headers:
            out.append("?")
            out.append(
                "&".join(
                    f"{quote(n, safe=_HNV_SAFE)}={quote(v, safe=_HNV_SAFE)}"
                    for n, v in self.headers
                )
            )
        return "".join(out)


def format_host(host: str) -> str:
    """The host as written in a URI or Via: IPv6 addresses in brackets."""
    return f"[{host}]" if ":" in host else host


def parse_host(text: str) -> str:
    """Validate a hostname, IPv4 address or bracketed IPv6 reference; return it unbracketed."""
    if text.startswith("[") and text.endswith("]"):
        try:
            # The pattern keeps out the zone ids ("%eth0") that ipaddress would accept.
            if not _IPV6_RE.fullmatch(text[1:-1]):
                raise ValueError(text)
            ipaddress.IPv6Address(text[1:-1])
        except ValueError:
            raise SipParseError("bad IPv6 reference") from None
        return text[1:-1]
    if not _HOSTNAME_RE.fullmatch(text):
        raise SipParseError("bad host")
    return text


def parse_port(text: str) -> int:
    """Validate a port number (0..65535)."""
    if not _PORT_RE.fullmatch(text) or int(text) > 65535:
        raise SipParseError("bad port")
    return int(text)


def _unescape(text: str, pattern: re.Pattern[str], what: str) -> str:
    if not pattern.fullmatch(text):
        raise SipParseError(f"bad URI {what}")
    if "%" not in text:
        return text  # the patterns admit ASCII only: nothing to decode
    try:
        return unquote_to_bytes(text).decode("utf-8")
    except UnicodeDecodeError:
        raise SipParseError(f"URI {what} escapes are not UTF-8") from None


def _parse_params(items: list[str]) -> dict[str, str | None]:
    params: dict[str, str | None] = {}
    for item in items:
        raw_name, eq, raw_value = item.partition("=")
        name = _unescape(raw_name, _PARAM_RE, "parameter").lower()
        if not name or name in params or (eq and not raw_value):
            raise SipParseError("bad or repeated URI parameter")
        params[name] = _unescape(raw_value, _PARAM_RE, "parameter") if eq else None
    return params


def _parse_headers(text: str) -> list[tuple[str, str]]:
    headers = []
    for item in text.split("&"):
        raw_name, eq, raw_value = item.partition("=")
        name = _unescape(raw_name, _HNV_RE, "header")
        if not eq or not name:
            raise SipParseError("bad URI header")
        headers.append((name, _unescape(raw_value, _HNV_RE, "header")))
    return headers


def _parse_sip(scheme: str, rest: str) -> SipUri:
    uri = SipUri(scheme=scheme)
    # "@" is never legal unescaped after the userinfo, so the first one ends it (§19.1.1).
    userinfo, at, hostpart = rest.partition("@")
    if not at:
        hostpart = userinfo
    else:
        user, colon, password = userinfo.partition(":")
        uri.user = _unescape(user, _USER_RE, "user")
        if colon:
            uri.password = _unescape(password, _PASSWORD_RE, "password")
    hostpart, qmark, headers = hostpart.partition("?")
    hostport, *params = hostpart.split(";")
    if hostport.startswith("["):
        host, bracket, port = hostport.partition("]")
        host += "]"
        if not bracket or (port and not port.startswith(":")):
            raise SipParseError("bad host")
        port = port[1:]
        has_port = bool(port) or hostport.endswith(":")
    else:
        host, colon, port = hostport.partition(":")
        has_port = bool(colon)
    uri.host = parse_host(host)
    if has_port:
        uri.port = parse_port(port)
    uri.params = _parse_params(params)
    if qmark:
        uri.headers = _parse_headers(headers)
    return uri


def _parse_tel(rest: str) -> SipUri:
    number, *params = rest.split(";")
    if not _TEL_RE.fullmatch(number) or not number.strip("+-.()"):
        raise SipParseError("bad tel URI")
    return SipUri(scheme="tel", user=number, params=_parse_params(params))


# Parsed URIs by text: phones send the same few URIs in every request. Bounded; each caller
# gets its own copy, so a change to one never reaches the memo.
_PARSED: dict[str, SipUri] = {}
_PARSED_SIZE = 2048


def parse_uri(text: str) -> SipUri:
    """Parse a URI; raise SipParseError unless it is well formed."""
    known = _PARSED.get(text)
    if known is None:
        known = _parse_uri(text)
        if len(_PARSED) >= _PARSED_SIZE:
            _PARSED.clear()
        _PARSED[text] = known
    return known.copy()


def _parse_uri(text: str) -> SipUri:
    scheme, colon, rest = text.partition(":")
    if not colon or not _SCHEME_RE.fullmatch(scheme):
        raise SipParseError("bad URI scheme")
    scheme = scheme.lower()
    if scheme in ("sip", "sips"):
        return _parse_sip(scheme, rest)
    if scheme == "tel":
        return _parse_tel(rest)
    if not _OPAQUE_RE.fullmatch(rest):
        raise SipParseError("bad URI")
    return SipUri(scheme=scheme, opaque=rest)


# -- generic grammar shared with the header parsers (RFC 3261 §25.1) ----------------------

def unquote_string(text: str) -> str:
    """The content of a quoted string, quoted-pairs resolved."""
    return re.sub(r"\\(.)", r"\1", text[1:-1], flags=re.DOTALL)


def quote_string(text: str) -> str:
    """Text as a quoted string; raise ValueError on CR or LF."""
    if "\r" in text or "\n" in text:
        raise ValueError("CR or LF in quoted string")
    return '"' + re.sub(r'(["\\\x00-\x08\x0b\x0c\x0e-\x1f\x7f])', r"\\\1", text) + '"'


def skip_ws(text: str, pos: int) -> int:
    """The position of the next character that is not SP or HTAB."""
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def parse_params(text: str, what: str) -> dict[str, str | None]:
    """Parse ``*(SEMI generic-param)``; names lower-cased, quoted values keep their quotes."""
    params: dict[str, str | None] = {}
    pos = skip_ws(text, 0)
    while pos < len(text):
        name_match = TOKEN_RE.match(text, skip_ws(text, pos + 1)) if text[pos] == ";" else None
        if name_match is None:
            raise SipParseError(f"bad {what} parameter")
        name, value = name_match.group().lower(), None
        pos = skip_ws(text, name_match.end())
        if pos < len(text) and text[pos] == "=":
            value_match = _GEN_VALUE_RE.match(text, skip_ws(text, pos + 1))
            if value_match is None:
                raise SipParseError(f"bad {what} parameter value")
            value, pos = value_match.group(), skip_ws(text, value_match.end())
        if name in params:
            raise SipParseError(f"repeated {what} parameter")
        params[name] = value
    return params


def format_params(params: dict[str, str | None]) -> str:
    """Parameters as ``;name=value`` text."""
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


def parse_uint(text: str, limit: int, what: str) -> int:
    """A decimal of ASCII digits no larger than limit, else SipParseError."""
    if not text.isascii() or not text.isdigit():
        raise SipParseError(f"bad {what}")
    digits = text.lstrip("0") or "0"
    # Length check first: int() of thousands of digits is slow or raises ValueError.
    if len(digits) > len(str(limit)) or int(digits) > limit:
        raise SipParseError(f"{what} out of range")
    return int(digits)


def parse_delta(text: str, what: str) -> int:
    """delta-seconds, capped at 2**32-1 (the range of RFC 3261 §20.19) rather than rejected."""
    try:
        return parse_uint(text, MAX_DELTA, what)
    except SipParseError:
        if text.isascii() and text.isdigit():
            return MAX_DELTA
        raise
