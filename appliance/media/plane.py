"""The media plane as the call logic sees it: SDP in, SDP out, prompts played, sessions ended.

``MediaPlane`` is the typed interface (tests of the call logic give it a fake); ``RtpenginePlane``
is the real one over the ng client. A session is one call-id; a new call-id past
``max_sessions`` raises MediaUnavailableError before rtpengine is asked, so the caller answers 503.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from appliance.errors import MediaError, MediaUnavailableError
from appliance.media.bencode import Encodable
from appliance.media.codecs import CodecOps
from appliance.media.dtmf import Digit
from appliance.media.ng import NgClient, participant_request

log = logging.getLogger("appliance.media")


@dataclass(frozen=True)
class MediaFlags:
    """What an offer or answer asks of rtpengine beside anchoring the media.

    ``codecs``: the connection's codec policy (``codecs.codec_policy``), offers only;
    ``inject_dtmf``: let ``play DTMF`` send digits (rtpengine needs it on offer and answer);
    ``extra``: further rtpengine flags by their ng names.
    """

    codecs: CodecOps | None = None
    inject_dtmf: bool = False
    extra: tuple[str, ...] = field(default=())

    def to_ng(self) -> dict[str, Encodable]:
        """The ng keys: SDP origin and session c= rewritten, ICE candidates removed, codecs."""
        flags = [*(("inject-DTMF",) if self.inject_dtmf else ()), *self.extra]
        options: dict[str, Encodable] = {"replace": ["origin", "session-connection"],
                                         "ICE": "remove"}
        if flags:
            options["flags"] = flags
        codec = self.codecs.to_ng() if self.codecs else {}
        if codec:
            options["codec"] = codec
        return options


PLAIN = MediaFlags()
# The participant the box itself is in a call it answered (greeting, IVR): the phone that
# takes the call later is bridged in under this label.
HERE_TAG = "appliance-here"
# rtpengine keeps its ports for the caller when the box's side of the call changes (a
# phone bridged in after the greeting): the caller, answered once, is never re-INVITEd.
_LATCH = MediaFlags(extra=("port-latching",))
_PORT = re.compile(r"^(m=audio )\d+", re.M)
_SAFE_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@dataclass(frozen=True)
class HereAnswer:
    """A call the box answered itself: ``caller``, the SDP to answer the caller with;
    ``onward``, the SDP to offer a phone bridged in later."""

    caller: str
    onward: str


DtmfHandler = Callable[[Digit], None]


class MediaPlane(Protocol):
    """What the call logic needs of the media plane; every method may raise MediaError."""

    @property
    def sessions(self) -> int:
        """Media sessions (call-ids) open now."""
        ...

    @property
    def max_sessions(self) -> int:
        """The limit on open sessions; a new one past it raises MediaUnavailableError."""
        ...

    async def offer(self, call_id: str, from_tag: str, sdp: str,
                    flags: MediaFlags = PLAIN) -> str:
        """Anchor ``from_tag``'s offer; return the SDP to send on (rtpengine's addresses).
        A new call-id past the limit, or rtpengine down: MediaUnavailableError (answer 503)."""
        ...

    async def answer(self, call_id: str, from_tag: str, to_tag: str, sdp: str,
                     flags: MediaFlags = PLAIN) -> str:
        """Anchor ``to_tag``'s answer to the offer of ``from_tag``; return the SDP to send
        back to the offerer."""
        ...

    async def answer_here(self, call_id: str, from_tag: str, sdp: str) -> HereAnswer:
        """Anchor an offer the box answers itself (greeting, IVR, voicemail: one leg, the
        box's side ``HERE_TAG``); the caller's audio goes nowhere, ``play`` reaches it and
        its DTMF is reported."""
        ...

    async def bridge_here(self, call_id: str, from_tag: str, sdp: str) -> None:
        """Bridge the answer ``sdp`` of a phone (offered ``HereAnswer.onward``) into a call
        the box answered, in place of the box: audio flows both ways, playback stops; the
        caller keeps the ports it was answered with."""
        ...

    def watch_dtmf(self, call_id: str, handler: DtmfHandler | None) -> None:
        """Hand each DTMF digit reported in ``call_id`` to ``handler`` (None: stop)."""
        ...

    async def start_recording(self, call_id: str) -> None:
        """Record what each party of ``call_id`` sends from now on (``recordings``)."""
        ...

    def recordings(self, call_id: str) -> list[Path]:
        """The pcap files recorded for ``call_id`` (complete once the call is deleted)."""
        ...

    async def delete(self, call_id: str) -> None:
        """End the call's media and free its session; never raises (a call's end must not
        fail on its media: rtpengine times out what it did not hear of)."""
        ...

    async def play(self, call_id: str, from_tag: str, file: Path, repeat: int = 1) -> float | None:
        """Play ``file`` (WAV or MP3) ``repeat`` times to the participant ``from_tag`` (an
        offer alone is enough); the seconds one pass lasts, None if rtpengine cannot tell."""
        ...

    async def stop(self, call_id: str, from_tag: str) -> None:
        """Stop what ``play`` started for ``from_tag``."""
        ...

    async def subscribe(self, call_id: str, from_tags: list[str]) -> tuple[str, str]:
        """Fork what ``from_tags`` send in ``call_id`` (a listen-in): the subscriber's tag
        and rtpengine's offer, one send-only ``m=`` line per party."""
        ...

    async def subscribe_answer(self, call_id: str, to_tag: str, sdp: str) -> None:
        """The subscriber's answer: the forked media starts flowing to it."""
        ...

    async def unsubscribe(self, call_id: str, to_tag: str) -> None:
        """End a subscription (never raises: the call may have ended meanwhile)."""
        ...


class RtpenginePlane:
    """MediaPlane over rtpengine's ng protocol, with the session limit kept here."""

    def __init__(self, client: NgClient, max_sessions: int,
                 running: Callable[[], bool] = lambda: True,
                 recording_dir: Path | None = None) -> None:
        if max_sessions < 1:
            raise ValueError(f"max_sessions must be at least 1, got {max_sessions}")
        self.client = client
        self._max = max_sessions
        self._running = running
        self._calls: set[str] = set()
        self._dtmf: dict[str, DtmfHandler] = {}
        self.recording_dir = recording_dir

    @property
    def sessions(self) -> int:
        """Media sessions (call-ids) open now."""
        return len(self._calls)

    @property
    def max_sessions(self) -> int:
        """The limit on open sessions."""
        return self._max

    def forget_all(self) -> None:
        """Drop every session without telling rtpengine (it restarted and has none)."""
        if self._calls:
            log.warning("media: %d sessions lost with rtpengine's restart", len(self._calls))
        self._calls.clear()

    def _check_running(self) -> None:
        if not self._running():
            raise MediaUnavailableError("rtpengine is not running")

    async def offer(self, call_id: str, from_tag: str, sdp: str,
                    flags: MediaFlags = PLAIN) -> str:
        """Anchor an offer; MediaUnavailableError past the limit or while rtpengine is down."""
        self._check_running()
        new = call_id not in self._calls
        if new:
            if len(self._calls) >= self._max:
                raise MediaUnavailableError(f"media session limit reached ({self._max})")
            self._calls.add(call_id)  # reserved before the await: concurrent offers count
        try:
            reply = await self.client.offer(call_id, from_tag, sdp, flags.to_ng())
        except BaseException:
            if new:
                self._calls.discard(call_id)
            raise
        return reply.sdp

    async def answer(self, call_id: str, from_tag: str, to_tag: str, sdp: str,
                     flags: MediaFlags = PLAIN) -> str:
        """Anchor an answer; MediaProtocolError for a call rtpengine does not know."""
        self._check_running()
        options = flags.to_ng()
        options.pop("codec", None)  # rtpengine reads codec ops in offers only
        reply = await self.client.answer(call_id, from_tag, to_tag, sdp, options)
        return reply.sdp

    async def answer_here(self, call_id: str, from_tag: str, sdp: str) -> HereAnswer:
        """Offer; answer it for the box with rtpengine's own SDP on the discard port (so the
        caller's answer names ports rtpengine keeps), then block the caller's media (what
        rtpengine plays, and DTMF detection, are not blocked)."""
        onward = await self.offer(call_id, from_tag, sdp)
        try:
            placeholder = _PORT.sub(lambda m: m.group(1) + "9", onward)
            caller = await self.answer(call_id, from_tag, HERE_TAG, placeholder, _LATCH)
            await self.client.block_media(call_id, from_tag)
        except BaseException:
            await self.delete(call_id)
            raise
        return HereAnswer(caller, onward)

    async def bridge_here(self, call_id: str, from_tag: str, sdp: str) -> None:
        """The phone's answer in place of the box's; the caller's media unblocked."""
        self._check_running()
        await self.answer(call_id, from_tag, HERE_TAG, sdp, _LATCH)
        await self.client.unblock_media(call_id, from_tag)
        with contextlib.suppress(MediaError):  # nothing was playing
            await self.client.stop_media(call_id, from_tag)

    def watch_dtmf(self, call_id: str, handler: DtmfHandler | None) -> None:
        """Hand ``call_id``'s digits to ``handler``; None stops."""
        if handler is None:
            self._dtmf.pop(call_id, None)
        else:
            self._dtmf[call_id] = handler

    async def start_recording(self, call_id: str) -> None:
        """rtpengine's ``start recording`` (its pcap method, set in its config)."""
        self._check_running()
        await self.client.request(participant_request("start recording", call_id))

    def recordings(self, call_id: str) -> list[Path]:
        """``<recording dir>/pcaps/<call-id>-*.pcap`` (media ids are ours: no glob magic)."""
        if self.recording_dir is None or not _SAFE_ID.fullmatch(call_id):
            return []
        return sorted((self.recording_dir / "pcaps").glob(f"{call_id}-*.pcap"))

    def dtmf_received(self, digit: Digit) -> None:
        """A digit rtpengine reported: to the call's handler, if one watches."""
        handler = self._dtmf.get(digit.call_id)
        if handler is not None:
            handler(digit)

    async def delete(self, call_id: str) -> None:
        """End the call's media; logs and swallows what rtpengine answers or fails to."""
        self._calls.discard(call_id)
        self._dtmf.pop(call_id, None)
        try:
            warning = await self.client.delete(call_id)
        except MediaError as exc:
            log.warning("media: delete of call %s: %s (%s)", call_id, exc,
                        getattr(exc, "reason", None) or "no reason")
            return
        if warning:
            log.debug("media: delete of call %s: %s", call_id, warning)

    async def play(self, call_id: str, from_tag: str, file: Path, repeat: int = 1) -> float | None:
        """Play ``file`` to ``from_tag``; the seconds of one pass."""
        self._check_running()
        # rtpengine opens the file itself, relative to its own working folder: give it absolute.
        reply = await self.client.play_media(call_id, from_tag, Path(file).resolve(), repeat)
        return reply.duration

    async def stop(self, call_id: str, from_tag: str) -> None:
        """Stop a playback."""
        self._check_running()
        await self.client.stop_media(call_id, from_tag)

    async def subscribe(self, call_id: str, from_tags: list[str]) -> tuple[str, str]:
        """Fork what ``from_tags`` send (a listen-in)."""
        self._check_running()
        return await self.client.subscribe(call_id, from_tags)

    async def subscribe_answer(self, call_id: str, to_tag: str, sdp: str) -> None:
        """The subscriber's answer."""
        self._check_running()
        await self.client.subscribe_answer(call_id, to_tag, sdp)

    async def unsubscribe(self, call_id: str, to_tag: str) -> None:
        """End a subscription; logs what fails."""
        try:
            await self.client.unsubscribe(call_id, to_tag)
        except MediaError as exc:
            log.debug("media: unsubscribe in call %s: %s", call_id, exc)
