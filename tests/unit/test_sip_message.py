"""Unit tests of the SIP message codec (appliance.sip.message, .headers, .uri)."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.errors import SipParseError
from appliance.sip.headers import COMPACT_FORMS, Headers
from appliance.sip.message import (
    MAX_MESSAGE,
    NameAddr,
    Request,
    Response,
    SipUri,
    Via,
    make_request,
    make_response,
    parse,
    salvage,
)
from appliance.sip.uri import parse_uri
from appliance.sip.values import parse_name_addr, parse_via

DATA = Path(__file__).resolve().parents[1] / "data" / "sip"

BASE = [
    "OPTIONS sip:100@pbx.example.com SIP/2.0",
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1;rport",
    "Max-Forwards: 70",
    "From: <sip:101@pbx.example.com>;tag=a1",
    "To: <sip:100@pbx.example.com>",
    "Call-ID: c1@192.0.2.10",
    "CSeq: 1 OPTIONS",
]


def wire(*lines: str, body: bytes = b"") -> bytes:
    """Join header lines with CRLF, end the header section, append the body."""
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def with_headers(*extra: str, drop: str = "", body: bytes = b"") -> bytes:
    """BASE with the headers named in drop (comma-separated prefixes) removed, extra appended."""
    dropped = tuple(p for p in drop.split(",") if p)
    kept = [line for line in BASE if not (dropped and line.startswith(dropped))]
    return wire(*kept, *extra, body=body)


def req(data: bytes) -> Request:
    """Parse data and insist on a request."""
    message = parse(data)
    assert isinstance(message, Request)
    return message


def rejects(data: bytes, match: str | None = None) -> None:
    """Assert that parse raises SipParseError (whose text contains match)."""
    with pytest.raises(SipParseError, match=match):
        parse(data)


# --- header names, compact forms, folding -------------------------------------------------


@pytest.mark.parametrize(("short", "long"), sorted(COMPACT_FORMS.items()))
def test_compact_form_is_the_long_header(short: str, long: str) -> None:
    headers = Headers([(short.upper(), "x")])
    assert headers.get(long) == "x"
    assert headers.get(short) == "x"


def test_compact_forms_in_a_message_get_canonical_names() -> None:
    message = req(
        wire(
            "OPTIONS sip:100@pbx.example.com SIP/2.0",
            "v: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-1",
            "f: <sip:101@pbx.example.com>;tag=a1",
            "t: <sip:100@pbx.example.com>",
            "i: c1",
            "CSEQ: 1 OPTIONS",
            "m: <sip:101@192.0.2.10>",
            "k: path",
            "s: hi",
            "c: text/plain",
            "l: 2",
            body=b"ok",
        )
    )
    names = [name for name, _ in message.headers]
    assert names == [
        "Via",
        "From",
        "To",
        "Call-ID",
        "CSeq",
        "Contact",
        "Supported",
        "Subject",
        "Content-Type",
        "Content-Length",
    ]
    assert message.call_id == "c1"
    assert message.body == b"ok"
    assert b"\r\nCall-ID: c1\r\n" in message.to_bytes()


def test_header_names_are_case_insensitive_and_unknown_names_keep_their_case() -> None:
    message = req(with_headers("x-CUSTOM-thing: 1", "MAX-forwards: 5", drop="Max-Forwards"))
    assert message.headers.get("X-Custom-Thing") == "1"
    assert ("x-CUSTOM-thing", "1") in list(message.headers)
    assert message.max_forwards == 5
    assert ("Max-Forwards", "5") in list(message.headers)


def test_whitespace_before_colon_and_around_value() -> None:
    message = req(with_headers("Subject  :   spaced out  \t"))
    assert message.headers.get("subject") == "spaced out"


def test_folded_lines_are_unfolded_with_sp_and_htab() -> None:
    message = req(
        with_headers(
            "Subject: first",
            " second",
            "\tthird",
            "Contact:",
            "   <sip:101@192.0.2.10>",
            "  ;expires=60",
        )
    )
    assert message.headers.get("subject") == "first second third"
    assert message.contacts[0].expires == 60


def test_folding_inside_structured_values() -> None:
    message = req(
        with_headers(
            "CSeq: 0009", "  OPTIONS", "Via: SIP /", " 2.0/ TCP h2.example.com", drop="CSeq"
        )
    )
    assert message.cseq.seq == 9
    assert message.via[1].transport == "TCP"
    assert message.via[1].host == "h2.example.com"


def test_continuation_before_first_header_is_rejected() -> None:
    rejects(wire(BASE[0], " folded", *BASE[1:]), "folded")


@pytest.mark.parametrize(
    "line", ["NoColon", "Bad Name: x", ": empty name", "Näme: x", "Sub\x00ject: x"]
)
def test_bad_header_lines_are_rejected(line: str) -> None:
    rejects(with_headers(line))


# --- list headers ------------------------------------------------------------------------


def test_list_headers_split_on_commas() -> None:
    message = req(
        with_headers(
            "Via: SIP/2.0/TCP a.example.com;branch=z9hG4bK-2, SIP/2.0/UDP b.example.com",
            "Allow: INVITE, ACK,CANCEL ,BYE",
            "Supported: replaces, timer",
            "Require: 100rel",
            "Accept: application/sdp, text/plain",
        )
    )
    assert [via.host for via in message.via] == ["192.0.2.10", "a.example.com", "b.example.com"]
    assert message.tokens("allow") == ["INVITE", "ACK", "CANCEL", "BYE"]
    assert message.tokens("k") == ["replaces", "timer"]
    assert message.tokens("require") == ["100rel"]
    assert message.headers.get_all("accept") == ["application/sdp", "text/plain"]


def test_commas_inside_quotes_and_angle_brackets_never_split() -> None:
    message = req(
        with_headers(
            'Contact: "Doe, John" <sip:jd,x@192.0.2.7?Subject=a%2Cb>;q=0.5, '
            '<sip:x@192.0.2.8>;+sip.instance="<urn:a,b>"'
        )
    )
    first, second = message.contacts
    assert first.display_name == "Doe, John"
    assert first.uri.user == "jd,x"
    assert first.uri.headers == [("Subject", "a,b")]
    assert first.q == 0.5
    assert second.params["+sip.instance"] == '"<urn:a,b>"'


@pytest.mark.parametrize(
    "name",
    [
        "WWW-Authenticate",
        "Authorization",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "Date",
        "Subject",
        "User-Agent",
        "Server",
        "Warning",
        "X-Unknown",
        "Organization",
    ],
)
def test_headers_with_literal_commas_stay_whole(name: str) -> None:
    value = 'Digest realm="a,b", nonce="n", qop=auth, x'
    message = req(with_headers(f"{name}: {value}"))
    assert message.headers.get_all(name) == [value]


def test_empty_element_in_a_list_is_rejected() -> None:
    rejects(with_headers("Supported: a,,b"), "empty")


def test_empty_list_header_is_kept() -> None:
    message = req(with_headers("Supported:"))
    assert message.headers.get_all("supported") == [""]
    assert message.tokens("supported") == []


def test_unterminated_quote_in_a_list_header_is_rejected() -> None:
    rejects(with_headers('Contact: "Joe <sip:joe@192.0.2.1>'), "unbalanced")


# --- name-addr / addr-spec -----------------------------------------------------------------


def test_quoted_display_name_with_escapes() -> None:
    addr = parse_name_addr(r'"J \"Bo\" \\ Doe" <sip:jd@example.com>;tag=9')
    assert addr.display_name == 'J "Bo" \\ Doe'
    assert addr.tag == "9"
    assert parse_name_addr(str(addr)) == addr


def test_token_display_name_and_missing_lws() -> None:
    assert parse_name_addr("A. Bell <sip:a@example.com>").display_name == "A. Bell"
    assert parse_name_addr("caller<sip:a@example.com>").display_name == "caller"
    assert parse_name_addr("<sip:a@example.com>").display_name is None


def test_addr_spec_parameters_belong_to_the_header() -> None:
    bare = parse_name_addr("sip:+19725552222@gw1.example.net;unknownparam;tag=x")
    assert bare.uri.params == {}
    assert bare.params == {"unknownparam": None, "tag": "x"}
    bracketed = parse_name_addr("<sip:+19725552222@gw1.example.net;unknownparam>")
    assert bracketed.uri.params == {"unknownparam": None}
    assert bracketed.params == {}
    # Serialising always brackets, so the URI parameter stays a URI parameter.
    assert str(bracketed) == "<sip:+19725552222@gw1.example.net;unknownparam>"


def test_header_params_with_whitespace_and_quoted_values() -> None:
    addr = parse_name_addr('<sip:a@example.com> ; tag = x1 ; q=1.0 ; note="a;b"')
    assert addr.params == {"tag": "x1", "q": "1.0", "note": '"a;b"'}
    assert addr.q == 1.0


@pytest.mark.parametrize(
    "text",
    [
        '"unterminated <sip:a@example.com>',
        "Bell, Alexander <sip:a@example.com>",
        "< sip:a@example.com >",
        "<sip:a@example.com",
        "sip:a@example.com?Route=x",
        "<sip:a@example.com>;;",
        "<sip:a@example.com>;tag=1;tag=2",
        "<sip:a@example.com> junk",
        '"name" sip:a@example.com',
        "",
    ],
)
def test_bad_name_addr_is_rejected(text: str) -> None:
    with pytest.raises(SipParseError):
        parse_name_addr(text)


def test_route_needs_brackets() -> None:
    rejects(with_headers("Route: sip:p1.example.com;lr"), "<>")
    message = req(with_headers("Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>"))
    assert [r.uri.host for r in message.routes] == ["p1.example.com", "p2.example.com"]


def test_contact_star() -> None:
    message = req(with_headers("Contact: *", "Expires: 0"))
    assert message.contact_wildcard
    assert message.contacts == []
    assert message.expires == 0
    rejects(with_headers("Contact: *", "Contact: <sip:a@192.0.2.1>"), "stand alone")


def test_contact_expires_and_q() -> None:
    message = req(with_headers("Contact: <sip:a@192.0.2.1>;expires=99999999999999;q=0.25"))
    assert message.contacts[0].expires == 2**32 - 1
    assert message.contacts[0].q == 0.25
    rejects(with_headers("Contact: <sip:a@192.0.2.1>;q=2"), "q")
    rejects(with_headers("Contact: <sip:a@192.0.2.1>;expires=soon"), "expires")


# --- URIs --------------------------------------------------------------------------------


def test_sip_uri_parts() -> None:
    uri = parse_uri(
        "SIPS:alice:secret@Example.COM:5061;transport=TCP;lr?Subject=hi&Priority=urgent"
    )
    assert uri == SipUri(
        scheme="sips",
        user="alice",
        password="secret",
        host="Example.COM",
        port=5061,
        params={"transport": "TCP", "lr": None},
        headers=[("Subject", "hi"), ("Priority", "urgent")],
    )
    assert parse_uri(str(uri)) == uri


def test_ipv6_references() -> None:
    uri = parse_uri("sip:101@[2001:db8::1]:5070;maddr=[2001:db8::2]")
    assert (uri.host, uri.port, uri.params["maddr"]) == ("2001:db8::1", 5070, "[2001:db8::2]")
    assert str(uri) == "sip:101@[2001:db8::1]:5070;maddr=[2001:db8::2]"
    assert parse_uri("sip:[::1]").port is None


@pytest.mark.parametrize(
    "text",
    [
        "sip:[::1",
        "sip:[::zz]",
        "sip:[fe80::1%25eth0]",
        "sip:[::1]5060",
        "sip:host:",
        "sip:host:99999",
        "sip:host:-1",
        "sip:-bad-.example.com",
        "sip:",
        "sip:@host",
        "sip:a b@host",
        "sip:host;;x",
        "sip:host;x=",
        "sip:host?novalue",
        "sip:a:b:c@host",
        "<sip:host>",
        "1sip:host",
        "sip:%FF@host",
        "sip:%zz@host",
        "tel:",
        "tel:abc+",
        "http:",
        "http:a b",
        "sip:host;x=1;X=2",
    ],
)
def test_bad_uris_are_rejected(text: str) -> None:
    with pytest.raises(SipParseError):
        parse_uri(text)


def test_escapes_are_decoded_once_and_where_allowed() -> None:
    uri = parse_uri("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31?h%61=%3Cx%3E")
    assert uri.user == "caller"
    assert uri.params == {"lr": None, "name": "value%41"}
    assert uri.headers == [("ha", "<x>")]
    assert str(uri) == "sip:caller@host5.example.net;lr;name=value%2541?ha=%3Cx%3E"


def test_escaped_nul_does_not_truncate() -> None:
    one, two = parse_uri("sip:%00@h.example.com"), parse_uri("sip:%00%00@h.example.com")
    assert (one.user, two.user) == ("\x00", "\x00\x00")
    assert parse_uri("sip:null-%00-null@example.com").user == "null-\x00-null"
    assert str(one) == "sip:%00@h.example.com"


def test_user_part_may_hold_semicolons_and_escaped_at() -> None:
    uri = parse_uri("sip:user;par=u%40example.net@example.com")
    assert (uri.user, uri.host, uri.params) == ("user;par=u@example.net", "example.com", {})
    assert str(uri) == "sip:user;par=u%40example.net@example.com"


def test_utf8_escapes_and_reescaping() -> None:
    uri = parse_uri("sip:M%C3%BCller@example.com")
    assert uri.user == "Müller"
    assert str(uri) == "sip:M%C3%BCller@example.com"
    assert str(SipUri(user="a b@c", host="h")) == "sip:a%20b%40c@h"


def test_tel_and_other_schemes() -> None:
    tel = parse_uri("tel:+1-201-555-0123;phone-context=example.com")
    assert (tel.scheme, tel.user, tel.params) == (
        "tel",
        "+1-201-555-0123",
        {"phone-context": "example.com"},
    )
    assert str(tel) == "tel:+1-201-555-0123;phone-context=example.com"
    other = parse_uri("soap.beep://192.0.2.103:3002")
    assert (other.scheme, other.opaque, other.is_sip) == ("soap.beep", "//192.0.2.103:3002", False)
    assert str(parse_uri("isbn:2983792873")) == "isbn:2983792873"


def test_request_uri_with_headers_is_rejected() -> None:
    rejects(
        wire("OPTIONS sip:100@pbx.example.com?Route=%3Csip:x%3E SIP/2.0", *BASE[1:]), "Request-URI"
    )


# --- Via -----------------------------------------------------------------------------------


def test_via_parts_and_params() -> None:
    via = parse_via(
        "SIP / 2.0 / udp [2001:db8::9] : 5062 ; branch=z9hG4bKx ;rport;received=192.0.2.1"
    )
    assert via == Via(
        "UDP", "2001:db8::9", 5062, {"branch": "z9hG4bKx", "rport": None, "received": "192.0.2.1"}
    )
    assert (via.branch, via.received, via.rport, "rport" in via.params) == (
        "z9hG4bKx",
        "192.0.2.1",
        None,
        True,
    )
    assert parse_via("SIP/2.0/TCP h;rport=5060").rport == 5060
    assert str(via) == "SIP/2.0/UDP [2001:db8::9]:5062;branch=z9hG4bKx;rport;received=192.0.2.1"
    assert parse_via("SIP/2.0/UNKNOWN t4.example.com").transport == "UNKNOWN"


@pytest.mark.parametrize(
    "text",
    [
        "SIP/2.0/UDP",
        "SIP/2.0 192.0.2.1",
        "SIP/2.0/UDP 192.0.2.1;branch",
        "SIP/2.0/UDP h;received=x",
        "SIP/2.0/UDP h;rport=99999",
        "SIP/2.0/UDP h:99999",
        "SIP/2.0/UDP h junk",
        "SIP/2.0/UDP h;;",
    ],
)
def test_bad_via_is_rejected(text: str) -> None:
    with pytest.raises(SipParseError):
        parse_via(text)


# --- scalar headers ------------------------------------------------------------------------


def test_cseq_range_and_method() -> None:
    top = req(with_headers("CSeq: 2147483647 OPTIONS", drop="CSeq"))
    assert top.cseq.seq == 2**31 - 1
    assert req(with_headers("CSeq: 0 OPTIONS", drop="CSeq")).cseq.seq == 0
    rejects(with_headers("CSeq: 2147483648 OPTIONS", drop="CSeq"), "range")
    rejects(with_headers("CSeq: 1 INVITE", drop="CSeq"), "CSeq method")
    rejects(with_headers("CSeq: -1 OPTIONS", drop="CSeq"), "CSeq")
    rejects(with_headers("CSeq: 1", drop="CSeq"), "CSeq")


def test_max_forwards() -> None:
    assert req(with_headers("Max-Forwards: 0", drop="Max-Forwards")).max_forwards == 0
    assert req(with_headers(drop="Max-Forwards")).max_forwards is None
    rejects(with_headers("Max-Forwards: 256", drop="Max-Forwards"), "range")
    rejects(with_headers("Max-Forwards: 1", drop=""), "repeated")


def test_mandatory_headers() -> None:
    for name in ("Via", "From", "To", "Call-ID", "CSeq"):
        rejects(with_headers(drop=name), f"missing {name}")
    for line in ("From: <sip:x@y>;tag=2", "To: <sip:x@y>", "Call-ID: other", "CSeq: 1 OPTIONS"):
        rejects(with_headers(line), "repeated")
    rejects(with_headers("Call-ID: has space", drop="Call-ID"), "Call-ID")
    # Outside RFC 3261's "word" characters, but seen from real UAs and harmless.
    assert req(with_headers("Call-ID: YWJj==#1@host", drop="Call-ID")).call_id == "YWJj==#1@host"


def test_expires_and_content_type() -> None:
    message = req(
        with_headers(
            "Expires: 10000000000000000000000", "Content-Type: Text/Plain;charset=utf-8", body=b""
        )
    )
    assert message.expires == 2**32 - 1
    content_type = message.content_type
    assert content_type is not None
    assert (content_type.type, content_type.subtype, content_type.params) == (
        "text",
        "plain",
        {"charset": "utf-8"},
    )
    rejects(with_headers("Expires: Thu, 01 Dec 1994 16:00:00 GMT"), "Expires")
    rejects(with_headers("Content-Type: sdp"), "media type")


# --- start line ----------------------------------------------------------------------------


def test_response_status_line() -> None:
    message = parse(wire("SIP/2.0 180 Ringing", *BASE[1:]))
    assert isinstance(message, Response)
    assert (message.status, message.reason) == (180, "Ringing")
    empty = parse(wire("SIP/2.0 100 ", *BASE[1:]))
    assert isinstance(empty, Response)
    assert empty.reason == ""
    utf8 = parse(wire("SIP/2.0 200 Très bien", *BASE[1:]))
    assert isinstance(utf8, Response)
    assert utf8.reason == "Très bien"


@pytest.mark.parametrize(
    "line",
    [
        "SIP/2.0 100",
        "SIP/2.0 099 Low",
        "SIP/2.0 700 High",
        "SIP/2.0 2000 OK",
        "SIP/2.0 2O0 OK",
        "SIP/2.0 ٢٠٠ OK",
        "SIP/2.0  200 OK",
        "SIP/2.0 200 O\x01K",
        "SIP/3.0 200 OK",
        "SIP/2 200 OK",
        "HTTP/1.1 200 OK",
    ],
)
def test_bad_status_lines(line: str) -> None:
    rejects(wire(line, *BASE[1:]))


@pytest.mark.parametrize(
    "line",
    [
        "OPTIONS  sip:100@pbx.example.com SIP/2.0",
        "OPTIONS sip:100@pbx.example.com SIP/2.0 ",
        "OPTIONS <sip:100@pbx.example.com> SIP/2.0",
        "OPTIONS sip:100@pbx.example.com",
        "OPTIONS sip:100@pbx.example.com SIP/7.0",
        "OPT\x00IONS sip:100@pbx.example.com SIP/2.0",
        "OPTIONS sip:100@pbx.example.com; lr SIP/2.0",
        "",
    ],
)
def test_bad_request_lines(line: str) -> None:
    rejects(wire(line, *BASE[1:]))


def test_version_is_case_insensitive_and_leading_crlfs_are_skipped() -> None:
    message = req(b"\r\n\r\n" + wire("OPTIONS sip:100@pbx.example.com sip/2.0", *BASE[1:]))
    assert message.version == "SIP/2.0"


def test_unknown_method_parses() -> None:
    message = req(
        wire("RE%47IST%45R sip:r.example.com SIP/2.0", *BASE[1:6], "CSeq: 3 RE%47IST%45R")
    )
    assert message.method == "RE%47IST%45R"


# --- line endings, encoding, size ----------------------------------------------------------


def test_bare_lf_and_cr_in_the_header_section_are_rejected() -> None:
    rejects(with_headers().replace(b"\r\n", b"\n"))
    rejects(with_headers("Subject: a\rb"), "bare CR")
    rejects(with_headers("Subject: a\nb"), "bare")


def test_header_text_must_be_utf8_and_free_of_controls() -> None:
    rejects(with_headers().replace(b"Call-ID: c1", b"Call-ID: c\xff1"), "UTF-8")
    rejects(with_headers("Subject: bell\x07"), "control")
    message = req(with_headers('To: "BEL:\\\x07 NUL:\\\x00" <sip:100@pbx.example.com>', drop="To"))
    assert message.to.display_name == "BEL:\x07 NUL:\x00"


def test_size_limit() -> None:
    padding = "Subject: " + "x" * (MAX_MESSAGE - len(with_headers()) - 11)
    exact = with_headers(padding)
    assert len(exact) == MAX_MESSAGE
    assert parse(exact)
    rejects(with_headers(padding + "x"), "too large")
    assert parse(with_headers(padding + "x"), max_size=MAX_MESSAGE + 1)
    with pytest.raises(SipParseError, match="too large"):
        parse(with_headers(), max_size=10)


# --- bodies and framing --------------------------------------------------------------------


def test_body_framed_by_content_length_and_trailing_octets_ignored() -> None:
    message = req(with_headers("Content-Length: 4", body=b"\x00\r\n\nTRAILING"))
    assert message.body == b"\x00\r\n\n"
    assert message.content_length == 4


def test_body_without_content_length_runs_to_end_of_datagram() -> None:
    message = req(with_headers(body=b"v=0\r\n"))
    assert message.body == b"v=0\r\n"
    assert message.content_length is None
    assert message.to_bytes().endswith(b"\r\nContent-Length: 5\r\n\r\nv=0\r\n")


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("Content-Length: 9999", "Content-Length"),
        ("Content-Length: -1", "Content-Length"),
        ("Content-Length: 1, 1", "Content-Length"),
        ("Content-Length: 0x2", "Content-Length"),
        ("Content-Length: " + "0" * 4000 + "9" * 5000, "Content-Length"),
    ],
)
def test_bad_content_length(line: str, match: str) -> None:
    rejects(with_headers(line, body=b"abc"), match)


def test_duplicate_content_length_is_rejected() -> None:
    rejects(with_headers("Content-Length: 3", "l: 3", body=b"abc"), "repeated")


def test_stream_framing_rules() -> None:
    exact = with_headers("Content-Length: 3", body=b"abc")
    assert parse(exact, datagram=False).body == b"abc"
    rejects_stream = [with_headers("Content-Length: 2", body=b"abc"), with_headers(body=b"abc")]
    for data in rejects_stream:
        with pytest.raises(SipParseError):
            parse(data, datagram=False)
    assert parse(with_headers(), datagram=False).body == b""


# --- serialisation -------------------------------------------------------------------------


def test_to_bytes_canonical_and_round_trip() -> None:
    data = wire(
        "INVITE sip:%31%30%30@pbx.example.com;transport=udp SIP/2.0",
        "v: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-1, SIP/2.0/TCP 192.0.2.11;branch=z9hG4bK-2",
        "max-forwards: 70",
        'f: "Alice" <sip:101@pbx.example.com>;tag=a1',
        "t: sip:100@pbx.example.com",
        "i: c1",
        "cseq: 1 INVITE",
        "CONTENT-TYPE: application/sdp",
        "l: 3",
        body=b"v=0EXTRA",
    )
    message = req(data)
    out = message.to_bytes()
    assert out.startswith(b"INVITE sip:100@pbx.example.com;transport=udp SIP/2.0\r\nVia: SIP")
    assert b"\r\nMax-Forwards: 70\r\n" in out
    assert b"\r\nContent-Length: 3\r\n\r\nv=0" in out
    assert out.endswith(b"\r\n\r\nv=0")
    assert out.count(b"\r\nVia: ") == 2
    assert parse(out) == message
    assert parse(out) != parse(out.replace(b"tag=a1", b"tag=a2"))
    assert parse(out) != parse(out[:-1] + b"1")


def test_to_bytes_computes_content_length() -> None:
    message = req(with_headers("Content-Length: 0"))
    message.body = b"hello"
    assert message.to_bytes().endswith(b"Content-Length: 5\r\n\r\nhello")
    message.headers.remove("content-length")
    assert message.to_bytes().endswith(b"Content-Length: 5\r\n\r\nhello")


def test_to_bytes_refuses_crlf_in_start_line() -> None:
    response = Response(200, "OK\r\nVia: injected")
    with pytest.raises(ValueError, match="CR or LF"):
        response.to_bytes()


def test_escaped_crlf_in_uri_is_reescaped_on_output() -> None:
    message = req(wire("OPTIONS sip:a%0D%0AVia%3A%20x@pbx.example.com SIP/2.0", *BASE[1:]))
    assert message.uri.user == "a\r\nVia: x"
    assert message.to_bytes().startswith(
        b"OPTIONS sip:a%0D%0AVia%3A%20x@pbx.example.com SIP/2.0\r\n"
    )


# --- Headers container ---------------------------------------------------------------------


def test_headers_container_api() -> None:
    headers = Headers([("Via", "SIP/2.0/UDP a;branch=z9hG4bK1"), ("To", "<sip:a@b>")])
    headers.prepend("v", "SIP/2.0/UDP proxy;branch=z9hG4bK2")
    headers.add("Route", "<sip:p1;lr>, <sip:p2;lr>")
    assert headers.get_all("via")[0].startswith("SIP/2.0/UDP proxy")
    assert headers.get_all("route") == ["<sip:p1;lr>", "<sip:p2;lr>"]
    assert headers.remove_first("via") == "SIP/2.0/UDP proxy;branch=z9hG4bK2"
    assert headers.remove_first("x-none") is None
    headers.set("to", "<sip:c@d>")
    assert list(headers)[1] == ("To", "<sip:c@d>")
    assert "TO" in headers
    assert "From" not in headers
    assert len(headers) == 4
    copied = headers.copy()
    assert copied == headers
    copied.add("X-A", "1")
    assert copied != headers
    assert headers.remove("route") == 2
    headers.prepend("Record-Route", "<sip:rr;lr>")
    assert next(iter(headers)) == ("Record-Route", "<sip:rr;lr>")
    headers.add("Supported", "a, b", split=False)
    assert headers.get_all("supported") == ["a, b"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Subject", "a\r\nVia: x"),
        ("Subject", "a\nb"),
        ("Bad Name", "x"),
        ("Subject", "bell\x07"),
        ("Contact", '"unterminated <sip:a@b>'),
    ],
)
def test_headers_refuse_injection_and_bad_values(name: str, value: str) -> None:
    with pytest.raises(ValueError, match="bad"):
        Headers().add(name, value)


# --- building messages ---------------------------------------------------------------------


def test_make_response_copies_per_rfc3261_8_2_6() -> None:
    request = req(
        wire(
            "INVITE sip:100@pbx.example.com SIP/2.0",
            "Via: SIP/2.0/UDP p1.example.com;branch=z9hG4bK-p1,"
            " SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-1",
            "Max-Forwards: 69",
            "From: Alice <sip:101@pbx.example.com>;tag=a1",
            "To: sip:100@pbx.example.com",
            "Call-ID: c1@192.0.2.10",
            "CSeq: 7 INVITE",
            "Timestamp: 54",
            "Contact: <sip:101@192.0.2.10>",
        )
    )
    trying = make_response(request, 100)
    assert (trying.status, trying.reason) == (100, "Trying")
    assert trying.headers.get("timestamp") == "54"
    assert trying.to.tag is None
    ringing = make_response(
        request, 180, to_tag="b7", headers=[("Contact", "<sip:100@192.0.2.20>")]
    )
    assert ringing.headers.get_all("via") == request.headers.get_all("via")
    assert ringing.headers.get("from") == request.headers.get("from")
    assert ringing.headers.get("to") == "sip:100@pbx.example.com;tag=b7"
    assert ringing.to.tag == "b7"
    assert ringing.headers.get("timestamp") is None
    assert ringing.call_id == "c1@192.0.2.10"
    assert str(ringing.cseq) == "7 INVITE"
    assert ringing.contacts[0].uri.user == "100"
    parsed = parse(ringing.to_bytes())
    assert parsed == ringing
    assert make_response(request, 486, "Busy", body=b"").reason == "Busy"
    assert make_response(request, 499).reason == "Client Error"


def test_make_response_keeps_an_existing_to_tag() -> None:
    request = req(with_headers("To: <sip:100@pbx.example.com>;tag=dialog", drop="To"))
    assert make_response(request, 200, to_tag="new").to.tag == "dialog"


@pytest.mark.parametrize(("status", "tag"), [(99, None), (700, None), (200, "bad tag")])
def test_make_response_refuses_bad_arguments(status: int, tag: str | None) -> None:
    with pytest.raises(ValueError, match="must"):
        make_response(req(with_headers()), status, to_tag=tag)


def test_make_request_builds_a_valid_request() -> None:
    request = make_request(
        "NOTIFY",
        "sip:101@192.0.2.10:5062",
        via=Via("UDP", "192.0.2.1", 5060, {"branch": "z9hG4bK-n1", "rport": None}),
        from_=NameAddr(parse_uri("sip:pbx@192.0.2.1"), "Appliance", {"tag": "f1"}),
        to="<sip:101@192.0.2.10>",
        call_id="n1@192.0.2.1",
        cseq=1,
        headers=[("Event", "check-sync"), ("Subscription-State", "terminated;reason=timeout")],
        body=b"http://192.0.2.1/prov",
        content_type="application/url",
    )
    request.validate()
    assert request.cseq.method == "NOTIFY"
    assert request.from_.display_name == "Appliance"
    parsed = parse(request.to_bytes())
    assert parsed == request
    assert isinstance(parsed, Request)
    assert parsed.body == b"http://192.0.2.1/prov"


def test_copy_is_independent() -> None:
    request = req(with_headers())
    twin = request.copy()
    twin.headers.prepend("Via", "SIP/2.0/UDP proxy;branch=z9hG4bK-x")
    twin.uri.params["lr"] = None
    assert len(request.via) == 1
    assert "lr" not in request.uri.params
    response = make_response(request, 200).copy()
    assert response.status == 200


# --- salvage -------------------------------------------------------------------------------


def test_salvage_recovers_enough_to_answer_400() -> None:
    data = wire(
        "INVITE  <sip:100@pbx.example.com>  SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.15;;,;,,",
        "From: <sip:101@pbx.example.com>;tag=a1",
        "To: Bell, Alexander <sip:100@pbx.example.com>",
        "Call-ID: c1",
        "CSeq: 8 INVITE",
        "Content-Length: 9999",
    )
    with pytest.raises(SipParseError):
        parse(data)
    request = salvage(data)
    assert request is not None
    assert request.method == "INVITE"
    assert request.uri.host == "pbx.example.com"
    response = make_response(request, 400, to_tag="t1")
    out = response.to_bytes()
    assert out.startswith(b"SIP/2.0 400 Bad Request\r\nVia: SIP/2.0/UDP 192.0.2.15;;,;,,\r\n")
    assert b"\r\nTo: Bell, Alexander <sip:100@pbx.example.com>;tag=t1\r\n" in out


def test_salvage_returns_none_when_nothing_can_be_answered() -> None:
    assert salvage(wire("SIP/2.0 200 OK", *BASE[1:])) is None
    assert salvage(with_headers(drop="Via")) is None
    assert salvage(b"") is None
    assert salvage(b"\xff\xfe garbage") is None
    assert salvage(wire("OPTIONS sip:x", *BASE[1:])) is None


def test_salvage_keeps_the_version_for_a_505() -> None:
    request = salvage(wire("OPTIONS <bad uri> SIP/7.0", *BASE[1:]))
    assert request is not None
    assert request.version == "SIP/7.0"
    assert str(request.uri) == "sip:invalid"


# --- tests/data/sip --------------------------------------------------------------------------


def data_files(prefix: str) -> list[Path]:
    """The .dat files in tests/data/sip whose names start with prefix."""
    return sorted(DATA.glob(f"{prefix}*.dat"))


def test_every_data_file_has_a_known_prefix() -> None:
    names = [path.name for path in DATA.glob("*.dat")]
    assert names
    assert all(name.startswith(("ok_", "bad_", "fuzz_")) for name in names)


@pytest.mark.parametrize("path", data_files("ok_"), ids=lambda p: p.stem)
def test_ok_data_files_parse_and_round_trip(path: Path) -> None:
    message = parse(path.read_bytes())
    assert parse(message.to_bytes()) == message


@pytest.mark.parametrize("path", data_files("bad_"), ids=lambda p: p.stem)
def test_bad_data_files_are_rejected(path: Path) -> None:
    with pytest.raises(SipParseError):
        parse(path.read_bytes())


def test_golden_register_ipv6() -> None:
    message = req((DATA / "ok_register_ipv6.dat").read_bytes())
    assert message.uri.host == "2001:db8::1"
    assert message.via[0].host == "2001:db8::10"
    assert message.via[0].port == 5062
    contacts = message.contacts
    assert [c.uri.port for c in contacts] == [5062, 5062]
    assert [c.q for c in contacts] == [0.7, 1.0]
    assert contacts[0].expires == 3600
    assert (
        contacts[1].params["+sip.instance"] == '"<urn:uuid:00000000-0000-1000-8000-0004f2000001>"'
    )
    assert message.tokens("supported") == ["path", "outbound"]


def test_golden_pnp_subscribe() -> None:
    message = req((DATA / "ok_pnp_subscribe.dat").read_bytes())
    assert message.uri.user == "MAC:001565F4F9E1"
    assert message.expires == 0
    assert message.headers.get("event") is not None
    assert message.headers.get("user-agent") == "Yealink SIP-T46U 108.86.0.90 00:15:65:f4:f9:e1"


def test_golden_401_keeps_challenges_whole() -> None:
    message = parse((DATA / "ok_response_401.dat").read_bytes())
    assert isinstance(message, Response)
    challenges = message.headers.get_all("www-authenticate")
    assert len(challenges) == 2
    assert 'nonce="abc,def"' in challenges[0]
    assert message.via[0].received == "192.0.2.10"
    assert message.via[0].rport == 5060


def test_golden_binary_body() -> None:
    message = req((DATA / "ok_invite_tel_binary_body.dat").read_bytes())
    assert message.uri.scheme == "tel"
    assert message.body == b"\x00\r\n\n\r\x00\xff\xfe"
    assert [r.uri.host for r in message.routes] == ["p1.example.com", "p2.example.com"]
