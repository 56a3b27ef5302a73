"""A B2BUA call's media anchored in the media plane (``media.plane``): one media session per
call, each leg's party named by the box's tag in that leg, and every SDP offer and answer
that crosses the call rewritten through it, so both parties send their audio to the box.

RFC 3264 as the B2BUA sees it: a body in an INVITE or UPDATE is an offer from the leg that
sent it; a body in the answer to one is the other leg's answer when the request carried an
offer, else that leg's offer (a delayed offer), answered in the ACK.

A call the box answers itself first (a greeting) has the box as the other party
(``answer_here``); the phone that takes the call later stands in its place under the box's
label (``bridge``), so the caller keeps the answer it has.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from appliance.calls.legs import Leg
from appliance.errors import MediaError
from appliance.media.codecs import codec_policy, policy_codecs, sdp_codecs
from appliance.media.plane import HERE_TAG, PLAIN, MediaFlags, MediaPlane
from appliance.sip.message import Request, Response

SDP_TYPE = "application/sdp"


def has_sdp(message: Request | Response) -> bool:
    """Whether ``message`` carries an SDP body (any other body is relayed as it is)."""
    if not message.body:
        return False
    content_type = (message.headers.get("content-type") or "").split(";", 1)[0]
    return content_type.strip().lower() == SDP_TYPE


class Anchor:
    """One call's media session; every method may raise MediaError."""

    def __init__(self, plane: MediaPlane, media_id: str | None = None) -> None:
        self.plane = plane
        self.id = media_id or f"b2b-{secrets.token_hex(10)}"
        self._offers: dict[tuple[Leg, bytes, tuple[str, ...]], bytes] = {}
        self.here: Leg | None = None  # the caller of a call the box answered itself

    def label(self, leg: Leg) -> str:
        """``leg``'s party in the media session: its tag; once the box answered a caller
        itself, every other leg is the box's party."""
        return leg.tag if self.here is None or leg is self.here else HERE_TAG

    async def answer_here(self, caller: Leg, sdp: bytes) -> bytes:
        """The box answers ``caller``'s offer itself: the SDP to answer it with (the offer
        toward a phone bridged in later is kept for ``offer``)."""
        here = await self.plane.answer_here(self.id, caller.tag, sdp.decode("utf-8", "replace"))
        self.here = caller
        self._offers = {(caller, sdp, ()): here.onward.encode("utf-8")}
        return here.caller.encode("utf-8")

    async def bridge(self, answerer: Leg, sdp: bytes) -> None:
        """``answerer`` (a phone offered the kept offer) answered: it takes the box's place."""
        assert self.here is not None
        self._offers.clear()
        await self.plane.bridge_here(self.id, self.here.tag, sdp.decode("utf-8", "replace"))

    async def offer(self, sender: Leg, sdp: bytes, codecs: Sequence[str] = ()) -> bytes:
        """``sender``'s offer as the other leg must see it; ``codecs``: the connection's
        codec policy when the offer goes to one (the same offer sent again is not asked
        again: a call forked to several phones costs one)."""
        key = (sender, sdp, tuple(codecs))
        known = self._offers.get(key)
        if known is not None:
            return known
        text = sdp.decode("utf-8", "replace")
        flags = PLAIN
        usable = policy_codecs(codecs)
        if usable:
            ops = codec_policy(sdp_codecs(text), usable)
            if ops is None:  # only when transcoding is off; kept for the type
                raise MediaError("no codec in common with the connection")
            flags = MediaFlags(codecs=ops)
        out = (await self.plane.offer(self.id, self.label(sender), text, flags)).encode("utf-8")
        self._offers = {key: out}  # a new offer replaces what the old one negotiated
        return out

    async def answer(self, offerer: Leg, answerer: Leg, sdp: bytes) -> bytes:
        """``answerer``'s answer to ``offerer``'s offer, as ``offerer`` must see it."""
        self._offers.clear()  # what comes next is a new negotiation
        text = sdp.decode("utf-8", "replace")
        return (await self.plane.answer(self.id, self.label(offerer), self.label(answerer),
                                        text)).encode("utf-8")

    async def end(self) -> None:
        """Free the call's media session (never raises)."""
        self._offers.clear()
        await self.plane.delete(self.id)
