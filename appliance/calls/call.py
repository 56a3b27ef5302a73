"""One B2BUA call (``calls/b2bua.py``): the caller's leg, the branches it rings, the leg
that answered, the steps still to try, and what each message on them does.

States: ``ringing`` (the caller's INVITE not answered yet; the branches of the current
step ring), ``established`` (one branch answered: two dialogs), ``ended``. A call the box
answered itself to greet the caller (``here``, ``calls/greeting.py``) is still ``ringing``
until a branch answers: its caller has its 200, the branch is bridged in without another.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import TYPE_CHECKING

from appliance.callplan import inbound as plan
from appliance.callplan import queues
from appliance.callplan.model import Connection, Queue
from appliance.calls import legs
from appliance.calls.anchor import SDP_TYPE
from appliance.calls.announce import bridge_in, prompt_step, rating_starts, wait_in_queue
from appliance.calls.bridge import Bridge, _Ignore
from appliance.calls.greeting import Prompted
from appliance.calls.legs import Branch, Leg
from appliance.calls.recordings import RecordedCall
from appliance.calls.supervise import watched_ended
from appliance.calls.trunks import inside_status
from appliance.calls.voicemail import Taken, take_message
from appliance.media.dtmf import parse_info
from appliance.media.listen import Listening
from appliance.routing.calls import Leg as RecordLeg
from appliance.routing.proxy import cancel_for
from appliance.sip.dialog import Dialog
from appliance.sip.message import Request, Response, make_response
from appliance.sip.transaction import ServerTransaction
from appliance.sip.ua import Accepted, ClientRequest
from appliance.sip.uri import format_host

if TYPE_CHECKING:
    from appliance.calls.b2bua import B2BUA

log = logging.getLogger(__name__)

# A server that has not even said 100 Trying by then is taken as down: the call goes on to
# the connection's next server (Timer B's 32 s would outlast the caller's patience).
FAILOVER_AFTER = 4.0
FAILOVER_STATUSES = (0, 408, 500, 503)  # no answer, or the server says it cannot serve


class OutsideCall(Bridge):
    """A call the B2BUA carries; see the module docstring."""

    def __init__(self, b2bua: B2BUA, direction: str, server: ServerTransaction,
                 caller: Leg) -> None:
        """``caller`` is the leg whose INVITE ``server`` holds."""
        super().__init__(b2bua, caller)
        # "out": a phone calls a number; "in": a connection's call; "internal": a phone calls
        # an extension whose calls go on to a mobile.
        self.direction = direction
        self.server = server
        self.branches: list[Branch] = []
        self.steps: list[plan.Step] = []
        self.did: str | None = None
        self.missed_by: str | None = None  # the first extension or queue it rang (callbacks)
        self.failures: list[int] = []  # final answers of the branches tried
        self.rounds: list[queues.Round] = []  # what is left of a queue step
        self.queue: Queue | None = None  # the queue ringing now
        self.here = False  # the box answered the caller itself (a greeting)
        self.offer = b""  # then its offer, for the phones rung after (the INVITE is slimmed)
        self.prompted: Prompted | None = None  # the greeting or menu playing now
        self.recording = False  # to be recorded: "this call is recorded" was played
        self.recording_started = False
        self.caller_port: int | None = None  # rtpengine's port for the caller, answered here
        self.taking: Taken | None = None  # a voicemail message (or greeting) being recorded
        self.listening: Listening | None = None  # a supervisor's listen-in this call carries
        self.listeners: list[OutsideCall] = []  # the listen-ins on this call
        self.on_end: Callable[[], Coroutine[object, object, None]] | None = None

    def all_legs(self) -> list[Leg]:
        """Every leg the call has or had."""
        return [self.caller, *(b.leg for b in self.branches),
                *([self.callee] if self.callee is not None else [])]

    def ringing_bye(self) -> None:
        """The caller's BYE before its call was answered (or while leaving a message)."""
        if self.taking is not None:
            if self.prompted is not None:
                self.prompted.close()
            self._end("voicemail")
            return
        self.abort(487, None, 'SIP;cause=487;text="Caller hung up"', "bye")

    # -- steps --------------------------------------------------------------------------------

    def advance(self) -> None:
        """Carry out the next step (or queue round) that can ring anyone; with none left,
        answer the caller."""
        while self.state == "ringing" and (self.rounds or self.steps):
            if self.rounds:
                ring = self.rounds.pop(0)
                if self._ring(ring.extensions, ring.seconds):
                    return
                continue
            if self._carry_out(self.steps.pop(0)):
                return
        if self.state == "ringing":
            self.abort(*self._final(480, None), "", "no answer")

    def _carry_out(self, step: plan.Step) -> bool:
        """Start ``step``: True when it is under way (or ended the call), False when it
        could not ring or play anything (the next one then)."""
        self.queue = None
        if isinstance(step, (plan.RingExtension, plan.RingQueue)) and self.missed_by is None:
            self.missed_by = f"extension:{step.extension}" if isinstance(
                step, plan.RingExtension) else f"queue:{step.queue}"
        if isinstance(step, plan.RingExtension):
            return self._ring((step.extension,), step.seconds)
        if isinstance(step, plan.ForwardOut):
            return self._forward(step)
        if isinstance(step, (plan.Greet, plan.PlayMenu, plan.Announce)):
            return prompt_step(self, step)
        if isinstance(step, plan.Voicemail):
            return take_message(self, step)
        if isinstance(step, plan.RingQueue):
            # The rounds were chosen when the call came (members working, not on a call);
            # once they have rung their time, the queue's fallback is the next step.
            self.queue = self.b2bua.routing().queues.get(step.queue)
            self.rounds = list(step.rounds)
            log.info("sip: call %s: queue %s, %d round(s)",
                     self.server.request.call_id[:32], step.queue, len(step.rounds))
            return wait_in_queue(self)  # True: answered to music first, then the rounds
        self.abort(*self._final(step.status, step.phrase), "", "no answer")
        return True

    def _final(self, status: int, phrase: str | None) -> tuple[int, str | None]:
        """The caller's answer once nobody answered: busy if a callee said so."""
        if 486 in self.failures or 600 in self.failures:
            return 486, None
        return status, phrase

    def _ring(self, extensions: tuple[str, ...], seconds: float) -> bool:
        """Ring every contact of ``extensions`` together for ``seconds``; False when none
        of them has a contact to ring."""
        b2bua = self.b2bua
        targets = [(ext, b) for ext in extensions for b in b2bua.bindings_for(ext)]
        if not targets:
            log.info("sip: call %s: extension %s has no contact to ring",
                     self.server.request.call_id[:32], ", ".join(extensions))
            return False
        request = self.server.request
        caller = request.from_
        for extension, binding in targets:
            leg = Leg("inside", binding.source, legs.new_call_id(b2bua.locals, binding.source),
                      legs.token(), extension=extension)
            host = format_host(b2bua.locals.sent_by(binding.source.transport,
                                                    binding.source.host)[0])
            invite = legs.invite(
                b2bua.locals, leg, binding.contact, from_user=caller.uri.user or "anonymous",
                from_host=host, to=f"<sip:{extension}@{host}>",
                display=caller.display_name or caller.uri.user, source=request)
            self._send_branch(Branch(leg), invite)
        if self.queue is not None and len(extensions) == 1:
            b2bua.queue_rang(self.queue, extensions[0])
        if self.record is not None:
            self.record.callee_extension = targets[0][0]
            b2bua.registry.notify(self.record)
        self._arm(seconds)
        return True

    def _forward(self, step: plan.ForwardOut) -> bool:
        conn = self.b2bua.connection(step.connection_id)
        if conn is None or not self.b2bua.addresses(conn):
            return False
        limit = conn.max_calls
        if limit and self.b2bua.in_use().get(conn.id, 0) >= limit + (conn.id in self.connections):
            log.info("sip: forward through %s skipped: its call limit is reached", conn.name)
            return False
        caller = self.server.request.from_
        display = caller.display_name or caller.uri.user
        self.dial_out(conn, step.number, presented=step.presented, display=display,
                      seconds=float(step.seconds), diversion=self.did)
        return True

    def dial_out(self, conn: Connection, number: str, *, presented: str | None,
                 display: str | None, seconds: float, diversion: str | None = None,
                 server_index: int = 0) -> None:
        """Send the INVITE for ``number`` through ``conn``'s server ``server_index``,
        presenting ``presented`` (the office number); ``diversion``: the office number the
        call was for (a forward). It rings ``seconds`` (0: the ring time already running, for
        a failover). A server that does not answer in FAILOVER_AFTER seconds, or refuses
        with a FAILOVER_STATUSES answer, hands the call to the next one."""
        b2bua = self.b2bua
        addresses = b2bua.addresses(conn)
        if server_index >= len(addresses):  # callers check first; a lookup may have emptied it
            self.abort(503, None, 'SIP;cause=503;text="Connection not resolved"', "failed")
            return
        address = addresses[server_index]
        leg = legs.outside(b2bua.locals, address, b2bua.credentials(conn), conn.id)
        invite = legs.outside_invite(b2bua.locals, leg, address, number,
                                     from_user=presented or conn.username or "anonymous",
                                     presented=presented, display=display,
                                     source=self.server.request, diversion=diversion)
        self.connections.add(conn.id)
        record = self.record
        if record is not None:
            record.connection = conn.name
            if self.direction != "out":
                record.callee_extension = number
                record.direction = "forwarded"
            b2bua.registry.notify(record)
        branch = Branch(leg)
        if server_index + 1 < len(addresses):
            def failover() -> None:
                log.info("sip: call %s: %s server %s:%d failed, trying the next",
                         self.server.request.call_id[:32], conn.name, address.host,
                         address.port)
                self.dial_out(conn, number, presented=presented, display=display,
                              seconds=0, diversion=diversion, server_index=server_index + 1)
            branch.failover = failover
            assert b2bua.layer is not None
            b2bua.layer.timers.call_later(FAILOVER_AFTER, lambda: self._silent(branch))
        self._send_branch(branch, invite)
        if seconds:
            self._arm(seconds)

    def _servers_failed(self, branch: Branch) -> None:
        """The last server of a connection failed too: its names are looked up again."""
        conn_id = branch.leg.connection_id
        conn = self.b2bua.connection(conn_id) if conn_id is not None else None
        if conn is not None:
            self.b2bua.servers_failed(conn)

    def _silent(self, branch: Branch) -> None:
        """FAILOVER_AFTER seconds without a provisional: that server is given up."""
        if branch.final or branch.provisional or self.state != "ringing" or \
                branch.failover is None or branch not in self.branches:
            return
        branch.cancel_wanted = True  # a late answer is CANCELed or ACKed and hung up
        failover, branch.failover = branch.failover, None
        failover()

    def _send_branch(self, branch: Branch, invite: Request) -> None:
        """Send ``invite`` for ``branch``, its offer anchored first when the media is (toward
        a connection with that connection's codecs)."""
        self.branches.append(branch)
        self.b2bua.track(branch.leg, self)
        if self.here and not invite.body:
            invite.body = self.offer
            invite.headers.add("Content-Type", SDP_TYPE)
        conn_id = branch.leg.connection_id
        conn = self.b2bua.connection(conn_id) if conn_id is not None else None
        codecs = conn.codecs if conn is not None else ()

        def send(body: bytes) -> None:
            if self.state != "ringing" or branch.cancel_wanted or branch not in self.branches:
                branch.final = branch.final or 487  # given up while its offer was anchored
                self.b2bua.untrack(branch.leg)
                return
            assert self.b2bua.layer is not None
            invite.body = body
            flow = branch.leg.flow
            branch.client = ClientRequest(self.b2bua.layer, invite, flow,
                                          _BranchOutcome(self, branch),
                                          credentials=branch.leg.credentials,
                                          resolve=lambda _uri: flow, ack_later=not invite.body
                                          ).start()
        self.through_media(invite, lambda anchor, sdp: anchor.offer(self.caller, sdp, codecs),
                           send, self._no_media)

    def _no_media(self) -> None:
        """The media plane could not anchor the caller's offer: 503 (RFC 3261 §21.5.4)."""
        self.abort(503, "Media Unavailable", 'SIP;cause=503;text="Media unavailable"',
                   "no media")

    def _arm(self, seconds: float) -> None:
        assert self.b2bua.layer is not None
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.b2bua.layer.timers.call_later(seconds, self._rang_out)

    def _rang_out(self) -> None:
        """The step rang its time: CANCEL its branches and go on."""
        self._timer = None
        if self.state != "ringing":
            return
        self._cancel_branches('SIP;cause=480;text="No answer"')
        self.failures.append(480)
        if self.direction == "out":
            self.abort(480, None, "", "no answer")
        else:
            self.advance()

    def _cancel_branches(self, reason: str, keep: Branch | None = None) -> None:
        for branch in self.branches:
            if branch is not keep and not branch.final:
                branch.cancel_wanted = True
                self._send_cancel(branch, reason)

    def _send_cancel(self, branch: Branch, reason: str) -> None:
        """RFC 3261 §9.1: a CANCEL only once the branch sent a provisional response."""
        client = branch.client
        if not branch.provisional or branch.cancelled or client is None:
            return
        branch.cancelled = True
        cancel = cancel_for(client.request)
        if reason:
            cancel.headers.add("Reason", reason)
        assert self.b2bua.layer is not None
        ClientRequest(self.b2bua.layer, cancel, branch.leg.flow, _Ignore()).start()

    # -- a branch's answers -------------------------------------------------------------------

    def provisional(self, branch: Branch, response: Response) -> None:
        """A 1xx on ``branch``: a pending CANCEL goes now; an 18x is relayed to the caller."""
        branch.provisional = True
        if branch.cancel_wanted:
            self._send_cancel(branch, "")
            return
        if self.state != "ringing" or response.status not in (180, 181, 182, 183) or self.here:
            return  # (answered here: the caller hears the box's ringback)
        reply = legs.answer(self.b2bua.locals, self.server, response.status, response.reason,
                            self.caller.tag, response)

        def relay(body: bytes) -> None:
            if self.state == "ringing" and not self.server.final:
                reply.body = body
                self.server.respond(reply)
        # Early media's SDP is an answer to the caller's offer (a delayed offer's is not
        # anchored before the 2xx: it is dropped and the ringing relayed without it).
        if self.anchor is not None and not self.server.request.body:
            reply.body = b""
            reply.headers.remove("content-type")
            relay(b"")
            return
        self.through_media(response, self.offered(branch.leg, self.caller, self.server.request),
                           relay, lambda: None)

    def final(self, branch: Branch, response: Response | None, dialog: Dialog | None) -> None:
        """A final answer on ``branch`` (None: no answer at all)."""
        status = response.status if response is not None else 0
        branch.final = status or 408
        if response is not None and status < 300:
            self._accepted(branch, response, dialog)
            return
        self.b2bua.untrack(branch.leg)
        if branch.cancel_wanted or self.state != "ringing" or branch not in self.branches:
            return
        if not branch.provisional and status in FAILOVER_STATUSES:
            if branch.failover is not None:
                failover, branch.failover = branch.failover, None
                failover()
                return
            self._servers_failed(branch)
        self.failures.append(status)
        if any(not b.final and not b.cancel_wanted for b in self.branches):
            return  # others still ring
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.direction == "out":
            self.abort(*inside_status(status), "", f"outside {status or 'timeout'}")
        else:
            self.advance()

    def _accepted(self, branch: Branch, response: Response, dialog: Dialog | None) -> None:
        leg = branch.leg
        leg.dialog = dialog
        if branch.client is not None and branch.client.awaiting_ack:
            leg.owed_ack = branch.client  # a delayed offer: the caller's ACK has the answer
        if self.state != "ringing" or branch.cancel_wanted or dialog is None:
            # Answered too late (CANCELed, another branch won): acknowledged, hung up.
            if dialog is not None:
                self._bye(leg, 'SIP;cause=200;text="Call completed elsewhere"')
            self.b2bua.untrack(leg)
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.callee = leg
        self._cancel_branches('SIP;cause=200;text="Call completed elsewhere"', keep=branch)
        for other in self.branches:
            if other is not branch:
                self.b2bua.untrack(other.leg)
        self.branches = [branch]
        b2bua = self.b2bua
        if self.here:
            self.state = "established"
            bridge_in(self, leg, response)
        else:
            self._answer_caller(leg, response)
        if self.queue is not None and leg.extension is not None:
            b2bua.queue_answered(self.queue, leg.extension)
        record = self.record
        if record is not None:
            record.state, record.answered_at = "established", b2bua.registry.clock()
            record.callee = RecordLeg(leg.extension, leg.flow)
            record.callee_tag = response.to.tag
            b2bua.registry.notify(record)
        log.info("sip: call %s answered by %s", self.server.request.call_id[:32],
                 leg.extension or f"connection {leg.connection_id}")
        if self.caller.dialog is None:
            self.hang_up(0, 'SIP;cause=400;text="No Contact"')

    def _answer_caller(self, leg: Leg, response: Response) -> None:
        """The branch on ``leg`` answered: the caller gets its 200 (the answer anchored)."""
        b2bua = self.b2bua
        ok = legs.answer(b2bua.locals, self.server, 200, None, self.caller.tag, response)
        try:
            self.caller.dialog = Dialog.uas(self.server.request, self.caller.tag)
        except Exception:  # no Contact in the caller's INVITE: the call cannot go on
            self.caller.dialog = None
        self.state = "established"

        def answer(body: bytes) -> None:
            assert b2bua.layer is not None
            ok.body = body
            self.caller.accepted = Accepted(
                b2bua.layer, self.server, ok,
                lambda: self.hang_up(0, 'SIP;cause=408;text="No ACK"'))
            b2bua.answered(self)

        def lost() -> None:
            self._bye(leg, 'SIP;cause=503;text="Media unavailable"')
            self.server.respond(make_response(self.server.request, 503, "Media Unavailable",
                                              to_tag=self.caller.tag))
            self._end("no media", 503)
        self.through_media(response, self.offered(leg, self.caller, self.server.request),
                           answer, lost)

    def request_on(self, leg: Leg, txn: ServerTransaction, request: Request) -> None:
        """As ``Bridge.request_on``; and a SIP INFO with a key while the caller is greeted
        is the caller dialling."""
        greeter = self.prompted
        if greeter is not None and not greeter.done and leg is self.caller and \
                request.method == "INFO":
            key = parse_info(request.headers.get("content-type") or "", request.body)
            txn.respond(make_response(request, 200 if key else 415))
            if key is not None:
                greeter.key(key)
            return
        super().request_on(leg, txn, request)

    # -- ending -------------------------------------------------------------------------------

    def abort(self, status: int, phrase: str | None, reason: str, why: str) -> None:
        """End a ringing call: ``status`` to the caller, every branch CANCELed."""
        if self.state != "ringing":
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._cancel_branches(reason)
        if not self.server.final:
            self.server.respond(make_response(self.server.request, status, phrase,
                                              to_tag=self.caller.tag))
        elif self.here and why != "bye" and self.caller.dialog is not None:
            self._bye(self.caller, reason or f'SIP;cause={status};text="No answer"')
        self._end(why, status)

    def stays_on(self, leg: Leg) -> bool:
        """The employee hung up: the caller may stay on to rate the call (``rating``)."""
        return rating_starts(self, leg)

    def _end(self, why: str, status: int = 0) -> None:
        if self.prompted is not None:
            self.prompted.close()
        if self.on_end is not None and self.state != "ended":
            self.b2bua.spawn(self.on_end())
            self.on_end = None
        super()._end(why, status)
        watched_ended(self)

    async def media_ended(self) -> None:
        """The media session freed; a recorded call's files (complete now) handed on."""
        await super().media_ended()
        b2bua, anchor, record = self.b2bua, self.anchor, self.record
        if self.taking is not None and anchor is not None and b2bua.media is not None and \
                b2bua.mailboxes is not None:
            b2bua.mailboxes.taken(replace(self.taking, files=tuple(
                b2bua.media.recordings(anchor.id)), caller_port=self.caller_port))
            return
        if not self.recording_started or anchor is None or record is None or \
                b2bua.media is None or b2bua.on_recorded is None:
            return
        b2bua.on_recorded(RecordedCall(record.ref, tuple(b2bua.media.recordings(anchor.id)),
                                   self.caller_port))

    def hang_up(self, status: int, reason: str) -> None:
        """End the call from the box (a dismissal, no ACK): while it rings ``status`` to the
        caller and the branches CANCELed; once established a BYE on both legs."""
        if self.state == "ringing" and self.direction == "in" and status:
            self._cancel_branches(reason)  # the callee is gone: the plan's next step
            self.advance()
            return
        if self.state == "ringing":
            self.abort(status or 480, None, reason, "hung up")
            return
        super().hang_up(status, reason)


class _BranchOutcome:
    """A branch's ``ClientRequest`` outcome, handed to its call."""

    def __init__(self, call: OutsideCall, branch: Branch) -> None:
        self.call, self.branch = call, branch

    def on_provisional(self, response: Response) -> None:
        self.call.provisional(self.branch, response)

    def on_final(self, response: Response, dialog: Dialog | None) -> None:
        self.call.final(self.branch, response, dialog)

    def on_timeout(self) -> None:
        self.call.final(self.branch, None, None)
