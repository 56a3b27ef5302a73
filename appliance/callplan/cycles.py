"""Routing cycles: a saved routing change must not let a call go round for ever.

The graph's nodes are the office numbers and the queue groups. A number leads to its
destination and after-hours destination; a queue to its fallback. A queue destination is
an edge to that queue; an outside destination that is one of the office's own numbers is
an edge to that number (the call would come back in through the carrier). Extensions,
other outside numbers and hang-up end a path. (Menus, with media, add edges later.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from appliance.callplan.model import Destination, Number, Queue
from appliance.errors import ValidationError

Node = tuple[str, str]  # ("number", did) | ("queue", name)


def _target(dest: Destination | None, dids: set[str]) -> Node | None:
    if dest is None:
        return None
    if dest.kind == "queue":
        return ("queue", dest.target)
    if dest.kind == "outside" and dest.target in dids:
        return ("number", dest.target)
    return None


def graph(numbers: Iterable[Number], queues: Iterable[Queue]) -> dict[Node, list[Node]]:
    """Every node and the nodes it leads to."""
    numbers, queues = list(numbers), list(queues)
    dids = {n.did for n in numbers}
    edges: dict[Node, list[Node]] = {}
    for number in numbers:
        targets = (_target(number.destination, dids), _target(number.after_hours, dids))
        edges[("number", number.did)] = [t for t in targets if t is not None]
    for queue in queues:
        target = _target(queue.fallback, dids)
        edges[("queue", queue.name)] = [] if target is None else [target]
    return edges


def find_cycle(edges: Mapping[Node, list[Node]]) -> tuple[Node, ...] | None:
    """A cycle of the graph (its nodes in order, the first repeated at the end), or None."""
    done: set[Node] = set()
    for root in sorted(edges):
        if root in done:
            continue
        path: list[Node] = [root]
        on_path = {root}
        stack = [iter(edges.get(root, []))]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                finished = path.pop()
                on_path.discard(finished)
                done.add(finished)
                continue
            if nxt in on_path:
                return (*path[path.index(nxt):], nxt)
            if nxt in done:
                continue
            path.append(nxt)
            on_path.add(nxt)
            stack.append(iter(edges.get(nxt, [])))
    return None


def check(numbers: Iterable[Number], queues: Iterable[Queue]) -> None:
    """Raise ValidationError naming the cycle when the routing has one."""
    cycle = find_cycle(graph(numbers, queues))
    if cycle is not None:
        path = " -> ".join(f"{kind} {name}" for kind, name in cycle)
        raise ValidationError(f"routing: this change makes a cycle: {path}", "routing")
