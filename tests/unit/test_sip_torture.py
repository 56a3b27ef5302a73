"""The 49 RFC 4475 torture messages against the codec, each with an explicit expectation.

The bytes live in ../shared/testdata/rfc4475 (never copied into the repository). Every file
there must have a row below, so a new file fails instead of being accepted silently.

Where RFC 4475 lets an element choose between rejecting and repairing, the codec rejects,
except for baddate (the appliance never uses Date, so the header stays an opaque value).
"Parses" rows of RFC 4475 §3.3 whose required headers are missing or repeated (insuf,
multi01, mcl01) are rejected by ``parse`` (which validates); ``salvage`` still recovers the
request so that the daemon can answer 400.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from appliance.errors import SipParseError
from appliance.sip.message import Request, Response, make_response, parse, salvage

TORTURE = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "rfc4475"
if not TORTURE.is_dir():
    pytest.skip("../shared/testdata/rfc4475 not found", allow_module_level=True)

Message = Request | Response
ACCEPT = "accept"

# name -> ACCEPT, or the text the SipParseError must contain. Comments give the RFC choice.
EXPECT: dict[str, str] = {
    # 3.1.1 valid messages
    "wsinv": ACCEPT,
    "intmeth": ACCEPT,
    "esc01": ACCEPT,
    "escnull": ACCEPT,
    "esc02": ACCEPT,
    "lwsdisp": ACCEPT,  # no LWS before "<" is accepted, as RFC 4475 asks
    "longreq": ACCEPT,
    "dblreq": ACCEPT,  # trailing octets after the zero-length body ignored
    "semiuri": ACCEPT,
    "transports": ACCEPT,
    "mpart01": ACCEPT,
    "unreason": ACCEPT,
    "noreason": ACCEPT,
    # 3.1.2 syntax errors
    "badinv01": "empty element",
    "clerr": "Content-Length",  # UDP: 400; on a stream the framing layer waits instead
    "ncl": "Content-Length",
    "scalar02": "CSeq number out of range",
    "scalarlg": "CSeq number out of range",  # a response: dropped
    "quotbal": "display name",  # strict: no inferred closing quote
    "ltgtruri": "URI",  # strict: brackets not ignored
    "lwsruri": "request line",  # strict
    "lwsstart": "request line",  # strict: extra SPs are an error
    "trws": "request line",  # strict: trailing SPs are an error
    "escruri": "headers in Request-URI",  # strict: 400 rather than dropping the headers
    "baddate": ACCEPT,  # lenient: Date is opaque here, never interpreted
    "regbadct": "must be in <>",  # strict: brackets not inferred
    "badaspec": "URI",  # strict: spaces inside <> are an error
    "baddn": "no empty line",  # as archived it lacks the final CRLF; see the completed test
    "badvers": "unsupported version",  # salvage keeps the version for a 505
    "mismatch01": "CSeq method",
    "mismatch02": "CSeq method",  # 400 via salvage; a UAS may prefer 501 for NEWMETHOD
    "bigcode": "bad status line",  # a response: dropped
    # 3.2 transaction layer
    "badbranch": ACCEPT,  # syntactically valid; matching is the transaction layer's choice
    # 3.3 application layer
    "insuf": "missing",  # missing Call-ID, From, To: validate() rejects, salvage answers 400
    "unkscm": ACCEPT,
    "novelsc": ACCEPT,
    "unksm2": ACCEPT,  # the registrar, not the codec, refuses non-SIP AORs
    "bext01": ACCEPT,
    "invut": ACCEPT,
    "regaut01": ACCEPT,
    "multi01": "repeated",
    "mcl01": "repeated Content-Length",
    "bcast": ACCEPT,
    "zeromf": ACCEPT,
    "cparam01": ACCEPT,
    "cparam02": ACCEPT,
    "regescrt": ACCEPT,
    "sdp01": ACCEPT,
    # 3.4 backward compatibility
    "inv2543": ACCEPT,  # no Max-Forwards, branch, From tag or Content-Length: accepted
}


def load(name: str) -> bytes:
    """The exact bytes of one torture message."""
    return (TORTURE / f"{name}.dat").read_bytes()


def fact_wsinv(m: Message) -> None:
    assert isinstance(m, Request)
    assert (m.uri.user, m.uri.params) == ("vivekg", {"unknownparam": None})
    assert [v.transport for v in m.via] == ["UDP", "TCP", "UDP"]
    assert [v.branch for v in m.via] == ["390skdjuw", "z9hG4bK9ikj8", "z9hG4bK30239"]
    assert (m.max_forwards, m.cseq.seq, m.cseq.method) == (68, 9, "INVITE")
    assert m.from_.display_name == 'J Rosenberg \\"'
    assert (m.from_.tag, m.to.tag) == ("98asjd8", "1918181833n")
    contact = m.contacts[0]
    assert contact.display_name == 'Quoted string ""'
    assert contact.params == {"newparam": "newvalue", "secondparam": None, "q": "0.33"}
    assert m.headers.get("newfangledheader") == "newfangled value continued newfangled value"
    assert m.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    assert m.headers.get("subject") == ""
    assert m.routes[0].uri.params == {"lr": None, "unknownwith": "value", "unknown-no-value": None}
    assert len(m.body) == 150


def fact_intmeth(m: Message) -> None:
    assert isinstance(m, Request)
    assert m.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert m.cseq.method == m.method
    assert m.uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert m.uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert m.to.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert m.from_.display_name == "token1~` token2'+_ token3*%!.-"
    assert m.from_.tag == "_token~1'+`*%!-."
    assert m.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert m.headers.get("extensionHeader-!.%*+_`'~") == "\ufeff\u5927\u505c\u96fb"


def fact_esc01(m: Message) -> None:
    assert isinstance(m, Request)
    assert m.uri.user == "sips:user@example.com"
    assert m.to.uri.user == "user"
    assert m.from_.uri.user == "I have spaces"
    contact = m.contacts[0]
    assert contact.uri.user == "caller"
    assert contact.uri.params == {"lr": None, "name": "value%41"}


def fact_escnull(m: Message) -> None:
    assert m.to.uri.user == "null-\x00-null"
    assert [c.uri.user for c in m.contacts] == ["\x00", "\x00\x00"]


def fact_esc02(m: Message) -> None:
    assert isinstance(m, Request)
    assert m.method == "RE%47IST%45R"
    assert [c.uri.host for c in m.contacts] == ["host1.example.com", "host3.example.com"]
    assert m.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"
    assert m.to.display_name == "%Z%45"
    assert m.via[0].branch == "z9hG4bK209%fzsnel234"


def fact_lwsdisp(m: Message) -> None:
    assert m.from_.display_name == "caller"
    assert m.from_.tag == "323"


def fact_longreq(m: Message) -> None:
    assert len(m.via) == 34
    assert m.via[0].host == "sip33.example.com"
    assert m.via[-1].received == "192.0.2.5"
    assert m.to.uri.port == 6000
    assert len(m.to.uri.params) == 3
    assert m.from_.tag is not None
    assert len(m.from_.tag) == 155
    assert len(m.body) == 150


def fact_dblreq(m: Message) -> None:
    assert isinstance(m, Request)
    assert m.method == "REGISTER"
    assert (m.body, m.content_length) == (b"", 0)
    assert m.call_id == "dblreq.0ha0isndaksdj99sdfafnl3lk233412"


def fact_semiuri(m: Message) -> None:
    assert isinstance(m, Request)
    assert (m.uri.user, m.uri.host, m.uri.params) == ("user;par=u@example.net", "example.com", {})
    assert len(m.headers.get_all("accept")) == 6


def fact_transports(m: Message) -> None:
    assert [v.transport for v in m.via] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]


def fact_mpart01(m: Message) -> None:
    assert m.content_length == 553
    assert len(m.body) == 553
    assert b"\x00" in m.body
    assert m.body.endswith(b"--7a9cbec02ceef655--\r\n")
    content_type = m.content_type
    assert content_type is not None
    assert (content_type.type, content_type.subtype) == ("multipart", "mixed")
    assert content_type.params == {"boundary": "7a9cbec02ceef655"}
    assert "rport" in m.via[0].params
    assert m.via[0].rport is None


def fact_unreason(m: Message) -> None:
    assert isinstance(m, Response)
    assert m.status == 200
    assert m.reason.startswith("= 2**3 * 5**2 ")
    assert "\u043f\u0440\u043e\u0441\u0442\u043e\u0435" in m.reason


def fact_noreason(m: Message) -> None:
    assert isinstance(m, Response)
    assert (m.status, m.reason) == (100, "")


def fact_baddate(m: Message) -> None:
    assert m.headers.get("date") == "Fri, 01 Jan 2010 16:00:00 EST"


def fact_badbranch(m: Message) -> None:
    assert m.via[0].branch == "z9hG4bK"


def fact_unkscm(m: Message) -> None:
    assert isinstance(m, Request)
    uri = m.uri
    assert (uri.scheme, uri.opaque, uri.is_sip) == (
        "nobodyknowsthisscheme",
        "totallyopaquecontent",
        False,
    )


def fact_novelsc(m: Message) -> None:
    assert isinstance(m, Request)
    assert (m.uri.scheme, m.uri.opaque) == ("soap.beep", "//192.0.2.103:3002")


def fact_unksm2(m: Message) -> None:
    assert (m.to.uri.scheme, m.to.uri.opaque) == ("isbn", "2983792873")
    assert m.from_.uri.scheme == "http"
    assert m.contacts[0].uri.scheme == "name"


def fact_bext01(m: Message) -> None:
    assert m.tokens("require") == ["nothingSupportsThis", "nothingSupportsThisEither"]
    assert m.tokens("proxy-require") == ["noProxiesSupportThis", "norDoAnyProxiesSupportThis"]


def fact_invut(m: Message) -> None:
    content_type = m.content_type
    assert content_type is not None
    assert content_type.subtype == "unknownformat"
    assert len(m.body) == 40


def fact_regaut01(m: Message) -> None:
    assert m.headers.get("authorization") == "NoOneKnowsThisScheme opaque-data=here"


def fact_bcast(m: Message) -> None:
    assert isinstance(m, Response)
    assert [v.host for v in m.via] == ["192.0.2.198", "255.255.255.255"]


def fact_zeromf(m: Message) -> None:
    assert m.max_forwards == 0


def fact_cparam01(m: Message) -> None:
    contact = m.contacts[0]
    assert (contact.uri.params, contact.params) == ({}, {"unknownparam": None})


def fact_cparam02(m: Message) -> None:
    contact = m.contacts[0]
    assert (contact.uri.params, contact.params) == ({"unknownparam": None}, {})


def fact_regescrt(m: Message) -> None:
    uri = m.contacts[0].uri
    assert uri.headers == [("Route", "<sip:sip.example.com>")]
    assert str(uri) == "sip:user@example.com?Route=%3Csip:sip.example.com%3E"


def fact_sdp01(m: Message) -> None:
    assert m.headers.get_all("accept") == ["text/nobodyKnowsThis"]


def fact_inv2543(m: Message) -> None:
    data = load("inv2543")
    assert m.body == data[data.index(b"\r\n\r\n") + 4 :]
    assert m.body.endswith(b"m=audio 49217 RTP/AVP 0\r\n")
    assert (m.content_length, m.max_forwards) == (None, None)
    assert (m.via[0].branch, m.from_.tag) == (None, None)
    assert m.record_routes[0].uri.params == {"maddr": "ss1.example.com"}


FACTS: dict[str, Callable[[Message], None]] = {
    name.removeprefix("fact_"): check
    for name, check in globals().items()
    if name.startswith("fact_") and callable(check)
}


def all_names() -> list[str]:
    """Every message name on disk or in the table, so either side missing fails."""
    return sorted({path.stem for path in TORTURE.glob("*.dat")} | set(EXPECT))


def test_there_are_49_messages() -> None:
    assert len(list(TORTURE.glob("*.dat"))) == 49


@pytest.mark.parametrize("name", all_names())
def test_torture_message(name: str) -> None:
    assert (TORTURE / f"{name}.dat").is_file(), f"{name} is in the table but not on disk"
    assert name in EXPECT, f"{name}.dat has no expectation in the table"
    data = load(name)
    expected = EXPECT[name]
    if expected == ACCEPT:
        message = parse(data)
        assert parse(message.to_bytes()) == message
        FACTS[name](message)
        return
    with pytest.raises(SipParseError, match=expected):
        parse(data)
    salvaged = salvage(data)
    if data.startswith(b"SIP/"):
        assert salvaged is None, "responses are dropped, never answered"
    else:
        assert salvaged is not None, "a rejected request must still be answerable"
        answer = make_response(salvaged, 400, to_tag="t1").to_bytes()
        assert answer.startswith(b"SIP/2.0 400 Bad Request\r\nVia: ")


def test_every_accepted_message_has_facts_checked() -> None:
    accepted = {name for name, expected in EXPECT.items() if expected == ACCEPT}
    assert accepted == set(FACTS)


def test_baddn_completed_is_rejected_for_its_display_names() -> None:
    completed = load("baddn") + b"\r\n"
    assert hashlib.sha256(completed).hexdigest() == (
        "4768517cb1c40f60f215ac45f4fc5653ee53b0bf2df37e06c6543e874be4a7f9"
    )
    with pytest.raises(SipParseError, match="display name"):
        parse(completed)


def test_badvers_salvage_keeps_the_version_for_505() -> None:
    request = salvage(load("badvers"))
    assert request is not None
    assert request.version == "SIP/7.0"


def test_mismatch02_salvage_exposes_the_unknown_method() -> None:
    request = salvage(load("mismatch02"))
    assert request is not None
    assert request.method == "NEWMETHOD"


def test_clerr_needs_more_data_on_a_stream() -> None:
    with pytest.raises(SipParseError, match="Content-Length"):
        parse(load("clerr"), datagram=False)


def test_torture_messages_survive_any_truncation() -> None:
    for path in sorted(TORTURE.glob("*.dat")):
        data = path.read_bytes()
        for end in range(0, len(data), 7):
            with contextlib.suppress(SipParseError):
                parse(data[:end])
            salvage(data[:end])
