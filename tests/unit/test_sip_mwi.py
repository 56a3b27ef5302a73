"""The message-summary codec (RFC 3842 §5) and the NOTIFYs built from it (RFC 6665): round
trips, what phones and servers send in the field, and garbage that must be refused cleanly."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.errors import SipParseError
from appliance.sip import mwi
from appliance.sip.dialog import Dialog
from appliance.sip.message import Request, make_request, parse


def test_a_voice_summary_is_written_as_rfc_3842_shows_it() -> None:
    summary = mwi.Summary.voice(2, 8, account="sip:101@office.test")
    assert summary.to_bytes() == (b"Messages-Waiting: yes\r\nMessage-Account: sip:101@office.test"
                                  b"\r\nVoice-Message: 2/8\r\n")
    assert mwi.Summary.voice(0, 3).to_bytes() == b"Messages-Waiting: no\r\nVoice-Message: 0/3\r\n"
    assert summary.voice_counts == mwi.Counts(2, 8)


def test_the_rfc_example_and_field_variants_parse() -> None:
    example = (b"Messages-Waiting: yes\r\nMessage-Account: sip:alice@vmail.example.com\r\n"
               b"Voice-Message: 4/8 (1/2)\r\n\r\nMessage-ID: <1234@example.com>\r\n")
    parsed = mwi.parse_summary(example)
    assert parsed == mwi.Summary(True, "sip:alice@vmail.example.com",
                                 (("voice-message", mwi.Counts(4, 8, 1, 2)),))
    assert mwi.parse_summary(parsed.to_bytes()) == parsed
    loose = mwi.parse_summary(b"messages-waiting:NO\nvoice-message: 0 / 0\nX-Extra: 1\n"
                              b"Fax-Message: 1/0\n")
    assert loose == mwi.Summary(False, None, (("voice-message", mwi.Counts(0, 0)),
                                              ("fax-message", mwi.Counts(1, 0))))
    assert mwi.parse_summary(b"Messages-Waiting: no") == mwi.Summary(False)


@settings(max_examples=200, deadline=None)
@given(new=st.integers(0, 2**31 - 1), old=st.integers(0, 2**31 - 1),
       account=st.sampled_from([None, "sip:101@office.test", "sips:1@[::1]:5061",
                                "tel:+84912345678"]))
def test_round_trip(new: int, old: int, account: str | None) -> None:
    summary = mwi.Summary.voice(new, old, account=account)
    assert mwi.parse_summary(summary.to_bytes()) == summary


@pytest.mark.parametrize("body", [
    b"", b"\r\n", b"Voice-Message: 1/0\r\nMessages-Waiting: yes\r\n",
    b"Messages-Waiting: maybe\r\n", b"Messages-Waiting yes\r\n",
    b"Messages-Waiting: yes\r\nMessages-Waiting: no\r\n",
    b"Messages-Waiting: yes\r\nVoice-Message: 1\r\n",
    b"Messages-Waiting: yes\r\nVoice-Message: -1/0\r\n",
    b"Messages-Waiting: yes\r\nVoice-Message: 1/0 (1)\r\n",
    b"Messages-Waiting: yes\r\nVoice-Message: 99999999999/0\r\n",
    b"Messages-Waiting: yes\r\nVoice-Message: 1/0\r\nVoice-Message: 2/0\r\n",
    b"Messages-Waiting: yes\r\nVoice-Message: 1/0\r\nMessage-Account: sip:a@b\r\n",
    b"Messages-Waiting: yes\r\nMessage-Account: not a uri\r\n",
    b"Messages-Waiting: yes\rVoice-Message: 1/0\r\n",
    b"Messages-Waiting: yes\r\nVoice-Message: 1/0\x00\r\n",
    b"Messages-Waiting: yes\r\n\xff\xfe: 1/0\r\n",
    b"Messages-Waiting: yes\r\n" + b"X: y\r\n" * 1000,
])
def test_garbage_is_refused_with_the_parse_error(body: bytes) -> None:
    with pytest.raises(SipParseError):
        mwi.parse_summary(body)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_the_parser_raises_nothing_else(body: bytes) -> None:
    with contextlib.suppress(SipParseError):
        mwi.parse_summary(b"Messages-Waiting: yes\r\n" + body)


def test_what_cannot_be_written() -> None:
    with pytest.raises(ValueError, match="absolute URI"):
        mwi.Summary.voice(1, 0, account="101 office").to_bytes()
    with pytest.raises(ValueError, match="counts"):
        mwi.Summary.voice(-1, 0).to_bytes()
    with pytest.raises(ValueError, match="class"):
        mwi.Summary(True, None, (("junk", mwi.Counts(1, 0)),)).to_bytes()


# -- Event and Subscription-State ------------------------------------------------------------

def test_event_and_subscription_state_headers() -> None:
    assert mwi.parse_event("Message-Summary") == ("message-summary", {})
    assert mwi.parse_event("message-summary;id=7") == ("message-summary", {"id": "7"})
    assert mwi.parse_event(None) == ("", {})
    assert mwi.event_value("message-summary", {"id": "7"}) == "message-summary;id=7"
    for bad in ("", "message summary", "message-summary;", "a;b=c;b=d"):
        with pytest.raises(SipParseError):
            mwi.parse_event(bad)
    assert mwi.subscription_state("active", expires=3600) == "active;expires=3600"
    assert mwi.subscription_state("terminated", reason="timeout", expires=5) == \
        "terminated;reason=timeout"
    assert mwi.parse_subscription_state("Active;expires=60") == ("active", {"expires": "60"})
    for bad in ("", "active;expires=x", "active;;"):
        with pytest.raises(SipParseError):
            mwi.parse_subscription_state(bad)
    with pytest.raises(ValueError):
        mwi.subscription_state("gone")


# -- NOTIFY ------------------------------------------------------------------------------------

def _subscribe() -> Request:
    return make_request("SUBSCRIBE", "sip:101@office.test", via="SIP/2.0/UDP 127.0.0.1:5062;"
                        "branch=z9hG4bK-s", from_="<sip:101@office.test>;tag=phone",
                        to="<sip:101@office.test>", call_id="sub-1", cseq=1,
                        contact="<sip:101@127.0.0.1:5062>",
                        headers=[("Record-Route", "<sip:10.0.0.1;lr>")])


def test_the_notify_of_a_subscription_round_trips() -> None:
    dialog = Dialog.uas(_subscribe(), "box")
    summary = mwi.Summary.voice(1, 0, account="sip:101@office.test")
    first = mwi.notify(dialog, via="SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-n1",
                       contact="<sip:127.0.0.1:5060>", state="active", expires=3600,
                       event="message-summary;id=7", summary=summary)
    wire = parse(first.to_bytes())
    assert isinstance(wire, Request) and wire.method == "NOTIFY"
    assert str(wire.uri) == "sip:101@127.0.0.1:5062" and wire.call_id == "sub-1"
    assert wire.from_.tag == "box" and wire.to.tag == "phone"
    assert wire.headers.get("route") == "<sip:10.0.0.1;lr>"
    assert wire.headers.get("event") == "message-summary;id=7"
    assert wire.headers.get("subscription-state") == "active;expires=3600"
    assert wire.headers.get("contact") == "<sip:127.0.0.1:5060>"
    assert wire.headers.get("content-type") == mwi.CONTENT_TYPE
    assert mwi.parse_summary(wire.body) == summary
    last = mwi.notify(dialog, via="SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-n2",
                      contact="<sip:127.0.0.1:5060>", state="terminated", reason="timeout")
    wire = parse(last.to_bytes())
    assert isinstance(wire, Request) and wire.cseq.seq == first.cseq.seq + 1
    assert wire.headers.get("subscription-state") == "terminated;reason=timeout"
    assert wire.body == b"" and "content-type" not in wire.headers


def test_an_unsolicited_notify() -> None:
    request = mwi.unsolicited_notify(
        "sip:101@127.0.0.1:5062;transport=udp", via="SIP/2.0/UDP 127.0.0.1:5060;"
        "branch=z9hG4bK-u", from_="<sip:101@office.test>;tag=t", to="<sip:101@office.test>",
        call_id="u1@127.0.0.1", contact="<sip:127.0.0.1:5060>",
        summary=mwi.Summary.voice(3, 1, account="sip:101@office.test"))
    wire = parse(request.to_bytes())
    assert isinstance(wire, Request) and wire.to.tag is None
    assert wire.headers.get("event") == "message-summary"
    assert wire.headers.get("subscription-state") == "terminated"
    assert mwi.parse_summary(wire.body).voice_counts == mwi.Counts(3, 1)
