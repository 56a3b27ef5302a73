"""What every B2BUA call has once two legs are up (``calls/b2bua.py``): the two dialogs, the
in-dialog requests relayed between them (re-INVITE, UPDATE, INFO; a delayed offer's answer
in the ACK), the BYE that ends both, and the call's record in the registry. ``OutsideCall``
(``calls/call.py``) and ``CallbackCall`` (``calls/callback_call.py``) ring their own ways.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from appliance.calls import legs
from appliance.calls.anchor import Anchor, has_sdp
from appliance.calls.legs import Leg
from appliance.errors import MediaError
from appliance.media.codecs import sdp_holds
from appliance.routing.calls import Call as Record
from appliance.sip.dialog import TARGET_REFRESH, Dialog
from appliance.sip.message import Request, Response, make_response
from appliance.sip.transaction import ServerTransaction, TimerHandle
from appliance.sip.ua import Accepted, ClientRequest

if TYPE_CHECKING:
    from appliance.calls.b2bua import B2BUA

log = logging.getLogger(__name__)

HOLD_PASSES = 1000  # the hold music's repeats: it plays until the call is taken off hold
NOT_RELAYED = {"REFER": (403, "Transfer Not Supported"), "PRACK": (481, None),
               "SUBSCRIBE": (489, None)}


class Bridge:
    """Two legs of one call: ``caller`` (the first) and ``callee`` (once one answered)."""

    def __init__(self, b2bua: B2BUA, caller: Leg) -> None:
        self.b2bua = b2bua
        self.caller = caller
        self.callee: Leg | None = None
        self.state = "ringing"
        self.connections: set[int] = set()
        self.record: Record | None = None
        # The call's media session: every B2BUA call is anchored when the box has a plane.
        self.anchor = Anchor(b2bua.media) if b2bua.media is not None else None
        self.holding: set[Leg] = set()  # the legs that put the other on hold (music plays)
        self._timer: TimerHandle | None = None

    def all_legs(self) -> list[Leg]:
        """Every leg the call has or had."""
        return [self.caller, *([self.callee] if self.callee is not None else [])]

    def stays_on(self, leg: Leg) -> bool:
        """``leg`` hung up an established call: True when the other party stays on with
        the box (a rating); by default the call ends on both legs."""
        return False

    def ringing_bye(self) -> None:
        """A BYE on a leg while the call still rings (the subclass says what it ends)."""
        self._end("bye")

    def hang_up(self, status: int, reason: str) -> None:
        """End an established call from the box: a BYE on both legs."""
        if self.state == "established":
            for leg in (self.caller, self.callee):
                if leg is not None and leg.dialog is not None:
                    self._bye(leg, reason)
            self._end("hung up")

    def _bye(self, leg: Leg, reason: str) -> None:
        assert self.b2bua.layer is not None and leg.dialog is not None
        if leg.owed_ack is not None:  # §13.2.2.4: a 2xx is acknowledged before its BYE
            leg.owed_ack.acknowledge()
            leg.owed_ack = None
        headers = (("Reason", reason),) if reason else ()
        bye = leg.dialog.request("BYE", via=legs.via(self.b2bua.locals, leg.flow),
                                 headers=headers)
        flow = leg.flow
        ClientRequest(self.b2bua.layer, bye, flow, _Ignore(), credentials=leg.credentials,
                      resolve=lambda _uri: flow).start()

    def _end(self, why: str, status: int = 0) -> None:
        if self.state == "ended":
            return
        self.state = "ended"
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.record is not None:
            self.b2bua.registry.end(self.record, why, status)
        if self.anchor is not None:
            self.b2bua.spawn(self.media_ended())
        self.b2bua.finished(self)

    async def media_ended(self) -> None:
        """The call ended: its media session is freed."""
        assert self.anchor is not None
        await self.anchor.end()

    # -- media --------------------------------------------------------------------------------

    def through_media(self, message: Request | Response,
                      work: Callable[[Anchor, bytes], Awaitable[bytes]],
                      then: Callable[[bytes], None], failed: Callable[[], None]) -> None:
        """``then(body)`` with ``message``'s body as the other leg must see it: at once when
        the call's media is not anchored or the body is no SDP, else once ``work`` rewrote
        it (not at all when the call ended meanwhile; ``failed()`` when the media plane
        could not)."""
        anchor = self.anchor
        if anchor is None or not has_sdp(message):
            then(message.body)
            return
        body = message.body

        async def run() -> None:
            try:
                out = await work(anchor, body)
            except MediaError as exc:
                log.warning("media: call %s: %s", anchor.id, exc)
                if self.state != "ended":
                    failed()
                return
            if self.state != "ended":
                then(out)
            else:  # it ended while rtpengine worked: what the work made is freed too
                await anchor.end()
        self.b2bua.spawn(run())

    def offered(self, sender: Leg, other: Leg, request: Request | None) -> Callable[
            [Anchor, bytes], Awaitable[bytes]]:
        """How a body from ``sender`` in answer to ``request`` (None: the body is in a
        request) is rewritten for ``other``: the answer to an offer ``request`` carried, else
        ``sender``'s own offer."""
        if request is not None and has_sdp(request):
            return lambda anchor, body: anchor.answer(other, sender, body)
        return lambda anchor, body: anchor.offer(sender, body)

    # -- in-dialog requests -------------------------------------------------------------------

    def other(self, leg: Leg) -> Leg | None:
        """The leg across from ``leg`` (None while it rings)."""
        if leg is self.caller:
            return self.callee
        return self.caller if leg is self.callee else None

    def request_on(self, leg: Leg, txn: ServerTransaction, request: Request) -> None:
        """An in-dialog request on ``leg``: answered, relayed to the other leg, or both."""
        method = request.method
        other = self.other(leg)
        if method == "BYE":
            txn.respond(make_response(request, 200))
            if self.state == "ringing":
                self.ringing_bye()
                return
            if self.stays_on(leg):
                return
            if other is not None and other.dialog is not None:
                reason = request.headers.get("reason") or ""
                self._bye(other, reason)
            if self.record is not None:
                self.b2bua.registry.seen(self.record, leg is self.caller, request)
            self._end("bye")
            return
        if method in NOT_RELAYED:
            status, phrase = NOT_RELAYED[method]
            txn.respond(make_response(request, status, phrase))
            return
        if self.state != "established" or other is None or other.dialog is None \
                or leg.dialog is None:
            txn.respond(make_response(request, 491 if method in TARGET_REFRESH else 481))
            return
        if not leg.dialog.received(request):
            txn.respond(make_response(request, 500, "CSeq Out Of Order"))
            return
        if method == "INVITE":
            txn.respond(make_response(request, 100))
        out = legs.relayed(self.b2bua.locals, request, other)

        def send(body: bytes) -> None:
            assert self.b2bua.layer is not None
            out.body = body
            flow = other.flow
            relay = _Relay(self, leg, other, txn)
            relay.client = ClientRequest(
                self.b2bua.layer, out, flow, relay, credentials=other.credentials,
                resolve=lambda _uri: flow, ack_later=method == "INVITE" and not request.body
            ).start()
        self.through_media(request, self.offered(leg, other, None), send,
                           lambda: txn.respond(make_response(request, 500,
                                                             "Media Unavailable")))

    def acked(self, leg: Leg, request: Request) -> None:
        """The ACK of the box's 2xx on ``leg``: with a delayed offer it carries the answer,
        acknowledged across on the other leg; an ACK without it ends the call (RFC 3264 §4)."""
        other = self.other(leg)
        if other is None or other.owed_ack is None:
            return
        client, other.owed_ack = other.owed_ack, None
        body, content_type = legs.body_of(request)
        if not body:
            client.acknowledge(body, content_type)
            self.hang_up(0, 'SIP;cause=488;text="No answer in ACK"')
            return
        self.through_media(request, lambda anchor, sdp: anchor.answer(other, leg, sdp),
                           lambda sdp: client.acknowledge(sdp, content_type),
                           lambda: self._media_lost(client))

    def _hold(self, holder: Leg, held: Leg, on_hold: bool) -> None:
        """``holder`` put ``held`` on hold (music on hold plays to it), or took it off."""
        anchor, media, music = self.anchor, self.b2bua.media, self.b2bua.hold_music
        if anchor is None or media is None or on_hold == (holder in self.holding):
            return
        party = anchor.label(held)
        if on_hold:
            self.holding.add(holder)
            file = music() if music is not None else None
            if file is None:
                return

            async def play() -> None:
                try:
                    await media.play(anchor.id, party, file, HOLD_PASSES)
                except MediaError as exc:
                    log.warning("media: call %s: no music on hold: %s", anchor.id, exc)
            self.b2bua.spawn(play())
        else:
            self.holding.discard(holder)

            async def stop() -> None:
                try:
                    await media.stop(anchor.id, party)
                except MediaError as exc:
                    log.debug("media: call %s: music on hold not stopped: %s", anchor.id, exc)
            self.b2bua.spawn(stop())

    def _media_lost(self, client: ClientRequest) -> None:
        """The answer in an ACK could not be anchored: the 2xx is acknowledged (§13.2.2.4)
        and the call hung up."""
        client.acknowledge(b"", None)
        self.hang_up(0, 'SIP;cause=503;text="Media unavailable"')

    def relayed_answer(self, leg: Leg, other: Leg, txn: ServerTransaction,
                       response: Response | None, sent: ClientRequest | None) -> None:
        """The other leg's answer to a relayed request (sent by ``sent``), handed back on
        ``leg``."""
        request = txn.request
        if other.dialog is not None:
            seq = (request if sent is None else sent.request).cseq.seq
            other.dialog.local_seq = max(other.dialog.local_seq, seq)
        if response is None:
            txn.respond(make_response(request, 408))
            return
        status = response.status
        if status in (401, 407):
            status = 500  # a challenge is the other leg's business, never handed across
        reply = legs.answer(self.b2bua.locals, txn, status, response.reason, leg.tag, response)
        if status < 300 and request.method in TARGET_REFRESH:
            if leg.dialog is not None:
                leg.dialog.refresh_target(request)
            if other.dialog is not None:
                other.dialog.refresh_target(response)
        if status < 300 and request.method == "INVITE" and sent is not None \
                and sent.awaiting_ack:
            other.owed_ack = sent
        holds = sdp_holds(request.body.decode("utf-8", "replace")) if status < 300 and \
            request.method in TARGET_REFRESH and has_sdp(request) else None

        def deliver(body: bytes) -> None:
            reply.body = body
            if holds is not None:  # once the media plane has the answer (it would restart
                self._hold(leg, other, holds)  # a playback stopped before it)
            if status < 300 and request.method == "INVITE" and self.b2bua.layer is not None:
                leg.accepted = Accepted(self.b2bua.layer, txn, reply,
                                        lambda: self.hang_up(0, 'SIP;cause=408;text="No ACK"'))
                return
            txn.respond(reply)

        def lost() -> None:
            txn.respond(make_response(request, 500, "Media Unavailable"))
            if status < 300 and request.method == "INVITE":
                self.hang_up(0, 'SIP;cause=503;text="Media unavailable"')
        if status >= 300:
            deliver(reply.body)
            return
        self.through_media(response, self.offered(other, leg, request), deliver, lost)



class _Relay:
    """The outcome of an in-dialog request relayed to the other leg."""

    def __init__(self, call: Bridge, leg: Leg, other: Leg, txn: ServerTransaction) -> None:
        self.call, self.leg, self.other, self.txn = call, leg, other, txn
        self.client: ClientRequest | None = None

    def on_provisional(self, response: Response) -> None:
        return None

    def on_final(self, response: Response, dialog: Dialog | None) -> None:
        self._done(response)

    def on_timeout(self) -> None:
        self._done(None)

    def _done(self, response: Response | None) -> None:
        self.call.relayed_answer(self.leg, self.other, self.txn, response, self.client)


class _Ignore:
    """The outcome of a request whose answer changes nothing (a CANCEL, the box's BYE)."""

    def on_provisional(self, response: Response) -> None:
        return None

    def on_final(self, response: Response, dialog: Dialog | None) -> None:
        return None

    def on_timeout(self) -> None:
        return None
