"""The user-agent side of the SIP core (RFC 3261 §8.1, §13, §22.2), sans-I/O over transactions.

``ClientRequest`` sends a request as a UAC: a 401 or 407 is answered with digest credentials
(``appliance.digest``; again only when the server says the nonce was stale), and a 2xx to an
INVITE is acknowledged end to end with the dialog's own ACK (§13.2.2.4), its retransmissions
too; a second 2xx from another fork is acknowledged and hung up. An INVITE sent without an
offer (``ack_later``) gets its offer in the 2xx: that ACK waits for ``acknowledge(answer)``
(RFC 3264 §4; a B2BUA relays the answer from its other leg's ACK). ``Accepted`` is the UAS's
half: its 2xx to an INVITE is retransmitted until the ACK arrives (§13.3.1.4). The B2BUA and
trunk registrations build on these; timers and sending come from the transaction layer.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from appliance import digest
from appliance.errors import SipParseError
from appliance.sip.dialog import Dialog
from appliance.sip.message import Request, Response, SipUri, Via
from appliance.sip.transaction import (
    MAGIC,
    ClientTransaction,
    Peer,
    ServerTransaction,
    TimerHandle,
    TransactionLayer,
    top_via,
)

CHALLENGES = {401: ("www-authenticate", "Authorization"),
              407: ("proxy-authenticate", "Proxy-Authorization")}
MAX_CHALLENGES = 3  # one answer per challenge, and a stale nonce or two


@dataclass(frozen=True)
class Credentials:
    """What a UAC answers a digest challenge with (a trunk's user and password)."""

    username: str
    password: str = field(repr=False)


class Outcome(Protocol):
    """Whoever sent a ``ClientRequest``: told of its responses."""

    def on_provisional(self, response: Response) -> None:
        """A 1xx (101-199)."""

    def on_final(self, response: Response, dialog: Dialog | None) -> None:
        """The final response; ``dialog`` for a 2xx to an INVITE (already acknowledged)."""

    def on_timeout(self) -> None:
        """No final response (Timer B or F), or the transport failed."""


Resolve = Callable[[SipUri], Peer | None]


def new_branch() -> str:
    """A fresh RFC 3261 branch."""
    return f"{MAGIC}-{secrets.token_hex(10)}"


def with_new_branch(via: Via) -> str:
    """``via`` with a fresh branch (a new transaction from the same sent-by)."""
    params = dict(via.params)
    params["branch"] = new_branch()
    return str(Via(via.transport, via.host, via.port, params, via.protocol))


class ClientRequest:
    """One request sent as a UAC on ``layer`` to ``peer``; see the module docstring.

    ``resolve`` turns the dialog's next hop into a peer for the ACK (default: ``peer``).
    """

    def __init__(self, layer: TransactionLayer, request: Request, peer: Peer, outcome: Outcome,
                 *, credentials: Credentials | None = None, resolve: Resolve | None = None,
                 ack_later: bool = False) -> None:
        self.layer = layer
        self.request = request
        self.peer = peer
        self.outcome = outcome
        self.credentials = credentials
        self.resolve = resolve
        self.challenges = 0
        self.dialog: Dialog | None = None
        self.txn: ClientTransaction | None = None
        self._acks: dict[str, Request] = {}  # To tag -> the ACK sent for that 2xx
        self._finished = False
        self._ack_later = ack_later
        self._waiting: tuple[str, Dialog] | None = None  # the 2xx whose ACK awaits its answer

    def start(self) -> ClientRequest:
        """Send the request; returns self."""
        self.txn = self.layer.client(self.request, self.peer, self)
        return self

    # -- ClientUser ---------------------------------------------------------------------------

    def on_response(self, txn: ClientTransaction, response: Response) -> None:
        """A response from the transaction layer (2xx retransmissions included)."""
        if txn is not self.txn:
            return
        status = response.status
        if status < 200:
            if status > 100:
                self.outcome.on_provisional(response)
            return
        if self.request.method == "INVITE" and status < 300:
            self._invite_accepted(response)
            return
        if self._finished:
            return
        if status in CHALLENGES and self._answer_challenge(response):
            return
        self._finished = True
        self.outcome.on_final(response, None)

    def on_timeout(self, txn: ClientTransaction) -> None:
        """Timer B/F or a transport error."""
        if txn is self.txn and not self._finished:
            self._finished = True
            self.outcome.on_timeout()

    # -- digest (RFC 3261 §22.2) ----------------------------------------------------------------

    def _answer_challenge(self, response: Response) -> bool:
        """Send the request again with credentials; False when it cannot or should not."""
        if self.credentials is None or self.challenges >= MAX_CHALLENGES:
            return False
        challenge_header, credential_header = CHALLENGES[response.status]
        challenge = digest.best_challenge(response.headers.get_all(challenge_header))
        if challenge is None or (self.challenges and not challenge.stale):
            return False  # a second plain challenge means the password is wrong
        self.challenges += 1
        retry = self.request.copy()
        retry.headers.replace_first("via", with_new_branch(top_via(self.request)))
        retry.headers.set("CSeq", f"{self.request.cseq.seq + 1} {self.request.method}")
        kept = [value for value in retry.headers.get_all(credential_header.lower())
                if (digest.parse_digest(value) or {}).get("realm") != challenge.realm]
        retry.headers.remove(credential_header.lower())
        for value in kept:
            retry.headers.add(credential_header, value)
        retry.headers.add(credential_header, digest.authorization(
            challenge, self.credentials.username, self.credentials.password,
            self.request.method, str(self.request.uri)))
        self.request = retry
        self.txn = self.layer.client(retry, self.peer, self)
        return True

    # -- INVITE 2xx (RFC 3261 §13.2.2.4) -----------------------------------------------------

    def _invite_accepted(self, response: Response) -> None:
        tag = response.to.tag or ""
        sent = self._acks.get(tag)
        if sent is not None:  # a retransmitted 2xx: the same ACK again
            self.layer.send(sent, self._ack_peer(sent))
            return
        if self._waiting is not None and self._waiting[0] == tag:
            return  # retransmitted while its answer is not here yet
        try:
            dialog = Dialog.uac(self.request, response)
        except SipParseError:
            return  # no tags or no Contact: nothing to acknowledge to
        if self._ack_later and self.dialog is None and not self._finished:
            self._waiting = (tag, dialog)
            self._finished = True
            self.dialog = dialog
            self.outcome.on_final(response, dialog)
            return
        self._send_ack(tag, dialog)
        if self.dialog is None and not self._finished:
            self._finished = True
            self.dialog = dialog
            self.outcome.on_final(response, dialog)
            return
        # Another fork answered too (§13.2.2.4): acknowledged, then hung up.
        bye = dialog.request("BYE", via=with_new_branch(top_via(self.request)))
        hop = self._peer_for(dialog)
        self.layer.client(bye, hop, _Quiet())

    @property
    def awaiting_ack(self) -> bool:
        """Whether a 2xx waits for ``acknowledge``."""
        return self._waiting is not None

    def acknowledge(self, body: bytes = b"", content_type: str | None = None) -> None:
        """Send the ACK the 2xx of an INVITE sent with ``ack_later`` waits for, carrying
        ``body`` (the answer to the 2xx's offer); nothing when none waits."""
        if self._waiting is None:
            return
        tag, dialog = self._waiting
        self._waiting = None
        self._send_ack(tag, dialog, body, content_type)

    def _send_ack(self, tag: str, dialog: Dialog, body: bytes = b"",
                  content_type: str | None = None) -> None:
        ack = dialog.request("ACK", via=with_new_branch(top_via(self.request)),
                             cseq=self.request.cseq.seq, headers=self._credential_headers(),
                             body=body, content_type=content_type)
        self._acks[tag] = ack
        self.layer.send(ack, self._ack_peer(ack))

    def _credential_headers(self) -> tuple[tuple[str, str], ...]:
        return tuple((name, value) for _, name in CHALLENGES.values()
                     for value in self.request.headers.get_all(name.lower()))

    def _ack_peer(self, ack: Request) -> Peer:
        routes = ack.routes
        target = routes[0].uri if routes else ack.uri
        return (self.resolve(target) if self.resolve else None) or self.peer

    def _peer_for(self, dialog: Dialog) -> Peer:
        return (self.resolve(dialog.next_hop()) if self.resolve else None) or self.peer


class _Quiet:
    """The client user of a request whose answer changes nothing."""

    def on_response(self, txn: ClientTransaction, response: Response) -> None:
        return None

    def on_timeout(self, txn: ClientTransaction) -> None:
        return None


class Accepted:
    """A UAS's 2xx to an INVITE, sent and retransmitted until its ACK (RFC 3261 §13.3.1.4).

    Over UDP the 2xx goes again after T1, doubling up to T2; on any transport, no ACK within
    64*T1 calls ``on_no_ack`` (the session should then be ended with a BYE).
    """

    def __init__(self, layer: TransactionLayer, txn: ServerTransaction, response: Response,
                 on_no_ack: Callable[[], None]) -> None:
        self.layer = layer
        self.response = response
        self.peer = txn.reply_to
        self.reliable = txn.peer.reliable
        self.cseq = txn.request.cseq.seq
        self.on_no_ack = on_no_ack
        self.acked = False
        self._interval = layer.timing.t1
        self._timers: list[TimerHandle] = []
        txn.respond(response)
        if not self.reliable:
            self._timers.append(layer.timers.call_later(self._interval, self._retransmit))
        self._timers.append(layer.timers.call_later(layer.timing.timeout, self._give_up))

    def ack(self, request: Request) -> bool:
        """Take an ACK; True when it acknowledges this 2xx (same CSeq number)."""
        if request.method != "ACK" or request.cseq.seq != self.cseq:
            return False
        if not self.acked:
            self.acked = True
            self._stop()
        return True

    def _retransmit(self) -> None:
        if self.acked:
            return
        self.layer.send(self.response, self.peer)
        self._interval = min(2 * self._interval, self.layer.timing.t2)
        self._timers.append(self.layer.timers.call_later(self._interval, self._retransmit))

    def _give_up(self) -> None:
        if not self.acked:
            self._stop()
            self.on_no_ack()

    def _stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
