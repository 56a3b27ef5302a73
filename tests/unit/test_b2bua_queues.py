"""Queue groups carried out by the B2BUA on a fake clock: rounds in the strategy's order,
members on break or on a call skipped, the fallback after the timeout, the queue's memory."""

from __future__ import annotations

from dataclasses import replace

from appliance.callplan.model import Destination, DirectoryView, Number, Queue
from appliance.sip.transaction import Peer
from tests.unit.test_b2bua import CARRIER, DID, SDP, Box, reply
from tests.unit.test_sip_routing import do_register, ext

PHONES = {n: Peer("udp", "127.0.0.1", 6100 + int(n) - 100) for n in ("101", "102", "103")}


def office(queue: Queue, **changes: object) -> Box:
    """Three extensions of three employees (ids 1-3), each with one registered desk phone,
    and the office number routed to ``queue``."""
    people = [replace(ext(n), employee_id=i) for i, n in enumerate(PHONES, start=1)]
    box = Box(*people, number=Number(DID, 1, Destination("queue", queue.name),
                                     contacts_map=False), queues={queue.name: queue})
    view = box.routing.directory
    box.routing = replace(box.routing, directory=DirectoryView({
        n: replace(e, employee_id=i) for i, (n, e) in enumerate(view.extensions.items(),
                                                                 start=1)}), **changes)
    for number, peer in PHONES.items():
        do_register(box.router, box.wire, number, f"<sip:{number}@127.0.0.1:{peer.port}>",
                    peer, agent="Yealink SIP-T46U")
    box.wire.sent.clear()
    return box


def ringing(box: Box) -> list[str]:
    """The extensions sent an INVITE so far, in the order they were first rung."""
    first: list[str] = []
    for message, peer in box.wire.sent:
        number = next((n for n, p in PHONES.items() if p == peer), None)
        if number and getattr(message, "method", "") == "INVITE" and number not in first:
            first.append(number)
    return first


def test_in_order_rings_one_member_at_a_time_and_the_next_answers() -> None:
    box = office(Queue("support", ("101", "102", "103"), "in_order", ring_time=10,
                       timeout=30))
    box.carrier_call()
    assert ringing(box) == ["101"]
    first, = box.sent(PHONES["101"], "INVITE")
    box.receive(reply(first, 180, tag="a"), PHONES["101"])
    box.timers.advance(10.2)
    assert box.sent(PHONES["101"], "CANCEL") and ringing(box) == ["101", "102"]
    second = box.sent(PHONES["102"], "INVITE")[0]
    box.receive(reply(second, 200, tag="b", body=SDP, contact="<sip:102@127.0.0.1:6102>"),
                PHONES["102"])
    assert 200 in box.answers(CARRIER)
    assert box.b2bua.lines["102"].calls == 1 and "101" not in box.b2bua.lines
    record = box.router.registry.get("in-call", "outside")
    assert record is not None and record.callee is not None
    assert record.callee.extension == "102"


def test_ring_all_rings_every_member_at_once_for_the_timeout_then_the_fallback() -> None:
    box = office(Queue("sales", ("101", "102"), "ring_all", timeout=15,
                       fallback=Destination("extension", "103")))
    box.carrier_call()
    assert sorted(ringing(box)) == ["101", "102"]
    box.timers.advance(15.2)
    assert ringing(box)[-1] == "103"  # the fallback, after the queue's time
    fallback, = {i.call_id: i for i in box.sent(PHONES["103"], "INVITE")}.values()
    assert fallback.to.uri.user == "103"


def test_members_on_break_or_on_a_call_are_skipped() -> None:
    box = office(Queue("sales", ("101", "102", "103"), "ring_all", timeout=20),
                 presence={1: "on_break"})
    box.carrier_call(call_id="first")
    assert sorted(ringing(box)) == ["102", "103"]
    invite = box.sent(PHONES["102"], "INVITE")[0]
    box.receive(reply(invite, 200, tag="b", body=SDP, contact="<sip:102@127.0.0.1:6102>"),
                PHONES["102"])
    assert box.b2bua.call_state().lines["102"].on_call
    box.wire.sent.clear()
    box.carrier_call(call_id="second")  # 102 talks, 101 is on break: 103 alone
    assert ringing(box) == ["103"]


def test_round_robin_starts_after_the_member_rung_last() -> None:
    box = office(Queue("help", ("101", "102", "103"), "round_robin", ring_time=5, timeout=5,
                       fallback=Destination("hangup", "")))
    box.carrier_call(call_id="one")
    assert ringing(box) == ["101"]
    box.timers.advance(5.2)
    assert box.answers(CARRIER)[-1] == 480  # nobody else in this call's 5 s: the fallback
    box.wire.sent.clear()
    box.carrier_call(call_id="two")
    assert ringing(box) == ["102"]


def test_a_queue_nobody_may_answer_goes_straight_to_its_fallback() -> None:
    box = office(Queue("night", ("101",), "in_order", ring_time=5, timeout=10,
                       fallback=Destination("extension", "103")), presence={1: "off"})
    box.carrier_call()
    assert ringing(box) == ["103"]
