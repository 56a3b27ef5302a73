"""SIP header fields (RFC 3261 §7.3, §25.1): the ``Headers`` container and header lines.

Names are case-insensitive and compact forms map to long names. Values of list headers are
split at commas outside quoted strings and ``<...>``; every other header stays opaque.
Typed values (Via, name-addr, CSeq...) are parsed in ``values.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from appliance.errors import SipParseError
from appliance.sip.uri import TOKEN_RE

_LIST_PART_RE = re.compile(r'[^",<>]+|"(?:[^"\\]|\\.)*"|<[^<>"]*>|,', re.DOTALL)
_CTL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_WS = " \t"

# RFC 3261 §7.3.3 and the IANA SIP header registry.
COMPACT_FORMS = {
    "a": "accept-contact", "b": "referred-by", "c": "content-type", "d": "request-disposition",
    "e": "content-encoding", "f": "from", "i": "call-id", "j": "reject-contact",
    "k": "supported", "l": "content-length", "m": "contact", "n": "identity-info",
    "o": "event", "r": "refer-to", "s": "subject", "t": "to", "u": "allow-events", "v": "via",
    "x": "session-expires", "y": "identity",
}  # fmt: skip
_CANONICAL = {
    name.lower(): name
    for name in (
        "Accept", "Accept-Contact", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow",
        "Allow-Events", "Authentication-Info", "Authorization", "Call-ID", "Call-Info",
        "Contact", "Content-Disposition", "Content-Encoding", "Content-Language",
        "Content-Length", "Content-Type", "CSeq", "Date", "Error-Info", "Event", "Expires",
        "From", "Identity", "Identity-Info", "In-Reply-To", "Max-Forwards", "Min-Expires",
        "Min-SE", "MIME-Version", "Organization", "P-Asserted-Identity",
        "P-Preferred-Identity", "Path", "Priority", "Privacy", "Proxy-Authenticate",
        "Proxy-Authorization", "Proxy-Require", "RAck", "Reason", "Record-Route", "Refer-To",
        "Referred-By", "Reject-Contact", "Replaces", "Reply-To", "Request-Disposition",
        "Require", "Retry-After", "Route", "RSeq", "Server", "Service-Route", "Session-Expires",
        "SIP-ETag", "SIP-If-Match", "Subject", "Subscription-State", "Supported", "Timestamp",
        "To", "Unsupported", "User-Agent", "Via", "Warning", "WWW-Authenticate",
    )
}  # fmt: skip
# Headers whose grammar is a comma-separated list; all others (Authorization, Date, Subject,
# User-Agent, Warning, extensions...) may hold literal commas and are never split.
LIST_HEADERS = frozenset({
    "accept", "accept-contact", "accept-encoding", "accept-language", "alert-info", "allow",
    "allow-events", "call-info", "contact", "content-encoding", "content-language",
    "error-info", "in-reply-to", "p-asserted-identity", "p-preferred-identity", "path",
    "proxy-require", "record-route", "reject-contact", "request-disposition", "require",
    "route", "service-route", "supported", "unsupported", "via",
})  # fmt: skip


# Memo of header_key and canonical_name by spelling; bounded, so hostile names cannot grow it.
_KEYS: dict[str, str] = {}
_NAMES: dict[str, str] = {}
_MEMO_SIZE = 2048


def header_key(name: str) -> str:
    """The lookup key of a header name: lower case, compact form expanded."""
    key = _KEYS.get(name)
    if key is None:
        low = name.lower()
        key = COMPACT_FORMS.get(low, low)
        if len(_KEYS) < _MEMO_SIZE:
            _KEYS[name] = key
    return key


def canonical_name(name: str) -> str:
    """The conventional spelling of a known header name; unknown names are kept as given."""
    spelled = _NAMES.get(name)
    if spelled is None:
        spelled = _CANONICAL.get(header_key(name), name)
        if len(_NAMES) < _MEMO_SIZE:
            _NAMES[name] = spelled
    return spelled


def check_text(value: str) -> None:
    """Reject control characters, except HTAB and those escaped in a quoted string (§25.1)."""
    if not _CTL_RE.search(value):
        return
    quoted, escaped = False, False
    for char in value:
        if escaped and char not in "\r\n":
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif _CTL_RE.match(char):
            raise SipParseError("control character in header")


def split_list(value: str) -> list[str]:
    """Split a list header value at commas outside quoted strings and <...>."""
    if '"' not in value and "<" not in value and ">" not in value:
        items = [item.strip(_WS) for item in value.split(",")]
    else:
        items, start, pos = [], 0, 0
        while pos < len(value):
            part = _LIST_PART_RE.match(value, pos)
            if part is None:
                raise SipParseError("unbalanced quotes or <> in header")
            if part.group() == ",":
                items.append(value[start:pos].strip(_WS))
                start = part.end()
            pos = part.end()
        items.append(value[start:].strip(_WS))
    if len(items) > 1 and not all(items):
        raise SipParseError("empty element in header list")
    return items


class Headers:
    """Ordered, case-insensitive, multi-valued header fields; list headers hold one element each.

    ``parsed`` memoises typed values parsed from these fields, by header key (the message
    accessors use it; "top-via" belongs to "via"); a change to a header forgets its entry.
    """

    __slots__ = ("_index", "_items", "parsed")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        """Build from (name, value) pairs, as ``add`` would."""
        self._items: list[tuple[str, str, str]] = []
        self._index: dict[str, list[str]] | None = None  # values by key, built on demand
        self.parsed: dict[str, Any] = {}
        for name, value in items:
            self.add(name, value)

    @staticmethod
    def _prepare(name: str, value: str, split: bool = True) -> list[tuple[str, str, str]]:
        if not TOKEN_RE.fullmatch(name) or "\r" in value or "\n" in value:
            raise ValueError(f"bad header {name!r}")
        key, value = header_key(name), value.strip(_WS)
        try:
            check_text(value)
            values = split_list(value) if split and key in LIST_HEADERS else [value]
        except SipParseError as exc:
            raise ValueError(f"bad {name} value: {exc}") from None
        return [(key, canonical_name(name), v) for v in values]

    def add(self, name: str, value: str, *, split: bool = True) -> None:
        """Append a header (split=False keeps a list value whole, to copy it verbatim).

        Raise ValueError for a bad name, CR/LF or other control characters, or a broken list.
        """
        new = self._prepare(name, value, split)
        self._items.extend(new)
        self._forget(new[0][0])

    def compact(self) -> None:
        """Drop the index and the parsed values (rebuilt on demand), for a message kept long."""
        self._index = None
        self.parsed = {}

    def _forget(self, key: str) -> None:
        """Drop the index and what was parsed from header ``key``."""
        self._index = None
        if self.parsed:
            self.parsed.pop(key, None)
            if key == "via":
                self.parsed.pop("top-via", None)

    def copy_from(self, other: Headers, name: str) -> None:
        """Append every value of header ``name`` from ``other`` verbatim (already checked)."""
        key = header_key(name)
        self._items.extend(item for item in other._items if item[0] == key)
        self._forget(key)

    def replace_first(self, name: str, value: str) -> None:
        """Replace the first value of a header (e.g. the top Via) in place, else append it."""
        new = self._prepare(name, value, split=False)
        key = new[0][0]
        for i, item in enumerate(self._items):
            if item[0] == key:
                self._items[i] = new[0]
                break
        else:
            self._items.extend(new)
        self._forget(key)

    def prepend(self, name: str, value: str) -> None:
        """Insert before the first header of that name (or at the top), e.g. a proxy's Via."""
        key = header_key(name)
        pos = next((i for i, item in enumerate(self._items) if item[0] == key), 0)
        self._items[pos:pos] = self._prepare(name, value)
        self._forget(key)

    def set(self, name: str, value: str) -> None:
        """Replace every value of a header by one, where the first was (else at the end)."""
        key = header_key(name)
        new = self._prepare(name, value)
        pos = next((i for i, item in enumerate(self._items) if item[0] == key), None)
        self.remove(name)
        if pos is None:
            self._items.extend(new)
        else:
            self._items[pos:pos] = new
        self._forget(key)

    def remove(self, name: str) -> int:
        """Remove every value of a header; return how many there were."""
        key = header_key(name)
        before = len(self._items)
        self._items = [item for item in self._items if item[0] != key]
        self._forget(key)
        return before - len(self._items)

    def remove_first(self, name: str) -> str | None:
        """Remove and return the first value of a header (e.g. the top Via), or None."""
        key = header_key(name)
        for i, item in enumerate(self._items):
            if item[0] == key:
                del self._items[i]
                self._forget(key)
                return item[2]
        return None

    def _values(self) -> dict[str, list[str]]:
        index = self._index
        if index is None:
            index = self._index = {}
            for key, _, value in self._items:
                index.setdefault(key, []).append(value)
        return index

    def get(self, name: str) -> str | None:
        """The first value of a header, or None."""
        values = self._values().get(header_key(name))
        return values[0] if values else None

    def get_all(self, name: str) -> list[str]:
        """Every value of a header, in order (list headers one element per value)."""
        return list(self._values().get(header_key(name), ()))

    def view(self, name: str) -> Sequence[str]:
        """Every value of a header, like ``get_all`` but not a copy: only to read."""
        return self._values().get(header_key(name), ())

    def copy(self) -> Headers:
        """An independent copy."""
        new = Headers()
        new._items = list(self._items)
        return new

    def __contains__(self, name: object) -> bool:
        """Whether a header of that name is present."""
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        """(name, value) pairs in order, names in canonical spelling."""
        return ((name, value) for _, name, value in self._items)

    def __len__(self) -> int:
        """The number of values."""
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        """Equal when the same values appear in the same order under the same keys."""
        if not isinstance(other, Headers):
            return NotImplemented
        return [(k, v) for k, _, v in self._items] == [(k, v) for k, _, v in other._items]

    __hash__ = None  # type: ignore[assignment]  # mutable, so unhashable

    def __repr__(self) -> str:
        """The pairs, for debugging."""
        return f"Headers({list(self)!r})"


# Per raw header name as written (before the colon): (key, canonical spelling, list header).
_FIELDS: dict[str, tuple[str, str, bool]] = {}


def _field(raw: str) -> tuple[str, str, bool] | None:
    """What a raw header name stands for, or None if it is not a token; memoised."""
    info = _FIELDS.get(raw)
    if info is None:
        name = raw.rstrip(_WS)
        if not TOKEN_RE.fullmatch(name):
            return None
        key = header_key(name)
        info = (key, canonical_name(name), key in LIST_HEADERS)
        if len(_FIELDS) < _MEMO_SIZE:
            _FIELDS[raw] = info
    return info


def _unfold(lines: list[str], lenient: bool) -> list[str]:
    fields: list[str] = []
    for line in lines:
        if line[:1] in (" ", "\t") and fields:
            fields[-1] += " " + line.strip(_WS)
        elif line[:1] in (" ", "\t") and not lenient:
            raise SipParseError("folded line before the first header")
        else:
            fields.append(line)
    return fields


def headers_from_lines(lines: list[str], *, lenient: bool = False, checked: bool = False,
                       folded: bool | None = None) -> Headers:
    """Unfold (§7.3.1) and parse header lines; lenient skips bad lines and keeps bad lists whole.

    ``checked``: the caller has made sure that no line holds a control character but HTAB,
    so values need no check of their own. ``folded`` False: no line starts with SP or HTAB.
    """
    if folded is None:
        folded = any(line[:1] in (" ", "\t") for line in lines)
    fields = _unfold(lines, lenient) if folded else lines
    headers = Headers()
    items = headers._items
    for line in fields:
        raw, colon, value = line.partition(":")
        info = _field(raw) if colon else None
        try:
            if info is None:
                raise SipParseError("bad header line")
            value = value.strip(_WS)
            if not checked:
                check_text(value)
        except SipParseError:
            if lenient:
                continue
            raise
        key, name, listed = info
        if listed and ("," in value or '"' in value or "<" in value or ">" in value):
            try:
                items.extend((key, name, v) for v in split_list(value))
                continue
            except SipParseError:
                if not lenient:
                    raise
        items.append((key, name, value))
    return headers
