"""What the router does with the calls it set up: admit in-dialog requests, route them,
follow answers, and hang calls up from the box.

An in-dialog request is the box's to relay only if its dialog is one the box set up
(``dialog_of``: in the call registry, or carrying the box's signed Record-Route); where it
goes (``next_hop``) is its next Route, else the other leg's flow. ``hang_up`` ends calls a
directory change invalidated: a ringing call is CANCELed toward the callee and answered to
the caller, an established one gets a BYE to each end built from the recorded dialog views;
``end`` does the same to one whole call (an admin's hang-up, ``appliance calls hangup``).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Protocol

from appliance.routing.calls import (
    SIGNATURE,
    Call,
    CallRegistry,
    RouteSigner,
    SelfEnding,
    late_answer,
)
from appliance.routing.proxy import Branch, Ignore, ProxyCall, new_branch
from appliance.routing.registrar import Binding, Registrar
from appliance.sip.message import Request, Response, SipUri
from appliance.sip.transaction import Message, Peer, TransactionLayer, top_via

log = logging.getLogger(__name__)

# The call an in-dialog request belongs to (None: known by its signature alone), and
# whether the caller sent it.
Found = tuple[Call | None, bool]


class SentBy(Protocol):
    """The box's own address toward a peer."""

    def sent_by(self, transport: str, toward: str) -> tuple[str, int]:
        """Our host and port on ``transport`` as seen from host ``toward``."""

    def has(self, transport: str) -> bool:
        """Whether we listen on ``transport``."""


def uri_peer(uri: SipUri) -> Peer | None:
    """Where a URI points by itself (IP literals only: the box resolves no names yet)."""
    transport = (uri.params.get("transport") or ("tls" if uri.scheme == "sips" else "udp"))
    transport = transport.lower()
    if transport not in ("udp", "tcp", "tls") or not uri.host:
        return None
    host = uri.host
    if not (host.replace(".", "").isdigit() or ":" in host):
        return None
    return Peer(transport, host, uri.port or (5061 if transport == "tls" else 5060))


def bracket(host: str) -> str:
    """A host as written in a Via or URI (IPv6 in brackets)."""
    return f"[{host}]" if ":" in host else host


class CallControl:
    """The call registry put to work for the router."""

    def __init__(self, registry: CallRegistry, signer: RouteSigner, registrar: Registrar,
                 locals_: SentBy, send: Callable[[Message, Peer], None]) -> None:
        """Act through ``send`` and, once set, the transaction ``layer``."""
        self.registry = registry
        self.signer = signer
        self.registrar = registrar
        self.locals = locals_
        self.send = send
        self.layer: TransactionLayer | None = None

    def dialog_of(self, request: Request, popped: list[SipUri]) -> Found | None:
        """The dialog an in-dialog request belongs to, if the box set it up: the call from the
        registry, or (None, False) for a call the registry does not hold (a restart) whose
        signed Record-Route the request carries in a Route the box popped (``popped``).
        None for any other request, and for a call the box has ended."""
        found = self.registry.find(request)
        if found is not None:
            return found if found[0].state != "ended" else None
        if any(self.signer.verify(request, uri.params.get(SIGNATURE)) for uri in popped):
            return None, False
        return None

    def next_hop(self, request: Request, found: Found) -> Peer | None:
        """Where an in-dialog request goes, whatever Route or Request-URI it names (a party to
        a call must not steer the box elsewhere, such as to a trunk): the other leg's flow; in
        an early dialog one of the callee's ringing branches; for a call known by its
        signature alone, a registered phone's flow. None: nowhere."""
        call, from_caller = found
        if call is not None and not from_caller:
            return call.caller.flow
        if call is not None and call.callee is not None:
            return call.callee.flow
        binding: Binding | None = self.registrar.find_contact(str(request.uri))
        if call is not None:
            proxy = call.proxy
            peers = [b.peer for b in proxy.branches] if isinstance(proxy, ProxyCall) else []
            if binding is not None and binding.source in peers:
                return binding.source
            return peers[0] if len(peers) == 1 else None
        if binding is not None:
            return binding.source
        peer = uri_peer(request.uri)
        return peer if peer is not None and self.registrar.has_flow(peer) else None

    def forward_stateless(self, request: Request, found: Found) -> None:
        """Relay an ACK for a 2xx of a dialog the box set up (RFC 3261 §16.11)."""
        peer = self.next_hop(request, found)
        if peer is None or not self.locals.has(peer.transport) or request.max_forwards == 0:
            return
        max_forwards = request.max_forwards
        request.headers.set("Max-Forwards", str(69 if max_forwards is None else
                                                max_forwards - 1))
        host, port = self.locals.sent_by(peer.transport, peer.host)
        # A stateless branch is a function of the incoming one.
        seed = (top_via(request).branch or "") + request.call_id
        branch = "z9hG4bK-s" + hashlib.sha256(seed.encode()).hexdigest()[:16]
        request.headers.prepend("Via", f"SIP/2.0/{peer.transport.upper()} {bracket(host)}:"
                                       f"{port};branch={branch};rport")
        self.send(request, peer)

    def via(self, peer: Peer) -> str:
        """A Via of ours toward ``peer``, with a fresh branch (a request the box starts)."""
        host, port = self.locals.sent_by(peer.transport, peer.host)
        return (f"SIP/2.0/{peer.transport.upper()} {bracket(host)}:{port};"
                f"branch={new_branch()};rport")

    def answered(self, proxy: ProxyCall, branch: Branch, response: Response) -> None:
        """A branch's first 2xx to a new call: the call is established, unless the caller
        was already answered otherwise (then the box ACKs that branch and hangs it up)."""
        request = proxy.server.request
        call = self.registry.get(request.call_id, request.from_.tag or "")
        if proxy.status < 300 and call is not None and call.state == "ringing":
            self.registry.answered(call, branch.request, response, branch.peer)
            return
        if proxy.status >= 300 or (call is not None and call.state == "ended"):
            pair = late_answer(branch.request, response, lambda: self.via(branch.peer))
            if pair is not None and self.layer is not None:
                self.send(pair[0], branch.peer)
                self.layer.client(pair[1], branch.peer, Ignore())

    def finished(self, proxy: ProxyCall) -> None:
        """A fork is over: a new call that was not answered with a 2xx has ended."""
        request = proxy.server.request
        if proxy.status >= 300 and request.method == "INVITE" and request.to.tag is None:
            call = self.registry.get(request.call_id, request.from_.tag or "")
            if call is not None and call.state == "ringing":
                self.registry.end(call, str(proxy.status), proxy.status)

    def hang_up(self, calls: list[tuple[Call, str]], status: int, reason: str,
                host: str | None = None) -> list[Call]:
        """End calls from the box (each with the side a directory change invalidated): a
        ringing one CANCELed toward the callee and answered ``status`` to the caller, an
        established one with a BYE to each end. With ``host`` (a disabled phone), a ringing
        call loses only its branches to that host while others still ring. Returns the
        calls ended."""
        ended = []
        for call, side in calls:
            proxy = call.proxy
            if isinstance(proxy, SelfEnding):  # a B2BUA call: it ends both its legs itself
                proxy.hang_up(status, reason)
                ended.append(call)
                continue
            if call.state == "ringing" and isinstance(proxy, ProxyCall):
                if side == "callee" and host is not None:
                    proxy.cancel_toward(host, status, reason)
                else:
                    proxy.abort(status, reason)
                if not proxy.answered:
                    continue  # still ringing on another phone
            elif call.state == "established" and self.layer is not None:
                for bye, peer in self.registry.byes(call, self.via, reason):
                    self.layer.client(bye, peer, Ignore())
            self.registry.end(call, "hung up")
            ended.append(call)
        return ended

    def end(self, call: Call, reason: str) -> None:
        """End one whole call from the box (an admin's hang-up), as ``hang_up`` does: ringing,
        every branch CANCELed and 480 to the caller; established, a BYE to each end."""
        proxy = call.proxy
        if isinstance(proxy, SelfEnding):
            proxy.hang_up(0, reason)  # 0: no next step of an inbound plan, the call ends
            return
        self.hang_up([(call, "caller")], 480, reason)
