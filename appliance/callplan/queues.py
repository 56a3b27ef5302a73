"""Queue groups: which members to ring, in which rounds, for how long.

A member rings only when its extension is assigned to an active employee, the employee is
``working`` (no presence recorded counts as working; ``on_break`` and ``off`` are
skipped), and it is not on a call (unless the group rings busy members). Strategies:
``ring_all`` rings every such member at once for the whole timeout; the others ring one
member at a time for ``ring_time`` s, going round again until the group's ``timeout``:
``in_order`` by the member list, ``round_robin`` starting after the member rung last
(the group's memory), ``least_recent`` the longest idle first (never called first),
``fewest_calls`` the fewest calls first (ties by the member list).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from appliance.callplan.model import CallState, DirectoryView, LineActivity, PresenceState, Queue

_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Round:
    """Ring these extensions together for ``seconds``."""

    extensions: tuple[str, ...]
    seconds: int


def eligible(
    queue: Queue,
    directory: DirectoryView,
    presence: Mapping[int, PresenceState],
    state: CallState,
) -> tuple[str, ...]:
    """The members that may ring now, in the member list's order."""
    chosen = []
    for number in dict.fromkeys(queue.members):
        ext = directory.reachable(number)
        if ext is None or ext.employee_id is None:
            continue
        if presence.get(ext.employee_id, "working") != "working":
            continue
        if state.lines.get(number, LineActivity()).on_call and not queue.ring_busy:
            continue
        chosen.append(number)
    return tuple(chosen)


def order(queue: Queue, members: tuple[str, ...], state: CallState) -> tuple[str, ...]:
    """``members`` (eligible, in list order) in the order the strategy rings them."""
    if queue.strategy == "round_robin":
        last = state.pointers.get(queue.name)
        if last not in queue.members:
            return members
        position = queue.members.index(last)
        after = [m for m in members if queue.members.index(m) > position]
        return tuple(after + [m for m in members if m not in after])
    if queue.strategy == "least_recent":
        return tuple(sorted(members, key=lambda m: (
            state.lines.get(m, LineActivity()).last_call_at or _NEVER)))
    if queue.strategy == "fewest_calls":
        return tuple(sorted(members, key=lambda m: state.lines.get(m, LineActivity()).calls))
    return members


def schedule(
    queue: Queue,
    directory: DirectoryView,
    presence: Mapping[int, PresenceState],
    state: CallState,
) -> tuple[Round, ...]:
    """The rounds to ring, their seconds adding up to the group's timeout; empty when no
    member may ring now (the call goes straight to the fallback)."""
    members = order(queue, eligible(queue, directory, presence, state), state)
    if not members or queue.timeout <= 0:
        return ()
    if queue.strategy == "ring_all":
        return (Round(members, queue.timeout),)
    rounds: list[Round] = []
    left = queue.timeout
    each = max(1, queue.ring_time)
    while left > 0:
        for member in members:
            seconds = min(each, left)
            rounds.append(Round((member,), seconds))
            left -= seconds
            if left <= 0:
                break
    return tuple(rounds)


def next_pointer(queue: Queue, rung: str) -> str | None:
    """Round robin's memory after ringing ``rung`` (a member): the next call starts after
    it. None for other strategies or a non-member."""
    if queue.strategy != "round_robin" or rung not in queue.members:
        return None
    return rung
