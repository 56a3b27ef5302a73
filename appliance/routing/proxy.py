"""Stateful forwarding (RFC 3261 §16): one server transaction, parallel client branches.

``ProxyCall`` forks a request to its targets, relays provisional responses, sends every 2xx
upstream at once and cancels the other branches, and otherwise answers with the best final
response once every branch has finished (§16.7). A CANCEL from the caller cancels each
branch as soon as that branch has sent a provisional response (§16.10). A call rings until
it is answered, CANCELed, or its ring limit passes (then the branches are CANCELed and the
caller gets 480); Timer C (3 min, restarted by each provisional response, §16.7 step 2)
is only the safety net for a branch that rings for ever. A CANCELed branch that sends no
final answer within 64*T1 counts as 408 (§9.1), so no fork waits for ever.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from appliance.sip.message import Request, Response, make_response
from appliance.sip.slim import slim_request
from appliance.sip.transaction import (
    MAGIC,
    ClientTransaction,
    Peer,
    ServerTransaction,
    TimerHandle,
    TransactionLayer,
)

log = logging.getLogger(__name__)

TIMER_C = 180.0
# Best-response order within the 4xx class: a busy callee beats an absent one, and so on.
_PREFERRED = (486, 600, 603, 480, 487, 404, 410, 408)


def new_branch(loop_hash: str = "") -> str:
    """A fresh RFC 3261 branch, carrying the loop-detection hash when given."""
    return f"{MAGIC}-{loop_hash}-{secrets.token_hex(8)}" if loop_hash else \
        f"{MAGIC}-{secrets.token_hex(10)}"


def rank(status: int) -> tuple[int, int]:
    """Sort key of a final response: lower is better (§16.7 step 6)."""
    klass = status // 100
    order = {6: 0, 2: 0, 3: 1, 4: 2, 5: 3}.get(klass, 4)
    return (order, _PREFERRED.index(status) if status in _PREFERRED else len(_PREFERRED))


def upstream(response: Response) -> Response | None:
    """The response with our Via removed, to relay; None if no Via would be left."""
    relayed = response.copy()
    relayed.headers.remove_first("via")
    return relayed if "via" in relayed.headers else None


def cancel_for(request: Request) -> Request:
    """The CANCEL of a forwarded request (RFC 3261 §9.1): same top Via, Route and CSeq number."""
    cancel = Request("CANCEL", request.uri)
    cancel.headers.add("Via", request.headers.get_all("via")[0], split=False)
    for name in ("max-forwards", "from", "to", "call-id"):
        value = request.headers.get(name)
        if value is not None:
            cancel.headers.add(name, value, split=False)
    cancel.headers.add("CSeq", f"{request.cseq.seq} CANCEL")
    for value in request.headers.get_all("route"):
        cancel.headers.add("Route", value)
    return cancel


Observer = Callable[["ProxyCall", "Branch", Response], None]


@dataclass
class Branch:
    """One forwarded copy of the request."""

    request: Request
    peer: Peer
    txn: ClientTransaction | None = None
    final: int = 0
    provisional: bool = False
    cancel_wanted: bool = False
    cancelled: bool = False
    timer_c: TimerHandle | None = None
    reason: str = ""
    answer: Response | None = None  # the first 2xx


@dataclass
class ProxyCall:
    """A request forked to its branches, answered upstream through ``server``."""

    layer: TransactionLayer
    server: ServerTransaction
    on_done: Callable[[ProxyCall], None]
    branches: list[Branch] = field(default_factory=list)
    best: Response | None = None
    answered: bool = False  # a final response went upstream
    status: int = 0  # the final status that went upstream
    cancelled: bool = False
    on_answer: Observer | None = None  # each branch's first 2xx, relayed or not
    timer_c: float = TIMER_C
    to_tag: str | None = None  # our To tag, for answers the proxy makes itself
    _ring_limit: TimerHandle | None = None

    def fork(self, targets: list[tuple[Request, Peer]], ring_timeout: float | None = None) -> None:
        """Start one client transaction per target; an INVITE rings at most ``ring_timeout``
        seconds (None: until Timer C)."""
        for request, peer in targets:
            self.branches.append(Branch(request, peer))
        for branch in list(self.branches):
            branch.txn = self.layer.client(branch.request, branch.peer, _BranchUser(self, branch))
            if branch.request.method == "INVITE":
                self._arm_timer_c(branch)
        if ring_timeout is not None and self.server.request.method == "INVITE":
            self._ring_limit = self.layer.timers.call_later(ring_timeout, self._rang_out)

    def _arm_timer_c(self, branch: Branch) -> None:
        if branch.timer_c is not None:
            branch.timer_c.cancel()
        branch.timer_c = self.layer.timers.call_later(
            self.timer_c, lambda: self._timer_c(branch))

    def cancel(self, reason: str = "") -> None:
        """The caller CANCELed, or another branch answered: cancel every pending branch."""
        self.cancelled = True
        for branch in self.branches:
            self._cancel_branch(branch, reason)

    def cancel_toward(self, host: str, status: int, reason: str = "") -> None:
        """CANCEL the pending branches to ``host``; if no other branch is left ringing, the
        call ends: ``status`` to the caller."""
        alive = [b for b in self.branches if not b.final and not b.cancel_wanted]
        if all(b.peer.host == host for b in alive):
            self.abort(status, reason)
            return
        for branch in alive:
            if branch.peer.host == host:
                self._cancel_branch(branch, reason)

    def abort(self, status: int, reason: str = "") -> None:
        """End the call now: ``status`` to the caller unless answered, every pending branch
        CANCELed (``reason`` as their Reason header)."""
        if not self.answered:
            self._respond(make_response(self.server.request, status, to_tag=self.to_tag))
        self.cancel(reason)

    def _rang_out(self) -> None:
        if not self.answered:
            log.info("sip: call %s rang out", self.server.request.call_id)
            self.abort(480, 'SIP;cause=480;text="No answer"')

    def _respond(self, response: Response) -> None:
        """Send a final response upstream (the first one counts)."""
        if response.status >= 200 and not self.answered:
            self.answered, self.status = True, response.status
            if self._ring_limit is not None:
                self._ring_limit.cancel()
        self.server.respond(response)

    def _cancel_branch(self, branch: Branch, reason: str = "") -> None:
        if branch.final or branch.cancelled or branch.request.method != "INVITE":
            return
        branch.cancel_wanted, branch.reason = True, reason
        if branch.provisional:
            branch.cancelled = True
            cancel = cancel_for(branch.request)
            if reason:
                cancel.headers.add("Reason", reason)
            self.layer.client(cancel, branch.peer, Ignore())
            # §9.1: no final answer 64*T1 after the CANCEL, and the branch is given up.
            self.layer.timers.call_later(self.layer.timing.timeout,
                                         lambda: self._give_up(branch))

    def _give_up(self, branch: Branch) -> None:
        if not branch.final and branch.txn is not None:
            branch.txn.transport_error()

    def _timer_c(self, branch: Branch) -> None:
        if branch.final:
            return
        if branch.provisional:
            self._cancel_branch(branch)
        elif branch.txn is not None:
            branch.txn.transport_error()

    def response(self, branch: Branch, response: Response) -> None:
        """A response on ``branch``."""
        status = response.status
        if status < 200:
            self._provisional(branch, response)
            return
        first_final = not branch.final
        branch.final = status
        if branch.timer_c is not None:
            branch.timer_c.cancel()
        if status < 300:
            self._success(branch, response, first_final)
            return
        if not first_final:
            return
        if self.best is None or rank(status) < rank(self.best.status):
            self.best = response
        if status >= 600:
            for other in self.branches:
                self._cancel_branch(other)
        self._maybe_done()

    def _provisional(self, branch: Branch, response: Response) -> None:
        branch.provisional = True
        if branch.cancel_wanted and not branch.cancelled:
            self._cancel_branch(branch, branch.reason)
        elif branch.timer_c is not None and not branch.cancelled:
            self._arm_timer_c(branch)  # §16.7 step 2: a provisional restarts Timer C
        relayed = upstream(response)
        if response.status > 100 and relayed is not None and not self.answered:
            self.server.respond(relayed)

    def _success(self, branch: Branch, response: Response, first: bool) -> None:
        """A 2xx (or its retransmission): upstream at once, unless the caller was already
        answered with a failure; the other branches are CANCELed."""
        relayed = upstream(response)
        if relayed is not None and not (self.answered and self.status >= 300):
            self._respond(relayed)
        if first:
            branch.answer = response
            if self.on_answer is not None:
                self.on_answer(self, branch, response)
            for other in self.branches:
                self._cancel_branch(other, 'SIP;cause=200;text="Call completed elsewhere"')
        self._maybe_done()

    def timeout(self, branch: Branch) -> None:
        """No answer on ``branch`` (Timer B/F, or a transport failure): it counts as 408."""
        if branch.final:
            return
        branch.final = 408
        if self.best is None or rank(408) < rank(self.best.status):
            self.best = make_response(branch.request, 408)
        self._maybe_done()

    def _maybe_done(self) -> None:
        if not all(b.final for b in self.branches):
            return
        if not self.answered:
            self._respond(self._best_upstream())
        if self._ring_limit is not None:
            self._ring_limit.cancel()
        self.on_done(self)
        # Accepted branches stay up to 32 s for 2xx retransmissions: from now on each hands
        # them straight upstream (§16.7 step 5) and this call, with its messages, is let go.
        relay = _Relay(self.layer, self.server.reply_to) if self.status < 300 else Ignore()
        for branch in self.branches:
            if branch.txn is not None:
                branch.txn.user = relay
            branch.txn = None
        self.best = None
        for branch in self.branches:
            branch.request = slim_request(branch.request)
            branch.answer = None

    def _best_upstream(self) -> Response:
        best = self.best
        request = self.server.request
        if best is None:
            return make_response(request, 408, to_tag=self.to_tag)
        relayed = upstream(best) if best.headers.get_all("via")[1:] else None
        if relayed is None or best.status == 503:  # §16.7 step 6: a 503 becomes 500
            return make_response(request, 500 if best.status == 503 else best.status,
                                 to_tag=self.to_tag)
        return relayed


class _BranchUser:
    """Adapts one branch's client transaction to its ProxyCall."""

    def __init__(self, call: ProxyCall, branch: Branch) -> None:
        self.call, self.branch = call, branch

    def on_response(self, txn: ClientTransaction, response: Response) -> None:
        self.call.response(self.branch, response)

    def on_timeout(self, txn: ClientTransaction) -> None:
        self.call.timeout(self.branch)


class _Relay:
    """The user of an answered fork's accepted branches: a 2xx retransmission goes upstream."""

    def __init__(self, layer: TransactionLayer, reply_to: Peer) -> None:
        self.layer, self.reply_to = layer, reply_to

    def on_response(self, txn: ClientTransaction, response: Response) -> None:
        relayed = upstream(response) if response.status >= 200 else None
        if relayed is not None:
            self.layer.send(relayed, self.reply_to)

    def on_timeout(self, txn: ClientTransaction) -> None:
        return None


class Ignore:
    """The client user of a request whose answer changes nothing (a CANCEL, the box's BYE)."""

    def on_response(self, txn: ClientTransaction, response: Response) -> None:
        return None

    def on_timeout(self, txn: ClientTransaction) -> None:
        return None
