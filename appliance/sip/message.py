"""RFC 3261 SIP messages, sans-I/O: ``parse`` bytes into a Request or Response, and back.

``parse`` is strict: it returns only messages that pass ``validate()`` and raises
``SipParseError`` (never another exception) for anything else. ``salvage`` recovers enough of
a rejected request to answer it with ``make_response(request, 400)``.

Choices where RFC 3261 / RFC 4475 leave room:
- the header section must end each line with CRLF; bare CR or LF there is an error, while the
  body is opaque octets framed by Content-Length;
- header text must be UTF-8, and control characters may appear only as quoted-pairs;
- over a datagram, octets after the Content-Length body are ignored and, without a
  Content-Length, the body runs to the end; a stream message needs one unless it has no body;
- Max-Forwards may be absent (RFC 2543 peers); a repeated From, To, Call-ID, CSeq,
  Max-Forwards, Expires, Content-Type or Content-Length, a CSeq method other than the
  request's, headers in a Request-URI and any version but SIP/2.0 are rejected.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from appliance.errors import SipParseError
from appliance.sip.headers import Headers, canonical_name, header_key, headers_from_lines
from appliance.sip.uri import TOKEN_RE, SipUri, parse_delta, parse_uint, parse_uri
from appliance.sip.values import (
    CSeq,
    MediaType,
    NameAddr,
    Via,
    parse_call_id,
    parse_cseq,
    parse_media_type,
    parse_name_addr,
    parse_via,
)

__all__ = [
    "MAX_MESSAGE",
    "REASONS",
    "SIP_VERSION",
    "CSeq",
    "Headers",
    "MediaType",
    "NameAddr",
    "Request",
    "Response",
    "SipUri",
    "Via",
    "make_request",
    "make_response",
    "parse",
    "parse_name_addr",
    "parse_uri",
    "parse_via",
    "salvage",
]

MAX_MESSAGE = 16384
_MAX_LENGTH = 2**31 - 1
SIP_VERSION = "SIP/2.0"
_VERSION_RE = re.compile(r"SIP/[0-9]{1,3}\.[0-9]{1,3}", re.IGNORECASE)
_STATUS_RE = re.compile(r"[1-6][0-9][0-9]")
_REASON_CTL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_HEAD_CTL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # CR and LF are checked apart
_T = TypeVar("_T")
_UNSET: Any = object()

REASONS = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 200: "OK", 202: "Accepted", 300: "Multiple Choices",
    301: "Moved Permanently", 302: "Moved Temporarily", 305: "Use Proxy",
    380: "Alternative Service", 400: "Bad Request", 401: "Unauthorized",
    402: "Payment Required", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    406: "Not Acceptable", 407: "Proxy Authentication Required", 408: "Request Timeout",
    410: "Gone", 413: "Request Entity Too Large", 414: "Request-URI Too Long",
    415: "Unsupported Media Type", 416: "Unsupported URI Scheme", 420: "Bad Extension",
    421: "Extension Required", 423: "Interval Too Brief", 480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist", 482: "Loop Detected", 483: "Too Many Hops",
    484: "Address Incomplete", 485: "Ambiguous", 486: "Busy Here", 487: "Request Terminated",
    488: "Not Acceptable Here", 489: "Bad Event", 491: "Request Pending",
    500: "Server Internal Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Server Time-out", 505: "Version Not Supported",
    513: "Message Too Large", 600: "Busy Everywhere", 603: "Decline",
    604: "Does Not Exist Anywhere", 606: "Not Acceptable",
}  # fmt: skip
_CLASS_REASONS = {
    1: "Progress", 2: "OK", 3: "Redirection", 4: "Client Error", 5: "Server Error",
    6: "Global Failure",
}  # fmt: skip


class _Message:
    """What requests and responses share: headers, body, typed accessors, serialisation."""

    headers: Headers
    body: bytes
    version: str

    def start_line(self) -> str:
        """The first line, without CRLF."""
        raise NotImplementedError

    def _start(self) -> tuple[object, ...]:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        """Equal in start line, headers and body; Content-Length is the body's, so not compared."""
        if not isinstance(other, _Message) or type(other) is not type(self):
            return NotImplemented
        mine, theirs = self.headers.copy(), other.headers.copy()
        mine.remove("content-length")
        theirs.remove("content-length")
        return (self._start(), mine, self.body) == (other._start(), theirs, other.body)

    __hash__ = None  # type: ignore[assignment]  # mutable, so unhashable

    def _single(self, name: str) -> str | None:
        values = self.headers.view(name)
        if len(values) > 1:
            raise SipParseError(f"repeated {canonical_name(name)}")
        return values[0] if values else None

    def _required(self, name: str) -> str:
        value = self._single(name)
        if value is None:
            raise SipParseError(f"missing {canonical_name(name)}")
        return value

    def _memo(self, key: str, make: Callable[[], _T]) -> _T:
        """``make()``, parsed once per state of the headers (errors are not remembered)."""
        memo: dict[str, Any] = self.headers.parsed
        value: _T = memo.get(key, _UNSET)
        if value is _UNSET:
            value = memo[key] = make()
        return value

    @property
    def via(self) -> list[Via]:
        """Every Via value, top first; raise SipParseError if one is malformed."""
        return list(self._memo("via", lambda: [parse_via(v) for v in self.headers.view("via")]))

    @property
    def top_via(self) -> Via:
        """The top Via alone; raise SipParseError if absent or malformed."""
        memo = self.headers.parsed.get("via")
        if memo:
            top: Via = memo[0]
            return top
        return self._memo("top-via", self._parse_top_via)

    def _parse_top_via(self) -> Via:
        value = self.headers.get("via")
        if value is None:
            raise SipParseError("missing Via")
        return parse_via(value)

    @property
    def from_(self) -> NameAddr:
        """The From header; raise SipParseError if missing, repeated or malformed."""
        return self._memo("from", lambda: parse_name_addr(self._required("from")))

    @property
    def to(self) -> NameAddr:
        """The To header; raise SipParseError if missing, repeated or malformed."""
        return self._memo("to", lambda: parse_name_addr(self._required("to")))

    @property
    def call_id(self) -> str:
        """The Call-ID; raise SipParseError if missing, repeated or malformed."""
        return self._memo("call-id", lambda: parse_call_id(self._required("call-id")))

    @property
    def cseq(self) -> CSeq:
        """The CSeq; raise SipParseError if missing, repeated or malformed."""
        return self._memo("cseq", lambda: parse_cseq(self._required("cseq")))

    def _optional(self, key: str, parse_value: Callable[[str], _T]) -> _T | None:
        """The one value of header ``key`` parsed (memoised), or None if absent."""
        def make() -> _T | None:
            value = self._single(key)
            return None if value is None else parse_value(value)
        return self._memo(key, make)

    @property
    def max_forwards(self) -> int | None:
        """Max-Forwards (0..255), or None if absent; raise SipParseError if malformed."""
        return self._optional("max-forwards", lambda v: parse_uint(v, 255, "Max-Forwards"))

    @property
    def contact_wildcard(self) -> bool:
        """Whether the Contact is ``*`` (a REGISTER removing every binding)."""
        return "*" in self.headers.view("contact")

    @property
    def contacts(self) -> list[NameAddr]:
        """Every Contact value ([] for ``*``); raise SipParseError if one is malformed."""
        def make() -> list[NameAddr]:
            values = self.headers.view("contact")
            if "*" in values:
                if len(values) > 1:
                    raise SipParseError("Contact * must stand alone")
                return []
            return [parse_name_addr(value) for value in values]
        return list(self._memo("contact", make))

    @property
    def routes(self) -> list[NameAddr]:
        """Every Route value, in order."""
        return list(self._memo("route", lambda: [
            parse_name_addr(v, brackets=True) for v in self.headers.view("route")]))

    @property
    def record_routes(self) -> list[NameAddr]:
        """Every Record-Route value, in order."""
        return list(self._memo("record-route", lambda: [
            parse_name_addr(v, brackets=True) for v in self.headers.view("record-route")]))

    @property
    def expires(self) -> int | None:
        """The Expires header in seconds, or None; raise SipParseError if malformed."""
        return self._optional("expires", lambda v: parse_delta(v, "Expires"))

    @property
    def content_length(self) -> int | None:
        """The Content-Length header (after ``parse``, absent or the body length), or None."""
        return self._optional("content-length",
                              lambda v: parse_uint(v, _MAX_LENGTH, "Content-Length"))

    @property
    def content_type(self) -> MediaType | None:
        """The Content-Type, or None; raise SipParseError if malformed."""
        return self._optional("content-type", parse_media_type)

    def tokens(self, name: str) -> list[str]:
        """The tokens of a list header such as Require, Supported or Allow (empties dropped)."""
        values = [value for value in self.headers.get_all(name) if value]
        if not all(TOKEN_RE.fullmatch(value) for value in values):
            raise SipParseError(f"bad {canonical_name(name)}")
        return values

    def _validate_common(self) -> None:
        if self.version != SIP_VERSION:
            raise SipParseError(f"unsupported version {self.version}")
        if not self.via:
            raise SipParseError("missing Via")
        for name_addr in (self.from_, self.to, *self.contacts):
            _ = name_addr.expires, name_addr.q
        _ = self.call_id, self.cseq, self.routes, self.record_routes, self.expires
        _ = self.content_length, self.content_type

    def to_bytes(self) -> bytes:
        """The message on the wire: CRLF lines, Content-Length set to the body's length."""
        lines = [self.start_line()]
        if "\r" in lines[0] or "\n" in lines[0]:
            raise ValueError("CR or LF in start line")
        length = f"Content-Length: {len(self.body)}"
        for name, value in self.headers:
            if header_key(name) != "content-length":
                lines.append(f"{name}: {value}")
            elif length:
                lines.append(length)
                length = ""
        if length:
            lines.append(length)
        lines += ["", ""]
        return "\r\n".join(lines).encode("utf-8") + self.body


@dataclass(eq=False)
class Request(_Message):
    """A SIP request."""

    method: str
    uri: SipUri
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    version: str = SIP_VERSION

    def start_line(self) -> str:
        """The Request-Line, without CRLF."""
        return f"{self.method} {self.uri} {self.version}"

    def _start(self) -> tuple[object, ...]:
        return (self.method, self.uri, self.version)

    def validate(self) -> None:
        """Raise SipParseError unless every mandatory header is present once and well formed."""
        if not TOKEN_RE.fullmatch(self.method):
            raise SipParseError("bad method")
        # RFC 3261 §19.1.1 table: headers are not allowed in a Request-URI.
        if self.uri.headers:
            raise SipParseError("headers in Request-URI")
        self._validate_common()
        if self.cseq.method != self.method:
            raise SipParseError("CSeq method differs from request method")
        _ = self.max_forwards

    def copy(self) -> Request:
        """An independent copy (e.g. for a proxy to forward)."""
        uri = copy.deepcopy(self.uri)
        return Request(self.method, uri, self.headers.copy(), self.body, self.version)


@dataclass(eq=False)
class Response(_Message):
    """A SIP response."""

    status: int
    reason: str = ""
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    version: str = SIP_VERSION

    def start_line(self) -> str:
        """The Status-Line, without CRLF."""
        return f"{self.version} {self.status:03d} {self.reason}"

    def _start(self) -> tuple[object, ...]:
        return (self.status, self.reason, self.version)

    def validate(self) -> None:
        """Raise SipParseError unless the status and every mandatory header are well formed."""
        if not 100 <= self.status <= 699:
            raise SipParseError("bad status code")
        self._validate_common()

    def copy(self) -> Response:
        """An independent copy."""
        return Response(self.status, self.reason, self.headers.copy(), self.body, self.version)


def _split_head(data: bytes) -> tuple[str, bytes]:
    start = 0
    # RFC 3261 §7.5: CRLFs before the start-line are ignored.
    while data.startswith(b"\r\n", start):
        start += 2
    end = data.find(b"\r\n\r\n", start)
    if end < 0:
        raise SipParseError("no empty line after the headers")
    head = data[start:end]
    crlf = head.count(b"\r\n")
    if head.count(b"\r") != crlf or head.count(b"\n") != crlf:
        raise SipParseError("bare CR or LF in the header section")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise SipParseError("header section is not UTF-8") from None
    return text, data[end + 4 :]


def _parse_version(text: str) -> str:
    if not _VERSION_RE.fullmatch(text):
        raise SipParseError("bad SIP version")
    return "SIP/" + text[4:]


def _parse_start_line(line: str) -> Request | Response:
    first, _, rest = line.partition(" ")
    if "/" in first:
        code, space, reason = rest.partition(" ")
        # RFC 4475 §3.1.1.13: the SP before an empty reason phrase is required.
        if not space or not _STATUS_RE.fullmatch(code) or _REASON_CTL_RE.search(reason):
            raise SipParseError("bad status line")
        return Response(int(code), reason, version=_parse_version(first))
    parts = line.split(" ")
    if len(parts) != 3 or not TOKEN_RE.fullmatch(parts[0]):
        raise SipParseError("bad request line")
    return Request(parts[0], parse_uri(parts[1]), version=_parse_version(parts[2]))


def _frame_body(headers: Headers, rest: bytes, datagram: bool) -> bytes:
    values = headers.get_all("content-length")
    if len(values) > 1:
        raise SipParseError("repeated Content-Length")
    if not values:
        # RFC 3261 §18.3, §20.14: a stream needs Content-Length; a datagram may go without.
        if datagram or not rest:
            return rest
        raise SipParseError("missing Content-Length")
    length = parse_uint(values[0], len(rest), "Content-Length")
    if not datagram and length != len(rest):
        raise SipParseError("octets after the body")
    # RFC 4475 §3.1.1.8: octets after the body of a datagram are ignored.
    return rest[:length]


def parse(data: bytes, *, datagram: bool = True, max_size: int = MAX_MESSAGE) -> Request | Response:
    """Parse and validate one message; raise SipParseError, and nothing else, if malformed.

    datagram=True: data is a whole UDP datagram. datagram=False: data is exactly one message
    cut from a stream by its Content-Length. Data over max_size octets is refused outright.
    """
    if len(data) > max_size:
        raise SipParseError("message too large")
    text, rest = _split_head(bytes(data))
    lines = text.split("\r\n")
    message = _parse_start_line(lines[0])
    message.headers = headers_from_lines(
        lines[1:], checked=not _HEAD_CTL_RE.search(text),
        folded="\r\n " in text or "\r\n\t" in text)
    message.body = _frame_body(message.headers, rest, datagram)
    message.validate()
    return message


def salvage(data: bytes, *, max_size: int = MAX_MESSAGE) -> Request | None:
    """Best effort for a request that ``parse`` rejected, only to answer it with an error.

    Returns None (never raises) for responses and for input without a request line or Via.
    The body is dropped; an unreadable Request-URI becomes ``sip:invalid``. As ever, an ACK
    gets no answer.
    """
    head = bytes(data[:max_size]).lstrip(b"\r\n")
    end = head.find(b"\r\n\r\n")
    lines = head[: end if end >= 0 else len(head)].decode("utf-8", "replace").split("\r\n")
    words = lines[0].split()
    if len(words) < 3 or not TOKEN_RE.fullmatch(words[0]) or not _VERSION_RE.fullmatch(words[-1]):
        return None
    try:
        uri = parse_uri(" ".join(words[1:-1]).strip("<>"))
    except SipParseError:
        uri = SipUri(host="invalid")
    headers = headers_from_lines(lines[1:], lenient=True)
    if "via" not in headers:
        return None
    return Request(words[0], uri, headers, version=_parse_version(words[-1]))


def _with_tag(value: str, tag: str) -> str:
    try:
        if parse_name_addr(value).tag is not None:
            return value
    except SipParseError:
        pass
    return f"{value};tag={tag}"


def make_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
) -> Response:
    """A response per RFC 3261 §8.2.6: Via, From, To (+ to_tag unless tagged), Call-ID, CSeq.

    Values are copied verbatim; Timestamp too for a 100. Record-Route, Contact and the like
    are the caller's to add through ``headers``.
    """
    if not 100 <= status <= 699:
        raise ValueError("status must be 100..699")
    if to_tag is not None and not TOKEN_RE.fullmatch(to_tag):
        raise ValueError("to_tag must be a token")
    if reason is None:
        reason = REASONS.get(status, _CLASS_REASONS[status // 100])
    response = Response(status, reason, body=body)
    mine, theirs = response.headers, request.headers
    # The request's values passed its own checks: copied as they are, not parsed again.
    mine.copy_from(theirs, "via")
    mine.copy_from(theirs, "from")
    if to_tag is None:
        mine.copy_from(theirs, "to")
    else:
        for value in theirs.get_all("to"):
            mine.add("to", _tagged(request, value, to_tag), split=False)
    mine.copy_from(theirs, "call-id")
    mine.copy_from(theirs, "cseq")
    if status == 100:
        mine.copy_from(theirs, "timestamp")
    for name, value in headers:
        mine.add(name, value)
    return response


def _tagged(request: Request, value: str, tag: str) -> str:
    """The To value with our tag, unless it has one (the parsed To is reused when there)."""
    memo = request.headers.parsed.get("to")
    if isinstance(memo, NameAddr):
        return value if memo.tag is not None else f"{value};tag={tag}"
    return _with_tag(value, tag)


def make_request(
    method: str,
    uri: SipUri | str,
    *,
    via: Via | str,
    from_: NameAddr | str,
    to: NameAddr | str,
    call_id: str,
    cseq: int,
    max_forwards: int = 70,
    contact: NameAddr | str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
) -> Request:
    """A request with the mandatory headers in the usual order; CSeq takes the method."""
    request = Request(method, parse_uri(uri) if isinstance(uri, str) else uri, body=body)
    fields = [("Via", str(via)), ("Max-Forwards", str(max_forwards)), ("From", str(from_)),
              ("To", str(to)), ("Call-ID", call_id), ("CSeq", f"{cseq} {method}")]  # fmt: skip
    if contact is not None:
        fields.append(("Contact", str(contact)))
    fields += list(headers)
    if content_type is not None:
        fields.append(("Content-Type", content_type))
    for name, value in fields:
        request.headers.add(name, value)
    return request
