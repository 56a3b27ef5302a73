"""One callback call (``calls/callbacks.py`` starts them): the box calls the employees who
missed a customer first, each INVITE without an offer; the first to answer offers in its 2xx,
that offer goes to the customer through the connection, and the customer's answer goes back
in the employee's ACK (third-party call control, RFC 3725 flow I). Then it is a ``Bridge``.

The employee is rung first so a customer is never called back into silence; the employee
hears nothing while the customer's phone rings. With the media plane, the employee's offer
and the customer's answer are anchored in it like any call through a connection.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from appliance.callplan.model import Connection
from appliance.calls import legs
from appliance.calls.bridge import Bridge, _Ignore
from appliance.calls.legs import Branch, Leg
from appliance.routing.calls import Leg as RecordLeg
from appliance.routing.proxy import cancel_for
from appliance.sip.dialog import Dialog
from appliance.sip.message import Request, Response
from appliance.sip.transaction import Peer, TimerHandle
from appliance.sip.ua import ClientRequest
from appliance.sip.uri import format_host

if TYPE_CHECKING:
    from appliance.calls.b2bua import B2BUA

log = logging.getLogger(__name__)

RING_INSIDE = 30.0  # seconds the employees ring
RING_CUSTOMER = 40.0  # seconds the customer rings

# Told once when the attempt is over: whether the customer was reached, and what happened.
Done = Callable[[bool, str], None]


class CallbackCall(Bridge):
    """A callback attempt; see the module docstring. ``caller`` is the employee's leg once
    one answered, ``callee`` the customer's once they answered."""

    def __init__(self, b2bua: B2BUA, conn: Connection, customer: str, presented: str,
                 done: Done) -> None:
        """Call ``customer`` (written as ``conn`` wants) from office number ``presented``."""
        super().__init__(b2bua, Leg("inside", Peer("udp", "", 0), "", ""))
        self.conn, self.customer, self.presented, self.done = conn, customer, presented, done
        self.inside: list[Branch] = []
        self.outside: Branch | None = None
        self._ring_timer: TimerHandle | None = None
        self._told = False

    def all_legs(self) -> list[Leg]:
        """Every leg the call has or had."""
        return [*(b.leg for b in self.inside),
                *([self.outside.leg] if self.outside is not None else [])]

    def start(self, extensions: tuple[str, ...]) -> bool:
        """Ring every contact of ``extensions``; False when none has one."""
        b2bua = self.b2bua
        targets = [(ext, b) for ext in extensions for b in b2bua.bindings_for(ext)]
        if not targets:
            return False
        b2bua.live.add(self)
        for extension, binding in targets:
            leg = Leg("inside", binding.source, legs.new_call_id(b2bua.locals, binding.source),
                      legs.token(), extension=extension)
            host = format_host(b2bua.locals.sent_by(binding.source.transport,
                                                    binding.source.host)[0])
            invite = legs.invite(
                b2bua.locals, leg, binding.contact, from_user=self.customer, from_host=host,
                to=f"<sip:{extension}@{host}>", display=f"Callback {self.customer}",
                source=None)
            branch = Branch(leg)
            self.inside.append(branch)
            b2bua.track(leg, self)
            branch.client = self._send(branch, invite, ack_later=True)
        self._arm(RING_INSIDE, "nobody answered inside")
        return True

    def _send(self, branch: Branch, invite: Request, *, ack_later: bool) -> ClientRequest:
        assert self.b2bua.layer is not None
        flow = branch.leg.flow
        return ClientRequest(self.b2bua.layer, invite, flow, _Outcome(self, branch),
                             credentials=branch.leg.credentials, resolve=lambda _uri: flow,
                             ack_later=ack_later).start()

    def _arm(self, seconds: float, why: str) -> None:
        assert self.b2bua.layer is not None
        if self._ring_timer is not None:
            self._ring_timer.cancel()
        self._ring_timer = self.b2bua.layer.timers.call_later(seconds, lambda: self._fail(why))

    # -- answers --------------------------------------------------------------------------------

    def provisional(self, branch: Branch, response: Response) -> None:
        """A 1xx: a pending CANCEL goes now."""
        branch.provisional = True
        if branch.cancel_wanted:
            self._cancel(branch)

    def final(self, branch: Branch, response: Response | None, dialog: Dialog | None) -> None:
        """A final answer on an employee's or the customer's branch."""
        status = response.status if response is not None else 0
        branch.final = status or 408
        if response is not None and status < 300 and dialog is not None:
            branch.leg.dialog = dialog
            if branch.client is not None and branch.client.awaiting_ack:
                branch.leg.owed_ack = branch.client
            if branch is self.outside:
                self._reached(response)
            elif self.state == "ringing" and self.caller.dialog is None \
                    and not branch.cancel_wanted:
                self._employee_answered(branch, response)
            else:
                self._bye(branch.leg, 'SIP;cause=200;text="Call completed elsewhere"')
            return
        if branch is self.outside:
            self._fail(f"the customer did not answer ({status or 'timeout'})")
        elif self.caller.dialog is None and all(b.final for b in self.inside):
            self._fail("nobody answered inside")

    def _employee_answered(self, branch: Branch, response: Response) -> None:
        self.caller = branch.leg
        for other in self.inside:
            if other is not branch and not other.final:
                other.cancel_wanted = True
                self._cancel(other)
        conn, b2bua = self.conn, self.b2bua
        addresses = b2bua.addresses(conn)
        if not addresses:
            self._fail(f"the servers of {conn.name} are not resolved")
            return
        leg = legs.outside(b2bua.locals, addresses[0], b2bua.credentials(conn), conn.id)
        invite = legs.outside_invite(b2bua.locals, leg, addresses[0], self.customer,
                                     from_user=self.presented, presented=self.presented,
                                     display=None, source=response)
        self.connections.add(conn.id)
        self.outside = outside = Branch(leg)
        b2bua.track(leg, self)
        self.record = record = b2bua.registry.start(invite, self.caller.flow,
                                                    self.caller.extension, self.customer, self)
        record.direction, record.connection = "outbound", conn.name
        record.dialled = self.customer
        employee = self.caller

        def send(body: bytes) -> None:
            if self.state != "ringing":
                return
            invite.body = body
            outside.client = self._send(outside, invite, ack_later=False)
        self.through_media(invite, lambda anchor, sdp: anchor.offer(employee, sdp, conn.codecs),
                           send, lambda: self._fail("no media session for the call"))
        self._arm(RING_CUSTOMER, "the customer did not answer (no answer)")
        log.info("sip: callback: %s answered, calling %s through %s", self.caller.extension,
                 self.customer, conn.name)

    def _reached(self, response: Response) -> None:
        assert self.outside is not None
        if self.state != "ringing" or self.caller.dialog is None:
            self._bye(self.outside.leg, "")
            return
        if self._ring_timer is not None:
            self._ring_timer.cancel()
            self._ring_timer = None
        self.callee = customer = self.outside.leg
        owed, employee = self.caller.owed_ack, self.caller
        if owed is not None:  # the employee's offer, answered by the customer
            self.caller.owed_ack = None
            content_type = legs.body_of(response)[1]
            self.through_media(
                response, lambda anchor, sdp: anchor.answer(employee, customer, sdp),
                lambda body: owed.acknowledge(body, content_type),
                lambda: self._media_lost(owed))
        self.state = "established"
        record = self.record
        if record is not None:
            record.state, record.answered_at = "established", self.b2bua.registry.clock()
            record.callee = RecordLeg(None, self.callee.flow)
            record.callee_tag = response.to.tag
            self.b2bua.registry.notify(record)
        self._tell(True, "reached")

    # -- ending -------------------------------------------------------------------------------

    def _cancel(self, branch: Branch) -> None:
        client = branch.client
        if not branch.provisional or branch.cancelled or client is None:
            return
        branch.cancelled = True
        assert self.b2bua.layer is not None
        ClientRequest(self.b2bua.layer, cancel_for(client.request), branch.leg.flow,
                      _Ignore()).start()

    def _fail(self, why: str) -> None:
        """The attempt is over without the customer: everything rung is ended."""
        self._ring_timer = None
        if self.state != "ringing":
            return
        for branch in [*self.inside, *([self.outside] if self.outside else [])]:
            if branch.leg.dialog is not None:
                self._bye(branch.leg, "")
            elif not branch.final:
                branch.cancel_wanted = True
                self._cancel(branch)
        self._tell(False, why)
        self._end("callback: " + why, 480)

    def ringing_bye(self) -> None:
        """The employee hung up while the customer's phone rang."""
        if self.outside is not None and not self.outside.final:
            self.outside.cancel_wanted = True
            self._cancel(self.outside)
        self.caller.dialog = None  # its BYE was answered: nothing more to send there
        self._fail("the employee hung up before the customer answered")

    def hang_up(self, status: int, reason: str) -> None:
        """End it from the box (a dismissal, an admin): ringing or established."""
        if self.state == "ringing":
            self._fail("hung up by the box")
            return
        super().hang_up(status, reason)

    def _tell(self, reached: bool, why: str) -> None:
        if not self._told:
            self._told = True
            self.done(reached, why)

    def _end(self, why: str, status: int = 0) -> None:
        if self._ring_timer is not None:
            self._ring_timer.cancel()
            self._ring_timer = None
        super()._end(why, status)


class _Outcome:
    """A branch's ``ClientRequest`` outcome, handed to its callback call."""

    def __init__(self, call: CallbackCall, branch: Branch) -> None:
        self.call, self.branch = call, branch

    def on_provisional(self, response: Response) -> None:
        self.call.provisional(self.branch, response)

    def on_final(self, response: Response, dialog: Dialog | None) -> None:
        self.call.final(self.branch, response, dialog)

    def on_timeout(self) -> None:
        self.call.final(self.branch, None, None)
