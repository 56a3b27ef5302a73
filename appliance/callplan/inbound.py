"""Calls in: the steps a call to an office number goes through, in order, until one answers.

The number's routing, each step switchable on the number:
(a) ``to_header``: the extension in the To user part, else in the Request-URI, rings;
(b) ``contacts_map``: a known caller's employee rings (skipped if (a) rang them);
(c) the destination, while the number's hours are open (or it has none);
(d) the after-hours destination instead of (c) while they are closed (none set: (c)).
A number whose calls are recorded starts with ``Announce`` (the caller is told, then the call
is recorded). With the number's greeting on and its hours open, a ``Greet`` step comes before
(c): the box answers, greets, and an extension the caller dials rings first (``dialled``),
then (c)/(d). A ``menu`` destination is a ``PlayMenu`` step: the caller's choice there gives
the steps after it (``chosen``).
A person is rung for their extension's ring time (none set: the number's) on their
extension, or, when they receive calls on their mobile, their mobile through the number's
connection. When the extension does not answer, its own ``no_answer`` decides (``number``:
the number's): ``mobile`` tries their mobile next through the extension's chosen connection,
else the number's chosen one, else the number's own; ``voicemail`` takes a message for them
(``Voicemail``: the call ends there), as does a ``voicemail`` destination; a box switched
off takes none (the step is skipped); ``continue`` goes on with the routing.
A queue rings its rounds (``queues.schedule``), then its fallback; a queue with nobody to
ring goes straight to its fallback. An outside destination that is an office number follows
that number's routing (c)/(d). Only extensions assigned to an active employee are ever rung
or forwarded to; an extension already rung in this call is not rung again. The plan always ends with
a hang-up (``480``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from appliance.callplan import hours as hours_rules
from appliance.callplan import numbers, queues
from appliance.callplan.model import (
    CallState,
    Connection,
    Destination,
    DirectoryView,
    ExtensionView,
    Greeting,
    Menu,
    Number,
    PresenceState,
    Queue,
    WorkingHours,
)
from appliance.callplan.numbers import VIETNAM, NumberPlan

Why = Literal["recording", "to_header", "contact", "greeting", "dialled", "menu",
              "destination", "after_hours", "no_answer", "fallback", "end"]
_EXTENSION = re.compile(r"[0-9]{1,4}")
MAX_DEPTH = 16


@dataclass(frozen=True)
class RingExtension:
    """Ring the extension's contacts (as its receive method says) for ``seconds``."""

    extension: str
    seconds: int
    why: Why


@dataclass(frozen=True)
class RingQueue:
    """Ring the queue's rounds in turn (their seconds add up to its timeout)."""

    queue: str
    rounds: tuple[queues.Round, ...]
    why: Why


@dataclass(frozen=True)
class ForwardOut:
    """Call ``number`` (written as the connection wants; ``e164`` its normal form) through
    connection ``connection_id`` for ``seconds``, presenting ``presented`` (the office number,
    written the same way); ``extension``: the person it stands for, if any."""

    number: str
    e164: str
    connection_id: int
    seconds: int
    presented: str
    why: Why
    extension: str | None = None


@dataclass(frozen=True)
class Greet:
    """Answer the call here, play ``greeting`` and collect an extension dialled during it
    (or within its wait); nothing dialled: the next step."""

    greeting: Greeting
    why: Why


@dataclass(frozen=True)
class Announce:
    """Answer the call here and tell the caller, in ``language``, that it is recorded; the
    call is recorded only once that was played."""

    language: str
    why: Why


@dataclass(frozen=True)
class PlayMenu:
    """Answer the call here and play menu ``menu``: the key (or extension) the caller
    chooses decides the steps after it (``chosen``)."""

    menu: str
    why: Why


@dataclass(frozen=True)
class Voicemail:
    """Answer the call here and take a message for ``extension``'s holder (their greeting,
    a tone, the caller's message); the call ends there."""

    extension: str
    why: Why


@dataclass(frozen=True)
class HangUp:
    """End the call with this SIP status."""

    status: int
    phrase: str
    why: Why


Step = RingExtension | RingQueue | ForwardOut | Greet | PlayMenu | Announce | Voicemail | HangUp


@dataclass(frozen=True)
class InboundCall:
    """An incoming call: the caller's number as sent, the To and Request-URI user parts."""

    caller: str
    to_user: str | None = None
    ruri_user: str | None = None


@dataclass(frozen=True)
class Routing:
    """Everything an inbound plan reads besides the call: the office's connections (by id),
    numbers (by DID), queues and schedules (by name), extensions, presence (by employee),
    contacts map (caller E.164 -> employee id), live queue state and the number plan."""

    connections: Mapping[int, Connection] = field(default_factory=dict)
    numbers: Mapping[str, Number] = field(default_factory=dict)
    queues: Mapping[str, Queue] = field(default_factory=dict)
    menus: Mapping[str, Menu] = field(default_factory=dict)
    hours: Mapping[str, WorkingHours] = field(default_factory=dict)
    directory: DirectoryView = field(default_factory=DirectoryView)
    presence: Mapping[int, PresenceState] = field(default_factory=dict)
    contacts: Mapping[str, int] = field(default_factory=dict)
    state: CallState = field(default_factory=CallState)
    numbering: NumberPlan = VIETNAM


@dataclass(frozen=True)
class InboundPlan:
    """The steps, in order, and whether the number's hours were open."""

    steps: tuple[Step, ...]
    open: bool


def number_open(number: Number, routing: Routing, now: datetime) -> bool:
    """Whether the number's schedule is open at ``now`` (no schedule: always)."""
    schedule = routing.hours.get(number.hours) if number.hours else None
    return True if schedule is None else hours_rules.is_open(schedule, now)


class _Planner:
    def __init__(self, number: Number, routing: Routing, now: datetime) -> None:
        self.number = number
        self.routing = routing
        self.now = now
        self.steps: list[Step] = []
        self.rung: set[str] = set()

    def forward(self, e164: str, conn_id: int, why: Why, ext: str | None = None,
                seconds: int | None = None) -> None:
        conn = self.routing.connections.get(conn_id)
        if conn is None:
            return
        plan = self.routing.numbering
        self.steps.append(ForwardOut(
            number=numbers.write_e164(e164, conn.number_format, plan), e164=e164,
            connection_id=conn.id, seconds=seconds or self.number.ring_timeout,
            presented=numbers.write_e164(self.number.did, conn.number_format, plan),
            why=why, extension=ext))

    def person(self, ext: ExtensionView, why: Why) -> None:
        if ext.number in self.rung or not ext.reachable:
            return
        self.rung.add(ext.number)
        mobile = None if ext.mobile is None else numbers.e164(
            "+" + ext.mobile, self.routing.numbering)
        seconds = ext.ring_timeout or self.number.ring_timeout
        if ext.receive == "mobile":
            if mobile is not None:
                self.forward(mobile, self.number.connection_id, why, ext.number, seconds)
            return
        self.steps.append(RingExtension(ext.number, seconds, why))
        action = self.number.no_answer if ext.no_answer == "number" else ext.no_answer
        if action == "mobile" and mobile is not None:
            conn = (ext.no_answer_connection or self.number.no_answer_connection
                    or self.number.connection_id)
            self.forward(mobile, conn, "no_answer", ext.number, seconds)
        elif action == "voicemail":
            self.voicemail(ext, "no_answer")

    def voicemail(self, ext: ExtensionView, why: Why) -> None:
        """A message for ``ext``'s holder: where the call ends (a box taking none: skipped)."""
        if ext.reachable and ext.voicemail:
            self.steps.append(Voicemail(ext.number, why))

    def destination(self, dest: Destination, why: Why, seen: frozenset[str]) -> None:
        if len(seen) > MAX_DEPTH:
            return
        if dest.kind == "extension":
            ext = self.routing.directory.reachable(dest.target)
            if ext is not None:
                self.person(ext, why)
        elif dest.kind == "queue":
            self.queue(dest.target, why, seen)
        elif dest.kind == "outside":
            self.outside(dest, why, seen)
        elif dest.kind == "menu":
            if dest.target in self.routing.menus:
                self.steps.append(PlayMenu(dest.target, why))
        elif dest.kind == "voicemail":
            ext = self.routing.directory.reachable(dest.target)
            if ext is not None:
                self.voicemail(ext, why)
        else:
            self.steps.append(HangUp(480, "Temporarily Unavailable", why))

    def queue(self, name: str, why: Why, seen: frozenset[str]) -> None:
        queue = self.routing.queues.get(name)
        if queue is None or f"queue {name}" in seen:
            return
        r = self.routing
        rounds = queues.schedule(queue, r.directory, r.presence, r.state)
        if rounds:
            self.steps.append(RingQueue(queue.name, rounds, why))
        self.destination(queue.fallback, "fallback", seen | {f"queue {name}"})

    def outside(self, dest: Destination, why: Why, seen: frozenset[str]) -> None:
        own = self.routing.numbers.get(dest.target)
        if own is None:
            self.forward(dest.target, dest.connection_id or self.number.connection_id, why)
            return
        if f"number {own.did}" in seen:
            return
        inner = _Planner(own, self.routing, self.now)
        inner.rung = self.rung
        inner.routed(seen | {f"number {own.did}"})
        self.steps.extend(inner.steps)

    def routed(self, seen: frozenset[str]) -> None:
        """Steps (c) and (d) of this planner's number."""
        number = self.number
        if number.after_hours is not None and not number_open(number, self.routing, self.now):
            self.destination(number.after_hours, "after_hours", seen)
        else:
            self.destination(number.destination, "destination", seen)


def _asked_extension(call: InboundCall) -> str | None:
    for user in (call.to_user, call.ruri_user):
        if user is not None and _EXTENSION.fullmatch(user.strip()):
            return user.strip()
    return None


def plan(number: Number, call: InboundCall, now: datetime, routing: Routing) -> InboundPlan:
    """The steps for ``call`` to ``number`` at ``now`` (see the module's doc)."""
    planner = _Planner(number, routing, now)
    if number.record:  # told before anything rings: the first bridge is recorded
        language = number.greeting.language if number.greeting is not None else "en"
        planner.steps.append(Announce(language, "recording"))
    if number.to_header:
        asked = _asked_extension(call)
        ext = None if asked is None else routing.directory.reachable(asked)
        if ext is not None:
            planner.person(ext, "to_header")
    if number.contacts_map:
        caller = numbers.e164(call.caller, routing.numbering)
        employee = None if caller is None else routing.contacts.get(caller)
        ext = None if employee is None else routing.directory.of_employee(employee)
        if ext is not None:
            planner.person(ext, "contact")
    is_open = number_open(number, routing, now)
    if number.greeting is not None and number.greeting.on and (
            is_open or number.after_hours is None):
        planner.steps.append(Greet(number.greeting, "greeting"))
    planner.routed(frozenset({f"number {number.did}"}))
    return InboundPlan(_ended(planner.steps), is_open)


def dialled(number: Number, extension: str, now: datetime, routing: Routing,
            rung: frozenset[str] = frozenset()) -> tuple[Step, ...]:
    """The steps after a caller dialled ``extension`` during ``number``'s greeting: that
    extension (if reachable, and not already in ``rung``) as a person, then (c)/(d)."""
    planner = _Planner(number, routing, now)
    planner.rung = set(rung)
    ext = routing.directory.reachable(extension)
    if ext is not None:
        planner.person(ext, "dialled")
    planner.routed(frozenset({f"number {number.did}"}))
    return _ended(planner.steps)


def chosen(number: Number, dest: Destination, now: datetime,
           routing: Routing) -> tuple[Step, ...]:
    """The steps after a menu of a call to ``number`` sent it to ``dest`` (a key's, or its
    timeout or invalid destination; an extension dialled in it is ``extension:N``): that
    destination alone, then a hang-up (a menu is where the routing ends)."""
    planner = _Planner(number, routing, now)
    planner.destination(dest, "menu", frozenset({f"number {number.did}"}))
    return _ended(planner.steps)


def _ended(steps: list[Step]) -> tuple[Step, ...]:
    """``steps`` ending with a hang-up (480 when the plan ran out)."""
    if not steps or not isinstance(steps[-1], HangUp):
        steps.append(HangUp(480, "Temporarily Unavailable", "end"))
    return tuple(steps)


def _to_voicemail(callee: ExtensionView) -> InboundPlan | None:
    """An internal call to ``callee``: their phones ring, then their voicemail (its box
    switched off: the phones alone, None)."""
    if not callee.voicemail:
        return None
    seconds = callee.ring_timeout or Number("", 0).ring_timeout
    return InboundPlan((RingExtension(callee.number, seconds, "destination"),
                        Voicemail(callee.number, "no_answer"),
                        HangUp(480, "Temporarily Unavailable", "end")), True)


def internal(callee: ExtensionView, routing: Routing, now: datetime) -> InboundPlan | None:
    """The steps of a call between extensions to ``callee`` when it reaches beyond the
    phones: the employee receives calls on their mobile, or their extension's ``no_answer``
    is ``mobile`` or ``voicemail`` (``number`` and ``continue``: nothing after the extension,
    there is no office number). The mobile is called through the extension's
    ``no_answer_connection``, else the default connection, presenting that connection's
    office number (none: the default connection's). None: the call stays between phones
    (the proxy rings the extension alone)."""
    if not callee.reachable:
        return None
    if callee.no_answer == "voicemail" and callee.receive != "mobile":
        return _to_voicemail(callee)
    if callee.mobile is None or (callee.receive != "mobile" and callee.no_answer != "mobile"):
        return None
    default = next((c for c in routing.connections.values() if c.default), None)
    conn = routing.connections.get(callee.no_answer_connection) \
        if callee.no_answer_connection else default
    presented = None if conn is None else conn.presented_id() or (
        default.presented_id() if default is not None else None)
    if conn is None or presented is None:
        return None
    office = Number(presented, conn.id, to_header=False, contacts_map=False)
    planner = _Planner(office, routing, now)
    planner.person(replace(callee, no_answer_connection=conn.id), "destination")
    if not any(isinstance(step, ForwardOut) for step in planner.steps):
        return None  # no mobile that can be written: the phones alone
    return InboundPlan((*planner.steps, HangUp(480, "Temporarily Unavailable", "end")), True)
