"""The listen-in's pure parts: G.711 encoding against the decoders, mixing (sum, clip,
silence for a party that sent nothing), the SDP of rtpengine's subscription offer and of the
answers, RTP payloads taken from a party's packets, and who may listen in on whom."""

from __future__ import annotations

import struct

import pytest

from appliance.calls.supervise import may_listen, target_of
from appliance.errors import MediaError
from appliance.media import mixer
from appliance.media.listen import _Party
from appliance.media.recording import PCMA, PCMU, alaw_to_linear, decode, ulaw_to_linear
from tests.unit.test_sip_routing import ext

OFFER = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\n"
         "m=audio 30000 RTP/AVP 8 0 101\r\nc=IN IP4 127.0.0.1\r\na=sendonly\r\n"
         "m=audio 30002 RTP/AVP 0 101\r\nc=IN IP4 127.0.0.1\r\na=sendonly\r\n")


@pytest.mark.parametrize(("payload_type", "decoder"), [(PCMU, ulaw_to_linear),
                                                       (PCMA, alaw_to_linear)])
def test_encoding_matches_the_decoder_within_g711_steps(payload_type: int, decoder: object) -> None:
    for sample in range(-32768, 32768, 97):
        code = mixer.encode(payload_type, struct.pack("<h", sample))[0]
        back = decoder(code)  # type: ignore[operator]
        assert abs(back - sample) <= max(40, abs(sample) // 14), (sample, back)
    assert mixer.encode(PCMU, struct.pack("<h", 0)) == b"\xff"
    assert mixer.encode(PCMA, struct.pack("<h", 0)) == b"\xd5"


def test_mixing_sums_clips_and_fills_silence() -> None:
    loud = mixer.encode(PCMU, struct.pack("<160h", *([30000] * 160)))
    mixed = mixer.mix([(PCMU, loud), (PCMU, loud)], PCMA)
    assert len(mixed) == 160
    assert set(struct.unpack("<160h", decode(PCMA, mixed))) == {32256}  # clipped, A-law top
    silent = mixer.mix([None, None], PCMU)
    assert silent == b"\xff" * 160
    one = mixer.mix([(PCMA, mixer.encode(PCMA, struct.pack("<160h", *([1000] * 160)))), None],
                    PCMU)
    assert abs(struct.unpack("<160h", decode(PCMU, one))[0] - 1000) < 64
    # A payload of another codec (G.722, telephone-event) adds nothing.
    assert mixer.mix([(9, b"\x00" * 160)], PCMU) == b"\xff" * 160


def test_the_subscription_offer_and_the_answers() -> None:
    lines = mixer.offered(OFFER)
    assert [(o.host, o.port, o.payload_type) for o in lines] == [
        ("127.0.0.1", 30000, 8), ("127.0.0.1", 30002, 0)]
    answer = mixer.answer("127.0.0.1", [(40000, 8), (40002, 0)], "recvonly")
    assert answer.count("m=audio") == 2 and "m=audio 40000 RTP/AVP 8" in answer
    assert answer.count("a=recvonly") == 2 and "a=rtpmap:0 PCMU/8000" in answer
    for bad in ("v=0\r\n", OFFER.replace("RTP/AVP 8 0 101", "RTP/AVP 9"),
                "v=0\r\nm=audio 1 RTP/AVP 0\r\n"):
        with pytest.raises(MediaError):
            mixer.offered(bad)


def test_a_party_keeps_the_payloads_of_its_source_only_and_a_short_backlog() -> None:
    party = _Party(("127.0.0.1", 30000))
    header = struct.pack("!BBHII", 0x80, 0, 1, 160, 7)
    party.datagram_received(header + b"\x01" * 160, ("127.0.0.1", 30000))
    party.datagram_received(header + b"\x02" * 160, ("127.0.0.9", 30000))  # a stranger
    party.datagram_received(b"\x00" * 8, ("127.0.0.1", 30000))  # no RTP
    padded = struct.pack("!BBHII", 0xA0, 8, 2, 320, 7) + b"\x03" * 160 + b"\x00\x00\x02"
    party.datagram_received(padded, ("127.0.0.1", 30000))
    assert list(party.frames) == [(0, b"\x01" * 160), (8, b"\x03" * 160 + b"\x00")]
    for _ in range(20):
        party.datagram_received(header + b"\x04" * 160, ("127.0.0.1", 30000))
    assert len(party.frames) == 5


def test_only_the_named_supervisor_may_listen_in() -> None:
    boss, worker, other = ext("101"), ext("102"), ext("103")
    worker = worker.__class__(**{**worker.__dict__, "supervisor": "101"})
    assert may_listen(boss, worker) is None
    assert may_listen(other, worker) == "Not Your Extension"
    assert may_listen(boss, None) == "No Such Extension"
    freed = worker.__class__(**{**worker.__dict__, "employee_id": None})
    assert may_listen(boss, freed) == "No Such Extension"
    assert may_listen(worker, worker) == "Not Your Extension"
    assert (target_of("*33102"), target_of("*33"), target_of("*3312345"),
            target_of("*33ab"), target_of("102")) == ("102", None, None, None, None)
