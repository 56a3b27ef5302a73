"""DTMF: rtpengine's JSON reports (as measured on 10.5) and SIP INFO bodies into keys;
anything malformed, of another type, or no key is nothing; the listener hears loopback only."""

from __future__ import annotations

import json

from appliance.media.dtmf import Digit, DtmfListener, parse_info, parse_report

REPORT = {"callid": "b2b-1", "source_tag": "A", "tags": ["A", "appliance-here"],
          "type": "DTMF", "timestamp": 1796302073, "source_ip": "127.0.0.1", "event": 5,
          "duration": 80, "volume": 10}


def report(**changes: object) -> bytes:
    return json.dumps({**REPORT, **changes}).encode()


def test_a_report_is_the_key_of_its_event() -> None:
    assert parse_report(report()) == Digit("b2b-1", "A", "5")
    assert parse_report(report(event=10)).key == "*"  # type: ignore[union-attr]
    assert parse_report(report(event=11)).key == "#"  # type: ignore[union-attr]
    assert parse_report(report(event=12)).key == "A"  # type: ignore[union-attr]
    assert parse_report(report(source_tag="")) == Digit("b2b-1", "", "5")


def test_what_is_no_key_is_nothing() -> None:
    for bad in (b"", b"not json", b"[1, 2]", b"\xff\xfe", report(event=16), report(event=-1),
                report(event="5"), report(event=True), report(callid=7),
                report(type="something else"), report(source_tag=None), b"{" * 5000):
        assert parse_report(bad) is None, bad[:40]


def test_sip_info_bodies() -> None:
    assert parse_info("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n") == "5"
    assert parse_info("Application/DTMF-Relay; x=y", b"signal= *\r\n") == "*"
    assert parse_info("application/dtmf", b"#") == "#"
    assert parse_info("application/dtmf", b"11") == "#"  # the event number
    assert parse_info("application/dtmf-relay", b"Duration=160\r\n") is None
    assert parse_info("application/dtmf-relay", b"Signal=55\r\n") is None
    assert parse_info("text/plain", b"5") is None
    assert parse_info("application/dtmf", b"x") is None


def test_the_listener_hears_its_own_host_only() -> None:
    heard: list[Digit] = []
    listener = DtmfListener(heard.append)
    try:
        assert listener.port > 0
        listener.received(report(), "127.0.0.1")
        listener.received(report(event=6), "127.0.0.9")
        listener.received(b"junk", "127.0.0.1")
    finally:
        listener.close()
    assert heard == [Digit("b2b-1", "A", "5")]
