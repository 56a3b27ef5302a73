"""The media plane's own rules over the ng client (rtpengine itself is in the integration
test): ng options sent, the session limit, what delete forgives, and rtpengine's config."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

import pytest

from appliance.errors import MediaProtocolError, MediaTimeoutError, MediaUnavailableError
from appliance.media.bencode import Encodable, Value
from appliance.media.codecs import CodecOps
from appliance.media.dtmf import Digit
from appliance.media.ng import NgClient, check_result
from appliance.media.plane import HERE_TAG, HereAnswer, MediaFlags, MediaPlane, RtpenginePlane


class Scripted(NgClient):
    """An NgClient whose replies are given by the test: no socket is opened."""

    def __init__(self) -> None:
        super().__init__("127.0.0.1", 9)
        self.sent: list[Mapping[str, Encodable]] = []
        self.fail: Exception | None = None
        self.gate: asyncio.Event | None = None

    async def request(self, command: Mapping[str, Encodable]) -> dict[str, Value]:
        self.sent.append(command)
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        name = str(command["command"])
        reply: dict[str, Value] = {"result": b"pong" if name == "ping" else b"ok"}
        if name in ("offer", "answer"):
            reply["sdp"] = b"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 30000 RTP/AVP 0\r\n"
        if name == "play media":
            reply["duration"] = 1500
        check_result(name, reply)
        return reply


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_is_a_media_plane() -> None:
    plane: MediaPlane = RtpenginePlane(Scripted(), 2)
    assert plane.sessions == 0 and plane.max_sessions == 2


def test_offer_sends_anchoring_options_and_codec_ops() -> None:
    client = Scripted()
    plane = RtpenginePlane(client, 5)
    flags = MediaFlags(codecs=CodecOps(strip=("all",), offer=("PCMA",)), inject_dtmf=True)
    sdp = run(plane.offer("c1", "a", "v=0\r\n", flags))
    assert isinstance(sdp, str) and "m=audio 30000" in sdp
    assert client.sent[0] == {"command": "offer", "call-id": "c1", "from-tag": "a",
                              "sdp": "v=0\r\n", "replace": ["origin", "session-connection"],
                              "ICE": "remove", "flags": ["inject-DTMF"],
                              "codec": {"strip": ["all"], "offer": ["PCMA"]}}
    run(plane.answer("c1", "a", "b", "v=0\r\n", flags))
    assert "codec" not in client.sent[1] and client.sent[1]["to-tag"] == "b"
    assert client.sent[1]["flags"] == ["inject-DTMF"]


def test_plain_flags() -> None:
    assert MediaFlags().to_ng() == {"replace": ["origin", "session-connection"],
                                    "ICE": "remove"}
    assert MediaFlags(extra=("trust-address",)).to_ng()["flags"] == ["trust-address"]


def test_session_limit_counts_call_ids() -> None:
    client = Scripted()
    plane = RtpenginePlane(client, 2)

    async def scenario() -> None:
        await plane.offer("c1", "a", "v=0")
        await plane.offer("c1", "a", "v=0")  # a re-offer of the same call takes no slot
        await plane.offer("c2", "a", "v=0")
        assert plane.sessions == 2
        with pytest.raises(MediaUnavailableError, match="limit"):
            await plane.offer("c3", "a", "v=0")
        assert len(client.sent) == 3  # rtpengine was not asked for c3
        await plane.delete("c1")
        await plane.offer("c3", "a", "v=0")
        assert plane.sessions == 2

    run(scenario())


def test_concurrent_offers_cannot_pass_the_limit_together() -> None:
    client = Scripted()
    client.gate = asyncio.Event()
    plane = RtpenginePlane(client, 1)

    async def scenario() -> None:
        first = asyncio.create_task(plane.offer("c1", "a", "v=0"))
        await asyncio.sleep(0)
        with pytest.raises(MediaUnavailableError):
            await plane.offer("c2", "a", "v=0")
        assert client.gate is not None
        client.gate.set()
        await first

    run(scenario())


def test_failed_first_offer_frees_its_slot() -> None:
    client = Scripted()
    client.fail = MediaTimeoutError("silent")
    plane = RtpenginePlane(client, 1)

    async def scenario() -> None:
        with pytest.raises(MediaTimeoutError):
            await plane.offer("c1", "a", "v=0")
        assert plane.sessions == 0

    run(scenario())


def test_rtpengine_down_is_unavailable_at_once() -> None:
    client = Scripted()
    up = False
    plane = RtpenginePlane(client, 3, running=lambda: up)

    async def scenario() -> None:
        for call in (plane.offer("c1", "a", "v=0"), plane.answer("c1", "a", "b", "v=0"),
                     plane.play("c1", "a", Path("x.wav")), plane.stop("c1", "a")):
            with pytest.raises(MediaUnavailableError, match="not running"):
                await call
        assert client.sent == []

    run(scenario())


def test_delete_never_raises_and_frees_the_slot() -> None:
    client = Scripted()
    plane = RtpenginePlane(client, 1)

    async def scenario() -> None:
        await plane.offer("c1", "a", "v=0")
        client.fail = MediaTimeoutError("silent")
        await plane.delete("c1")
        assert plane.sessions == 0
        client.fail = MediaProtocolError("refused", reason="whatever")
        await plane.delete("c1")

    run(scenario())


def test_forget_all_after_a_restart() -> None:
    plane = RtpenginePlane(Scripted(), 2)
    run(plane.offer("c1", "a", "v=0"))
    plane.forget_all()
    assert plane.sessions == 0


def test_play_gives_seconds_and_an_absolute_path(tmp_path: Path) -> None:
    client = Scripted()
    plane = RtpenginePlane(client, 1)
    assert run(plane.play("c1", "a", Path("greeting.wav"), repeat=2)) == 1.5
    sent = client.sent[0]
    assert Path(str(sent["file"])).is_absolute() and sent["repeat-times"] == 2
    run(plane.stop("c1", "a"))
    assert client.sent[1] == {"command": "stop media", "call-id": "c1", "from-tag": "a"}


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError):
        RtpenginePlane(Scripted(), 0)


def test_answer_here_answers_for_the_box_on_the_discard_port_and_blocks_the_caller() -> None:
    client = Scripted()
    plane = RtpenginePlane(client, 1)
    here = run(plane.answer_here("c1", "a", "v=0"))
    assert isinstance(here, HereAnswer) and "m=audio 30000" in here.onward
    assert [c["command"] for c in client.sent] == ["offer", "answer", "block media"]
    answer = client.sent[1]
    # The box's own answer: rtpengine's SDP on port 9, ports kept for later (a phone).
    assert answer["to-tag"] == HERE_TAG and "m=audio 9 " in str(answer["sdp"])
    assert answer["flags"] == ["port-latching"]
    assert client.sent[2] == {"command": "block media", "call-id": "c1", "from-tag": "a"}
    # A phone bridged in: its answer in the box's place, the caller unblocked, playback off.
    client.sent.clear()
    run(plane.bridge_here("c1", "a", "v=0 phone"))
    assert [c["command"] for c in client.sent] == ["answer", "unblock media", "stop media"]
    assert client.sent[0]["to-tag"] == HERE_TAG and client.sent[0]["sdp"] == "v=0 phone"

    class BlockFails(Scripted):
        async def request(self, command: Mapping[str, Encodable]) -> dict[str, Value]:
            if command["command"] == "block media":
                raise MediaTimeoutError("silent")
            return await super().request(command)

    failing = BlockFails()
    plane = RtpenginePlane(failing, 1)
    with pytest.raises(MediaTimeoutError):
        run(plane.answer_here("c1", "a", "v=0"))
    assert plane.sessions == 0 and failing.sent[-1]["command"] == "delete"


def test_dtmf_goes_to_the_call_that_watches_until_it_is_deleted() -> None:
    plane = RtpenginePlane(Scripted(), 2)
    heard: list[Digit] = []
    plane.watch_dtmf("c1", heard.append)
    plane.dtmf_received(Digit("c1", "a", "5"))
    plane.dtmf_received(Digit("c2", "a", "6"))  # nobody watches c2
    run(plane.delete("c1"))
    plane.dtmf_received(Digit("c1", "a", "7"))
    assert heard == [Digit("c1", "a", "5")]
    plane.watch_dtmf("c2", heard.append)
    plane.watch_dtmf("c2", None)
    plane.dtmf_received(Digit("c2", "a", "8"))
    assert len(heard) == 1
