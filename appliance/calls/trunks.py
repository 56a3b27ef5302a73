"""The office's connections as the call engine sees them: which one a message came from,
which office number a call is for, and how an outside answer maps back (pure functions over
callplan's ``Routing``, which ``calls/plans.py`` keeps loaded from the store).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Sequence

from appliance.callplan import numbers
from appliance.callplan.inbound import Routing
from appliance.callplan.model import Connection, Number
from appliance.sip.locate import Address
from appliance.sip.message import SipUri

# Outside answers passed to the inside caller as they are; others are mapped (``inside_status``).
PASSED = frozenset({403, 404, 408, 410, 480, 484, 485, 486, 487, 488, 600, 603, 604, 606})


def listed(routing: Routing) -> list[Connection]:
    """The connections in id order."""
    return [routing.connections[key] for key in sorted(routing.connections)]


def connection_from(routing: Routing, host: str,
                    resolved: Callable[[Connection], Iterable[Address]] | None = None
                    ) -> Connection | None:
    """The connection a message from ``host`` comes from: one of a register connection's
    servers (as configured, or an address ``resolved`` found for one by DNS), or inside an
    ip connection's allowed sources; None for anyone else."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    for conn in listed(routing):
        if conn.kind == "register" and (
                any(s.host == host for s in conn.servers) or (resolved is not None and any(
                    ipaddress.ip_address(a.host) == address for a in resolved(conn)))):
            return conn
        if conn.kind == "ip" and any(address in ipaddress.ip_network(net)
                                     for net in conn.allowed_sources):
            return conn
    return None


def office_number(routing: Routing, users: Sequence[str | None],
                  conn: Connection | None = None) -> Number | None:
    """The office number the first of ``users`` (To user, Request-URI user) names, written in
    any usual format (``+84…``, ``84…``, ``0…``); only ``conn``'s own numbers when given."""
    for user in users:
        if not user:
            continue
        e164 = numbers.e164(user.split(";")[0])
        number = routing.numbers.get(e164) if e164 is not None else None
        if number is not None and (conn is None or number.connection_id == conn.id):
            return number
    return None


def dialled_user(uri: SipUri) -> str:
    """The user part a Request-URI dials (sip, sips or tel), without parameters."""
    return (uri.user or "").split(";")[0]


def inside_status(status: int) -> tuple[int, str | None]:
    """The answer the inside caller gets for the outside's final failure ``status``
    (0: no answer at all): the usual ones pass, a redirect or an unusual 4xx becomes 480, a
    challenge the box could not meet (401/407) and a 5xx or no answer become 503."""
    if status in PASSED:
        return status, None
    if status == 0:
        return 503, "Connection Not Responding"
    if status in (401, 407):
        return 503, "Connection Refused The Box"
    if status >= 500 and status < 600:
        return 503, None
    return 480, None
