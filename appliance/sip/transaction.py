"""The four RFC 3261 §17 transaction state machines, sans-I/O, with timers injected.

``TransactionLayer`` matches incoming messages to transactions, retransmits over unreliable
transports and fires the RFC timers through an injected ``Timers`` (the event loop in the
daemon, a fake clock in tests). It knows nothing of proxies or registrars: new requests go to
a ``TransactionUser``, client transaction results to the ``ClientUser`` that created them, so
a proxy and a user agent core can both sit on top of it. INVITE 2xx handling follows RFC 6026
(Accepted states, Timers L and M). What a finished transaction must still absorb or answer is
kept as small entries in ``Lingering`` maps, not as the transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from appliance.errors import SipParseError
from appliance.sip.linger import ABSORB, Absorb, Lingering
from appliance.sip.message import Request, Response, Via, make_response
from appliance.sip.slim import slim_request
from appliance.sip.uri import parse_uri

log = logging.getLogger(__name__)

MAGIC = "z9hG4bK"
Message = Request | Response


@dataclass(frozen=True, slots=True)
class Peer:
    """Where a message came from or goes to: transport ("udp", "tcp", "tls"), host, port."""

    transport: str
    host: str
    port: int

    @property
    def reliable(self) -> bool:
        """Stream transports need no retransmissions (RFC 3261 §17.1.1.2)."""
        return self.transport != "udp"


@dataclass(frozen=True)
class Timing:
    """RFC 3261 timer values in seconds (Table 4); T1 500 ms, T2 4 s, T4 5 s by default."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0

    @property
    def timeout(self) -> float:
        """64*T1: Timers B, F, H, J (unreliable), L and M."""
        return 64 * self.t1


class TimerHandle(Protocol):
    """A scheduled callback that can be cancelled."""

    def cancel(self) -> None:
        """Do not run the callback."""


class Timers(Protocol):
    """The clock the transactions run on."""

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        """Run ``callback`` after ``delay`` seconds."""


class TransactionUser(Protocol):
    """What sits on the transaction layer: a proxy core, a UA core."""

    def on_request(self, txn: ServerTransaction, request: Request) -> None:
        """A new request (never ACK) in its new server transaction."""

    def on_ack(self, request: Request, peer: Peer) -> None:
        """An ACK that matches no transaction (an ACK for a 2xx, end to end)."""

    def on_stray_response(self, response: Response, peer: Peer) -> None:
        """A response that matches no client transaction (e.g. a retransmitted 2xx)."""


class ClientUser(Protocol):
    """Whoever started a client transaction."""

    def on_response(self, txn: ClientTransaction, response: Response) -> None:
        """A response to the request (provisional or final; 2xx retransmissions too)."""

    def on_timeout(self, txn: ClientTransaction) -> None:
        """No final response in time (Timer B or F), or the transport failed."""


Send = Callable[[Message, Peer], None]

# Parked Timer J answers: at 2,000 a second each still lives T2 (4 s), the longest a client
# waits between retransmissions; at 4,000, 2 s, past its first two (T1, 3*T1). Only a client
# whose answer was lost retransmits at all (Kamailio keeps a finished transaction 5 s).
MAX_COMPLETED = 8_192
MAX_SETTLED = 65_536  # accepted and absorbing transactions' entries, server and client each
# What an accepted client transaction holds in place of its request: it sends nothing again.
SETTLED = Request("ACK", parse_uri("sip:settled.invalid"))


def top_via(message: Request | Response) -> Via:
    """The top Via alone (parsed once per message); SipParseError if absent or malformed."""
    return message.top_via


def _key_branch(request: Request) -> tuple[str, ...]:
    """The RFC 3261 §17.2.3 server key, or the RFC 2543 fallback without a magic cookie."""
    via = top_via(request)
    branch = via.branch or ""
    method = "INVITE" if request.method == "ACK" else request.method
    sent_by = f"{via.host}:{via.port or ''}"
    if branch.startswith(MAGIC) and len(branch) > len(MAGIC):
        return (branch, sent_by, method)
    # §17.2.3 fallback, simplified: the To tag is left out so that an ACK matches its INVITE.
    return ("2543", request.call_id, request.from_.tag or "", str(request.cseq.seq), method,
            str(request.uri), sent_by, branch)


def response_peer(request: Request, peer: Peer) -> Peer:
    """Where responses to ``request`` go (RFC 3261 §18.2.2, RFC 3581): the stream it came on,
    else the source address and, without rport, the port in the top Via."""
    if peer.reliable:
        return peer
    via = top_via(request)
    port = peer.port if "rport" in via.params else (via.port or 5060)
    return Peer(peer.transport, peer.host, port)


class ServerTransaction:
    """An INVITE or non-INVITE server transaction (RFC 3261 §17.2.1, §17.2.2; RFC 6026)."""

    def __init__(self, layer: TransactionLayer, key: tuple[str, ...], request: Request,
                 peer: Peer) -> None:
        """A transaction for ``request``, received from ``peer``; register it under ``key``."""
        self.layer = layer
        self.key = key
        self.request = request
        self.peer = peer
        self.reply_to = response_peer(request, peer)
        self.invite = request.method == "INVITE"
        self.state = "proceeding" if self.invite else "trying"
        self.last: Response | None = None  # kept only while it may be sent again
        self.status = 0  # the last status sent
        self._timers: list[TimerHandle] = []
        self._retransmit = layer.timing.t1

    @property
    def final(self) -> bool:
        """True once a final response was sent."""
        return self.status >= 200

    def respond(self, response: Response) -> None:
        """Send a response (the TU's); a final one moves the machine on."""
        if self.state == "terminated" or (self.final and not (
                self.state == "accepted" and 200 <= response.status < 300)):
            return
        self.last, self.status = response, response.status
        layer = self.layer
        if layer.send_bytes is not None and not self.invite and response.status >= 200 \
                and not self.peer.reliable:
            # Parked for Timer J as bytes: encoded once, for the wire and the retransmissions.
            try:
                data = response.to_bytes()
            except ValueError:
                log.warning("sip: unsendable response dropped")
                return
            layer.send_bytes(data, self.reply_to)
            self.state = "terminated"
            layer.park(self, data)
            return
        layer.send(response, self.reply_to)
        if response.status < 200:
            if not self.invite:
                self.state = "proceeding"
            return
        # Kept for up to 32 s now: fewer objects for the garbage collector to walk.
        self.request.headers.compact()
        response.headers.compact()
        timing, reliable = self.layer.timing, self.peer.reliable
        if self.invite and response.status < 300:
            if self.state != "accepted":
                self.state = "accepted"
                self.request = slim_request(self.request)
                # Timer L: the layer absorbs retransmitted INVITEs and hands ACKs to the TU;
                # this object lives on only while the TU holds it.
                self.layer.settle_server(self, self.peer)
            self.last = None  # §17.2.1 (RFC 6026): 2xx retransmissions are the TU's to send
        elif self.invite:
            self.state = "completed"
            if not reliable:
                self._later(self._retransmit, self._timer_g)
            self._later(timing.timeout, self._timer_h)
        elif reliable:
            self.state = "completed"
            self._later(0, self._terminate)  # Timer J is 0 on a stream
        else:
            # Timer J: the layer keeps only the response, to answer retransmissions.
            self.state = "terminated"
            self.layer.park(self, response)

    def _later(self, delay: float, callback: Callable[[], None]) -> None:
        self._timers.append(self.layer.timers.call_later(delay, callback))

    def _timer_g(self) -> None:
        if self.state == "completed" and self.last is not None:
            self.layer.send(self.last, self.reply_to)
            self._retransmit = min(2 * self._retransmit, self.layer.timing.t2)
            self._later(self._retransmit, self._timer_g)

    def _timer_h(self) -> None:
        if self.state == "completed":
            log.debug("no ACK for %s (Timer H)", self.request.call_id)
            self._terminate()

    def receive(self, request: Request) -> None:
        """A retransmission or the ACK for a non-2xx final response."""
        if request.method == "ACK":
            if self.state == "accepted":  # RFC 6026 §8.7: an ACK for the 2xx goes to the TU
                self.layer.user.on_ack(request, self.peer)
            elif self.state == "completed":
                self.state = "confirmed"  # Timer I: the layer absorbs (0 on a stream)
                self._terminate()
                if not self.peer.reliable:
                    self.layer.settle_server(self, ABSORB)
            return
        if self.last is not None and self.state in ("proceeding", "completed"):
            self.layer.send(self.last, self.reply_to)

    def _terminate(self) -> None:
        self.state = "terminated"
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self.layer.forget_server(self)


class ClientTransaction:
    """An INVITE or non-INVITE client transaction (RFC 3261 §17.1.1, §17.1.2; RFC 6026)."""

    def __init__(self, layer: TransactionLayer, request: Request, peer: Peer,
                 user: ClientUser) -> None:
        """A transaction sending ``request`` (its top Via carries our branch) to ``peer``."""
        self.layer = layer
        self.request = request
        self.peer = peer
        self.user = user
        self.invite = request.method == "INVITE"
        self.branch = top_via(request).branch or ""
        self.key = (self.branch, request.method)
        self.state = "calling" if self.invite else "trying"
        self.status = 0  # the highest status received so far
        self._timers: list[TimerHandle] = []
        self._retransmit = layer.timing.t1

    def start(self) -> None:
        """Send the request and arm the retransmission and timeout timers."""
        timing = self.layer.timing
        self.layer.send(self.request, self.peer)
        if not self.peer.reliable:
            self._later(timing.t1, self._retransmit_request)  # Timer A or E
        self._timeout = self.layer.timers.call_later(timing.timeout, self._timer_b_f)
        self._timers.append(self._timeout)

    def _later(self, delay: float, callback: Callable[[], None]) -> None:
        self._timers.append(self.layer.timers.call_later(delay, callback))

    def _retransmit_request(self) -> None:
        if self.state not in ("calling", "trying", "proceeding"):
            return
        if self.invite and self.state == "proceeding":
            return
        self.layer.send(self.request, self.peer)
        cap = self.layer.timing.t2
        if self.invite:
            self._retransmit *= 2
        else:
            busy = self.state == "proceeding"
            self._retransmit = cap if busy else min(2 * self._retransmit, cap)
        self._later(self._retransmit, self._retransmit_request)

    def _timer_b_f(self) -> None:
        if self.state in ("calling", "trying", "proceeding") and not (
                self.invite and self.state == "proceeding"):
            user = self.user
            self._terminate()
            user.on_timeout(self)

    def transport_error(self) -> None:
        """The request could not be sent (RFC 3261 §17.1.4): treat as a timeout."""
        if self.state != "terminated":
            user = self.user
            self._terminate()
            user.on_timeout(self)

    def receive(self, response: Response) -> None:
        """A response matched to this transaction."""
        status = response.status
        if self.state == "terminated":
            return
        if status < 200:
            if self.state in ("calling", "trying", "proceeding"):
                if self.state == "calling":
                    # §17.1.1.2: Timer B only fires in Calling; a ringing callee is the proxy's
                    # Timer C and ring limit to end, not Timer B's.
                    self._timeout.cancel()
                self.state = "proceeding"
                self.status = max(self.status, status)
                self.user.on_response(self, response)
            return
        self.request.headers.compact()  # kept until Timer D, K or M: nothing parsed is held
        if self.invite:
            self._invite_final(response)
            return
        if self.state in ("trying", "proceeding"):
            self.status = status
            self.state = "completed"
            user = self.user
            self._terminate()  # Timer K: the layer absorbs retransmissions (0 on a stream)
            if not self.peer.reliable:
                self.layer.settle_client(self.key, ABSORB)
            user.on_response(self, response)

    def _invite_final(self, response: Response) -> None:
        if response.status < 300:
            if self.state in ("calling", "proceeding"):
                self.state = "accepted"
                self.status = response.status
                self.request = SETTLED  # nothing is sent again: 2xx retransmissions go up
                self._cancel_timers()
                self.layer.forget_client(self)
                self.layer.settle_client(self.key, self)  # Timer M
            if self.state == "accepted":
                self.user.on_response(self, response)
            return
        if self.state in ("calling", "proceeding"):
            self.state = "completed"
            self.status = response.status
            self.request = slim_request(self.request)  # enough for the ACKs of Timer D
            self._cancel_timers()
            self.layer.send(self.ack_for(response), self.peer)
            self._later(0 if self.peer.reliable else self.layer.timing.timeout,
                        self._terminate)  # Timer D
            self.user.on_response(self, response)
        elif self.state == "completed":
            self.layer.send(self.ack_for(response), self.peer)

    def ack_for(self, response: Response) -> Request:
        """The ACK for a non-2xx final response (RFC 3261 §17.1.1.3)."""
        ack = Request("ACK", self.request.uri)
        for name in ("via", "max-forwards", "from", "call-id"):
            for value in self.request.headers.get_all(name)[:1 if name == "via" else None]:
                ack.headers.add(name, value, split=False)
        ack.headers.add("To", response.headers.get("to") or "")
        ack.headers.add("CSeq", f"{self.request.cseq.seq} ACK")
        for value in self.request.headers.get_all("route"):
            ack.headers.add("Route", value)
        return ack

    def _cancel_timers(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    def _terminate(self) -> None:
        self.state = "terminated"
        self._cancel_timers()
        self.layer.forget_client(self)
        # The user usually holds this transaction too (a proxy's branch, a UA request): let
        # go of it, so that the pair is freed at once rather than by the cycle collector.
        self.user = _FINISHED


class _Finished:
    """The user of a terminated client transaction: nothing reaches it any more."""

    def on_response(self, txn: ClientTransaction, response: Response) -> None:
        return None

    def on_timeout(self, txn: ClientTransaction) -> None:
        return None


_FINISHED = _Finished()


class TransactionLayer:
    """Holds the live transactions and routes messages between the transport and the TU."""

    def __init__(self, send: Send, timers: Timers, user: TransactionUser,
                 timing: Timing | None = None, max_transactions: int = 100_000,
                 send_bytes: Callable[[bytes, Peer], None] | None = None) -> None:
        """Send through ``send`` (and encoded answers through ``send_bytes``, when given),
        time with ``timers``, hand new requests to ``user``."""
        self.send = send
        self.send_bytes = send_bytes
        self.timers = timers
        self.user = user
        self.timing = timing or Timing()
        self.max_transactions = max_transactions
        self.servers: dict[tuple[str, ...], ServerTransaction] = {}
        self.clients: dict[tuple[str, str], ClientTransaction] = {}
        timeout, width = self.timing.timeout, self.timing.t1 / 5
        cap = min(max_transactions, MAX_COMPLETED)
        # Completed non-INVITE server transactions over UDP (Timer J), as their last response
        # and where it went: far lighter than the transaction, which is let go.
        self.completed: Lingering[tuple[str, ...], tuple[Response | bytes, Peer]] = \
            Lingering(timers, timeout, width, cap)
        # Accepted INVITE server transactions (Timer L) as the peer their ACKs came from, and
        # confirmed ones (Timer I) as ABSORB: what repeats is swallowed, an ACK goes up.
        self.settled: Lingering[tuple[str, ...], Peer | Absorb] = \
            Lingering(timers, timeout, width, max(cap, MAX_SETTLED))
        # Accepted INVITE client transactions (Timer M), completed non-INVITE ones (Timer K).
        self.settled_clients: Lingering[tuple[str, str], ClientTransaction | Absorb] = \
            Lingering(timers, timeout, width, max(cap, MAX_SETTLED))

    def receive(self, message: Message, peer: Peer) -> None:
        """Dispatch a parsed, validated message from ``peer``."""
        if isinstance(message, Request):
            self.receive_request(message, peer)
        else:
            self.receive_response(message, peer)

    def receive_request(self, request: Request, peer: Peer) -> None:
        """Match to a server transaction, else start one (or pass a lone ACK to the TU)."""
        key = _key_branch(request)
        txn = self.servers.get(key)
        if txn is not None:
            txn.receive(request)
            return
        parked = self.completed.get(key)
        if parked is not None:  # a retransmission while Timer J runs
            answer, where = parked
            if isinstance(answer, bytes):
                if self.send_bytes is not None:
                    self.send_bytes(answer, where)
            else:
                self.send(answer, where)
            return
        settled = self.settled.get(key)
        if settled is not None:  # RFC 6026 §8.7: in Accepted an ACK goes to the TU
            if request.method == "ACK" and isinstance(settled, Peer):
                self.user.on_ack(request, settled)
            return
        if request.method == "ACK":
            self.user.on_ack(request, peer)
            return
        if len(self.servers) >= self.max_transactions:
            # Bounded state: a flood must not grow memory; answer statelessly instead.
            self.send(make_response(request, 503, headers=[("Retry-After", "5")]),
                      response_peer(request, peer))
            return
        txn = ServerTransaction(self, key, request, peer)
        self.servers[key] = txn
        self.user.on_request(txn, request)

    def receive_response(self, response: Response, peer: Peer) -> None:
        """Match to a client transaction by top Via branch and CSeq method (§17.1.3)."""
        try:
            key = (top_via(response).branch or "", response.cseq.method)
        except SipParseError:
            return
        txn = self.clients.get(key) or self.settled_clients.get(key)
        if txn is None:
            self.user.on_stray_response(response, peer)
        elif isinstance(txn, ClientTransaction):
            txn.receive(response)

    def client(self, request: Request, peer: Peer, user: ClientUser) -> ClientTransaction:
        """Start a client transaction for ``request`` (its top Via already has our branch)."""
        txn = ClientTransaction(self, request, peer, user)
        self.clients[txn.key] = txn
        txn.start()
        return txn

    def invite_server_for(self, cancel: Request) -> ServerTransaction | None:
        """The INVITE server transaction a CANCEL targets (RFC 3261 §9.2), if still live."""
        key = _key_branch(cancel)
        return self.servers.get((*key[:-1], "INVITE") if key[0] != "2543"
                                else (*key[:4], "INVITE", *key[5:]))

    def park(self, txn: ServerTransaction, response: Response | bytes) -> None:
        """Keep a completed non-INVITE transaction's final response for Timer J, then drop it
        (the transaction itself is let go)."""
        self.forget_server(txn)
        self.completed.put(txn.key, (response, txn.reply_to))

    def settle_server(self, txn: ServerTransaction, entry: Peer | Absorb) -> None:
        """Let go of an accepted or confirmed server transaction, keeping ``entry``."""
        self.forget_server(txn)
        self.settled.put(txn.key, entry)

    def settle_client(self, key: tuple[str, str], entry: ClientTransaction | Absorb) -> None:
        """Keep an accepted client transaction (or ABSORB for a completed one) for 64*T1."""
        self.settled_clients.put(key, entry)

    def forget_server(self, txn: ServerTransaction) -> None:
        """Drop a terminated server transaction."""
        if self.servers.get(txn.key) is txn:
            del self.servers[txn.key]

    def forget_client(self, txn: ClientTransaction) -> None:
        """Drop a terminated client transaction."""
        if self.clients.get(txn.key) is txn:
            del self.clients[txn.key]
