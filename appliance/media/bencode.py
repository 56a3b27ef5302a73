"""Bencode, sans-I/O and strict: the dictionary format of rtpengine's ng protocol.

``encode`` takes ints (within 64 bits), ``bytes``/``str`` (UTF-8), lists or tuples, and dicts
with ``str`` or ``bytes`` keys (written in sorted order); ``decode`` gives ints, ``bytes``,
lists and dicts with ``bytes`` keys. Anything malformed raises ``MediaProtocolError``:
truncation, leading zeros, ``-0``, ints past 64 bits, lengths past the end, duplicate keys,
non-string keys, trailing bytes, and nesting deeper than ``max_depth``. Dictionary keys need
not be sorted on input: rtpengine says itself that it does not honour that rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeAlias

from appliance.errors import MediaProtocolError

Value: TypeAlias = int | bytes | list["Value"] | dict[bytes, "Value"]
Encodable: TypeAlias = (int | bytes | str | Sequence["Encodable"]
                        | Mapping[str, "Encodable"] | Mapping[bytes, "Encodable"])

MAX_DEPTH = 32  # rtpengine's deepest replies (query: tags > medias > streams) stay under 8
MAX_DIGITS = 20  # an int or a length with more digits than a 64-bit number is refused
INT_MIN, INT_MAX = -(2**63), 2**64 - 1  # what rtpengine's integers can hold, either way
_DIGITS = frozenset(b"0123456789")


def encode(value: Encodable) -> bytes:
    """The bencoding of ``value``; TypeError for a value bencode cannot carry (bool, float...),
    ValueError for an int past 64 bits."""
    out: list[bytes] = []
    _encode(value, out, 0)
    return b"".join(out)


def _encode(value: Encodable, out: list[bytes], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise TypeError(f"bencode: nesting deeper than {MAX_DEPTH}")
    if isinstance(value, bool):
        raise TypeError("bencode has no booleans")
    if isinstance(value, int):
        if not INT_MIN <= value <= INT_MAX:
            raise ValueError(f"bencode: {value} is past a 64-bit integer")
        out.append(b"i%de" % value)
    elif isinstance(value, str):
        _encode(value.encode("utf-8"), out, depth)
    elif isinstance(value, bytes | bytearray):
        out.append(b"%d:" % len(value))
        out.append(bytes(value))
    elif isinstance(value, Mapping):
        items = _keys(value)
        out.append(b"d")
        for raw in sorted(items):
            _encode(raw, out, depth + 1)
            _encode(items[raw], out, depth + 1)
        out.append(b"e")
    elif isinstance(value, Sequence):
        out.append(b"l")
        for item in value:
            _encode(item, out, depth + 1)
        out.append(b"e")
    else:
        raise TypeError(f"bencode cannot carry {type(value).__name__}")


def _keys(value: Mapping[str, Encodable] | Mapping[bytes, Encodable]) -> dict[bytes, Encodable]:
    """The mapping with its keys as bytes (str as UTF-8), to be written in sorted order."""
    items: dict[bytes, Encodable] = {}
    for key, item in value.items():
        raw = key.encode("utf-8") if isinstance(key, str) else key
        if not isinstance(raw, bytes):
            raise TypeError(f"bencode: dictionary key {key!r} is not a string")
        if raw in items:
            raise TypeError(f"bencode: dictionary key {key!r} given twice")
        items[raw] = item
    return items


def decode(data: bytes, max_depth: int = MAX_DEPTH) -> Value:
    """The one value ``data`` holds; MediaProtocolError if it is not exactly one valid value."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MediaProtocolError("bencode: expected bytes")
    buf = bytes(data)
    value, end = _Decoder(buf, max_depth).value(0, 0)
    if end != len(buf):
        raise MediaProtocolError(f"bencode: {len(buf) - end} bytes after the value")
    return value


class _Decoder:
    """One pass over a buffer; each method returns (value, index after it)."""

    def __init__(self, buf: bytes, max_depth: int) -> None:
        self.buf = buf
        self.max_depth = max_depth

    def _fail(self, what: str, at: int) -> MediaProtocolError:
        return MediaProtocolError(f"bencode: {what} at byte {at}")

    def value(self, at: int, depth: int) -> tuple[Value, int]:
        if at >= len(self.buf):
            raise self._fail("truncated input", at)
        lead = self.buf[at]
        if lead == ord("i"):
            return self.integer(at)
        if lead in _DIGITS:
            return self.string(at)
        if lead in (ord("l"), ord("d")):
            if depth >= self.max_depth:
                raise self._fail(f"nesting deeper than {self.max_depth}", at)
            return self.listing(at, depth) if lead == ord("l") else self.dictionary(at, depth)
        raise self._fail(f"unexpected byte {bytes([lead])!r}", at)

    def _digits(self, start: int, end_byte: int) -> tuple[bytes, int]:
        """The digits from ``start`` up to ``end_byte``, bounded in length."""
        end = self.buf.find(bytes([end_byte]), start, start + MAX_DIGITS + 2)
        if end < 0:
            if len(self.buf) - start <= MAX_DIGITS + 1:
                raise self._fail("truncated number", start)
            raise self._fail("number too long", start)
        return self.buf[start:end], end

    def integer(self, at: int) -> tuple[int, int]:
        text, end = self._digits(at + 1, ord("e"))
        body = text[1:] if text.startswith(b"-") else text
        if not body or not all(c in _DIGITS for c in body):
            raise self._fail(f"malformed integer {text!r}", at)
        if body.startswith(b"0") and (len(body) > 1 or text.startswith(b"-")):
            raise self._fail(f"integer {text!r} has a leading zero or is -0", at)
        value = int(text)
        if not INT_MIN <= value <= INT_MAX:
            raise self._fail(f"integer {text!r} is past 64 bits", at)
        return value, end + 1

    def string(self, at: int) -> tuple[bytes, int]:
        text, colon = self._digits(at, ord(":"))
        if not text or not all(c in _DIGITS for c in text):
            raise self._fail(f"malformed string length {text!r}", at)
        if text.startswith(b"0") and len(text) > 1:
            raise self._fail(f"string length {text!r} has a leading zero", at)
        size = int(text)
        start = colon + 1
        if size > len(self.buf) - start:
            raise self._fail(f"string of {size} bytes runs past the end", at)
        return self.buf[start:start + size], start + size

    def listing(self, at: int, depth: int) -> tuple[list[Value], int]:
        items: list[Value] = []
        pos = at + 1
        while True:
            if pos >= len(self.buf):
                raise self._fail("truncated list", at)
            if self.buf[pos] == ord("e"):
                return items, pos + 1
            item, pos = self.value(pos, depth + 1)
            items.append(item)

    def dictionary(self, at: int, depth: int) -> tuple[dict[bytes, Value], int]:
        items: dict[bytes, Value] = {}
        pos = at + 1
        while True:
            if pos >= len(self.buf):
                raise self._fail("truncated dictionary", at)
            if self.buf[pos] == ord("e"):
                return items, pos + 1
            if self.buf[pos] not in _DIGITS:
                raise self._fail("dictionary key is not a string", pos)
            key, pos = self.string(pos)
            if key in items:
                raise self._fail(f"dictionary key {key!r} given twice", pos)
            items[key], pos = self.value(pos, depth + 1)
