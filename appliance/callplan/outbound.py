"""Calls out: which connection an extension's call to an outside number takes, the number as
that connection wants it, and the office number it presents, or why it is refused.

In order: a connection's prefix (``*123*``, ``802``) dialled first chooses that connection
and is stripped (only when what follows is a number; else the whole text is the number).
An emergency number always goes out, through the default connection, whatever the caller's
permission, prefix or the connection's call limit. Any other number needs the caller's
permission class (``403 Call Not Permitted``); without a prefix it goes through the default
connection, or when the caller may not use that, the first connection the caller may use;
a chosen connection the caller may not use is refused (``403 Connection Not Allowed``), as is
a call with no connection at all (``403 No Trunk Configured``) or one over the connection's
concurrent-call limit (``503 Connection Busy``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from appliance.callplan import numbers
from appliance.callplan.model import Connection, Permission
from appliance.callplan.numbers import VIETNAM, Dialled, NumberPlan

RefusalReason = Literal[
    "not_a_number", "not_permitted", "connection_not_allowed", "no_connection",
    "connection_busy"]

_ANSWERS: dict[RefusalReason, tuple[int, str]] = {
    "not_a_number": (484, "Address Incomplete"),
    "not_permitted": (403, "Call Not Permitted"),
    "connection_not_allowed": (403, "Connection Not Allowed"),
    "no_connection": (403, "No Trunk Configured"),
    "connection_busy": (503, "Connection Busy"),
}
_ORDER: tuple[Permission, ...] = ("internal", "local", "mobile", "international")


@dataclass(frozen=True)
class Caller:
    """The calling extension: its number, permission class and outbound number group."""

    extension: str
    permission: Permission
    group: str | None = None


@dataclass(frozen=True)
class Refusal:
    """A call that does not go out: the SIP status and reason phrase to answer, and why."""

    reason: RefusalReason
    status: int
    phrase: str


@dataclass(frozen=True)
class OutboundRoute:
    """A call that goes out: through ``connection``, to ``number`` written as it wants, with
    ``caller_id`` (the office number, written the same way; None if it has none) presented."""

    connection: Connection
    number: str
    caller_id: str | None
    dialled: Dialled


def refuse(reason: RefusalReason) -> Refusal:
    """The refusal for ``reason``, with its SIP answer."""
    status, phrase = _ANSWERS[reason]
    return Refusal(reason, status, phrase)


def permits(permission: Permission, needs: Permission) -> bool:
    """Whether class ``permission`` includes ``needs`` (internal < local < mobile < intl)."""
    return _ORDER.index(permission) >= _ORDER.index(needs)


def default_connection(connections: Sequence[Connection]) -> Connection | None:
    """The connection marked default, else None."""
    return next((c for c in connections if c.default), None)


def _outside(text: str, plan: NumberPlan) -> Dialled | None:
    found = numbers.classify(text, plan)
    return None if found is None or found.kind == "extension" else found


def choose_prefix(
    text: str, connections: Sequence[Connection], plan: NumberPlan = VIETNAM
) -> tuple[Connection | None, Dialled | None]:
    """The connection whose prefix starts ``text`` (longest first) and the number after it,
    when that is a number; else no connection and ``text`` read as a whole."""
    compact = "".join(text.split())
    for conn in sorted((c for c in connections if c.prefix),
                       key=lambda c: -len(c.prefix or "")):
        prefix = conn.prefix or ""
        if compact.startswith(prefix) and len(compact) > len(prefix):
            found = _outside(compact[len(prefix):], plan)
            if found is not None:
                return conn, found
    return None, _outside(compact, plan)


def _route(conn: Connection, dialled: Dialled, plan: NumberPlan) -> OutboundRoute:
    presented = conn.presented_id()
    return OutboundRoute(
        connection=conn,
        number=numbers.write(dialled, conn.number_format, plan),
        caller_id=None if presented is None else numbers.write_e164(
            presented, conn.number_format, plan),
        dialled=dialled,
    )


def plan(
    caller: Caller,
    dialled: str,
    connections: Sequence[Connection],
    numbering: NumberPlan = VIETNAM,
    in_use: Mapping[int, int] | None = None,
) -> OutboundRoute | Refusal:
    """Where ``caller``'s call to ``dialled`` goes out, or why not (see the module's doc).
    ``in_use``: calls up now per connection id, for its concurrent-call limit."""
    chosen, number = choose_prefix(dialled, connections, numbering)
    if number is None:
        return refuse("not_a_number")
    if number.emergency:
        default = default_connection(connections)
        return refuse("no_connection") if default is None else _route(default, number,
                                                                       numbering)
    if not permits(caller.permission, number.needs):
        return refuse("not_permitted")
    conn = _connection(caller, chosen, connections)
    if isinstance(conn, Refusal):
        return conn
    if conn.max_calls and (in_use or {}).get(conn.id, 0) >= conn.max_calls:
        return refuse("connection_busy")
    return _route(conn, number, numbering)


def _connection(
    caller: Caller, chosen: Connection | None, connections: Sequence[Connection]
) -> Connection | Refusal:
    """The connection a non-emergency call takes: the chosen one if the caller may use it;
    else the default, or the first the caller may use."""
    if chosen is not None:
        ok = chosen.may_use(caller.extension, caller.group)
        return chosen if ok else refuse("connection_not_allowed")
    if not connections:
        return refuse("no_connection")
    default = default_connection(connections)
    if default is not None and default.may_use(caller.extension, caller.group):
        return default
    usable = next((c for c in connections if c.may_use(caller.extension, caller.group)), None)
    return refuse("connection_not_allowed") if usable is None else usable
