"""Routing cycles: a saved routing change must not let a call go round for ever.

The graph's nodes are the office numbers, the queue groups and the IVR menus. A number leads
to its destination and after-hours destination; a queue to its fallback; a menu to each of
its keys' destinations and to its no-key (timeout) and invalid-key destinations. A queue or
menu destination is an edge to that queue or menu; an outside destination that is one of
the office's own numbers is an edge to that number (the call would come back in through the
carrier). Extensions, other outside numbers, hang-up and a key's ``repeat`` (the same menu
played again, a bounded replay of the engine's) end a path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from appliance.callplan.model import Destination, Menu, Number, Queue
from appliance.errors import ValidationError

Node = tuple[str, str]  # ("number", did) | ("queue", name) | ("menu", name)


def _target(dest: Destination | None, dids: set[str]) -> Node | None:
    if dest is None:
        return None
    if dest.kind in ("queue", "menu"):
        return (dest.kind, dest.target)
    if dest.kind == "outside" and dest.target in dids:
        return ("number", dest.target)
    return None


def graph(numbers: Iterable[Number], queues: Iterable[Queue],
          menus: Iterable[Menu] = ()) -> dict[Node, list[Node]]:
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
    for menu in menus:
        leads = (*menu.keys.values(), menu.timeout_destination, menu.invalid_destination)
        found = (_target(dest, dids) for dest in leads)
        edges[("menu", menu.name)] = list(dict.fromkeys(t for t in found if t is not None))
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


def check(numbers: Iterable[Number], queues: Iterable[Queue],
          menus: Iterable[Menu] = ()) -> None:
    """Raise ValidationError naming the cycle when the routing has one."""
    cycle = find_cycle(graph(numbers, queues, menus))
    if cycle is not None:
        path = " -> ".join(f"{kind} {name}" for kind, name in cycle)
        raise ValidationError(f"routing: this change makes a cycle: {path}", "routing")
