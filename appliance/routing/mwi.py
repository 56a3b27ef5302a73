"""Message-waiting policy (RFC 3842 over RFC 6665): phones' message lamps kept in step with
their voicemail boxes.

A phone's out-of-dialog ``SUBSCRIBE`` with ``Event: message-summary`` is authenticated by
the router like a REGISTER (401, digest) and handed to ``MessageWaiting.subscribe``: a phone
may subscribe to its own extension's mailbox only (the Request-URI's user, else the To's;
another's, a free extension's: 403). The expiry asked is bounded (below ``min_expires``:
423 with ``Min-Expires``; above ``max_expires``, or none: capped / ``default_expires``); the
``200`` carries ``Expires`` and our Contact, then a NOTIFY brings the counts at once. The
subscription is a dialog (``sip/dialog.py``) kept in memory with its expiry: an in-dialog
re-SUBSCRIBE (authenticated again) refreshes it and brings a NOTIFY; ``Expires: 0`` ends it
(200, then a last NOTIFY ``terminated`` with the counts; out of dialog, that is a fetch). A
subscription that expires gets ``terminated;reason=timeout``; one whose NOTIFY is refused
(481, any error) or never answered is forgotten.

When a box's messages change (the event ``voicemail.changed``), the counts are read on the
store's worker threads (``read_counts``: never on the loop) and sent to every subscription
of that extension, and, out of dialog, to each live registrar binding of it that has none
(many desk phones show unsolicited MWI and never subscribe). One NOTIFY per subscription is
in flight at a time; a change meanwhile is sent once it is answered, with the newest counts.
When the extension is freed (dismissal, unassignment) or changes hands, its subscriptions end
with ``terminated;reason=noresource`` and ``Messages-Waiting: no``, so the lamp goes out.

Memory is bounded: ``per_extension`` subscriptions per extension (a new one from the same
flow replaces the old one, else the oldest goes) and ``total`` in all (then 503). NOTIFYs go
through the transaction layer as the box's other UAC requests do (``sip/ua.ClientRequest``).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from appliance.directory import Extension
from appliance.directory.voicemail import CHANGED_EVENT, VoicemailDirectory
from appliance.errors import SipParseError
from appliance.events import Event
from appliance.routing.registrar import Binding
from appliance.sip import mwi
from appliance.sip.dialog import Dialog
from appliance.sip.message import Request, Response, make_response
from appliance.sip.transaction import Peer, ServerTransaction, TimerHandle, TransactionLayer
from appliance.sip.ua import ClientRequest, new_branch
from appliance.sip.uri import format_host
from appliance.workers import Workers

log = logging.getLogger(__name__)

MIN_EXPIRES, DEFAULT_EXPIRES, MAX_EXPIRES = 60, 3600, 3600
PER_EXTENSION = 8  # a desk phone, softphones, a sidecar: and room for reboots
TOTAL = 4096
SWEEP_SECONDS = 15.0
ACCEPTED = ("application/simple-message-summary", "application/*", "*/*")

Counts = tuple[int, int]  # new, old
Reply = Callable[[Counts | None], None]
# Read an extension's (new, old) counts off the loop, then call back on it (None: unknown).
ReadCounts = Callable[[str, Reply], None]


class Locals(Protocol):
    """The box's own addresses (the SIP service)."""

    def sent_by(self, transport: str, toward: str) -> tuple[str, int]:
        """Our host and port on ``transport`` as seen from host ``toward``."""


class Bindings(Protocol):
    """The registrar, as far as unsolicited NOTIFYs need it."""

    def lookup(self, aor: str) -> list[Binding]:
        """The live bindings of an extension."""


class Extensions(Protocol):
    """The directory cache."""

    def get(self, number: str) -> Extension | None:
        """The extension, or None."""

    def by_name(self, name: str) -> Extension | None:
        """The extension with that memorable name, or None."""


@dataclass
class Subscription:
    """One phone's subscription to an extension's message summary: the notifier's dialog,
    the flow its NOTIFYs go over, and when it ends."""

    extension: str
    employee_id: int
    dialog: Dialog
    peer: Peer
    event: str  # the Event value its NOTIFYs carry (with the subscription's id, if any)
    account: str  # Message-Account
    expires_at: float
    counts: Counts | None = None  # the newest known
    sending: bool = False  # a NOTIFY is in flight
    again: bool = False  # something changed while it was
    ended: bool = False


class _Sent:
    """The outcome of one NOTIFY: what its subscription does next."""

    def __init__(self, owner: MessageWaiting, sub: Subscription | None) -> None:
        self.owner, self.sub = owner, sub

    def on_provisional(self, response: Response) -> None:
        return None

    def on_final(self, response: Response, dialog: Dialog | None) -> None:
        self.owner._answered(self.sub, response.status)

    def on_timeout(self) -> None:
        self.owner._answered(self.sub, 408)


class MessageWaiting:
    """The subscriptions and unsolicited NOTIFYs; see the module docstring."""

    def __init__(self, *, locals_: Locals, bindings: Bindings, extensions: Extensions,
                 read_counts: ReadCounts, domain: str = "",
                 clock: Callable[[], float] = time.monotonic,
                 min_expires: int = MIN_EXPIRES, default_expires: int = DEFAULT_EXPIRES,
                 max_expires: int = MAX_EXPIRES, per_extension: int = PER_EXTENSION,
                 total: int = TOTAL) -> None:
        """``layer`` is set once the transaction layer exists."""
        self.locals = locals_
        self.bindings = bindings
        self.extensions = extensions
        self.read_counts = read_counts
        self.domain = domain
        self.clock = clock
        self.min_expires, self.default_expires = min_expires, default_expires
        self.max_expires = max_expires
        self.per_extension, self.total = per_extension, total
        self.layer: TransactionLayer | None = None
        self.by_dialog: dict[tuple[str, str, str], Subscription] = {}
        self.by_extension: dict[str, list[Subscription]] = {}
        self._sweep: TimerHandle | None = None
        self.stats = {"subscribed": 0, "notified": 0, "unsolicited": 0, "refused": 0}

    # -- what the router hands over -----------------------------------------------------------

    def wants(self, request: Request) -> bool:
        """Whether a SUBSCRIBE is ours: message-summary, out of dialog or on one of our
        subscriptions. SipParseError (400) for a malformed Event."""
        package, _ = mwi.parse_event(request.headers.get("event"))
        if package != mwi.EVENT:
            return False
        return request.to.tag is None or self._key(request) in self.by_dialog

    def subscribe(self, txn: ServerTransaction, request: Request, ext: Extension,
                  to_tag: str) -> None:
        """An authenticated SUBSCRIBE by ``ext`` (new, or on one of our dialogs): answer it
        and notify."""
        if request.to.tag is not None:
            self._refresh(txn, request, ext, to_tag)
            return
        refusal = self._refusal(request, ext)
        if refusal is not None:
            self._answer(txn, request, refusal[0], to_tag, refusal[1])
            return
        expires = self._expires(request)
        if expires is None:
            self._answer(txn, request, 423, to_tag,
                         headers=[("Min-Expires", str(self.min_expires))])
            return
        if expires and len(self.by_dialog) >= self.total:
            self.stats["refused"] += 1
            self._answer(txn, request, 503, to_tag, headers=[("Retry-After", "60")])
            return
        package, params = mwi.parse_event(request.headers.get("event"))
        dialog = Dialog.uas(request, to_tag)  # SipParseError (400) without one Contact
        assert ext.employee_id is not None
        sub = Subscription(ext.number, ext.employee_id, dialog, txn.peer,
                           mwi.event_value(package, params), self._account(request, ext),
                           self.clock() + expires)
        self._answer(txn, request, 200, to_tag, headers=[
            ("Expires", str(expires)), ("Contact", self._contact(txn.peer))])
        if expires == 0:  # a fetch: the state once, then it is over (RFC 6665 §4.4.3)
            self._read(sub, reason="timeout")
            return
        self._add(sub)
        self.stats["subscribed"] += 1
        self._read(sub)

    def _refresh(self, txn: ServerTransaction, request: Request, ext: Extension,
                 to_tag: str) -> None:
        sub = self.by_dialog.get(self._key(request))
        if sub is None:
            self._answer(txn, request, 481, to_tag)
            return
        if ext.number != sub.extension or ext.employee_id != sub.employee_id:
            self._answer(txn, request, 403, to_tag)
            return
        if not sub.dialog.received(request):
            self._answer(txn, request, 500, to_tag, "CSeq Out Of Order")
            return
        expires = self._expires(request)
        if expires is None:
            self._answer(txn, request, 423, to_tag,
                         headers=[("Min-Expires", str(self.min_expires))])
            return
        sub.dialog.refresh_target(request)
        sub.peer = txn.peer
        self._answer(txn, request, 200, to_tag, headers=[
            ("Expires", str(expires)), ("Contact", self._contact(txn.peer))])
        if expires == 0:
            self._remove(sub)
            self._read(sub, reason="timeout")
            return
        sub.expires_at = self.clock() + expires
        self._read(sub)

    def _refusal(self, request: Request, ext: Extension) -> tuple[int, str | None] | None:
        """Why a new subscription is refused (status, reason), or None."""
        if ext.employee_id is None:
            return 403, None
        target = request.uri.user if request.uri.is_sip else None
        target = target or request.to.uri.user
        if target is None:
            return 404, None
        mailbox = self.extensions.get(target) if target.isdigit() else \
            self.extensions.by_name(target)
        if mailbox is None or mailbox.number != ext.number:
            return 403, "Not Your Mailbox"
        accept = request.headers.get_all("accept")
        if accept and not any(kind.strip().split(";")[0].strip().lower() in ACCEPTED
                              for value in accept for kind in value.split(",")):
            return 406, None
        return None

    def _expires(self, request: Request) -> int | None:
        """The expiry granted (0: unsubscribe), or None when too brief (423)."""
        asked = request.expires
        if asked is None:
            return self.default_expires
        if asked == 0:
            return 0
        if asked < self.min_expires:
            return None
        return min(asked, self.max_expires)

    # -- changes ------------------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """``voicemail.changed``: tell the extension's phones; ``extension.*`` and
        ``employee.*``: end the subscriptions of an extension freed or given to another
        (subscribe after the directory cache is refreshed)."""
        payload = event.payload
        if event.kind == CHANGED_EVENT:
            number = payload.get("extension")
            if isinstance(number, str) and number.isdigit():
                self.changed(number)
            return
        number = payload.get("number") or (payload.get("extension") if event.kind.startswith(
            "employee.") else payload.get("target"))
        if isinstance(number, str) and number in self.by_extension:
            ext = self.extensions.get(number)
            holder = ext.employee_id if ext is not None else None
            doomed = [s for s in self.by_extension[number] if s.employee_id != holder]
            for sub in doomed:
                self._end(sub, "noresource")

    def changed(self, number: str) -> None:
        """The counts of extension ``number`` changed: read them, then notify."""
        self.read_counts(number, lambda counts: self._publish(number, counts))

    def drop(self, number: str) -> None:
        """End every subscription of extension ``number`` (its lamp goes out)."""
        for sub in list(self.by_extension.get(number, ())):
            self._end(sub, "noresource")

    def _publish(self, number: str, counts: Counts | None) -> None:
        if counts is None:
            return  # unknown (the store failed; logged): the next change or refresh tells
        subs = [s for s in self.by_extension.get(number, ()) if not s.ended]
        for sub in subs:
            sub.counts = counts
            self._send(sub)
        flows = {s.peer for s in subs}
        for binding in self.bindings.lookup(number):
            if binding.source not in flows:
                self._unsolicited(number, binding, counts)

    # -- NOTIFY -------------------------------------------------------------------------------

    def _read(self, sub: Subscription, reason: str | None = None) -> None:
        """Read the counts, then send ``sub`` its NOTIFY (the last one with ``reason``)."""
        def then(counts: Counts | None) -> None:
            if counts is not None:
                sub.counts = counts
            if reason is not None:
                self._final(sub, reason, with_counts=counts is not None)
            elif counts is not None and not sub.ended:
                self._send(sub)
        self.read_counts(sub.extension, then)

    def _send(self, sub: Subscription) -> None:
        if sub.ended or sub.counts is None:
            return
        if sub.sending:
            sub.again = True
            return
        sub.sending = True
        remaining = max(0, round(sub.expires_at - self.clock()))
        summary = mwi.Summary.voice(*sub.counts, account=sub.account)
        self._notify(sub, "active", summary, expires=remaining)

    def _final(self, sub: Subscription, reason: str, *, with_counts: bool) -> None:
        """The last NOTIFY: ``terminated`` with the counts (unsubscribe, fetch), or, for a
        freed extension, ``Messages-Waiting: no``; none for a bare timeout."""
        summary = mwi.Summary.voice(*sub.counts, account=sub.account) \
            if with_counts and sub.counts is not None else \
            mwi.Summary(False, sub.account) if reason == "noresource" else None
        self._notify(sub, "terminated", summary, reason=reason, track=False)

    def _notify(self, sub: Subscription, state: str, summary: mwi.Summary | None, *,
                expires: int | None = None, reason: str | None = None,
                track: bool = True) -> None:
        if self.layer is None:
            return
        host, port = self.locals.sent_by(sub.peer.transport, sub.peer.host)
        via = f"SIP/2.0/{sub.peer.transport.upper()} {format_host(host)}:{port};" \
              f"branch={new_branch()};rport"
        request = mwi.notify(sub.dialog, via=via, contact=self._contact(sub.peer),
                             state=state, event=sub.event, expires=expires, reason=reason,
                             summary=summary)
        self.stats["notified"] += 1
        ClientRequest(self.layer, request, sub.peer, _Sent(self, sub if track else None)).start()

    def _unsolicited(self, number: str, binding: Binding, counts: Counts) -> None:
        if self.layer is None:
            return
        peer = binding.source
        host, port = self.locals.sent_by(peer.transport, peer.host)
        me = f"{format_host(host)}:{port}"
        domain = self.domain or format_host(host)
        account = f"sip:{number}@{domain}"
        try:
            request = mwi.unsolicited_notify(
                binding.contact, via=f"SIP/2.0/{peer.transport.upper()} {me};"
                f"branch={new_branch()};rport", from_=f"<{account}>;tag={secrets.token_hex(6)}",
                to=f"<{account}>", call_id=f"{secrets.token_hex(12)}@{format_host(host)}",
                contact=f"<sip:{me};transport={peer.transport}>",
                summary=mwi.Summary.voice(*counts, account=account))
        except (SipParseError, ValueError):
            return  # a contact that is no URI of ours to send to
        self.stats["unsolicited"] += 1
        ClientRequest(self.layer, request, peer, _Sent(self, None)).start()

    def _answered(self, sub: Subscription | None, status: int) -> None:
        """A NOTIFY's final answer (408: none came)."""
        if sub is None:
            return
        sub.sending = False
        if status >= 300:
            # RFC 6665 §4.2.2: a refused or unanswered NOTIFY ends the subscription; the
            # phone's next refresh gets 481 and subscribes anew.
            log.debug("mwi: NOTIFY to %s answered %d; subscription forgotten", sub.extension,
                      status)
            self._remove(sub)
            return
        if sub.again:
            sub.again = False
            self._send(sub)

    # -- the table ----------------------------------------------------------------------------

    @staticmethod
    def _key(request: Request) -> tuple[str, str, str]:
        return (request.call_id, request.to.tag or "", request.from_.tag or "")

    def _add(self, sub: Subscription) -> None:
        mine = self.by_extension.setdefault(sub.extension, [])
        for old in [s for s in mine if s.peer == sub.peer and s.event == sub.event]:
            self._remove(old)  # the same phone again (rebooted): the new one replaces it
        while len(mine) >= self.per_extension:
            self._remove(mine[0])  # the oldest goes, silently: it was this person's too
        mine.append(sub)
        self.by_dialog[sub.dialog.id] = sub
        if self._sweep is None and self.layer is not None:
            self._sweep = self.layer.timers.call_later(SWEEP_SECONDS, self._expire)

    def _remove(self, sub: Subscription) -> None:
        sub.ended = True
        if self.by_dialog.get(sub.dialog.id) is sub:
            del self.by_dialog[sub.dialog.id]
        mine = self.by_extension.get(sub.extension)
        if mine is not None and sub in mine:
            mine.remove(sub)
            if not mine:
                del self.by_extension[sub.extension]

    def _end(self, sub: Subscription, reason: str) -> None:
        self._remove(sub)
        self._final(sub, reason, with_counts=False)

    def _expire(self) -> None:
        """The sweep: subscriptions past their expiry end with ``reason=timeout``."""
        self._sweep = None
        now = self.clock()
        for sub in [s for s in self.by_dialog.values() if s.expires_at <= now]:
            self._end(sub, "timeout")
        if self.by_dialog and self.layer is not None:
            self._sweep = self.layer.timers.call_later(SWEEP_SECONDS, self._expire)

    # -- helpers ------------------------------------------------------------------------------

    def _contact(self, peer: Peer) -> str:
        host, port = self.locals.sent_by(peer.transport, peer.host)
        return f"<sip:{format_host(host)}:{port};transport={peer.transport}>"

    def _account(self, request: Request, ext: Extension) -> str:
        host = self.domain or format_host(request.uri.host)
        return f"sip:{ext.number}@{host}"

    @staticmethod
    def _answer(txn: ServerTransaction, request: Request, status: int, to_tag: str,
                reason: str | None = None, *,
                headers: list[tuple[str, str]] | None = None) -> None:
        txn.respond(make_response(request, status, reason, to_tag=to_tag, headers=[
            *(headers or []), ("Allow-Events", mwi.EVENT)]))


# -- the store behind ``read_counts`` ---------------------------------------------------------

def mailbox_counts(directory: VoicemailDirectory, number: str) -> Counts:
    """(new, old) messages of the active employee holding extension ``number`` ((0, 0)
    when none holds it). Blocking: run it on the store's workers."""
    box = directory.box_of_extension(number)
    return (0, 0) if box is None else directory.counts(box.employee_id)


class StoreCounts:
    """``ReadCounts`` over the store: each read on ``workers``, its answer on the loop."""

    def __init__(self, directory: VoicemailDirectory, workers: Workers) -> None:
        self.directory, self.workers = directory, workers
        self._tasks: set[asyncio.Task[None]] = set()

    def __call__(self, number: str, then: Reply) -> None:
        task = asyncio.get_running_loop().create_task(self._read(number, then))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read(self, number: str, then: Reply) -> None:
        try:
            counts: Counts | None = await self.workers.run(mailbox_counts, self.directory,
                                                           number)
        except Exception:
            log.exception("mwi: reading the messages of %s failed", number)
            counts = None
        try:
            then(counts)
        except Exception:
            log.exception("mwi: notifying %s failed", number)
