"""Bencode: round trips, rtpengine's own replies, and a clean MediaProtocolError for every
malformed or hostile input."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.errors import MediaProtocolError
from appliance.media.bencode import MAX_DEPTH, decode, encode


def test_encodes_each_type() -> None:
    assert encode(0) == b"i0e" and encode(-42) == b"i-42e"
    assert encode(2**63) == b"i9223372036854775808e"
    assert encode(b"") == b"0:" and encode(b"spam") == b"4:spam"
    assert encode("Nguyễn") == b"8:" + "Nguyễn".encode()
    assert encode([1, "a", [b"b"]]) == b"li1e1:al1:bee" and encode(()) == b"le"
    assert encode({}) == b"de"


def test_dictionary_keys_sorted_as_bytes() -> None:
    assert encode({"sdp": "v=0", "command": "offer", "call-id": "x"}) == (
        b"d7:call-id1:x7:command5:offer3:sdp3:v=0e")
    assert encode({b"b": 1, "a": 2}) == b"d1:ai2e1:bi1ee"


@pytest.mark.parametrize("value", [True, 1.5, None, {1: 2}, {"a": object()}, {"a": 1, b"a": 2}])
def test_encode_refuses_what_bencode_cannot_carry(value: Any) -> None:
    with pytest.raises(TypeError):
        encode(value)


def test_integers_stay_within_64_bits() -> None:
    assert decode(encode(2**64 - 1)) == 2**64 - 1 and decode(encode(-(2**63))) == -(2**63)
    for value in (2**64, -(2**63) - 1):
        with pytest.raises(ValueError):
            encode(value)
    with pytest.raises(MediaProtocolError):
        decode(b"i123456789012345678901e")


def test_encode_refuses_runaway_nesting() -> None:
    value: Any = []
    for _ in range(MAX_DEPTH + 2):
        value = [value]
    with pytest.raises(TypeError, match="nesting"):
        encode(value)


def test_decodes_rtpengine_replies() -> None:
    assert decode(b"d6:result4:ponge") == {b"result": b"pong"}
    assert decode(b"d6:result5:error12:error-reason15:Unknown call-ide") == {
        b"result": b"error", b"error-reason": b"Unknown call-id"}
    # rtpengine says it does not sort keys: unsorted input is accepted
    assert decode(b"d3:sdp3:v=06:result2:oke") == {b"sdp": b"v=0", b"result": b"ok"}
    assert decode(b"d4:tagsd1:ad3:tag1:aee7:createdi1700000000ee") == {
        b"tags": {b"a": {b"tag": b"a"}}, b"created": 1700000000}


def test_decodes_edge_values() -> None:
    assert decode(b"i0e") == 0 and decode(b"i-7e") == -7 and decode(b"0:") == b""
    assert decode(b"le") == [] and decode(b"de") == {}
    assert decode(b"4:\x00\xff e") == b"\x00\xff e"  # strings are bytes, any bytes
    assert decode(bytearray(b"i5e")) == 5 and decode(memoryview(b"1:x")) == b"x"


@pytest.mark.parametrize("data", [
    b"",  # nothing at all
    b"i", b"i12", b"i-", b"ie", b"i-e", b"i--1e", b"i+1e", b"i1.5e", b"i 1e",  # integers
    b"i01e", b"i-01e", b"i-0e", b"i00e",  # leading zeros, minus zero
    b"4:abc", b"5", b"5:", b"01:a", b"00:", b"-1:a", b"1a:b", b":", b"3x:abc",  # strings
    b"l", b"li1e", b"d", b"d1:a", b"d1:ai1e", b"d1:ai1e1:b",  # truncated containers
    b"di1ei2ee", b"dli1eei1ee", b"dde1:ae",  # keys that are not strings
    b"d1:ai1e1:ai2ee",  # a key twice
    b"i1ei2e", b"dee", b"4:spamx", b"le ",  # bytes after the value
    b"x", b"e", b"\xff", b" i1e",  # no value at all
])
def test_malformed_input_raises_one_error(data: bytes) -> None:
    with pytest.raises(MediaProtocolError):
        decode(data)


def test_huge_lengths_fail_without_allocating() -> None:
    for data in (b"99999999999999999999:x", b"4294967296:abc", b"9" * 10_000 + b":x",
                 b"i" + b"9" * 10_000 + b"e", b"l" + b"9" * 10_000):
        with pytest.raises(MediaProtocolError):
            decode(data)


def test_nesting_is_bounded() -> None:
    depth = MAX_DEPTH
    assert decode(b"l" * depth + b"e" * depth) is not None
    for data in (b"l" * (depth + 1) + b"e" * (depth + 1), b"l" * 100_000,
                 b"d1:a" * 100_000, b"l" * 100_000 + b"e" * 100_000):
        with pytest.raises(MediaProtocolError, match="nesting"):
            decode(data)
    with pytest.raises(MediaProtocolError):
        decode(b"lle", max_depth=1)


def test_rejects_what_is_not_bytes() -> None:
    with pytest.raises(MediaProtocolError):
        decode("i1e")  # type: ignore[arg-type]


values = st.recursive(
    st.integers(-(2**63), 2**64 - 1) | st.binary(max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.binary(max_size=8), inner,
                                                                max_size=5),
    max_leaves=30)


@given(values)
def test_round_trip(value: Any) -> None:
    assert decode(encode(value)) == value


@given(st.binary(max_size=200))
def test_random_bytes_decode_or_raise_cleanly(data: bytes) -> None:
    try:
        value = decode(data)
    except MediaProtocolError:
        return
    assert encode(value) == data or isinstance(value, dict)  # only key order may differ


@given(values, st.data())
def test_every_truncation_raises(value: Any, data: st.DataObject) -> None:
    raw = encode(value)
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(MediaProtocolError):
        decode(raw[:cut])
