"""The call plan's data: connections, numbers, queues, hours, presence, contacts (plain and
frozen; read from the store by ``appliance/directory/connections.py``, decided over by the
other modules of this package, carried out by the call engine).

Numbers of the outside world are kept in E.164 with ``+`` (``+84912345678``); extensions as
their 1-4 digits. Destinations are a kind and a target so that the media issue's kinds
(greeting, menu, voicemail) slot in; only the kinds that work today are listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

ConnectionKind = Literal["register", "ip"]
Transport = Literal["udp", "tcp", "tls"]
NumberFormat = Literal["e164_plus", "intl_digits", "national"]
Permission = Literal["internal", "local", "mobile", "international"]
Receive = Literal["desk", "app", "both", "mobile"]
DestinationKind = Literal["extension", "queue", "outside", "menu", "voicemail", "hangup",
                          "repeat"]
NoAnswerAction = Literal["continue", "mobile", "voicemail"]
Strategy = Literal["ring_all", "in_order", "round_robin", "least_recent", "fewest_calls"]
Override = Literal["auto", "open", "closed"]
PresenceState = Literal["working", "on_break", "off"]

CONNECTION_KINDS: tuple[ConnectionKind, ...] = ("register", "ip")
TRANSPORTS: tuple[Transport, ...] = ("udp", "tcp", "tls")
NUMBER_FORMATS: tuple[NumberFormat, ...] = ("e164_plus", "intl_digits", "national")
# Where a number, a queue's fallback or a menu key sends a call; ``repeat`` (a menu key only)
# plays the menu again.
DESTINATION_KINDS: tuple[DestinationKind, ...] = ("extension", "queue", "outside", "menu",
                                                  "voicemail", "hangup")
MENU_KEY_KINDS: tuple[DestinationKind, ...] = (*DESTINATION_KINDS, "repeat")
NO_ANSWER_ACTIONS: tuple[NoAnswerAction, ...] = ("continue", "mobile", "voicemail")
STRATEGIES: tuple[Strategy, ...] = (
    "ring_all", "in_order", "round_robin", "least_recent", "fewest_calls")
OVERRIDES: tuple[Override, ...] = ("auto", "open", "closed")
PRESENCE_STATES: tuple[PresenceState, ...] = ("working", "on_break", "off")


@dataclass(frozen=True)
class Server:
    """One server of a connection: host name or address, port (0: not given, so a name is
    found by DNS SRV, RFC 3263), transport."""

    host: str
    port: int = 5060
    transport: Transport = "udp"


@dataclass(frozen=True)
class Connection:
    """A SIP trunk or PBX the office calls out and is called through.

    ``servers`` are tried in order (failover). ``allowed_sources`` (addresses or CIDR
    subnets) are the only peers an ``ip`` connection accepts calls from. ``dids`` are the
    office numbers it carries (E.164). ``caller_id`` (E.164) is presented on calls out, else
    the first DID. ``max_calls`` 0 means no limit. Who may call out through it: the listed
    extensions and the extensions of the listed number groups; both empty means everyone.
    ``prefix`` (``*123*`` or ``802``) dialled before a number chooses it. A register
    connection registers ``username@domain`` (``domain`` None: the first server's host),
    authenticating as ``auth_username`` (None: ``username``), asking for ``expires`` s. The
    password is never in the repr.
    """

    id: int
    name: str
    kind: ConnectionKind
    servers: tuple[Server, ...]
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    allowed_sources: tuple[str, ...] = ()
    dids: tuple[str, ...] = ()
    caller_id: str | None = None
    number_format: NumberFormat = "e164_plus"
    max_calls: int = 0
    codecs: tuple[str, ...] = ()
    allowed_extensions: frozenset[str] = frozenset()
    allowed_groups: frozenset[str] = frozenset()
    prefix: str | None = None
    default: bool = False
    domain: str | None = None
    auth_username: str | None = None
    expires: int = 3600

    def may_use(self, extension: str, group: str | None) -> bool:
        """Whether the extension (of number group ``group``) may call out through this."""
        if not self.allowed_extensions and not self.allowed_groups:
            return True
        return extension in self.allowed_extensions or (
            group is not None and group in self.allowed_groups)

    def presented_id(self) -> str | None:
        """The office number presented on calls out (E.164): caller_id, else the first DID."""
        return self.caller_id or (self.dids[0] if self.dids else None)


@dataclass(frozen=True)
class Destination:
    """Where a call goes: an extension (target its number), a queue (target its name), an
    outside number (target E.164, through ``connection_id`` or the number's own), or hang up.
    """

    kind: DestinationKind
    target: str = ""
    connection_id: int | None = None


HANGUP = Destination("hangup")


@dataclass(frozen=True)
class Menu:
    """An IVR menu: ``text`` spoken in ``language`` (generated when saved), the ``keys``
    (``0``-``9``, ``*``) callers press and where each goes, whether they may dial an
    extension instead (an extension wins a tie with a key). No key within ``timeout`` s
    after the prompt replays it up to ``timeout_retries`` times, then ``timeout_destination``;
    an invalid key (counted apart) replays it up to ``invalid_retries`` times, then
    ``invalid_destination``."""

    name: str
    text: str
    language: str = "en"
    keys: Mapping[str, Destination] = field(default_factory=dict)
    extensions: bool = True
    timeout: int = 5
    timeout_retries: int = 2
    timeout_destination: Destination = HANGUP
    invalid_retries: int = 2
    invalid_destination: Destination = HANGUP
    audio: str | None = None  # an uploaded recording played instead of ``text``


@dataclass(frozen=True)
class Greeting:
    """What the box says when it answers a number's calls itself: the built-in greeting in
    ``language`` (``text`` None), or ``text`` spoken in it; callers may dial an extension
    while it plays and for ``wait`` seconds after."""

    language: str = "en"
    text: str | None = None
    wait: int = 5
    on: bool = True  # off: kept as set, not played
    audio: str | None = None  # an uploaded recording played instead of the speech


@dataclass(frozen=True)
class Number:
    """An office number (DID, E.164) and how its calls are routed, step by step:
    (a) ``to_header``: the extension in the To user part (or Request-URI);
    (b) ``contacts_map``: the employee a known caller belongs to;
    (c) ``destination``; (d) outside the ``hours`` schedule, ``after_hours`` instead of (c).
    ``greeting`` (None or not ``on``: off): while the hours are open, the box answers and
    greets the caller before (c), and an extension dialled during it rings first.
    ``no_answer`` after ringing a person: go on with the routing, or ``mobile``: their mobile
    through ``no_answer_connection`` (else the number's own) first. ``hours`` None: always open.
    """

    did: str
    connection_id: int
    destination: Destination = HANGUP
    to_header: bool = True
    contacts_map: bool = True
    after_hours: Destination | None = None
    hours: str | None = None
    no_answer: NoAnswerAction = "continue"
    no_answer_connection: int | None = None
    ring_timeout: int = 20
    greeting: Greeting | None = None
    record: bool = False  # its calls recorded, after "this call is recorded" is played
    rating: bool = False  # its callers asked to rate the call (1-5) once the employee hung up


@dataclass(frozen=True)
class Queue:
    """A queue group: its members (extensions, in order), strategy, seconds each member rings,
    overall seconds, where the call goes after them, and whether members on a call ring."""

    name: str
    members: tuple[str, ...]
    strategy: Strategy = "ring_all"
    ring_time: int = 20
    timeout: int = 60
    fallback: Destination = HANGUP
    ring_busy: bool = False


@dataclass(frozen=True)
class WeeklyRange:
    """Open from ``start`` to ``end``, in minutes from Monday 00:00 of the week (0..10079);
    an ``end`` at or before ``start`` wraps past Sunday midnight."""

    start: int
    end: int


@dataclass(frozen=True)
class Holiday:
    """Closed all day from ``first`` to ``last`` (inclusive, the box's local dates)."""

    first: date
    last: date
    name: str = ""


@dataclass(frozen=True)
class WorkingHours:
    """A schedule: IANA zone, weekly open ranges, holidays, manual override."""

    name: str
    zone: str
    weekly: tuple[WeeklyRange, ...] = ()
    holidays: tuple[Holiday, ...] = ()
    override: Override = "auto"


@dataclass(frozen=True)
class Presence:
    """An employee's presence: working, on a break, or off (not started, or gone home)."""

    employee_id: int
    state: PresenceState
    since: datetime


@dataclass(frozen=True)
class Contact:
    """A known caller (E.164) and the employee responsible for them."""

    number: str
    employee_id: int
    name: str = ""


@dataclass(frozen=True)
class ExtensionView:
    """What routing needs of an extension: holder (None: free), whether the holder is active,
    how calls reach them, their mobile (international digits, e.g. 84912345678)."""

    number: str
    employee_id: int | None
    active: bool
    receive: Receive = "desk"
    mobile: str | None = None
    no_answer: Literal["number", "continue", "mobile", "voicemail"] = "number"
    no_answer_connection: int | None = None
    ring_timeout: int | None = None
    voicemail: bool = True  # their voicemail box takes messages

    @property
    def reachable(self) -> bool:
        """Assigned to an active employee: the only extensions a call may ring."""
        return self.employee_id is not None and self.active


@dataclass(frozen=True)
class DirectoryView:
    """The extensions routing may use, by number."""

    extensions: Mapping[str, ExtensionView] = field(default_factory=dict)

    def reachable(self, number: str) -> ExtensionView | None:
        """The extension if it is assigned to an active employee, else None."""
        ext = self.extensions.get(number)
        return ext if ext is not None and ext.reachable else None

    def of_employee(self, employee_id: int) -> ExtensionView | None:
        """The reachable extension an employee holds, if any."""
        for ext in self.extensions.values():
            if ext.employee_id == employee_id and ext.reachable:
                return ext
        return None


@dataclass(frozen=True)
class LineActivity:
    """What the engine knows of an extension's calls: on a call now, when its last queue
    call ended or was answered, how many queue calls it took today."""

    on_call: bool = False
    last_call_at: datetime | None = None
    calls: int = 0


@dataclass(frozen=True)
class CallState:
    """The engine's live view for queues: activity per extension, and per queue the member
    rung last (round robin's memory)."""

    lines: Mapping[str, LineActivity] = field(default_factory=dict)
    pointers: Mapping[str, str] = field(default_factory=dict)
