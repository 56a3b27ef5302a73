"""Stream framing by Content-Length: partial, pipelined, keep-alives, limits."""

from __future__ import annotations

import pytest

from appliance.sip.framing import KEEPALIVE, FramingError, StreamFramer

MSG = (b"OPTIONS sip:a SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n"
       b"Content-Length: 5\r\n\r\nhello")


def test_partial_then_pipelined_messages() -> None:
    framer = StreamFramer()
    assert framer.feed(MSG[:10]) == []
    assert framer.feed(MSG[10:-2]) == []
    assert framer.feed(MSG[-2:] + MSG + MSG[:3]) == [MSG, MSG]
    assert framer.pending == 3


def test_keepalives_and_compact_length() -> None:
    framer = StreamFramer()
    compact = MSG.replace(b"Content-Length", b"l")
    assert framer.feed(b"\r\n\r\n" + compact + b"\r\n") == [KEEPALIVE, compact]
    assert framer.feed(b"\r\n") == [KEEPALIVE]


@pytest.mark.parametrize("bad", [
    MSG.replace(b"Content-Length: 5", b"Content-Length: -5"),
    MSG.replace(b"Content-Length: 5", b"Content-Length: 5\r\nl: 5"),
    MSG.replace(b"Content-Length: 5", b"Content-Length: 99999999999"),
    MSG.replace(b"Content-Length: 5", b"Content-Length: 20000"),
])
def test_unframeable_streams_raise(bad: bytes) -> None:
    with pytest.raises(FramingError):
        StreamFramer().feed(bad)


def test_endless_header_section_is_refused() -> None:
    with pytest.raises(FramingError):
        StreamFramer(max_size=1000).feed(b"OPTIONS sip:a SIP/2.0\r\nX: " + b"a" * 2000)
