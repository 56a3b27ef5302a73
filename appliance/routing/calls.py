"""The call registry: every call the box set up, its two legs, state and times.

A call is created when an authenticated INVITE is forked (``ringing``), becomes
``established`` on the first 2xx and ``ended`` on a BYE, a final failure, or when the box
itself hangs it up (a dismissal). Each leg is a dialog view from the proxy's position:
toward the caller, the box stands where the callee's UA stands (remote = the caller), and
toward the callee where the caller's UA stands, each without the box's own Record-Route
entries, with the flow the side is reached over and the CSeq numbers seen in each direction.
From those views the box can build a BYE to either end (``byes``).

``RouteSigner`` signs the box's Record-Route entry (HMAC over Call-ID and the caller's From
tag, a per-box key): an in-dialog request whose Route names the box with a valid signature
belongs to a dialog the box set up, even after a restart emptied the registry.

Memory is bounded: at most ``limit`` calls, ended ones kept ``linger`` seconds (so that late
in-dialog requests of a call the box ended get 481) and evicted first.

The registry's ``observer`` (the call history, ``calls/history_writer.py``) hears of each
call when it starts, changes (answered, another callee rung) and ends, and of each call
refused before it rang (``refused``); it must cost the hot path no more than a dict write.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from appliance.errors import SipParseError
from appliance.sip.dialog import TARGET_REFRESH, Dialog
from appliance.sip.message import Request, Response
from appliance.sip.transaction import Peer

SIGNATURE = "sig"  # the Record-Route URI parameter carrying the signature
LIMIT = 4096
LINGER = 32.0


@runtime_checkable
class SelfEnding(Protocol):
    """A call's engine that ends the call itself when the box hangs it up (a B2BUA call,
    ``calls/call.py``, kept as the record's ``proxy``)."""

    def hang_up(self, status: int, reason: str) -> None:
        """End the call: ``status`` to a caller still ringing, else a BYE on each leg."""


class CallObserver(Protocol):
    """Told of every call's changes (the call history and the live calls)."""

    def changed(self, call: Call) -> None:
        """``call`` started, was answered, rings someone else, or ended (``state``)."""


def new_ref() -> str:
    """A short id for a call, to name it while it is live (``appliance calls hangup``)."""
    return secrets.token_hex(4)


class RouteSigner:
    """HMAC-SHA256 signatures binding a Record-Route entry to one dialog."""

    def __init__(self, key: bytes) -> None:
        """Sign with ``key`` (the box's secret, kept in the store's settings)."""
        self.key = key

    def sign(self, call_id: str, caller_tag: str) -> str:
        """The signature of a call: 16 hex digits over Call-ID and the caller's From tag."""
        text = f"{call_id}\x00{caller_tag}".encode()
        return hmac.new(self.key, text, hashlib.sha256).hexdigest()[:16]

    def verify(self, request: Request, signature: str | None) -> bool:
        """Whether ``signature`` signs ``request``'s dialog, sent by either side (the caller's
        tag is its From tag one way, its To tag the other)."""
        if not signature:
            return False
        tags = (request.from_.tag, request.to.tag)
        return any(tag and hmac.compare_digest(self.sign(request.call_id, tag), signature)
                   for tag in tags)


@dataclass
class Leg:
    """One side of a call: its extension, the flow it is reached over and, once the call is
    answered, the box's dialog view toward it (remote = this side)."""

    extension: str | None
    flow: Peer
    dialog: Dialog | None = None


@dataclass
class Call:
    """A call the box set up."""

    call_id: str
    caller_tag: str
    caller: Leg
    callee_extension: str
    invite: Request | None  # the INVITE as received (the caller's view is made from it)
    started_at: float
    state: str = "ringing"  # ringing | established | ended
    callee: Leg | None = None
    callee_tag: str | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    reason: str = ""
    proxy: object | None = None  # the ProxyCall while ringing (for CANCEL)
    caller_seq: int = 0  # the highest CSeq the caller has sent in the dialog
    callee_seq: int = 0  # and the callee
    # The forwarded INVITE and the 2xx, until the dialog views are made from them: only when
    # needed (a hang-up, a target refresh), so a call costs the hot path no parsing.
    answer: tuple[Request, Response] | None = None
    # What the call history keeps (the B2BUA sets direction and connection).
    ref: str = field(default_factory=new_ref)
    direction: str = "internal"  # internal | inbound | outbound | forwarded
    dialled: str = ""  # the Request-URI user the caller dialled (inbound: the office number)
    from_user: str = ""  # the caller's From user (an outside caller's number)
    connection: str | None = None  # the connection's name, for calls that cross one
    status: int = 0  # the caller's final status when the call was not answered
    rating: int | None = None  # 1-5: the caller's, after the call (a number's rating)

    @property
    def key(self) -> tuple[str, str]:
        """Call-ID and the caller's From tag."""
        return (self.call_id, self.caller_tag)


def toward_callee(forwarded: Request, response: Response) -> Dialog | None:
    """The caller's dialog (§12.1.2) for the INVITE the box forwarded and the callee's 2xx,
    with only the hops after the box in its route set: the entries the 2xx carries above
    those the forwarded INVITE had (the box's own and any before it). None if the 2xx
    cannot make a dialog."""
    try:
        dialog = Dialog.uac(forwarded, response)
    except SipParseError:
        return None
    after = len(response.record_routes) - len(forwarded.headers.view("record-route"))
    hops = tuple(str(r) for r in response.record_routes[:max(0, after)])
    return dialog.with_routes(tuple(reversed(hops)))


class CallRegistry:
    """Calls by (Call-ID, caller's From tag), bounded."""

    def __init__(self, limit: int = LIMIT, linger: float = LINGER,
                 clock: Callable[[], float] = time.time) -> None:
        """At most ``limit`` calls; ended calls forgotten after ``linger`` seconds."""
        self.limit = limit
        self.linger = linger
        self.clock = clock
        self.calls: OrderedDict[tuple[str, str], Call] = OrderedDict()
        self._live: dict[tuple[str, str], Call] = {}  # those not ended, for ``live()``
        self._ended: deque[tuple[float, tuple[str, str]]] = deque()
        self.observer: CallObserver | None = None

    def __len__(self) -> int:
        return len(self.calls)

    def start(self, invite: Request, flow: Peer, caller: str | None, callee: str,
              proxy: object) -> Call:
        """A call forked: ``invite`` as received from ``flow``, between two extensions."""
        self._purge()
        call = self._new(invite, flow, caller, callee, proxy)
        self.calls.pop(call.key, None)
        self.calls[call.key] = call
        self._live[call.key] = call
        while len(self.calls) > self.limit:
            self._evict()
        self.notify(call)
        return call

    def _new(self, invite: Request, flow: Peer, caller: str | None, callee: str,
             proxy: object) -> Call:
        return Call(invite.call_id, invite.from_.tag or "", Leg(caller, flow), callee, invite,
                    self.clock(), proxy=proxy, caller_seq=invite.cseq.seq,
                    dialled=invite.uri.user or "", from_user=invite.from_.uri.user or "")

    def refused(self, invite: Request, flow: Peer, caller: str | None, callee: str,
                status: int, outcome: str = "refused", direction: str = "internal",
                connection: str | None = None) -> None:
        """A call answered ``status`` before it rang anyone: told to the observer as ended
        (``outcome`` as its reason), never kept."""
        if self.observer is None:
            return
        call = self._new(invite, flow, caller, callee, None)
        call.invite, call.direction, call.connection = None, direction, connection
        call.state, call.ended_at, call.reason, call.status = "ended", call.started_at, \
            outcome, status
        self.observer.changed(call)

    def notify(self, call: Call) -> None:
        """Tell the observer that ``call`` changed."""
        if self.observer is not None:
            self.observer.changed(call)

    def get(self, call_id: str, caller_tag: str) -> Call | None:
        """The call, or None."""
        return self.calls.get((call_id, caller_tag))

    def find(self, request: Request) -> tuple[Call, bool] | None:
        """The call an in-dialog request belongs to and whether the caller sent it."""
        from_tag, to_tag = request.from_.tag or "", request.to.tag or ""
        call = self.calls.get((request.call_id, from_tag))
        if call is not None and call.callee_tag in (None, to_tag):
            return call, True
        call = self.calls.get((request.call_id, to_tag))
        if call is not None and call.callee_tag == from_tag:
            return call, False
        return None

    def answered(self, call: Call, forwarded: Request, response: Response, flow: Peer) -> None:
        """The first 2xx: the call is established; both dialog views are made (toward the
        caller the UAS's, §12.1.1, over the INVITE as received: only the hops before the box
        are in its route set; toward the callee see ``toward_callee``)."""
        if call.state != "ringing":
            return
        call.callee = Leg(call.callee_extension, flow)
        call.answer = (forwarded, response)
        call.callee_tag, call.state, call.answered_at = response.to.tag, "established", \
            self.clock()
        call.proxy = None
        self.notify(call)

    @staticmethod
    def views(call: Call) -> None:
        """Make the two dialog views of an established call, if not made yet."""
        if call.answer is None or call.callee is None:
            return
        (forwarded, response), call.answer = call.answer, None
        try:
            call.caller.dialog = Dialog.uas(call.invite, response.to.tag or "") \
                if call.invite is not None else None
        except SipParseError:
            call.caller.dialog = None
        call.invite = None
        call.callee.dialog = toward_callee(forwarded, response)

    def seen(self, call: Call, from_caller: bool, request: Request) -> None:
        """An in-dialog request relayed: its CSeq is what its sender has reached."""
        if request.method in ("ACK", "CANCEL"):
            return
        seq = request.cseq.seq
        if from_caller:
            call.caller_seq = max(call.caller_seq, seq)
        else:
            call.callee_seq = max(call.callee_seq, seq)
        if request.method == "BYE":
            self.end(call, "bye")

    def refreshed(self, call: Call, from_caller: bool, request: Request,
                  response: Response) -> None:
        """A 2xx to a re-INVITE or UPDATE: both remote targets may move (§12.2, RFC 6141)."""
        if request.method not in TARGET_REFRESH or call.callee is None:
            return
        self.views(call)
        sender, answerer = (call.caller, call.callee) if from_caller else (call.callee,
                                                                          call.caller)
        if sender.dialog is not None:
            sender.dialog.refresh_target(request)
        if answerer.dialog is not None:
            answerer.dialog.refresh_target(response)

    def end(self, call: Call, reason: str, status: int = 0) -> None:
        """The call is over (kept ``linger`` seconds so late requests get 481); ``status``:
        the caller's final answer when it was not answered."""
        if call.state == "ended":
            return
        call.state, call.ended_at, call.reason, call.proxy = "ended", self.clock(), reason, None
        if self._live.get(call.key) is call:
            del self._live[call.key]
        call.status = status or call.status
        call.invite = call.answer = call.caller.dialog = None  # what is kept is small
        if call.callee is not None:
            call.callee.dialog = None
        self._ended.append((call.ended_at, call.key))
        self.notify(call)

    def live(self) -> list[Call]:
        """Every call not ended."""
        calls = self.calls
        return [c for key, c in self._live.items() if calls.get(key) is c]

    def involving(self, extension: str, host: str | None = None) -> list[tuple[Call, str]]:
        """The live calls with a side on ``extension`` (reached at ``host``, when given), and
        which side: "caller" or "callee". A ringing call's callee side is its extension
        whatever the host (its branches are the proxy's to sort out)."""
        found = []
        for call in self.live():
            if call.caller.extension == extension and host in (None, call.caller.flow.host):
                found.append((call, "caller"))
            elif call.callee_extension == extension and (
                    host is None or call.callee is None or call.callee.flow.host == host):
                found.append((call, "callee"))
        return found

    def byes(self, call: Call, via: Callable[[Peer], str],
             reason: str = "") -> list[tuple[Request, Peer]]:
        """A BYE to each end of an established call, from the views the box recorded: each
        with a CSeq above what the other side has sent, over the side's flow."""
        self.views(call)
        out = []
        headers = (("Reason", reason),) if reason else ()
        for leg, seen in ((call.caller, call.callee_seq), (call.callee, call.caller_seq)):
            if leg is None or leg.dialog is None:
                continue
            leg.dialog.local_seq = max(leg.dialog.local_seq, seen)
            out.append((leg.dialog.request("BYE", via=via(leg.flow), headers=headers),
                        leg.flow))
        return out

    def _purge(self) -> None:
        horizon = self.clock() - self.linger
        while self._ended and self._ended[0][0] <= horizon:
            _, key = self._ended.popleft()
            call = self.calls.get(key)
            if call is not None and call.state == "ended":
                del self.calls[key]

    def _evict(self) -> None:
        while self._ended:
            _, key = self._ended.popleft()
            call = self.calls.get(key)
            if call is not None and call.state == "ended":
                del self.calls[key]
                return
        key, call = self.calls.popitem(last=False)  # the oldest live call: its route serves on
        if self._live.get(key) is call:
            del self._live[key]


def late_answer(forwarded: Request, response: Response,
                via: Callable[[], str]) -> tuple[Request, Request] | None:
    """The ACK and BYE for a 2xx that came after the caller was answered otherwise (the ring
    limit, a dismissal): the box ends the dialog it cannot hand on."""
    dialog = toward_callee(forwarded, response)
    if dialog is None:
        return None
    ack = dialog.request("ACK", via=via(), cseq=forwarded.cseq.seq)
    return ack, dialog.request("BYE", via=via(), headers=(
        ("Reason", 'SIP;cause=480;text="Call already ended"'),))
