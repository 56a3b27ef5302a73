"""The check-sync NOTIFY: well-formed SIP, parsed back by the appliance's own codec."""

from __future__ import annotations

from appliance.provisioning.push import Target, build_notify, target_for
from appliance.sip.message import Request, parse


def test_notify_is_well_formed() -> None:
    target = Target("001565aabbcc", "192.0.2.20", 5060, "101", "check-sync")
    data = build_notify(target, "192.0.2.1", 40000, "abc123", "tag9", "call7")
    message = parse(data)
    assert isinstance(message, Request)
    assert data.startswith(b"NOTIFY sip:101@192.0.2.20:5060 SIP/2.0\r\n")
    assert b"Via: SIP/2.0/UDP 192.0.2.1:40000;branch=z9hG4bKabc123" in data
    for header in (b"Max-Forwards: 70", b"CSeq: 1 NOTIFY", b"Event: check-sync",
                   b"Subscription-State: terminated", b"Content-Length: 0",
                   b"From: <sip:provisioning@192.0.2.1>;tag=tag9", b"Call-ID: call7@"):
        assert header in data
    assert data.endswith(b"\r\n\r\n")


def test_ipv6_and_cisco_event() -> None:
    target = target_for("00562b043615", "2001:db8::5", "Cisco", "102", 5060)
    assert target is not None and target.event == "resync"
    data = build_notify(target, "2001:db8::1", 5060, "b", "t", "c")
    assert isinstance(parse(data), Request)
    assert b"sip:102@[2001:db8::5]:5060" in data


def test_no_address_no_target() -> None:
    assert target_for("001565aabbcc", None, "Yealink", "101", 5060) is None
    fallback = target_for("001565aabbcc", "192.0.2.3", None, None, 5062)
    assert fallback is not None and fallback.user == "001565aabbcc"
    assert fallback.event == "check-sync" and fallback.port == 5062
