"""Codec policy per connection: what an offer keeps, when rtpengine transcodes, and the codec
list read from an SDP body (hostile ones included)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.errors import MediaError
from appliance.media.codecs import CodecOps, codec_name, codec_policy, sdp_codecs

PHONE_SDP = ("v=0\r\no=- 1 1 IN IP4 192.0.2.7\r\ns=-\r\nc=IN IP4 192.0.2.7\r\nt=0 0\r\n"
             "m=audio 4000 RTP/AVP 9 0 8 18 101\r\na=rtpmap:9 G722/8000\r\n"
             "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n")


def test_codec_names_accept_the_usual_spellings() -> None:
    assert [codec_name(n) for n in ("pcmu", "G.711u", "ulaw", "PCMA", "g711a", "alaw",
                                    "G.722", "g722")] == [
        "PCMU", "PCMU", "PCMU", "PCMA", "PCMA", "PCMA", "G722", "G722"]
    for bad in ("opus", "G729", "", "PCMX"):
        with pytest.raises(MediaError, match="unknown codec"):
            codec_name(bad)


def test_sdp_codecs_static_and_dynamic() -> None:
    assert sdp_codecs(PHONE_SDP) == ("G722", "PCMU", "PCMA", "G729", "telephone-event")
    lf_only = PHONE_SDP.replace("\r\n", "\n")
    assert sdp_codecs(lf_only) == sdp_codecs(PHONE_SDP)


def test_sdp_codecs_reads_the_first_audio_stream_only() -> None:
    sdp = ("v=0\r\nm=video 5000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
           "m=audio 4000 RTP/AVP 8 96\r\na=rtpmap:96 opus/48000/2\r\n"
           "m=audio 4002 RTP/AVP 0\r\n")
    assert sdp_codecs(sdp) == ("PCMA", "opus")


@pytest.mark.parametrize("sdp", ["", "garbage", "m=audio", "m=audio 4000 RTP/AVP",
                                 "m=audio 4000 RTP/AVP x 999 -1 127\r\na=rtpmap:127",
                                 "m=audio 4000 RTP/AVP 96\r\na=rtpmap:96\r\na=rtpmap:96 /8000",
                                 "\x00\xff" * 100, "m=" * 1000])
def test_sdp_codecs_never_raises_on_junk(sdp: str) -> None:
    assert isinstance(sdp_codecs(sdp), tuple)


@given(st.text(max_size=300))
def test_sdp_codecs_total(sdp: str) -> None:
    assert all(isinstance(c, str) and c for c in sdp_codecs(sdp))


def test_shared_codecs_kept_in_the_connections_order_with_dtmf() -> None:
    ops = codec_policy(sdp_codecs(PHONE_SDP), ["PCMA", "PCMU"])
    assert ops == CodecOps(strip=("all",), offer=("PCMA", "PCMU", "telephone-event"))
    assert ops.to_ng() == {"strip": ["all"], "offer": ["PCMA", "PCMU", "telephone-event"]}
    assert ops.flags() == ("codec-strip-all", "codec-offer-PCMA", "codec-offer-PCMU",
                           "codec-offer-telephone-event")
    assert not ops.transcodes


def test_no_dtmf_kept_when_none_offered() -> None:
    assert codec_policy(["PCMU", "PCMA"], ["pcmu"]) == CodecOps(strip=("all",), offer=("PCMU",))


def test_no_shared_codec_transcodes() -> None:
    ops = codec_policy(["PCMU", "telephone-event"], ["g722", "alaw"])
    assert ops == CodecOps(mask=("all",), offer=("telephone-event",),
                           transcode=("G722", "PCMA"))
    assert ops is not None and ops.transcodes
    assert ops.to_ng() == {"offer": ["telephone-event"], "transcode": ["G722", "PCMA"],
                           "mask": ["all"]}


def test_no_shared_codec_without_transcoding_is_refused() -> None:
    assert codec_policy(["PCMU"], ["PCMA"], transcode=False) is None
    assert codec_policy([], ["PCMA"], transcode=False) is None


def test_empty_allowed_passes_the_offer_unchanged() -> None:
    assert codec_policy(["G729"], []) == CodecOps()
    assert CodecOps().to_ng() == {} and CodecOps().flags() == ()


def test_duplicates_and_case_in_the_lists() -> None:
    assert codec_policy(["pcma", "PCMA"], ["PCMA", "alaw", "PCMU"]) == CodecOps(
        strip=("all",), offer=("PCMA",))


def test_unknown_allowed_codec_raises() -> None:
    with pytest.raises(MediaError):
        codec_policy(["PCMU"], ["opus"])


def test_policy_codecs_keeps_what_the_policy_can_act_on_in_order() -> None:
    from appliance.media.codecs import policy_codecs

    # A connection's stored list (directory/connections.py DEFAULT_CODECS and the like).
    assert policy_codecs(["PCMA", "PCMU", "telephone-event"]) == ("PCMA", "PCMU")
    assert policy_codecs(["G729", "g711a", "PCMA", "opus"]) == ("PCMA",)
    assert policy_codecs(["G729", "telephone-event"]) == ()
