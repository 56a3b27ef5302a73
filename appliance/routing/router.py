"""The routing policy on top of the transaction layer: registrar, dial plan and proxy.

``Router`` is the transaction user. REGISTER goes to the registrar (401 digest challenge);
OPTIONS to the box is answered; a SUBSCRIBE to a mailbox's message summary is authenticated
the same way (401) and goes to the MWI policy (``routing/mwi.py``; other event packages get
489); an out-of-dialog INVITE or MESSAGE is authenticated (407), checked against the dial
plan and the caller's permission, and forked to the callee's
contacts that its receive method allows, with a signed Record-Route so in-dialog requests
(ACK, BYE, re-INVITE) come back through the box. Each forked call is kept in the call
registry (``routing/calls.py``). An in-dialog request is relayed only for a dialog the box
set up: found in the registry, or with a Route to the box whose signature matches its
Call-ID and the caller's tag; anything else is a new request (authenticated, dial-planned)
or, with a To tag, 481. Everything it sends goes through the transaction layer or, for
ACKs and stateless answers, through ``send``. Calls that cross a connection (an INVITE
from one, or an extension's to an outside number) and the requests of their legs go to the
B2BUA (``outside``, ``calls/b2bua.py``) first.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from appliance.directory import Extension
from appliance.errors import SipParseError
from appliance.routing import dialplan
from appliance.routing.callcontrol import CallControl, Found, bracket
from appliance.routing.calls import SIGNATURE, CallRegistry, RouteSigner
from appliance.routing.guard import Guard
from appliance.routing.proxy import ProxyCall, new_branch
from appliance.routing.registrar import Binding, Change, Registrar, fingerprint
from appliance.sip.auth import AuthResult, DigestAuth, RetiredLookup
from appliance.sip.message import Request, Response, SipUri, make_response, parse_uri
from appliance.sip.transaction import (
    Message,
    Peer,
    ServerTransaction,
    TransactionLayer,
    response_peer,
)

if TYPE_CHECKING:
    from appliance.routing.mwi import MessageWaiting

log = logging.getLogger(__name__)

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, MESSAGE, INFO, UPDATE, PRACK, REFER, NOTIFY"
KNOWN = frozenset([*ALLOW.replace(",", " ").split(), "SUBSCRIBE", "PUBLISH"])
# Out-of-dialog requests the box does not route: what each gets.
OUT_OF_DIALOG = {"OPTIONS": 200, "SUBSCRIBE": 489, "PUBLISH": 489, "BYE": 481, "NOTIFY": 481,
                 "INFO": 481, "UPDATE": 481, "PRACK": 481}
ROUTED = frozenset({"INVITE", "MESSAGE"})  # out-of-dialog requests forwarded to extensions
RECEIVE_KINDS = {"desk": {"desk"}, "app": {"app"}, "both": {"desk", "app"}, "mobile": set()}


class Locals(Protocol):
    """The box's own addresses, as the transport bound them."""

    def sent_by(self, transport: str, toward: str) -> tuple[str, int]:
        """Our host and port on ``transport`` as seen from host ``toward``."""

    def is_ours(self, uri: SipUri) -> bool:
        """Whether ``uri`` names this box (a Route or Request-URI to consume)."""

    def has(self, transport: str) -> bool:
        """Whether we listen on ``transport``."""


class Extensions(Protocol):
    """The directory as the router needs it (a cache kept fresh by events)."""

    def get(self, number: str) -> Extension | None:
        """The extension, or None."""

    def by_name(self, name: str) -> Extension | None:
        """The extension with that memorable name, or None."""


class Outside(Protocol):
    """Calls that cross a connection (the B2BUA, ``calls/b2bua.py``): each hook returns True
    when the request was the B2BUA's (answered or carried out there)."""

    def inbound(self, txn: ServerTransaction, request: Request) -> bool:
        """A new INVITE from a connection, or for an office number from anyone else."""

    def outbound(self, txn: ServerTransaction, request: Request, caller: Extension) -> bool:
        """An authenticated extension's INVITE to an outside number."""

    def internal(self, txn: ServerTransaction, caller: Extension, callee: Extension) -> bool:
        """An extension's INVITE to one whose calls go on to a mobile."""

    def in_dialog(self, txn: ServerTransaction, request: Request) -> bool:
        """A request on one of the B2BUA's legs."""

    def ack(self, request: Request) -> bool:
        """An ACK for a 2xx on one of its legs."""

    def cancel(self, invite: ServerTransaction) -> bool:
        """A CANCEL of an INVITE it answers as a UAS."""


# Write the changes, then call back with whether the write succeeded.
Persist = Callable[[list[Change], Callable[[bool], None]], None]
# A binding's field too long for the store, or None (``routing.bindings.too_long``).
FieldCheck = Callable[[Binding], str | None]


def loop_hash(request: Request) -> str:
    """RFC 3261 §16.6 step 8, simplified: the same request coming back is a loop."""
    text = f"{request.uri}|{request.from_.tag}|{request.call_id}|{request.cseq.seq}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class Router:
    """The transaction user of the SIP core: registrar, authentication, dial plan, proxy."""

    def __init__(self, *, registrar: Registrar, auth: DigestAuth, guard: Guard,
                 extensions: Extensions, locals_: Locals, send: Callable[[Message, Peer], None],
                 persist: Persist, md5_only_agents: tuple[str, ...] = (),
                 retired_of: RetiredLookup = lambda user: (),
                 too_long: FieldCheck = lambda binding: None,
                 overloaded: Callable[[], bool] = lambda: False) -> None:
        """Wire the policy pieces; ``layer`` is set once the transaction layer exists."""
        self.registrar = registrar
        self.auth = auth
        self.guard = guard
        self.extensions = extensions
        self.locals = locals_
        self.send = send
        self.persist = persist
        self.md5_only_agents = md5_only_agents
        self.retired_of = retired_of
        self.too_long = too_long
        self.overloaded = overloaded  # too many binding writes waiting: shed REGISTERs
        self.calls: dict[int, ProxyCall] = {}
        self.registry = CallRegistry()
        self.signer = RouteSigner(secrets.token_bytes(32))  # the service sets the box's key
        self.control = CallControl(self.registry, self.signer, registrar, locals_, send)
        self.ring_timeout = 60.0
        self.outside: Outside | None = None  # the B2BUA, once the service wires it
        self.mwi: MessageWaiting | None = None  # message-summary subscriptions (RFC 3842)
        self._layer: TransactionLayer | None = None
        self.stats = {"registered": 0, "calls": 0, "auth_failed": 0, "stale_devices": 0,
                      "write_failed": 0}

    @property
    def layer(self) -> TransactionLayer | None:
        """The transaction layer this router sits on (set once it exists)."""
        return self._layer

    @layer.setter
    def layer(self, layer: TransactionLayer | None) -> None:
        self._layer = self.control.layer = layer

    # -- TransactionUser ----------------------------------------------------------------------

    def on_request(self, txn: ServerTransaction, request: Request) -> None:
        """Route a new request; a header that turns out malformed gets 400, a bug 500."""
        try:
            answer = self._route(txn, request)
        except SipParseError:
            answer = 400
        except Exception:
            # Answer anyway: an unanswered server transaction would never end.
            log.exception("sip: routing a %s failed", request.method)
            answer = 500
        if answer:
            txn.respond(make_response(request, answer, to_tag=self._tag(request)))

    def on_ack(self, request: Request, peer: Peer) -> None:
        """An ACK for a 2xx: forwarded statelessly along its Route set."""
        try:
            if self.outside is not None and self.outside.ack(request):
                return
            popped = self._pop_own_routes(request)
            found = self.control.dialog_of(request, popped)
            if found is not None and (request.headers.get_all("route")
                                      or not self.locals.is_ours(request.uri)):
                self.control.forward_stateless(request, found)
        except SipParseError:
            return

    def on_stray_response(self, response: Response, peer: Peer) -> None:
        """Responses matching no transaction are dropped (never sent to a stranger's Via)."""
        log.debug("stray %d response dropped", response.status)

    # -- dispatch -----------------------------------------------------------------------------

    @staticmethod
    def _tag(request: Request) -> str:
        """Our To tag: stable for a request and its retransmissions (raw values, no parse)."""
        seed = f"{request.headers.get('call-id')}{request.headers.get('from')}"
        return hashlib.sha1(seed.encode(), usedforsecurity=False).hexdigest()[:10]

    def _route(self, txn: ServerTransaction, request: Request) -> int:
        """Handle ``request``; return a status to answer with, or 0 when handled."""
        method = request.method
        first = self._cancel(txn, request) if method == "CANCEL" else self._refusal(txn, request)
        if first is not None:
            return first
        popped = self._pop_own_routes(request)
        status = 0
        if method == "REGISTER":
            self._register(txn, request)
        elif method == "SUBSCRIBE" and self.mwi is not None and self.mwi.wants(request):
            self._subscribe(txn, request)
        elif request.to.tag is not None:
            status = self._in_dialog(txn, request, popped)
        elif method == "OPTIONS" and (not request.uri.user or self.locals.is_ours(request.uri)):
            txn.respond(make_response(request, 200, to_tag=self._tag(request), headers=[
                ("Allow", ALLOW), ("Accept", "application/sdp"), ("Supported", "")]))
        elif request.max_forwards == 0:
            status = 483
        elif method in ROUTED:
            # From a connection (or for an office number from a stranger): the B2BUA's.
            outside = method == "INVITE" and self.outside is not None and \
                self.outside.inbound(txn, request)
            status = 0 if outside else self._call(txn, request)
        else:
            status = OUT_OF_DIALOG.get(method, 405)
        return status

    def _refusal(self, txn: ServerTransaction, request: Request) -> int | None:
        """What is refused before any routing: unknown methods and schemes, unsupported
        extensions (RFC 3261 §8.2.2, §16.3), loops. None when the request may go on."""
        if request.method not in KNOWN:
            txn.respond(make_response(request, 501, headers=[("Allow", ALLOW)]))
            return 0
        if not request.uri.is_sip and request.uri.scheme != "tel":
            return 416
        unsupported = request.tokens("proxy-require")
        if request.method in ("REGISTER", "OPTIONS"):
            unsupported += request.tokens("require")
        if unsupported:
            txn.respond(make_response(request, 420, to_tag=self._tag(request),
                                      headers=[("Unsupported", ", ".join(unsupported))]))
            return 0
        vias = request.headers.get_all("via")
        if len(vias) > 1:
            marker = f"-{loop_hash(request)}-"
            if any(marker in (via.branch or "") for via in request.via[1:]):
                return 482
        return None

    def _pop_own_routes(self, request: Request) -> list[SipUri]:
        """Remove the Route entries naming the box (RFC 3261 §16.4); return their URIs."""
        popped = []
        while request.headers.get_all("route"):
            uri = request.routes[0].uri
            if not self.locals.is_ours(uri):
                break
            request.headers.remove_first("route")
            popped.append(uri)
        return popped

    # -- registrar ----------------------------------------------------------------------------

    def _authenticate(self, request: Request, header: str, peer: Peer) -> tuple[AuthResult,
                                                                                 Extension | None]:
        def password_of(user: str) -> str | None:
            ext = self.extensions.get(user)
            return ext.sip_password if ext is not None else None

        result = self.auth.verify(request, header, password_of, self.retired_of)
        if result.outcome == "failed":
            self.stats["auth_failed"] += 1
            self.guard.auth_failed(peer.host, result.username or "")
        elif result.outcome == "retired":
            # A stale device (rotated password, freed extension): answered like any failure,
            # never counted towards a ban of its source (an office's NAT address).
            self.stats["stale_devices"] += 1
            if self.guard.stale_device(peer.host, result.username or ""):
                log.info("sip: %s still uses a retired password of %s", peer.host,
                         (result.username or "")[:32])
        ext = self.extensions.get(result.username or "") if result.ok else None
        return result, ext

    def _challenge(self, txn: ServerTransaction, request: Request, status: int,
                   result: AuthResult) -> None:
        name = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
        agent = (request.headers.get("user-agent") or "").lower()
        md5_only = any(quirk in agent for quirk in self.md5_only_agents)
        headers = [(name, value) for value in self.auth.challenge(result.outcome == "stale",
                                                                  md5_only)]
        txn.respond(make_response(request, status, to_tag=self._tag(request), headers=headers))

    def _register(self, txn: ServerTransaction, request: Request) -> None:
        aor_uri = request.to.uri
        if not aor_uri.is_sip:
            txn.respond(make_response(request, 400, "AOR Must Be SIP", to_tag=self._tag(request)))
            return
        result, ext = self._authenticate(request, "authorization", txn.peer)
        if not result.ok:
            self._challenge(txn, request, 401, result)
            return
        assert ext is not None
        if (aor_uri.user or "") != ext.sip_username or ext.employee_id is None:
            txn.respond(make_response(request, 403, to_tag=self._tag(request)))
            return
        if self.overloaded():
            # RFC 3261 §21.5.4: the writes waiting are bounded, and so is the memory they hold.
            txn.respond(make_response(request, 503, to_tag=self._tag(request),
                                      headers=[("Retry-After", "1")]))
            return
        number = ext.number
        before = dict(self.registrar.table.get(number, {}))
        response, changes = self.registrar.register(
            request, number, txn.peer, to_tag=self._tag(request),
            credential=fingerprint(self.signer.key, ext.sip_password))
        field = next((f for c in changes if not c.delete
                      and (f := self.too_long(c.binding)) is not None), None)
        if field is not None:
            # Refused whole rather than stored cut: the store's column would not hold it.
            self.registrar.revert(number, before, changes)
            txn.respond(make_response(request, 400, f"{field} Too Long",
                                      to_tag=self._tag(request)))
            return

        def written(ok: bool) -> None:
            if ok:
                if response.status == 200:
                    self.stats["registered"] += 1
                txn.respond(response)
                return
            # Never acknowledged unless stored: undo the change in memory too.
            self.stats["write_failed"] += 1
            self.registrar.revert(number, before, changes)
            txn.respond(make_response(request, 500, "Registration Not Stored",
                                      to_tag=self._tag(request)))
        self.persist(changes, written)

    def _subscribe(self, txn: ServerTransaction, request: Request) -> None:
        """A SUBSCRIBE to a mailbox's message summary: authenticated as a REGISTER is (401),
        then the MWI policy's (``routing/mwi.py``)."""
        assert self.mwi is not None
        result, ext = self._authenticate(request, "authorization", txn.peer)
        if not result.ok:
            self._challenge(txn, request, 401, result)
            return
        assert ext is not None
        self.mwi.subscribe(txn, request, ext, self._tag(request))

    # -- calls --------------------------------------------------------------------------------

    def _call(self, txn: ServerTransaction, request: Request) -> int:
        outside = self.outside if request.method == "INVITE" else None
        result, caller = self._authenticate(request, "proxy-authorization", txn.peer)
        if not result.ok:
            self._challenge(txn, request, 407, result)
            return 0
        assert caller is not None
        if (request.from_.uri.user or "") != caller.sip_username or caller.employee_id is None:
            return 403
        if outside is not None and outside.outbound(txn, request, caller):
            return 0
        callee, refusal = self._callee(caller, request.uri)
        if refusal is not None:
            txn.respond(make_response(request, refusal[0], refusal[1],
                                      to_tag=self._tag(request)))
            if request.method == "INVITE":  # into the call history
                self.registry.refused(request, txn.peer, caller.number,
                                      request.uri.user or "", refusal[0])
            return 0
        assert callee is not None
        return self._ring(txn, request, caller, callee, outside)

    def _ring(self, txn: ServerTransaction, request: Request, caller: Extension,
              callee: Extension, outside: Outside | None) -> int:
        """Ring ``callee`` for ``caller``: through the B2BUA when their calls go on to a
        mobile, else their phones through the proxy (480: none to ring)."""
        if outside is not None and outside.internal(txn, caller, callee):
            return 0
        kinds = RECEIVE_KINDS.get(callee.receive, set())
        bindings = [b for b in self.registrar.lookup(callee.number) if b.kind in kinds]
        if not bindings:
            if request.method == "INVITE":  # nowhere to ring: the callee missed it
                self.registry.refused(request, txn.peer, caller.number, callee.number, 480,
                                      "missed")
            return 480
        if request.method == "INVITE":
            txn.respond(make_response(request, 100))
        self.stats["calls"] += 1
        self._proxy(txn, request, [(b.contact, b.source) for b in bindings], record_route=True,
                    parties=(caller.number, callee.number))
        return 0

    def _callee(self, caller: Extension, uri: SipUri) -> tuple[Extension | None,
                                                               tuple[int, str] | None]:
        """The extension dialled, or the (status, reason) refusing the call (dial plan)."""
        destination = dialplan.classify(uri)
        if destination.kind == "number":
            allowed = dialplan.permits(caller.permission, destination.needs)
            return None, (403, "No Trunk Configured" if allowed else "Call Not Permitted")
        callee = None
        if destination.kind == "extension":
            callee = self.extensions.get(destination.target)
        elif destination.kind == "name":
            callee = self.extensions.by_name(destination.target)
        if callee is None:
            return None, (404, "Not Found")
        if callee.employee_id is None:
            return None, (410, "Not In Service")
        return callee, None

    def _proxy(self, txn: ServerTransaction, request: Request,
               targets: list[tuple[str | None, Peer]], record_route: bool,
               parties: tuple[str, str] | None = None,
               dialog: Found | None = None) -> None:
        """Fork ``request``: a new call between ``parties`` (Record-Routed, signed, in the
        registry), or an in-dialog request of ``dialog`` (the call, and whether the caller
        sent it) when known."""
        assert self.layer is not None
        call = ProxyCall(self.layer, txn, self._done, to_tag=self._tag(request),
                         timer_c=max(180.0, self.ring_timeout + 30.0))
        signature = self.control.signer.sign(request.call_id, request.from_.tag or "") \
            if record_route else None
        forwards = []
        for contact, peer in targets:
            forward = self._prepare(request, contact, peer, txn.peer, signature)
            if forward is not None:
                forwards.append((forward, peer))
        if not forwards:
            txn.respond(make_response(request, 480, to_tag=self._tag(request)))
            return
        self.calls[id(txn)] = call
        ring = None
        if parties is not None and request.method == "INVITE":
            self.registry.start(request, txn.peer, parties[0], parties[1], call)
            call.on_answer, ring = self.control.answered, self.ring_timeout
        elif dialog is not None and dialog[0] is not None and request.method in ("INVITE",
                                                                                  "UPDATE"):
            known, from_caller = dialog[0], dialog[1]
            call.on_answer = lambda p, b, r: self.registry.refreshed(
                known, from_caller, p.server.request, r)
        call.fork(forwards, ring)

    def _done(self, call: ProxyCall) -> None:
        self.calls.pop(id(call.server), None)
        self.control.finished(call)

    def _prepare(self, request: Request, contact: str | None, peer: Peer, inbound: Peer,
                 signature: str | None) -> Request | None:
        """The copy of ``request`` for one target (RFC 3261 §16.6); a new call (with
        ``signature``) is Record-Routed and goes to the target alone, whatever Route it
        came with (the box routes new requests by its dial plan, never by a preloaded
        route)."""
        record_route = signature is not None
        forward = request.copy()
        if record_route:
            forward.headers.remove("route")
        if contact is not None:
            try:
                forward.uri = parse_uri(contact)
            except SipParseError:
                return None
        max_forwards = request.max_forwards
        forward.headers.set("Max-Forwards", str(69 if max_forwards is None else
                                                max_forwards - 1))
        realm = f'realm="{self.auth.realm}"'
        kept = [v for v in forward.headers.get_all("proxy-authorization") if realm not in v]
        forward.headers.remove("proxy-authorization")
        for value in kept:
            forward.headers.add("Proxy-Authorization", value)
        if record_route:
            host, port = self.locals.sent_by(inbound.transport, inbound.host)
            sig = f";{SIGNATURE}={signature}"
            rr_in = f"<sip:{bracket(host)}:{port};transport={inbound.transport};lr{sig}>"
            forward.headers.prepend("Record-Route", rr_in)
            if peer.transport != inbound.transport:
                host, port = self.locals.sent_by(peer.transport, peer.host)
                forward.headers.prepend("Record-Route", f"<sip:{bracket(host)}:{port};"
                                                        f"transport={peer.transport};lr{sig}>")
        host, port = self.locals.sent_by(peer.transport, peer.host)
        branch = new_branch(loop_hash(request))
        forward.headers.prepend("Via", f"SIP/2.0/{peer.transport.upper()} {bracket(host)}:{port}"
                                       f";branch={branch};rport")
        return forward

    def _cancel(self, txn: ServerTransaction, request: Request) -> int:
        assert self.layer is not None
        invite = self.layer.invite_server_for(request)
        if invite is None:
            return 481
        txn.respond(make_response(request, 200, to_tag=self._tag(request)))
        if self.outside is not None and self.outside.cancel(invite):
            return 0
        call = self.calls.get(id(invite))
        if call is not None and not call.answered:
            call.cancel()
        elif not invite.final:
            invite.respond(make_response(invite.request, 487, to_tag=self._tag(request)))
        return 0

    # -- in-dialog ----------------------------------------------------------------------------

    def _in_dialog(self, txn: ServerTransaction, request: Request, popped: list[SipUri]) -> int:
        if self.outside is not None and self.outside.in_dialog(txn, request):
            return 0  # a B2BUA leg's: relayed to its other leg, never proxied
        # Not an open relay: only dialogs the box set up (RFC 3261 §16.4 leaves it policy).
        found = self.control.dialog_of(request, popped)
        if found is None:
            return 481
        if request.max_forwards == 0:
            return 483
        peer = self.control.next_hop(request, found)
        if peer is None or not self.locals.has(peer.transport):
            return 404
        call, from_caller = found
        if call is not None:
            self.registry.seen(call, from_caller, request)
        if request.method == "INVITE":
            txn.respond(make_response(request, 100))
        self._proxy(txn, request, [(None, peer)], record_route=False, dialog=found)
        return 0

    def answer_stateless(self, request: Request, status: int, peer: Peer) -> None:
        """Answer a request outside any transaction (e.g. a salvaged malformed one)."""
        if request.method == "ACK":
            return
        try:
            target = response_peer(request, peer)
        except (SipParseError, IndexError):
            target = peer  # an unreadable Via: answer where the request came from
        try:
            self.send(make_response(request, status), target)
        except ValueError:
            return
