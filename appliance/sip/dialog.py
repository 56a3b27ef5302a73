"""RFC 3261 §12 dialogs, sans-I/O: identity, route set, sequence numbers, remote target.

A ``Dialog`` is one party's view: the Call-ID and the local and remote tags (§12), the
route set, the local and remote CSeq numbers and the remote target. ``Dialog.uac`` builds
it from a request and the response that made the dialog (§12.1.2: the Record-Route set
reversed), ``Dialog.uas`` from a request the local side answers (§12.1.1: the Record-Route
set in order). ``request`` builds an in-dialog request (§12.2.1.1: Request-URI, Route,
CSeq, From and To); ``received`` checks and records a remote CSeq (§12.2.2); a 2xx to a
re-INVITE or UPDATE refreshes the remote target (``refresh_target``, RFC 6141 §3.2).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from appliance.errors import SipParseError
from appliance.sip.message import Request, Response, SipUri, make_request
from appliance.sip.values import NameAddr, parse_name_addr

TARGET_REFRESH = frozenset({"INVITE", "UPDATE"})


def _untagged(party: NameAddr) -> str:
    """A From or To value without its tag, as text."""
    params = {k: v for k, v in party.params.items() if k != "tag"}
    return str(NameAddr(party.uri, party.display_name, params))


def _target(message: Request | Response) -> SipUri:
    """The single Contact URI of ``message``; SipParseError if there is none."""
    contacts = message.contacts
    if len(contacts) != 1:
        raise SipParseError("a dialog needs exactly one Contact")
    return contacts[0].uri


@dataclass
class Dialog:
    """One side's state of a dialog; ``local_seq`` 0 and ``remote_seq`` None mean empty."""

    call_id: str
    local_tag: str
    remote_tag: str
    local: str  # the local party (From of the requests this side sends), without tag
    remote: str  # the remote party (their To), without tag
    remote_target: SipUri
    route_set: tuple[str, ...] = ()  # Route values, first hop first
    local_seq: int = 0
    remote_seq: int | None = None
    secure: bool = False

    @property
    def id(self) -> tuple[str, str, str]:
        """The dialog id: Call-ID, local tag, remote tag (§12)."""
        return (self.call_id, self.local_tag, self.remote_tag)

    @classmethod
    def uac(cls, request: Request, response: Response) -> Dialog:
        """The caller's dialog, made by a 2xx or tagged 1xx to ``request`` (§12.1.2)."""
        remote_tag = response.to.tag
        local_tag = request.from_.tag
        if not remote_tag or not local_tag:
            raise SipParseError("a dialog needs both tags")
        routes = tuple(str(r) for r in reversed(response.record_routes))
        return cls(request.call_id, local_tag, remote_tag, _untagged(request.from_),
                   _untagged(response.to), _target(response), routes,
                   local_seq=request.cseq.seq, secure=request.uri.scheme == "sips")

    @classmethod
    def uas(cls, request: Request, local_tag: str) -> Dialog:
        """The callee's dialog, for ``request`` answered with To tag ``local_tag`` (§12.1.1)."""
        remote_tag = request.from_.tag
        if not remote_tag:
            raise SipParseError("a dialog needs the remote tag")
        routes = tuple(str(r) for r in request.record_routes)
        return cls(request.call_id, local_tag, remote_tag, _untagged(request.to),
                   _untagged(request.from_), _target(request), routes,
                   remote_seq=request.cseq.seq, secure=request.uri.scheme == "sips")

    def matches(self, message: Request | Response, *, sent: bool = False) -> bool:
        """Whether ``message`` belongs to this dialog (``sent``: one this side sends)."""
        ours, theirs = (message.from_.tag, message.to.tag)
        if sent != isinstance(message, Request):  # a request received, a response sent
            ours, theirs = theirs, ours
        return message.call_id == self.call_id and (ours, theirs) == (
            self.local_tag, self.remote_tag)

    def received(self, request: Request) -> bool:
        """Record an in-dialog request's CSeq; False if it is out of order (§12.2.2: 500)."""
        seq = request.cseq.seq
        if request.method in ("ACK", "CANCEL"):
            return True
        if self.remote_seq is not None and seq <= self.remote_seq:
            return False
        self.remote_seq = seq
        return True

    def refresh_target(self, message: Request | Response) -> None:
        """Take the remote target from ``message`` (the remote side's re-INVITE, UPDATE, or
        the 2xx to ours); a message without one Contact changes nothing."""
        try:
            self.remote_target = _target(message)
        except SipParseError:
            return

    def next_hop(self) -> SipUri:
        """Where an in-dialog request goes first: the first route, else the remote target."""
        if self.route_set:
            return parse_name_addr(self.route_set[0], brackets=True).uri
        return self.remote_target

    def request(self, method: str, *, via: str, max_forwards: int = 70, cseq: int | None = None,
                headers: tuple[tuple[str, str], ...] = (), body: bytes = b"",
                content_type: str | None = None) -> Request:
        """An in-dialog request (§12.2.1.1). ACK and CANCEL take ``cseq`` (the INVITE's);
        any other method takes the next local sequence number."""
        if cseq is None:
            self.local_seq += 1
            cseq = self.local_seq
        uri, routes = self.remote_target.copy(), list(self.route_set)
        if routes:
            first = parse_name_addr(routes[0], brackets=True).uri
            if "lr" not in first.params:
                # A strict router: it becomes the Request-URI, the remote target the last Route.
                first.params = {k: v for k, v in first.params.items()
                                if k not in ("method", "maddr", "ttl", "transport", "lr")}
                uri, routes = first, [*routes[1:], f"<{self.remote_target}>"]
        remote = self.remote + (f";tag={self.remote_tag}" if self.remote_tag else "")
        return make_request(method, uri, via=via, from_=f"{self.local};tag={self.local_tag}",
                            to=remote, call_id=self.call_id, cseq=cseq,
                            max_forwards=max_forwards,
                            headers=[*(("Route", r) for r in routes), *headers], body=body,
                            content_type=content_type)

    def with_routes(self, routes: tuple[str, ...]) -> Dialog:
        """The same dialog with another route set (e.g. a proxy's view without itself)."""
        return replace(self, route_set=routes)
