"""The push: a SIP NOTIFY ``Event: check-sync`` (Cisco: ``resync``) so a phone re-fetches now.

``build_notify`` is pure; ``send_notify`` sends it as one UDP datagram to the phone's last
known address (the SIP part's own ``send_notify`` is preferred when the daemon has one).
"""

from __future__ import annotations

import logging
import secrets
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

from appliance.provisioning.vendors import BY_NAME

if TYPE_CHECKING:
    from appliance.service import Notifier

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    """Where and how to push: the phone's address, port, the user part and the event name."""

    mac: str
    ip: str
    port: int
    user: str
    event: str


def _host(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


def build_notify(target: Target, local_ip: str, local_port: int, branch: str, tag: str,
                 call_id: str) -> bytes:
    """A well-formed out-of-dialog NOTIFY for ``target`` (no body)."""
    uri = f"sip:{target.user}@{_host(target.ip)}:{target.port}"
    local = f"{_host(local_ip)}:{local_port}"
    lines = [
        f"NOTIFY {uri} SIP/2.0",
        f"Via: SIP/2.0/UDP {local};branch=z9hG4bK{branch};rport",
        "Max-Forwards: 70",
        f"From: <sip:provisioning@{_host(local_ip)}>;tag={tag}",
        f"To: <{uri}>",
        f"Call-ID: {call_id}@{_host(local_ip)}",
        "CSeq: 1 NOTIFY",
        f"Contact: <sip:provisioning@{local}>",
        f"Event: {target.event}",
        "Subscription-State: terminated",
        "User-Agent: appliance-provisioning",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def target_for(mac: str, ip: str | None, vendor: str | None, user: str | None,
               port: int) -> Target | None:
    """The push target of a phone, or None when its address is unknown."""
    if not ip:
        return None
    name = (vendor or "").lower()
    event = BY_NAME[name].notify_event if name in BY_NAME else "check-sync"
    return Target(mac, ip, port, user or mac, event)


def send_notify(target: Target, sip: Notifier | None = None) -> bool:
    """Send the NOTIFY through ``sip.send_notify`` if given, else one UDP datagram; True if
    it left."""
    if sip is not None:
        try:
            sip.send_notify(target.ip, target.port, target.user, target.event)
            return True
        except Exception:
            log.warning("push: the SIP part could not send to %s; sending directly", target.mac)
    family = socket.AF_INET6 if ":" in target.ip else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect((target.ip, target.port))
            local_ip, local_port = sock.getsockname()[:2]
            data = build_notify(target, str(local_ip), int(local_port), secrets.token_hex(8),
                                secrets.token_hex(6), secrets.token_hex(12))
            sock.send(data)
    except OSError as exc:
        log.warning("push: NOTIFY to phone %s at %s:%d failed: %s", target.mac, target.ip,
                    target.port, exc.strerror)
        return False
    log.info("push: NOTIFY %s sent to phone %s at %s:%d", target.event.split(";")[0],
             target.mac, target.ip, target.port)
    return True


