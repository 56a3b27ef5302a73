"""The B2BUA: a call that crosses a connection is two dialogs, the box a user agent in each.

Sans-I/O over the transaction layer (timers injected, as the router). The router hands it:

- ``outbound``: an authenticated extension's INVITE to an outside number. ``callplan.
  outbound.plan`` decides (permission class, emergency numbers, prefixes, who may use a
  connection, its call limit); a refusal is answered with its status and reason, else the
  box answers the phone as a UAS (100, each 18x relayed with the box's own To tag) and
  sends a new INVITE through the connection (new Call-ID; From and P-Asserted-Identity the
  office's presented number; Request-URI and To the number as the connection writes it;
  the SDP copied; digest credentials of the connection for 401/407). The outside's 2xx
  goes back as a 200 with its SDP (``Accepted``); a failure mapped (``trunks.
  inside_status``); no answer within ``ring_timeout`` CANCELs the outside, 480 inside.
- ``inbound``: an INVITE from a connection's address (``trunks.connection_from``) for one
  of its office numbers (any spelling of the To or Request-URI user); an unknown number
  gets 404, an INVITE for an office number from anyone else 403: neither goes anywhere.
  ``callplan.inbound.plan`` gives the steps, carried out in turn: ring an extension's
  contacts (as its receive method allows, forked; the first 2xx wins, the others are
  CANCELed) for the step's seconds; forward to an outside number through a connection
  (From the office number with the caller as display name, the called office number in
  ``Diversion``, RFC 5806); ring a queue's rounds in turn (chosen when the call comes from
  the members working and not on a call, in the strategy's order, with the queue's live
  memory kept here), then its fallback; hang up.
- ``in_dialog`` and ``ack``: requests of its legs (matched by Call-ID and the box's tag,
  before the proxy looks at them), relayed to the other leg as new in-dialog requests
  with their body (re-INVITE, UPDATE, INFO...: so hold works), their answers relayed
  back; a BYE on one leg is answered and sent on the other, and the call ends.
- ``cancel``: the caller's CANCEL CANCELs the branches and answers 487.

Every call is in the router's call registry (both legs, extensions, state, times), its
record pointing back here, so a dismissal ends it (``hang_up``: BYE both legs, or CANCEL
and an answer while it rings).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, cast

from appliance.callplan import inbound as inbound_plan
from appliance.callplan import numbers, queues
from appliance.callplan import outbound as outbound_plan
from appliance.callplan.model import (
    CallState,
    Connection,
    LineActivity,
    Number,
    Permission,
    Queue,
)
from appliance.calls import legs, supervise, voicemail
from appliance.calls.anchor import has_sdp
from appliance.calls.bridge import Bridge
from appliance.calls.call import OutsideCall
from appliance.calls.features import FeatureCodes, dialled_code
from appliance.calls.greeting import Prompts, Tones
from appliance.calls.legs import Branch, Leg
from appliance.calls.recordings import RecordedCall
from appliance.calls.servers import configured
from appliance.calls.trunks import connection_from, dialled_user, listed, office_number
from appliance.directory import Extension
from appliance.media.plane import MediaPlane
from appliance.routing.calls import CallRegistry
from appliance.routing.registrar import Binding
from appliance.sip.locate import Address
from appliance.sip.message import Request, make_response
from appliance.sip.transaction import ServerTransaction, TransactionLayer
from appliance.sip.ua import Credentials

log = logging.getLogger(__name__)

RECEIVE_KINDS = {"desk": {"desk"}, "app": {"app"}, "both": {"desk", "app"}, "mobile": set()}


class Extensions(Protocol):
    """The directory's extensions as the router caches them."""

    def get(self, number: str) -> Extension | None:
        """The extension, or None."""


class Contacts(Protocol):
    """The registrar's live bindings."""

    def lookup(self, aor: str) -> list[Binding]:
        """An extension's live bindings, newest first."""


class B2BUA:
    """The back-to-back user agent of calls to and from the office's connections."""

    def __init__(self, *, routing: Callable[[], inbound_plan.Routing], extensions: Extensions,
                 contacts: Contacts, locals_: legs.SentBy, registry: CallRegistry,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 clock: Callable[[], float] = time.time, ring_timeout: float = 60.0) -> None:
        """The call plan from ``routing`` (kept loaded, read per call); ``layer`` set later."""
        self.routing = routing
        self.extensions = extensions
        self.contacts = contacts
        self.locals = locals_
        self.registry = registry
        self.now = now
        self.clock = clock
        self.ring_timeout = ring_timeout
        self.layer: TransactionLayer | None = None
        self.features: FeatureCodes | None = None  # *70/*71, once the service wires them
        # The media plane every call across a connection is anchored in (None: the SDP
        # passes end to end), and how its work runs beside the SIP logic.
        self.media: MediaPlane | None = None
        self.spawn: Callable[[Coroutine[object, object, None]], None] = self._spawn
        # The audio a greeting plays, and the box's tones (None: greetings are skipped).
        self.prompts: Prompts | None = None
        self.tones: Tones | None = None
        self.prompt_folder: Path | None = None  # where uploaded prompts are (media.uploads)
        # The hold music to play to a party put on hold (None: none ready yet).
        self.hold_music: Callable[[], Path | None] | None = None
        # Told of each recorded call once it ended (calls/recordings.py makes the audio).
        self.on_recorded: Callable[[RecordedCall], None] | None = None
        # The voicemail boxes messages are taken for (None: no voicemail).
        self.mailboxes: voicemail.Mailboxes | None = None
        # Supervisor listen-ins: the address the daemon's mixer binds (the media plane's), and
        # how each use is audited (None: no listen-in).
        self.listen_address: str | None = None
        self.audit: supervise.Audit | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # Where a connection's servers are now (the trunk manager's DNS cache once wired; by
        # default the servers given by IP), and who to tell when all of them failed.
        self.addresses: Callable[[Connection], list[Address]] = configured
        self.servers_failed: Callable[[Connection], None] = lambda conn: None
        # Missed-call callbacks (calls/callbacks.py): told of each outside call nobody
        # answered, and of each new outside caller.
        self.on_missed: Callable[[OutsideCall], None] | None = None
        self.on_caller: Callable[[str], None] | None = None
        self.legs: dict[tuple[str, str], tuple[Bridge, Leg]] = {}
        self.ringing: dict[int, OutsideCall] = {}  # id(the caller's INVITE transaction)
        self.live: set[Bridge] = set()
        # Queues' live state: each extension's queue calls, round robin's memory. In memory:
        # a restart starts every member afresh, which no strategy needs more than a day of.
        self.lines: dict[str, LineActivity] = {}
        self.pointers: dict[str, str] = {}
        self.stats = {"outbound": 0, "inbound": 0, "internal": 0, "refused": 0}

    # -- hand-offs from the router ------------------------------------------------------------

    def outbound(self, txn: ServerTransaction, request: Request, caller: Extension) -> bool:
        """An authenticated extension's INVITE: False when it dials no outside number (the
        router goes on: an extension, a name), else True (answered or carried out)."""
        if self._feature(txn, request, caller):
            return True
        user = dialled_user(request.uri)
        dialled = numbers.classify(user)
        if self.extensions.get(user) is not None and not (dialled and dialled.emergency):
            return False
        plans = self.routing()
        result = outbound_plan.plan(
            outbound_plan.Caller(caller.number, cast(Permission, caller.permission),
                                 caller.group), user, listed(plans), in_use=self.in_use())
        if isinstance(result, outbound_plan.Refusal):
            if result.reason == "not_a_number":
                return False
            self.stats["refused"] += 1
            log.info("sip: call from %s to %s refused: %s", caller.number, user[:32],
                     result.phrase)
            self._refuse(txn, result.status, result.phrase)
            self.registry.refused(request, txn.peer, caller.number, user, result.status,
                                  direction="outbound")
            return True
        if self._unsupported(txn) or self._unresolved(txn, caller.number, user,
                                                      result.connection):
            return True
        call = self._start(txn, "out", caller.number, result.number)
        self.stats["outbound"] += 1
        call.dial_out(result.connection, result.number, presented=result.caller_id,
                      display=None, seconds=self.ring_timeout)
        return True

    def internal(self, txn: ServerTransaction, caller: Extension, callee: Extension) -> bool:
        """An extension's INVITE to another: True when the callee's calls reach beyond the
        box (their mobile, ``inbound_plan.internal``), carried out here; False: the proxy
        rings the callee's phones."""
        plans = self.routing()
        view = plans.directory.reachable(callee.number)
        plan = None if view is None else inbound_plan.internal(view, plans, self.now())
        if plan is None:
            return False
        if self._unsupported(txn):
            return True
        if not has_sdp(txn.request) and any(isinstance(s, inbound_plan.Voicemail)
                                            for s in plan.steps):
            return False  # a delayed offer cannot reach the voicemail: the phones alone
        call = self._start(txn, "internal", caller.number, callee.number)
        forward = next((s for s in plan.steps if isinstance(s, inbound_plan.ForwardOut)), None)
        if forward is not None:
            conn = plans.connections[forward.connection_id]
            call.did = conn.presented_id()  # the office number the forward is made for
        call.steps = list(plan.steps)
        self.stats["internal"] += 1
        log.info("sip: call from %s to %s: %s", caller.number, callee.number,
                 ", ".join(type(step).__name__ for step in plan.steps))
        call.advance()
        return True

    def inbound(self, txn: ServerTransaction, request: Request) -> bool:
        """A new INVITE that may come from outside: from a connection (True: carried out or
        answered 404), for an office number from anyone else (True: 403), or neither (False:
        the router authenticates it as a phone's)."""
        plans = self.routing()
        admitted = self._admit(plans, txn, request) if plans.connections else False
        if isinstance(admitted, bool):
            return admitted
        conn, number = admitted
        plan = inbound_plan.plan(number, inbound_plan.InboundCall(
            request.from_.uri.user or "", request.to.uri.user, dialled_user(request.uri)),
            self.now(), replace(plans, state=self.call_state()) if plans.queues else plans)
        call = self._start(txn, "in", None, "")
        call.connections.add(conn.id)
        call.did = number.did
        if call.record is not None:
            call.record.connection, call.record.dialled = conn.name, number.did
        call.steps = list(plan.steps)
        self.stats["inbound"] += 1
        log.info("sip: call from connection %s for %s: %s", conn.name, number.did,
                 ", ".join(type(step).__name__ for step in plan.steps))
        call.advance()
        return True

    def _admit(self, plans: inbound_plan.Routing, txn: ServerTransaction,
               request: Request) -> tuple[Connection, Number] | bool:
        """The connection and office number of a call from outside; True when it was
        refused (answered), False when it is no call from outside."""
        users = (request.to.uri.user, dialled_user(request.uri))
        conn = connection_from(plans, txn.peer.host, self.addresses)
        if conn is None:
            if office_number(plans, users) is None:
                return False
            log.info("sip: INVITE for an office number from %s (not a connection) refused",
                     txn.peer.host)
            self._refuse(txn, 403, "Not A Connection")
            return True
        number = office_number(plans, users, conn)
        if number is None:
            log.info("sip: INVITE from connection %s for a number not the office's refused",
                     conn.name)
            self._refuse(txn, 404, "Not Found")
            self._refused(txn, request, conn, 404, "refused")
            return True
        if conn.max_calls and self.in_use().get(conn.id, 0) >= conn.max_calls:
            self._refuse(txn, 503, "Connection Busy")
            self._refused(txn, request, conn, 503, "busy")
            return True
        return True if self._unsupported(txn) else (conn, number)

    def in_dialog(self, txn: ServerTransaction, request: Request) -> bool:
        """A request with a To tag: True when it belongs to one of the B2BUA's legs (then it
        is answered or relayed to the other leg, never anywhere else)."""
        found = self.legs.get((request.call_id, request.to.tag or ""))
        if found is None:
            return False
        call, leg = found
        call.request_on(leg, txn, request)
        return True

    def ack(self, request: Request) -> bool:
        """An ACK for a 2xx: True when it belongs to one of the legs (it is consumed there:
        the other leg's ACK was sent when its 2xx came, or, for a delayed offer, goes now with
        this one's answer)."""
        found = self.legs.get((request.call_id, request.to.tag or ""))
        if found is None:
            return False
        call, leg = found
        accepted = leg.accepted
        if accepted is not None and accepted.ack(request):
            leg.accepted = None
            call.acked(leg, request)
        return True

    def cancel(self, invite: ServerTransaction) -> bool:
        """The caller CANCELed ``invite`` (the router answered the CANCEL): True when it is
        a B2BUA call's (its branches are CANCELed, the caller gets 487)."""
        call = self.ringing.get(id(invite))
        if call is None:
            return False
        call.abort(487, None, 'SIP;cause=487;text="Caller cancelled"', "cancelled")
        return True

    # -- what the calls use -------------------------------------------------------------------

    def in_use(self) -> dict[int, int]:
        """Live calls per connection id (for the connections' call limits)."""
        counts: dict[int, int] = {}
        for call in self.live:
            for conn_id in call.connections:
                counts[conn_id] = counts.get(conn_id, 0) + 1
        return counts

    def call_state(self) -> CallState:
        """Who is on a call now (an answered call, through the box, of either kind) and the
        queues' memory, for the plan of a new call."""
        talking: set[str] = set()
        for call in self.registry.live():
            if call.state == "established":
                talking.update(e for e in (call.caller.extension, call.callee.extension
                                           if call.callee is not None else
                                           call.callee_extension) if e)
        lines = {ext: replace(self.lines.get(ext, LineActivity()), on_call=ext in talking)
                 for ext in talking | set(self.lines)}
        return CallState(lines=lines, pointers=dict(self.pointers))

    def queue_rang(self, queue: Queue, extension: str) -> None:
        """A queue rang ``extension`` alone: round robin's next call starts after it."""
        pointer = queues.next_pointer(queue, extension)
        if pointer is not None:
            self.pointers[queue.name] = pointer

    def queue_answered(self, queue: Queue, extension: str) -> None:
        """A member answered a queue's call: its count and last call time move on."""
        if extension in queue.members:
            line = self.lines.get(extension, LineActivity())
            self.lines[extension] = LineActivity(False, self.now(), line.calls + 1)

    def connection(self, conn_id: int) -> Connection | None:
        """A connection by id, as configured now."""
        return self.routing().connections.get(conn_id)

    def bindings_for(self, extension: str) -> list[Binding]:
        """The contacts of ``extension`` a call may ring: assigned, receive method allowing
        them, over a transport the box has."""
        ext = self.extensions.get(extension)
        if ext is None or ext.employee_id is None:
            return []
        kinds = RECEIVE_KINDS.get(ext.receive, set())
        return [b for b in self.contacts.lookup(extension)
                if b.kind in kinds and self.locals.has(b.source.transport)]

    def track(self, leg: Leg, call: Bridge) -> None:
        """Recognise requests on ``leg`` from now on."""
        self.legs[leg.key] = (call, leg)

    def untrack(self, leg: Leg) -> None:
        """Stop recognising requests on ``leg``."""
        if self.legs.get(leg.key, (None, None))[1] is leg:
            del self.legs[leg.key]

    def finished(self, call: Bridge) -> None:
        """``call`` ended: forget it and its legs."""
        self.live.discard(call)
        if isinstance(call, OutsideCall):
            self.ringing.pop(id(call.server), None)
            if call.direction == "in" and call.callee is None and self.on_missed is not None:
                self.on_missed(call)
        for leg in call.all_legs():
            self.untrack(leg)

    def answered(self, call: OutsideCall) -> None:
        """``call``'s caller got its 2xx: no CANCEL can reach it any more."""
        self.ringing.pop(id(call.server), None)

    # -- internals ----------------------------------------------------------------------------

    def _feature(self, txn: ServerTransaction, request: Request, caller: Extension) -> bool:
        """True when ``request`` dials a feature code (presence, the mailbox): handled."""
        if self.features is not None and self.features.handle(txn, request, caller):
            return True
        dialled = dialled_code(dialled_user(request.uri))
        target = supervise.target_of(dialled)
        if target is not None:
            supervise.listen(self, txn, caller, target)
            return True
        mode = voicemail.CODES.get(dialled)
        if mode is None:
            return False
        self._mailbox(txn, caller, mode)
        return True

    def _mailbox(self, txn: ServerTransaction, caller: Extension, mode: str) -> None:
        """An employee dialled ``*97`` or ``*98``: the box answers and opens their mailbox
        (``calls/voicemail.py``); without media, voicemail or an offer: refused."""
        if caller.employee_id is None:
            self._refuse(txn, 403, "Not Assigned")
            return
        if self.mailboxes is None or self.media is None or self.prompts is None:
            self._refuse(txn, 503, "Voicemail Unavailable")
            return
        if not has_sdp(txn.request):
            self._refuse(txn, 488, "Offer Required")
            return
        if self._unsupported(txn):
            return
        call = self._start(txn, "internal", caller.number, "*97" if mode == "listen" else "*98")
        call.prompted = voicemail.MailboxCall(call, mode, caller.employee_id, caller.number,
                                              "en")
        call.prompted.start()

    def _start(self, txn: ServerTransaction, direction: str, caller: str | None,
               callee: str) -> OutsideCall:
        assert self.layer is not None
        request = txn.request
        a = Leg("outside" if direction == "in" else "inside", txn.peer, request.call_id,
                legs.token(), extension=caller)
        call = OutsideCall(self, direction, txn, a)
        call.record = self.registry.start(request, txn.peer, caller, callee, call)
        call.record.direction = {"out": "outbound", "in": "inbound"}.get(direction, direction)
        self.live.add(call)
        self.ringing[id(txn)] = call
        if direction == "in" and self.on_caller is not None:
            self.on_caller(request.from_.uri.user or "")
        self.track(a, call)
        txn.respond(make_response(request, 100))
        return call

    def start_call(self, txn: ServerTransaction, caller: str, dialled: str) -> OutsideCall:
        """A call from extension ``caller`` the box answers itself (a feature code)."""
        return self._start(txn, "internal", caller, dialled)

    def refuse(self, txn: ServerTransaction, status: int, phrase: str) -> None:
        """Answer ``txn`` with a final ``status`` and no further ado."""
        self._refuse(txn, status, phrase)

    def credentials(self, conn: Connection) -> Credentials | None:
        """What the connection's challenges are answered with."""
        if conn.username and conn.password:
            return Credentials(conn.username, conn.password)
        return None

    def _refused(self, txn: ServerTransaction, request: Request, conn: Connection, status: int,
                 outcome: str) -> None:
        """A connection's call refused before it rang: into the call history."""
        self.registry.refused(request, txn.peer, None, dialled_user(request.uri), status,
                              outcome, direction="inbound", connection=conn.name)

    def _unresolved(self, txn: ServerTransaction, caller: str, user: str,
                    conn: Connection) -> bool:
        """A call out through a connection whose servers DNS has not found: 503."""
        if self.addresses(conn):
            return False
        log.info("sip: call from %s through %s refused: its servers are not resolved", caller,
                 conn.name)
        self._refuse(txn, 503, "Connection Not Resolved")
        self.registry.refused(txn.request, txn.peer, caller, user, 503, direction="outbound",
                              connection=conn.name)
        return True

    def _unsupported(self, txn: ServerTransaction) -> bool:
        """RFC 3261 §8.2.2.3: a Require the box does not support gets 420."""
        tokens: Sequence[str] = txn.request.tokens("require")
        if not tokens:
            return False
        txn.respond(make_response(txn.request, 420, headers=[("Unsupported",
                                                               ", ".join(tokens))]))
        return True

    def _spawn(self, work: Coroutine[object, object, None]) -> None:
        """Run ``work`` (a call's media step) on the loop, kept until it is done."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("media step of a call failed", exc_info=task.exception())

    @staticmethod
    def _refuse(txn: ServerTransaction, status: int, phrase: str) -> None:
        txn.respond(make_response(txn.request, status, phrase, to_tag=legs.token()))


__all__ = ["B2BUA", "Branch", "Leg", "OutsideCall"]
