"""The pieces of a B2BUA call (``calls/b2bua.py``): its legs, the INVITEs it sends, the
answers it gives its caller, and the in-dialog requests it relays, sans-I/O.

A leg is one dialog with the box as a user agent: toward the caller (the box answered its
INVITE, RFC 3261 §12.1.1) or toward a callee (the box sent the INVITE, §12.1.2), with the
flow its party is reached over, the box's tag and, toward a connection, the credentials its
challenges are answered with. A branch is one INVITE sent for the call.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from appliance.calls.servers import uri_host
from appliance.sip.dialog import Dialog
from appliance.sip.locate import Address
from appliance.sip.message import Request, Response, make_request, make_response
from appliance.sip.transaction import Peer, ServerTransaction
from appliance.sip.ua import Accepted, ClientRequest, Credentials, new_branch
from appliance.sip.uri import format_host

USER_AGENT = "appliance"
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, MESSAGE, NOTIFY"
# Headers an in-dialog request or its answer carries across to the other leg, beside its body.
RELAYED = ("content-disposition", "event", "subscription-state", "info-package", "reason",
           "allow-events", "recv-info")


class SentBy(Protocol):
    """The box's own address toward a peer."""

    def sent_by(self, transport: str, toward: str) -> tuple[str, int]:
        """Our host and port on ``transport`` as seen from host ``toward``."""

    def has(self, transport: str) -> bool:
        """Whether we listen on ``transport``."""


@dataclass(eq=False)
class Leg:
    """One dialog of a B2BUA call; ``dialog`` once it is confirmed (or, toward the caller,
    once the box answered 2xx)."""

    side: str  # "inside" (a phone) or "outside" (a connection)
    flow: Peer
    call_id: str
    tag: str  # the box's tag in this dialog
    credentials: Credentials | None = field(default=None, repr=False)
    dialog: Dialog | None = None
    accepted: Accepted | None = None  # the box's latest 2xx to an INVITE here, until ACKed
    owed_ack: ClientRequest | None = None  # a 2xx here with an offer: its ACK brings the answer
    extension: str | None = None  # the phone's extension on an inside leg
    connection_id: int | None = None  # the connection of an outside leg

    @property
    def key(self) -> tuple[str, str]:
        """Call-ID and the box's tag: how a request on this leg is recognised."""
        return (self.call_id, self.tag)


@dataclass(eq=False)
class Branch:
    """One INVITE the box sent for a call (to a phone's contact, or out to a connection)."""

    leg: Leg
    client: ClientRequest | None = None
    provisional: bool = False
    cancel_wanted: bool = False
    cancelled: bool = False
    final: int = 0
    failover: Callable[[], None] | None = None  # try the connection's next server instead


def token() -> str:
    """A fresh tag."""
    return secrets.token_hex(6)


def via(locals_: SentBy, peer: Peer) -> str:
    """A Via of ours toward ``peer`` with a fresh branch."""
    host, port = locals_.sent_by(peer.transport, peer.host)
    return f"SIP/2.0/{peer.transport.upper()} {format_host(host)}:{port};" \
           f"branch={new_branch()};rport"


def contact(locals_: SentBy, peer: Peer) -> str:
    """The box's Contact toward ``peer`` (where in-dialog requests reach it)."""
    host, port = locals_.sent_by(peer.transport, peer.host)
    transport = "" if peer.transport == "udp" else f";transport={peer.transport}"
    return f"<sip:b2bua@{format_host(host)}:{port}{transport}>"


def new_call_id(locals_: SentBy, peer: Peer) -> str:
    """A fresh Call-ID naming the box."""
    host, _ = locals_.sent_by(peer.transport, peer.host)
    return f"{secrets.token_hex(12)}@{format_host(host)}"


def quoted(display: str | None) -> str:
    """A display name as a quoted string (empty when none)."""
    if not display:
        return ""
    clean = "".join(c for c in display if c.isprintable() and c not in '"\\')[:64]
    return f'"{clean}" ' if clean else ""


def body_of(message: Request | Response) -> tuple[bytes, str | None]:
    """The body and its Content-Type (None without a body)."""
    body = message.body
    return body, (message.headers.get("content-type") if body else None)


def invite(locals_: SentBy, leg: Leg, uri: str, *, from_user: str, from_host: str,
           to: str, display: str | None, source: Request | Response | None,
           headers: tuple[tuple[str, str], ...] = ()) -> Request:
    """A new INVITE for ``leg`` to ``uri``, From ``display <sip:from_user@from_host>``, To
    ``to``, with ``source``'s SDP body (passed end to end; None: no offer)."""
    body, content_type = body_of(source) if source is not None else (b"", None)
    return make_request(
        "INVITE", uri, via=via(locals_, leg.flow),
        from_=f"{quoted(display)}<sip:{from_user}@{from_host}>;tag={leg.tag}", to=to,
        call_id=leg.call_id, cseq=1, contact=contact(locals_, leg.flow),
        headers=(*headers, ("Allow", ALLOW), ("User-Agent", USER_AGENT)), body=body,
        content_type=content_type)


def outside(locals_: SentBy, address: Address, credentials: Credentials | None,
            connection_id: int) -> Leg:
    """A new leg toward a connection's server at ``address``."""
    peer = address.peer
    return Leg("outside", peer, new_call_id(locals_, peer), token(), credentials=credentials,
               connection_id=connection_id)


def outside_invite(locals_: SentBy, leg: Leg, address: Address, number: str, *,
                   from_user: str, presented: str | None, display: str | None,
                   source: Request | Response | None, diversion: str | None = None
                   ) -> Request:
    """The INVITE of ``leg`` for ``number`` (written as its connection wants) through
    ``address``: From ``from_user``, ``P-Asserted-Identity`` the ``presented`` office number,
    ``Diversion`` the office number a forwarded call was for (RFC 5806), ``source``'s SDP."""
    domain = uri_host(address)
    params = "" if address.transport == "udp" else f";transport={address.transport}"
    headers: list[tuple[str, str]] = []
    if presented:
        headers.append(("P-Asserted-Identity", f"<sip:{presented}@{domain}>"))
    if diversion:
        headers.append(("Diversion", f"<sip:{diversion}@{domain}>;reason=unconditional;"
                                     "counter=1"))
    return invite(locals_, leg, f"sip:{number}@{domain}{params}", from_user=from_user,
                  from_host=domain, to=f"<sip:{number}@{domain}>", display=display,
                  source=source, headers=tuple(headers))


def answer(locals_: SentBy, txn: ServerTransaction, status: int, reason: str | None,
           tag: str, source: Response | None = None) -> Response:
    """The box's answer on the caller's leg to ``txn``'s request, with ``tag`` as To tag,
    the request's Record-Route set and the box's Contact on 1xx/2xx to INVITE (Contact to
    UPDATE too), and ``source``'s body and relayed headers (an answer from the other leg)."""
    request = txn.request
    headers: list[tuple[str, str]] = []
    if status > 100 and status < 300 and request.method == "INVITE" and not request.to.tag:
        # §12.1.1: an answer that makes the dialog carries the request's Record-Route set.
        headers += [("Record-Route", value) for value in request.headers.get_all("record-route")]
    if status > 100 and status < 300 and request.method in ("INVITE", "UPDATE"):
        headers.append(("Contact", contact(locals_, txn.peer)))
    body = b""
    if source is not None:
        body, content_type = body_of(source)
        headers += [(name, value) for name in RELAYED for value in source.headers.get_all(name)]
        if content_type:
            headers.append(("Content-Type", content_type))
        if status == 200 and request.method in ("INVITE", "OPTIONS"):
            headers.append(("Allow", ALLOW))
    return make_response(request, status, reason, to_tag=tag, headers=headers, body=body)


def relayed(locals_: SentBy, request: Request, toward: Leg) -> Request:
    """``request`` (received on the other leg) as a new in-dialog request of ``toward``
    (RFC 3261 §12.2.1.1), with its body and relayed headers."""
    assert toward.dialog is not None
    body, content_type = body_of(request)
    headers = [(name, value) for name in RELAYED for value in request.headers.get_all(name)]
    if request.method in ("INVITE", "UPDATE"):
        headers.append(("Contact", contact(locals_, toward.flow)))
    return toward.dialog.request(request.method, via=via(locals_, toward.flow),
                                 headers=tuple(headers), body=body, content_type=content_type)
