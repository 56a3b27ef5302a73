"""Message waiting (RFC 3842) over SIP events (RFC 6665), sans-I/O: no policy, no sockets.

``Summary`` is an ``application/simple-message-summary`` body (RFC 3842 §5.2)::

    Messages-Waiting: yes
    Message-Account: sip:101@office.example
    Voice-Message: 2/8 (0/2)

``Summary.to_bytes`` writes one, ``parse_summary`` reads one strictly (SipParseError for
anything else, never another exception). ``parse_event`` and ``parse_subscription_state``
read the ``Event`` and ``Subscription-State`` headers (RFC 6665 §8.2); ``subscription_state``
writes the latter. ``notify`` builds the NOTIFY of a subscription from the notifier's dialog
(``sip/dialog.py``), ``unsolicited_notify`` an out-of-dialog one (the phones that never
subscribe but show what they are sent).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from appliance.errors import SipParseError
from appliance.sip.dialog import Dialog
from appliance.sip.message import Request, make_request
from appliance.sip.uri import TOKEN_RE, parse_params, parse_uint

EVENT = "message-summary"
CONTENT_TYPE = "application/simple-message-summary"
STATES = ("active", "pending", "terminated")
REASONS = ("deactivated", "probation", "rejected", "timeout", "giveup", "noresource",
           "invariant")
CLASSES = ("voice-message", "fax-message", "pager-message", "multimedia-message",
           "text-message", "none")  # RFC 3458 §6.2 message-context-class
MAX_BODY = 4096
MAX_COUNT = 2**31 - 1
_ACCOUNT_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[!-~]+")  # an absolute URI, no spaces
_COUNTS_RE = re.compile(r"([0-9]{1,10})[ \t]*/[ \t]*([0-9]{1,10})"
                        r"(?:[ \t]*\([ \t]*([0-9]{1,10})[ \t]*/[ \t]*([0-9]{1,10})[ \t]*\))?")


@dataclass(frozen=True)
class Counts:
    """Messages of one class: new and old, and of those the urgent ones when given."""

    new: int
    old: int
    urgent_new: int | None = None
    urgent_old: int | None = None

    def __str__(self) -> str:
        urgent = "" if self.urgent_new is None or self.urgent_old is None else \
            f" ({self.urgent_new}/{self.urgent_old})"
        return f"{self.new}/{self.old}{urgent}"


@dataclass(frozen=True)
class Summary:
    """A message summary: whether messages wait, for which account, and counts per class
    (``("voice-message", Counts(...))``, in the order given)."""

    waiting: bool
    account: str | None = None
    classes: tuple[tuple[str, Counts], ...] = ()

    @classmethod
    def voice(cls, new: int, old: int, account: str | None = None) -> Summary:
        """The summary of a voicemail box: waiting when a message is new."""
        return cls(new > 0, account, (("voice-message", Counts(new, old)),))

    @property
    def voice_counts(self) -> Counts | None:
        """The voice messages' counts, if given."""
        return next((c for name, c in self.classes if name == "voice-message"), None)

    def to_bytes(self) -> bytes:
        """The body, CRLF after each line (RFC 3842 §5.2)."""
        lines = [f"Messages-Waiting: {'yes' if self.waiting else 'no'}"]
        if self.account is not None:
            if not _ACCOUNT_RE.fullmatch(self.account):
                raise ValueError("Message-Account must be an absolute URI")
            lines.append(f"Message-Account: {self.account}")
        for name, counts in self.classes:
            if name not in CLASSES:
                raise ValueError(f"unknown message class {name!r}")
            values = (counts.new, counts.old, counts.urgent_new or 0, counts.urgent_old or 0)
            if not all(0 <= v <= MAX_COUNT for v in values):
                raise ValueError("message counts must be 0 to 2**31-1")
            lines.append(f"{name.title()}: {counts}")
        return ("\r\n".join(lines) + "\r\n").encode("ascii")


def parse_summary(body: bytes) -> Summary:
    """Read a simple-message-summary body; SipParseError for anything malformed."""
    if len(body) > MAX_BODY:
        raise SipParseError("message summary too long")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SipParseError("message summary is not UTF-8") from None
    head = text.replace("\r\n", "\n").split("\n\n", 1)[0]  # then opt-msg-headers: not ours
    lines = [line for line in head.split("\n") if line.strip()]
    if not lines or "\r" in head:
        raise SipParseError("empty or badly framed message summary")
    waiting: bool | None = None
    account: str | None = None
    classes: list[tuple[str, Counts]] = []
    for index, line in enumerate(lines):
        name, colon, value = line.partition(":")
        name, value = name.strip().lower(), value.strip()
        if not colon or not TOKEN_RE.fullmatch(name) or any(ord(c) < 32 for c in value):
            raise SipParseError("bad message summary line")
        if index == 0 and name != "messages-waiting":
            raise SipParseError("a message summary starts with Messages-Waiting")
        if name == "messages-waiting":
            if index != 0 or value.lower() not in ("yes", "no"):
                raise SipParseError("bad Messages-Waiting")
            waiting = value.lower() == "yes"
        elif name == "message-account":
            if account is not None or classes or not _ACCOUNT_RE.fullmatch(value):
                raise SipParseError("bad Message-Account")
            account = value
        elif name in CLASSES:
            if any(known == name for known, _ in classes):
                raise SipParseError(f"repeated {name}")
            classes.append((name, _counts(value)))
        # Any other line is an extension header of the summary: allowed, not kept.
    assert waiting is not None
    return Summary(waiting, account, tuple(classes))


def _counts(value: str) -> Counts:
    found = _COUNTS_RE.fullmatch(value)
    if found is None:
        raise SipParseError("bad message counts")
    new, old, urgent_new, urgent_old = (
        None if g is None else parse_uint(g, MAX_COUNT, "message count") for g in found.groups())
    assert new is not None and old is not None
    return Counts(new, old, urgent_new, urgent_old)


# -- Event and Subscription-State (RFC 6665 §8.2) ----------------------------------------------

def parse_event(value: str | None) -> tuple[str, dict[str, str | None]]:
    """The event package (lower case) and its parameters (``id``…); SipParseError when
    malformed. An absent header reads as ``("", {})``."""
    if value is None:
        return "", {}
    package, semi, rest = value.strip().partition(";")
    package = package.strip().lower()
    if not TOKEN_RE.fullmatch(package):
        raise SipParseError("bad Event")
    return package, parse_params(semi + rest, "Event") if semi else {}


def event_value(package: str, params: dict[str, str | None]) -> str:
    """An Event header value for ``package`` that keeps the subscription's ``id``."""
    ident = params.get("id")
    return f"{package};id={ident}" if ident else package


def subscription_state(state: str, *, expires: int | None = None,
                       reason: str | None = None) -> str:
    """A Subscription-State value: ``active;expires=3600``, ``terminated;reason=timeout``."""
    if state not in STATES or (reason is not None and reason not in REASONS):
        raise ValueError("unknown subscription state or reason")
    text = state
    if reason is not None:
        text += f";reason={reason}"
    if expires is not None and state != "terminated":
        text += f";expires={max(0, int(expires))}"
    return text


def parse_subscription_state(value: str) -> tuple[str, dict[str, str | None]]:
    """The state (lower case) and its parameters; SipParseError when malformed."""
    state, semi, rest = value.strip().partition(";")
    state = state.strip().lower()
    if not TOKEN_RE.fullmatch(state):
        raise SipParseError("bad Subscription-State")
    params = parse_params(semi + rest, "Subscription-State") if semi else {}
    expires = params.get("expires")
    if expires is not None:
        parse_uint(expires, 2**32 - 1, "Subscription-State expires")
    return state, params


# -- NOTIFY ------------------------------------------------------------------------------------

def notify(dialog: Dialog, *, via: str, contact: str, state: str, event: str = EVENT,
           expires: int | None = None, reason: str | None = None,
           summary: Summary | None = None) -> Request:
    """The next NOTIFY of the subscription whose notifier side is ``dialog`` (RFC 6665
    §4.2.2): Event, Subscription-State, our Contact, and the summary when there is one."""
    headers = (("Contact", contact), ("Event", event),
               ("Subscription-State", subscription_state(state, expires=expires,
                                                         reason=reason)))
    body = summary.to_bytes() if summary is not None else b""
    return dialog.request("NOTIFY", via=via, headers=headers, body=body,
                          content_type=CONTENT_TYPE if summary is not None else None)


def unsolicited_notify(uri: str, *, via: str, from_: str, to: str, call_id: str,
                       contact: str, summary: Summary) -> Request:
    """An out-of-dialog NOTIFY of ``summary`` to a phone's registered contact ``uri`` (no
    subscription: its state is ``terminated``, as many desk phones take it)."""
    return make_request("NOTIFY", uri, via=via, from_=from_, to=to, call_id=call_id, cseq=1,
                        contact=contact, headers=[
                            ("Event", EVENT), ("Subscription-State", "terminated")],
                        body=summary.to_bytes(), content_type=CONTENT_TYPE)
