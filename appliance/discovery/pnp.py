"""SIP PnP: answer a phone's multicast ``SUBSCRIBE`` (Event: ua-profile) with the
provisioning URL, by ``200 OK`` and then a ``NOTIFY``, unicast to the phone's Via address.

The protocol half (``parse_subscribe``, ``replies``) is sans-I/O. The responder listens on
its own socket bound to the group address 224.0.1.75:5060 (SO_REUSEADDR), so the kernel
hands it only datagrams sent to the group; the SIP core's socket, on the same port (a
unicast or wildcard address, SO_REUSEADDR, IP_MULTICAST_ALL off), never sees them. Replies
leave from an ephemeral port of the address that routes to the phone, which is also the
address put into the URL (with the port the HTTP server bound).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass

from appliance.directory import rules
from appliance.discovery.identify import vendor_from_text
from appliance.errors import SipParseError, ValidationError
from appliance.lan.oui import vendor_of
from appliance.sip.message import Request, Response, make_request, make_response, parse
from appliance.sip.transport import IP_MULTICAST_ALL
from appliance.sip.uri import parse_params

log = logging.getLogger(__name__)

GROUP = "224.0.1.75"
PORT = 5060
T1 = 0.5
NOTIFY_ATTEMPTS = 4  # at 0, T1, 2*T1, 4*T1: phones wait only a few seconds


@dataclass(frozen=True)
class Subscription:
    """A phone asking for its provisioning URL."""

    request: Request
    mac: str
    vendor: str | None
    model: str | None
    firmware: str | None
    reply_to: tuple[str, int]


def _mac_from_user(user: str) -> str | None:
    for prefix in ("MAC:", "MAC="):
        if user.upper().startswith(prefix):
            try:
                return rules.mac_address(user[len(prefix):])
            except ValidationError:
                return None
    return None


def parse_subscribe(data: bytes, source: tuple[str, int]) -> Subscription | None:
    """The subscription in ``data`` from ``source``, or None for anything else.

    Only a well-formed ``SUBSCRIBE`` with ``Event: ua-profile``, a MAC in the Request-URI
    and a Via naming the sender's own address is answered: a Via pointing elsewhere would
    turn the responder into a reflector.
    """
    try:
        message = parse(data)
        if not isinstance(message, Request) or message.method != "SUBSCRIBE":
            return None
        message.validate()
        event = message.headers.get("event") or ""
        package, _, params_text = event.partition(";")
        if package.strip().lower() != "ua-profile":
            return None
        params = {k.lower(): (v or "").strip('"') for k, v in
                  parse_params(";" + params_text if params_text else "", "Event").items()}
        via = message.via[0]
    except (SipParseError, IndexError):
        return None
    mac = _mac_from_user(message.uri.user or "")
    if mac is None or via.host != source[0]:
        return None
    vendor = vendor_from_text(params.get("vendor", "")) or vendor_of(mac)
    return Subscription(message, mac, vendor, params.get("model") or None,
                        params.get("version") or None, (via.host, via.port or PORT))


def provisioning_url(base: str, sub: Subscription) -> str:
    """The URL right for the phone's vendor: the provisioning root, or Snom's first file."""
    root = base if base.endswith("/") else base + "/"
    if sub.vendor == "snom" and sub.model and sub.model.replace("snom", "").isalnum():
        model = sub.model if sub.model.lower().startswith("snom") else f"snom{sub.model}"
        return f"{root}{model}.htm"
    return root


def replies(sub: Subscription, url: str, local: tuple[str, int]) -> tuple[Response, Request]:
    """The ``200 OK`` to the SUBSCRIBE and the ``NOTIFY`` carrying ``url``."""
    tag = secrets.token_hex(6)
    ok = make_response(sub.request, 200, to_tag=tag, headers=[("Expires", "0")])
    host, port = local
    notify = make_request(
        "NOTIFY", f"sip:{sub.reply_to[0]}:{sub.reply_to[1]}",
        via=f"SIP/2.0/UDP {host}:{port};branch=z9hG4bK{secrets.token_hex(8)};rport",
        from_=str(ok.headers.get("to")), to=str(sub.request.headers.get("from")),
        call_id=sub.request.call_id, cseq=sub.request.cseq.seq + 1,
        contact=f"<sip:{host}:{port}>",
        headers=[("Event", "ua-profile"),
                 ("Subscription-State", "terminated;reason=timeout")],
        body=url.encode(), content_type="application/url")
    return ok, notify


class _Replier(asyncio.DatagramProtocol):
    """One phone's exchange: sends the 200 and the NOTIFY, waits for the NOTIFY's answer."""

    def __init__(self) -> None:
        self.answered = asyncio.Event()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            message = parse(data)
        except SipParseError:
            return
        if isinstance(message, Response) and message.status >= 200:
            self.answered.set()


def group_socket(addresses: list[str]) -> socket.socket:
    """A UDP socket bound to 224.0.1.75:5060 that joined the group on each local address.

    It shares port 5060 with the SIP core's socket (both set SO_REUSEADDR; the SIP one
    turns IP_MULTICAST_ALL off, so the group's datagrams come here only). With
    IP_MULTICAST_ALL off here too, only the memberships of this socket count: a group
    another program joined on another interface is not answered.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    with contextlib.suppress(OSError):  # not Linux: no such option
        sock.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)
    sock.bind((GROUP, PORT))
    for address in addresses:
        membership = struct.pack("4s4s", socket.inet_aton(GROUP), socket.inet_aton(address))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
    sock.setblocking(False)
    return sock


class PnpResponder(asyncio.DatagramProtocol):
    """Answers every PnP SUBSCRIBE received on the group socket."""

    def __init__(self, base_url: Callable[[str], str],
                 seen: Callable[[Subscription, str], None]) -> None:
        self.base_url = base_url
        self.seen = seen
        self.tasks: set[asyncio.Task[None]] = set()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        sub = parse_subscribe(data, addr)
        if sub is None:
            return
        task = asyncio.ensure_future(self.answer(sub, addr[0]))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def answer(self, sub: Subscription, source_ip: str) -> None:
        """Send the 200 and the NOTIFY (retransmitted until answered), then record the phone."""
        loop = asyncio.get_running_loop()
        transport, replier = await loop.create_datagram_endpoint(
            _Replier, remote_addr=sub.reply_to, family=socket.AF_INET)
        try:
            local = transport.get_extra_info("sockname")
            url = provisioning_url(self.base_url(local[0]), sub)
            ok, notify = replies(sub, url, local)
            transport.sendto(ok.to_bytes())
            wait = T1
            for _ in range(NOTIFY_ATTEMPTS):
                transport.sendto(notify.to_bytes())
                try:
                    await asyncio.wait_for(replier.answered.wait(), wait)
                    break
                except TimeoutError:
                    wait *= 2
        finally:
            transport.close()
            self.seen(sub, source_ip)
