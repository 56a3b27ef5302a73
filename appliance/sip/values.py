"""Typed SIP header values (RFC 3261 §20, §25.1): Via, name-addr, CSeq, media type, Call-ID.

Each ``parse_*`` takes one header value (already split from its list) and returns a dataclass,
or raises SipParseError unless the value is well formed.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from appliance.errors import SipParseError
from appliance.sip.uri import (
    _TCHARS,
    TOKEN_RE,
    SipUri,
    format_host,
    format_params,
    parse_delta,
    parse_host,
    parse_params,
    parse_port,
    parse_uint,
    parse_uri,
    quote_string,
    skip_ws,
    unquote_string,
)

_WS = " \t"
_QUOTED_RE = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
# RFC 3261 §25.1 allows only "word" characters, but some UAs put "=" or "#" in Call-IDs, which
# are only ever compared as strings: any run of visible characters is accepted.
_CALL_ID_RE = re.compile(r"[^\s]+")
_VIA_RE = re.compile(
    rf"([{_TCHARS}]+)[ \t]*/[ \t]*([{_TCHARS}]+)[ \t]*/[ \t]*([{_TCHARS}]+)[ \t]+"
    r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+)(?:[ \t]*:[ \t]*([0-9]+))?"
)
_CSEQ_RE = re.compile(rf"([0-9]+)[ \t]+([{_TCHARS}]+)")
_MEDIA_RE = re.compile(rf"([{_TCHARS}]+)[ \t]*/[ \t]*([{_TCHARS}]+)")
_Q_RE = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")

MAX_CSEQ = 2**31 - 1


def parse_call_id(text: str) -> str:
    """Validate a Call-ID: visible characters, no whitespace."""
    if not _CALL_ID_RE.fullmatch(text):
        raise SipParseError("bad Call-ID")
    return text


@dataclass
class Via:
    """One Via value: sent-protocol, sent-by and parameters (RFC 3261 §20.42)."""

    transport: str
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    protocol: str = "SIP/2.0"

    @property
    def branch(self) -> str | None:
        """The branch parameter, or None."""
        return self.params.get("branch")

    @property
    def received(self) -> str | None:
        """The received parameter, or None."""
        return self.params.get("received")

    @property
    def rport(self) -> int | None:
        """The rport value; None when absent or empty (``"rport" in params`` asks for it)."""
        value = self.params.get("rport")
        return None if value is None else int(value)

    def __str__(self) -> str:
        """The Via value as text."""
        port = "" if self.port is None else f":{self.port}"
        return f"{self.protocol}/{self.transport} {format_host(self.host)}{port}" + (
            format_params(self.params)
        )


def parse_via(text: str) -> Via:
    """Parse one via-parm; raise SipParseError unless well formed."""
    match = _VIA_RE.match(text)
    if match is None:
        raise SipParseError("bad Via")
    name, version, transport, host, port = match.groups()
    via = Via(
        transport=transport.upper(),
        host=parse_host(host),
        port=None if port is None else parse_port(port),
        params=parse_params(text[match.end() :], "Via"),
        protocol=f"{name.upper()}/{version}",
    )
    if "branch" in via.params and via.branch is None:
        raise SipParseError("Via branch without value")
    if via.received is not None:
        try:
            ipaddress.ip_address(via.received.removeprefix("[").removesuffix("]"))
        except ValueError:
            raise SipParseError("bad Via received") from None
    if via.params.get("rport") is not None:
        parse_port(via.params["rport"] or "")
    return via


@dataclass
class NameAddr:
    """A name-addr or addr-spec with header parameters (From, To, Contact, Route...)."""

    uri: SipUri
    display_name: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def tag(self) -> str | None:
        """The tag parameter, or None."""
        return self.params.get("tag")

    @property
    def expires(self) -> int | None:
        """The expires parameter in seconds, or None; raise SipParseError if malformed."""
        value = self.params.get("expires")
        return None if value is None else parse_delta(value, "expires parameter")

    @property
    def q(self) -> float | None:
        """The q parameter (0..1), or None; raise SipParseError if malformed."""
        value = self.params.get("q")
        if value is None:
            return None
        if not _Q_RE.fullmatch(value):
            raise SipParseError("bad q parameter")
        return float(value)

    def __str__(self) -> str:
        """Always the name-addr form, so URI parameters never turn into header parameters."""
        name = "" if self.display_name is None else quote_string(self.display_name) + " "
        return f"{name}<{self.uri}>{format_params(self.params)}"


def _find_unquoted(text: str, char: str) -> int:
    quoted, i = False, 0
    while i < len(text):
        if quoted and text[i] == "\\":
            i += 1
        elif text[i] == '"':
            quoted = not quoted
        elif text[i] == char and not quoted:
            return i
        i += 1
    return -1


# Parsed values by (text, brackets), as for URIs: bounded, and callers get copies.
_NAME_ADDRS: dict[tuple[str, bool], NameAddr] = {}
_NAME_ADDRS_SIZE = 2048


def parse_name_addr(text: str, *, brackets: bool = False) -> NameAddr:
    """Parse ``(name-addr / addr-spec) *(SEMI param)``; brackets=True demands name-addr."""
    known = _NAME_ADDRS.get((text, brackets))
    if known is None:
        known = _parse_name_addr(text, brackets)
        if len(_NAME_ADDRS) >= _NAME_ADDRS_SIZE:
            _NAME_ADDRS.clear()
        _NAME_ADDRS[text, brackets] = known
    return NameAddr(known.uri.copy(), known.display_name, dict(known.params))


def _parse_name_addr(text: str, brackets: bool) -> NameAddr:
    display: str | None = None
    text = text.strip(_WS)
    if text.startswith('"'):
        quoted = _QUOTED_RE.match(text)
        if quoted is None:
            raise SipParseError("unterminated display name")
        display = unquote_string(quoted.group())
        lt = skip_ws(text, quoted.end())
        if not text.startswith("<", lt):
            raise SipParseError("display name without <URI>")
    else:
        lt = _find_unquoted(text, "<")
        words = text[: max(lt, 0)].split()
        # RFC 4475 §3.1.1.6: no LWS is needed between a token display name and "<".
        if not all(TOKEN_RE.fullmatch(word) for word in words):
            raise SipParseError("display name must be tokens or quoted")
        display = " ".join(words) or None
    if lt >= 0:
        gt = text.find(">", lt)
        if gt < 0:
            raise SipParseError("missing >")
        uri_text, rest = text[lt + 1 : gt], text[gt + 1 :]
    elif brackets:
        raise SipParseError("URI must be in <>")
    else:
        uri_text, semi, rest = text.partition(";")
        rest = semi + rest
        uri_text = uri_text.rstrip(_WS)
        # RFC 3261 §20: a URI with a comma, question mark or semicolon must be in <>.
        if "?" in uri_text or "," in uri_text:
            raise SipParseError("URI with ? or , must be in <>")
    return NameAddr(parse_uri(uri_text), display, parse_params(rest, "header"))


@dataclass
class CSeq:
    """A CSeq value: sequence number and method."""

    seq: int
    method: str

    def __str__(self) -> str:
        """The CSeq value as text."""
        return f"{self.seq} {self.method}"


def parse_cseq(text: str) -> CSeq:
    """Parse a CSeq; the number must be below 2**31 (RFC 3261 §8.1.1.5)."""
    match = _CSEQ_RE.fullmatch(text)
    if match is None:
        raise SipParseError("bad CSeq")
    return CSeq(parse_uint(match.group(1), MAX_CSEQ, "CSeq number"), match.group(2))


@dataclass
class MediaType:
    """A Content-Type value: type, subtype (lower case) and parameters."""

    type: str
    subtype: str
    params: dict[str, str | None] = field(default_factory=dict)

    def __str__(self) -> str:
        """The media type as text."""
        return f"{self.type}/{self.subtype}{format_params(self.params)}"


def parse_media_type(text: str) -> MediaType:
    """Parse ``m-type SLASH m-subtype *(SEMI m-parameter)``."""
    match = _MEDIA_RE.match(text)
    if match is None:
        raise SipParseError("bad media type")
    params = parse_params(text[match.end() :], "media type")
    return MediaType(match.group(1).lower(), match.group(2).lower(), params)
