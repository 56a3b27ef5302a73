"""What the call history keeps of a call (pure): one row per call, built from the call
registry's record when the call ends, and the live row of a call in progress.

Outcomes, from the caller's side:

- ``answered``: someone (an extension, an outside number) took it;
- ``busy``: the callee said busy or declined (486, 600, 603), or a connection was full;
- ``cancelled``: the caller hung up while it rang (CANCEL: 487), or the box ended it
  (a dismissal, an admin's hang-up);
- ``missed``: it rang out (480, 408) or there was no phone to ring;
- ``voicemail``: the box took a message (or it was an employee's call to their mailbox);
- ``refused``: the box refused it before it rang (permission, unknown number, 403/404/410);
- ``failed``: any other final answer.

The parties are kept as they were at call time: numbers and employee ids (taken while the
call was live, so a dismissal that ends the call does not blank its callee), and names
added by the writer (``directory/call_history.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from appliance.directory.call_history import DIRECTIONS, OUTCOMES
from appliance.routing.calls import Call

__all__ = ["DIRECTIONS", "OUTCOMES", "entry", "live_row", "outcome"]
BUSY = frozenset({486, 600, 603})
NO_ANSWER = frozenset({408, 480})
ENDED_BY_CALLER_OR_BOX = frozenset({"cancelled", "bye", "hung up"})
# Outside numbers are never looked up as extensions.
INSIDE_CALLEE = frozenset({"internal", "inbound"})


def outcome(call: Call) -> str:
    """The outcome of an ended call (see the module docstring)."""
    if call.answered_at is not None:
        return "answered"
    if call.reason in OUTCOMES:  # said by whoever refused it
        return call.reason
    status = call.status or (int(call.reason) if call.reason.isdigit() else 0)
    if status in BUSY:
        return "busy"
    if call.reason in ENDED_BY_CALLER_OR_BOX or status == 487:
        return "cancelled"
    if status in NO_ANSWER or call.reason == "no answer":
        return "missed"
    return "failed"


def caller_of(call: Call) -> str:
    """The caller: their extension, else the number they called from."""
    return call.caller.extension or call.from_user or "anonymous"


def callee_of(call: Call) -> str:
    """Who was called: the extension or outside number rung last, else what was dialled."""
    return call.callee_extension or call.dialled


def answered_by(call: Call) -> str | None:
    """The extension or outside number that answered, None if nobody did."""
    if call.answered_at is None:
        return None
    if call.callee is not None and call.callee.extension:
        return call.callee.extension
    return call.callee_extension or None


def extensions_of(call: Call) -> list[str]:
    """The extensions a call involves now (whose holders the history keeps)."""
    found = [call.caller.extension] if call.caller.extension else []
    if call.direction in INSIDE_CALLEE and call.callee_extension:
        found.append(call.callee_extension)
    if call.callee is not None and call.callee.extension:
        found.append(call.callee.extension)
    return found


def _at(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def _cut(text: str | None, size: int) -> str | None:
    return None if text is None else text[:size]


def entry(call: Call, people: Mapping[str, int]) -> dict[str, Any]:
    """The history row of an ended call; ``people``: the employee id holding each extension
    while the call was live."""
    ended = call.ended_at if call.ended_at is not None else call.started_at
    answered = call.answered_at
    ring = (answered if answered is not None else ended) - call.started_at
    talk = ended - answered if answered is not None else 0.0
    callee, taker = callee_of(call), answered_by(call)
    inside = call.direction in INSIDE_CALLEE
    return {
        "ref": call.ref, "call_id": call.call_id[:128], "direction": call.direction,
        "caller": caller_of(call)[:64],
        "caller_employee_id": people.get(call.caller.extension or ""),
        "callee": callee[:64],
        "callee_employee_id": people.get(callee) if inside else None,
        "dialled": call.dialled[:64], "connection": _cut(call.connection, 32),
        "answered_by": _cut(taker, 64),
        "answered_by_employee_id": people.get(taker) if taker and inside else None,
        "started_at": _at(call.started_at), "answered_at": _at(answered),
        "ended_at": _at(ended), "ring_seconds": round(max(ring, 0.0), 1),
        "talk_seconds": round(max(talk, 0.0), 1), "outcome": outcome(call),
        "status": call.status if call.answered_at is None else 200,
        "reason": call.reason[:40], "rating": call.rating,
    }


def live_row(call: Call) -> dict[str, Any]:
    """The live row of a call in progress."""
    return {"ref": call.ref, "direction": call.direction, "state": call.state,
            "caller": caller_of(call)[:64], "callee": callee_of(call)[:64],
            "dialled": call.dialled[:64], "connection": _cut(call.connection, 32),
            "started_at": _at(call.started_at), "answered_at": _at(call.answered_at)}
