"""Bounded Hypothesis runs: stream framing under any chunking, and the routing core under
mangled requests (whatever parses must be handled without an exception)."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.errors import SipParseError
from appliance.sip.framing import FramingError, StreamFramer
from appliance.sip.message import Request, parse
from appliance.sip.transaction import Peer
from tests.unit.test_sip_routing import ext, make_router

MESSAGES = [
    b"OPTIONS sip:office.test SIP/2.0\r\nVia: SIP/2.0/TCP 10.0.0.1;branch=z9hG4bK1\r\n"
    b"From: <sip:101@office.test>;tag=a\r\nTo: <sip:office.test>\r\nCall-ID: x\r\n"
    b"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    b"MESSAGE sip:102@office.test SIP/2.0\r\nVia: SIP/2.0/TCP 10.0.0.1;branch=z9hG4bK2\r\n"
    b"From: <sip:101@office.test>;tag=a\r\nTo: <sip:102@office.test>\r\nCall-ID: y\r\n"
    b"CSeq: 1 MESSAGE\r\nl: 5\r\n\r\nhello",
]
TEMPLATE = (
    "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch={branch};rport\r\n"
    "Max-Forwards: {mf}\r\nFrom: <sip:{user}@office.test>;tag=f\r\nTo: <{uri}>{totag}\r\n"
    "Call-ID: {callid}\r\nCSeq: 1 {method}\r\nContact: {contact}\r\n{extra}"
    "Content-Length: 0\r\n\r\n"
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=1, max_size=6), st.data())
def test_framing_is_independent_of_chunking(order: list[int], data: st.DataObject) -> None:
    stream = b"".join(MESSAGES[i % 2] if i < 2 else b"\r\n\r\n" for i in order)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    framer, out, start = StreamFramer(), [], 0
    for cut in [*cuts, len(stream)]:
        out += framer.feed(stream[start:cut])
        start = cut
    expected = [MESSAGES[i % 2] if i < 2 else b"\r\n\r\n" for i in order]
    assert out == expected and framer.pending == 0


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400))
def test_framing_never_raises_anything_but_its_error(data: bytes) -> None:
    with contextlib.suppress(FramingError):
        StreamFramer(max_size=300).feed(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from(["INVITE", "REGISTER", "OPTIONS", "BYE", "CANCEL", "ACK", "MESSAGE",
                            "SUBSCRIBE", "FOO"]),
    uri=st.sampled_from(["sip:102@office.test", "sip:office.test", "sip:+8491234@x",
                         "tel:0912345678", "sips:an.nguyen@office.test", "sip:9999@x",
                         "mailto:x@y", "sip:102@127.0.0.1:5060;transport=tcp"]),
    branch=st.sampled_from(["z9hG4bK-1", "z9hG4bK", "old", "z9hG4bK-x-1-y"]),
    mf=st.sampled_from(["0", "1", "70", "255"]),
    user=st.sampled_from(["101", "102", "999", "bob"]),
    totag=st.sampled_from(["", ";tag=t"]),
    callid=st.text(alphabet="abc123@.", min_size=1, max_size=8),
    contact=st.sampled_from(["*", "<sip:101@127.0.0.1:6000>;expires=0", "<sip:101@h>",
                             "<sip:101@127.0.0.1:6000>;expires=30", "<sip:a@b>;q=0.5"]),
    extra=st.sampled_from(["", "Expires: 0\r\n", "Proxy-Require: foo\r\n",
                           "Route: <sip:127.0.0.1:5060;lr>\r\n",
                           "Route: <sip:127.0.0.1:5060;lr>, <sip:10.0.0.9;lr>\r\n",
                           "Proxy-Authorization: Digest username=\"101\", realm=\"office.test\","
                           " nonce=\"1.2.3\", uri=\"sip:x\", response=\"0\", qop=auth, "
                           "nc=00000001, cnonce=\"c\"\r\n",
                           "Authorization: Digest garbage\r\n"]),
)
def test_router_handles_whatever_parses(**fields: str) -> None:
    router, timers, _ = make_router(ext("101"), ext("102"), ext("103", assigned=False))
    try:
        message = parse(TEMPLATE.format(**fields).encode())
    except SipParseError:
        return
    assert isinstance(message, Request) and router.layer is not None
    router.layer.receive(message, Peer("udp", "127.0.0.1", 5062))
    timers.advance(200)  # every timer of every transaction fires, without an exception
