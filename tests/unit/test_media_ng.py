"""The ng protocol's codec (no sockets): requests as rtpengine reads them, replies checked and
typed, every malformed datagram a MediaProtocolError."""

from __future__ import annotations

import pytest

from appliance.errors import MediaProtocolError, MediaUnavailableError
from appliance.media import ng
from appliance.media.bencode import decode, encode


def test_request_is_cookie_space_bencoded_dict() -> None:
    data = ng.encode_request("5323_1", {"command": "ping"})
    assert data == b"5323_1 d7:command4:pinge"


def test_cookies_are_fresh_and_spaceless() -> None:
    cookies = {ng.new_cookie() for _ in range(1000)}
    assert len(cookies) == 1000 and all(" " not in c and c.isascii() for c in cookies)


@pytest.mark.parametrize("cookie", ["", "a b", "x\n", "ü"])
def test_bad_cookie_refused(cookie: str) -> None:
    with pytest.raises(ValueError):
        ng.encode_request(cookie, {"command": "ping"})


def test_request_larger_than_a_datagram_refused() -> None:
    with pytest.raises(MediaProtocolError, match="datagram"):
        ng.encode_request("c", ng.offer_request("x", "a", "v=0\r\n" * 20_000))


def test_offer_answer_requests_carry_options_under_the_required_keys() -> None:
    offer = ng.offer_request("call", "from", "v=0", {"ICE": "remove", "flags": ["trust-address"],
                                                     "command": "spoofed", "sdp": "spoofed"})
    assert offer == {"command": "offer", "call-id": "call", "from-tag": "from", "sdp": "v=0",
                     "ICE": "remove", "flags": ["trust-address"]}
    answer = ng.answer_request("call", "from", "to", "v=0")
    assert answer == {"command": "answer", "call-id": "call", "from-tag": "from",
                      "to-tag": "to", "sdp": "v=0"}
    assert decode(encode(answer))[b"to-tag"] == b"to"  # type: ignore[index]


def test_play_delete_and_participant_requests() -> None:
    assert ng.play_request("c", "a", "/p/greeting.wav", 3) == {
        "command": "play media", "call-id": "c", "from-tag": "a", "file": "/p/greeting.wav",
        "repeat-times": 3}
    with pytest.raises(ValueError):
        ng.play_request("c", "a", "/p/x.wav", 0)
    assert ng.delete_request("c") == {"command": "delete", "call-id": "c"}
    assert ng.delete_request("c", "a") == {"command": "delete", "call-id": "c", "from-tag": "a"}
    assert ng.participant_request("stop media", "c", "a") == {
        "command": "stop media", "call-id": "c", "from-tag": "a"}
    assert ng.participant_request("query", "c") == {"command": "query", "call-id": "c"}


def test_reply_split_and_decoded() -> None:
    cookie, body = ng.split_cookie(b"abc d6:result4:ponge")
    assert cookie == "abc" and ng.decode_body(body) == {"result": b"pong"}


@pytest.mark.parametrize("datagram", [b"", b"abc", b"abc ", b" d6:result4:ponge",
                                      b"\xff\xfe d6:result4:ponge", b"x" * 65 + b" de"])
def test_datagram_without_cookie_refused(datagram: bytes) -> None:
    with pytest.raises(MediaProtocolError):
        ng.split_cookie(datagram)


@pytest.mark.parametrize("body", [b"li1ee", b"4:spam", b"i1e", b"d6:result", b"d\xff\xfe:e",
                                  b"d2:\xff\xfei1ee"])
def test_body_that_is_not_a_dictionary_refused(body: bytes) -> None:
    with pytest.raises(MediaProtocolError):
        ng.decode_body(body)


def test_results_checked() -> None:
    ng.check_result("ping", {"result": b"pong"})
    ng.check_result("offer", {"result": b"ok", "sdp": b"v=0"})
    with pytest.raises(MediaProtocolError) as refused:
        ng.check_result("answer", {"result": b"error", "error-reason": b"Unknown call-id"})
    assert refused.value.reason == "Unknown call-id" and "Unknown" not in str(refused.value)
    with pytest.raises(MediaUnavailableError):
        ng.check_result("offer", {"result": b"load limit", "message": b"Parallel session limit"})
    with pytest.raises(MediaUnavailableError):
        ng.check_result("offer", {"result": b"error", "error-reason": b"Ran out of ports"})
    for reply in ({"result": b"pong"}, {}, {"result": b"maybe"}, {"result": 1}):
        with pytest.raises(MediaProtocolError):
            ng.check_result("offer", reply)  # type: ignore[arg-type]
    with pytest.raises(MediaProtocolError):
        ng.check_result("ping", {"result": b"ok"})


def test_typed_replies() -> None:
    sdp = ng.sdp_reply({"result": b"ok", "sdp": b"v=0\r\n", "warning": b"careful"})
    assert sdp == ng.SdpReply("v=0\r\n", "careful")
    assert ng.play_reply({"result": b"ok", "duration": 2000}) == ng.PlayReply(2.0)
    assert ng.play_reply({"result": b"ok"}).duration is None
    assert ng.play_reply({"result": b"ok", "duration": -1}).duration is None
    info = ng.call_info({"result": b"ok", "created": 1700000000, "last signal": 1700000005,
                         "tags": {b"b": {}, b"a": {}}})
    assert info == ng.CallInfo(1700000000, 1700000005, ("a", "b"))


@pytest.mark.parametrize("reply", [{"result": b"ok"}, {"result": b"ok", "sdp": b""},
                                   {"result": b"ok", "sdp": 5}, {"result": b"ok", "sdp": [b"x"]}])
def test_sdp_reply_without_sdp_refused(reply: dict[str, object]) -> None:
    with pytest.raises(MediaProtocolError):
        ng.sdp_reply(reply)  # type: ignore[arg-type]


def test_ill_typed_fields_refused() -> None:
    with pytest.raises(MediaProtocolError):
        ng.play_reply({"result": b"ok", "duration": b"2000"})
    with pytest.raises(MediaProtocolError):
        ng.call_info({"result": b"ok", "tags": [b"a"]})
    with pytest.raises(MediaProtocolError):
        ng.call_info({"result": b"ok", "created": b"yesterday"})


def test_client_refuses_names_and_bad_budgets() -> None:
    with pytest.raises(ValueError):
        ng.NgClient("localhost", 2223)
    with pytest.raises(ValueError):
        ng.NgClient("127.0.0.1", 0)
    with pytest.raises(ValueError):
        ng.NgClient("127.0.0.1", 2223, timeouts=())
    with pytest.raises(ValueError):
        ng.NgClient("127.0.0.1", 2223, timeouts=(0.5, 0))
