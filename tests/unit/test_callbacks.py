"""Missed-call callbacks: the decisions (``callplan/callbacks.py``), the jobs over a real
migrated store (``directory/callbacks.py``), the B2BUA telling of missed calls and new
callers, and a ``CallbackCall`` on a fake clock: the employee first, then the customer with
the employee's offer, the customer's answer in the employee's ACK."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from appliance.callplan.callbacks import (
    CallbackRule,
    Job,
    Missed,
    NewJob,
    after_attempt,
    callable_number,
    job_for,
    who_to_ring,
)
from appliance.callplan.model import CallState, LineActivity, Queue
from appliance.calls.callback_call import RING_CUSTOMER, RING_INSIDE, CallbackCall
from appliance.directory import Directory
from appliance.directory.callbacks import CallbackDirectory
from appliance.directory.office import CallPlanDirectory
from appliance.errors import NotFoundError, ValidationError
from appliance.sip.message import Request
from appliance.store import Store
from tests.unit.test_b2bua import APP, CARRIER, DESK, DID, SDP, TRUNK, Box, plan_for, reply
from tests.unit.test_b2bua import register_102 as register_phones
from tests.unit.test_sip_routing import ext

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
RULE = CallbackRule(DID, delay=120, attempts=2, interval=600)


# -- decisions --------------------------------------------------------------------------------

def test_a_missed_call_with_a_rule_and_a_number_gets_a_job() -> None:
    job = job_for(Missed("0909123456", DID, "extension:102", "c1"), RULE, NOW)
    assert job == NewJob("+84909123456", DID, "extension:102", 2, 600,
                         NOW + timedelta(seconds=120), "c1")


@pytest.mark.parametrize("missed,rule", [
    (Missed("anonymous", DID, "extension:102", "c"), RULE),  # withheld
    (Missed("0909123456", DID, None, "c"), RULE),  # it rang nobody
    (Missed("0909123456", DID, "extension:102", "c"), None),  # the number has no callbacks
])
def test_no_job_without_a_number_a_target_or_a_rule(missed: Missed,
                                                    rule: CallbackRule | None) -> None:
    assert job_for(missed, rule, NOW) is None


def test_callable_numbers_are_e164() -> None:
    assert callable_number("84909123456") == callable_number("+84909123456") == "+84909123456"
    assert callable_number("") is None and callable_number("khach") is None


def _job(attempts: int) -> Job:
    return Job(1, "+84909123456", DID, "extension:102", "dialling", attempts, 2, 600, NOW, "c")


def test_after_an_attempt_reached_is_done_else_later_until_the_attempts_are_used() -> None:
    assert after_attempt(_job(1), True, NOW) == ("done", NOW)
    assert after_attempt(_job(1), False, NOW) == ("pending", NOW + timedelta(seconds=600))
    assert after_attempt(_job(2), False, NOW) == ("failed", NOW)


def test_who_to_ring_a_reachable_extension_or_the_queues_free_members() -> None:
    extensions = [replace(ext(n), employee_id=i) for i, n in ((11, "101"), (12, "102"),
                                                              (13, "103"))]
    queue = Queue("support", ("101", "102", "103"), "in_order", 10, 30)
    routing = replace(plan_for(extensions, queues={"support": queue}),
                      presence={11: "on_break"})
    busy = CallState(lines={"103": LineActivity(on_call=True)})
    assert who_to_ring("extension:102", routing, CallState()) == ("102",)
    assert who_to_ring("queue:support", routing, busy) == ("102",)
    assert who_to_ring("extension:199", routing, CallState()) == ()
    assert who_to_ring("queue:gone", routing, CallState()) == ()


# -- the store --------------------------------------------------------------------------------

@pytest.fixture
def jobs(store: Store, directory: Directory) -> CallbackDirectory:
    plan = CallPlanDirectory(store, actor="test")
    plan.add_connection("carrier", "ip", ["127.0.0.2:5080"], allowed_sources=["127.0.0.2/32"])
    plan.add_number(DID, "carrier", "hangup")
    clock = iter(NOW + timedelta(seconds=s) for s in range(0, 100_000, 60))
    return CallbackDirectory(store, actor="admin", clock=lambda: next(clock))


def test_rules_are_validated_and_need_an_office_number(jobs: CallbackDirectory) -> None:
    assert jobs.set_rule(DID, delay=30, attempts=3, interval=300) == CallbackRule(
        DID, 30, 3, 300)
    assert jobs.rule(DID) == CallbackRule(DID, 30, 3, 300)
    with pytest.raises(ValidationError, match="delay"):
        jobs.set_rule(DID, delay=1)
    with pytest.raises(ValidationError, match="attempts"):
        jobs.set_rule(DID, attempts="many")
    with pytest.raises(NotFoundError, match="not an office number"):
        jobs.set_rule("+842800000000")
    assert jobs.rules() == [CallbackRule(DID, 30, 3, 300)]  # the bad ones changed nothing
    jobs.remove_rule(DID)
    assert jobs.rule(DID) is None
    with pytest.raises(NotFoundError):
        jobs.remove_rule(DID)


def test_a_job_is_taken_when_due_and_finished_and_one_per_customer(
        jobs: CallbackDirectory) -> None:
    first = jobs.add_job(NewJob("+84909123456", DID, "extension:102", 2, 600, NOW, "c1"))
    second = jobs.add_job(NewJob("+84909123456", DID, "queue:support", 2, 600, NOW, "c2"))
    states = {j.id: j.state for j in jobs.jobs()}
    assert states == {first.id: "dropped", second.id: "pending"}
    taken, = jobs.take_due()
    assert taken.id == second.id and taken.attempts == 1 and taken.state == "dialling"
    assert jobs.take_due() == []  # dialling is not taken twice
    jobs.finish(taken.id, "pending", NOW + timedelta(days=1), "nobody answered inside")
    assert jobs.take_due() == []  # not due yet
    again = jobs.jobs("pending")[0]
    assert again.attempts == 1 and again.outcome == "nobody answered inside"
    assert jobs.drop_for_customer("+84909123456", "the customer called again", NOW) == 0
    assert jobs.drop_for_customer("+84909123456", "the customer called again",
                                  NOW + timedelta(days=2)) == 1
    assert jobs.jobs("pending") == []


def test_a_restart_makes_dialling_jobs_due_again(jobs: CallbackDirectory) -> None:
    jobs.add_job(NewJob("+84909123456", DID, "extension:102", 2, 600, NOW, "c1"))
    assert len(jobs.take_due()) == 1
    assert jobs.recover() == 1
    job, = jobs.jobs("pending")
    assert job.attempts == 1 and job.outcome == "interrupted by a restart"
    assert jobs.take_due()[0].attempts == 2


def test_an_admin_drops_an_open_job_only(jobs: CallbackDirectory) -> None:
    job = jobs.add_job(NewJob("+84909123456", DID, "extension:102", 2, 600, NOW, "c1"))
    assert jobs.drop(job.id).state == "dropped"
    with pytest.raises(NotFoundError):
        jobs.drop(job.id)
    with pytest.raises(ValidationError):
        jobs.jobs("weird")


# -- the B2BUA's hooks ------------------------------------------------------------------------

def test_a_missed_carrier_call_is_told_with_whom_it_rang_and_a_new_caller_too() -> None:
    box = Box()
    register_phones(box)
    missed: list[tuple[str, str | None, str | None]] = []
    callers: list[str] = []
    box.b2bua.on_missed = lambda call: missed.append(
        (call.server.request.from_.uri.user or "", call.did, call.missed_by))
    box.b2bua.on_caller = callers.append
    box.carrier_call()
    assert callers == ["0909123456"]
    box.timers.advance(61)  # rings out: the number's destination was 102, then hang up
    assert missed == [("0909123456", DID, "extension:102")]


def test_an_answered_carrier_call_is_not_missed() -> None:
    box = Box()
    register_phones(box)
    missed: list[object] = []
    box.b2bua.on_missed = missed.append
    box.carrier_call()
    desk = box.sent(DESK, "INVITE")[0]
    box.receive(reply(desk, 200, tag="d", body=SDP, contact="<sip:102@127.0.0.1:6002>"), DESK)
    assert missed == []


# -- a callback call --------------------------------------------------------------------------

def callback(box: Box) -> tuple[CallbackCall, list[tuple[bool, str]]]:
    told: list[tuple[bool, str]] = []
    call = CallbackCall(box.b2bua, TRUNK, "84909123456", "842873001234",
                        lambda reached, why: told.append((reached, why)))
    register_phones(box)
    assert call.start(("102",))
    return call, told


def invites(box: Box, peer: object) -> list[Request]:
    return box.sent(peer, "INVITE")  # type: ignore[arg-type]


def test_the_employee_first_then_the_customer_with_its_offer_and_the_answer_back() -> None:
    box = Box()
    _, told = callback(box)
    desk, = invites(box, DESK)
    app, = invites(box, APP)
    assert desk.body == b"" and desk.from_.uri.user == "84909123456"
    assert desk.from_.display_name == "Callback 84909123456"
    assert invites(box, CARRIER) == []  # nobody is called back before an employee is there
    offer = SDP.replace(b"4000", b"6002")
    box.receive(reply(desk, 180, tag="d"), DESK)
    box.receive(reply(app, 180, tag="a"), APP)
    box.receive(reply(desk, 200, tag="d", body=offer, contact="<sip:102@127.0.0.1:6002>"), DESK)
    assert box.sent(DESK, "ACK") == [] and box.sent(APP, "CANCEL")
    out, = invites(box, CARRIER)
    assert out.body == offer and str(out.uri) == "sip:84909123456@127.0.0.2:5080"
    assert out.from_.uri.user == "842873001234"
    assert out.headers.get("p-asserted-identity") == "<sip:842873001234@127.0.0.2:5080>"
    answer = SDP.replace(b"4000", b"5000")
    box.receive(reply(out, 200, body=answer), CARRIER)
    ack, = box.sent(DESK, "ACK")
    assert ack.body == answer and box.sent(CARRIER, "ACK")
    assert told == [(True, "reached")]
    record = box.router.registry.get(out.call_id, out.from_.tag or "")
    assert record is not None and record.state == "established"
    assert record.caller.extension == "102" and record.connection == "carrier"


def test_nobody_inside_answers_the_customer_is_never_called() -> None:
    box = Box()
    _, told = callback(box)
    for peer in (DESK, APP):
        box.receive(reply(invites(box, peer)[0], 180, tag="x"), peer)
    box.timers.advance(RING_INSIDE + 1)
    assert box.sent(DESK, "CANCEL") and box.sent(APP, "CANCEL")
    assert invites(box, CARRIER) == [] and told == [(False, "nobody answered inside")]


def test_the_customer_does_not_answer_the_employee_is_acked_and_hung_up() -> None:
    box = Box()
    _, told = callback(box)
    desk = invites(box, DESK)[0]
    box.receive(reply(desk, 200, tag="d", body=SDP, contact="<sip:102@127.0.0.1:6002>"), DESK)
    out, = invites(box, CARRIER)
    box.receive(reply(out, 486), CARRIER)
    kinds = [m.method for m, p in box.wire.sent if isinstance(m, Request) and p == DESK]
    assert kinds.index("ACK") < kinds.index("BYE")
    assert told == [(False, "the customer did not answer (486)")]
    box2 = Box()
    _, told2 = callback(box2)
    desk2 = invites(box2, DESK)[0]
    box2.receive(reply(desk2, 200, tag="d", body=SDP, contact="<sip:102@127.0.0.1:6002>"),
                 DESK)
    out2, = invites(box2, CARRIER)
    box2.receive(reply(out2, 180), CARRIER)
    box2.timers.advance(RING_CUSTOMER + 1)
    assert box2.sent(CARRIER, "CANCEL") and box2.sent(DESK, "BYE")
    assert told2 == [(False, "the customer did not answer (no answer)")]


def test_nobody_registered_cannot_start() -> None:
    box = Box()
    call = CallbackCall(box.b2bua, TRUNK, "84909123456", "842873001234", lambda r, w: None)
    assert not call.start(("102",))
    assert box.b2bua.live == set()
