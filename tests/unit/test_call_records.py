"""The call history's records, built from what the router's call registry tells its observer:
one record per call (answered, rang out, cancelled, busy, refused, no phone to ring), the
times on the registry's clock, and an admin's hang-up (CallControl.end) ending a ringing
call with CANCEL and 480, an established one with a BYE to each end."""

from __future__ import annotations

from typing import Any

from appliance.calls import history
from appliance.routing.calls import Call
from appliance.routing.router import Router
from appliance.sip.message import Request, make_request, make_response
from tests.unit.sip_fakes import FakeTimers, Wire
from tests.unit.test_sip_calls import CALLEE, answered_call, sent_to, to_caller
from tests.unit.test_sip_routing import (
    PHONE,
    call,
    do_register,
    ext,
    invite,
    last_response,
    make_router,
    with_credentials,
)


class Recorder:
    """An observer keeping every change and the record of each ended call."""

    def __init__(self) -> None:
        self.changes: list[str] = []
        self.records: list[dict[str, Any]] = []

    def changed(self, call: Call) -> None:
        self.changes.append(call.state)
        if call.state == "ended":
            self.records.append(history.entry(call, {"101": 7, "102": 8}))


def office(ring_timeout: float = 60.0) -> tuple[Router, FakeTimers, Wire, Recorder]:
    router, timers, wire = make_router(ext("101"), ext("102"))
    router.ring_timeout = ring_timeout
    router.registry.clock = timers.clock
    recorder = Recorder()
    router.registry.observer = recorder
    return router, timers, wire, recorder


def ringing(router: Router, wire: Wire) -> Request:
    do_register(router, wire, "102", "<sip:102@127.0.0.1:6001>", CALLEE)
    (forked, peer), = call(router, wire, "102", ext("101"))
    assert router.layer is not None
    router.layer.receive(make_response(forked, 180, to_tag="callee"), peer)
    return forked


def bye_from_caller(forked: Request) -> Request:
    request = make_request("BYE", "sip:102@127.0.0.1:6001", via="SIP/2.0/UDP 127.0.0.1:5062;"
                           "branch=z9hG4bK-bye", from_="<sip:101@office.test>;tag=caller",
                           to="<sip:102@office.test>;tag=callee", call_id="call", cseq=3)
    request.headers.add("Route", forked.headers.get("record-route") or "")
    return request


def test_an_answered_call_is_one_record_with_ring_and_talk_time() -> None:
    router, timers, wire, recorder = office()
    forked, _ = answered_call(router, wire)
    timers.advance(42)
    assert router.layer is not None
    router.layer.receive(bye_from_caller(forked), PHONE)
    record, = recorder.records
    assert recorder.changes[0] == "ringing" and "established" in recorder.changes
    assert {k: record[k] for k in ("direction", "caller", "callee", "dialled", "answered_by",
                                   "outcome", "status", "reason", "connection")} == {
        "direction": "internal", "caller": "101", "callee": "102", "dialled": "102",
        "answered_by": "102", "outcome": "answered", "status": 200, "reason": "bye",
        "connection": None}
    assert (record["caller_employee_id"], record["callee_employee_id"],
            record["answered_by_employee_id"]) == (7, 8, 8)
    assert record["ring_seconds"] == 0.0 and record["talk_seconds"] == 42.0
    assert record["started_at"] == record["answered_at"] < record["ended_at"]
    assert record["call_id"] == "call" and len(record["ref"]) == 8


def test_a_call_that_rings_out_is_missed() -> None:
    router, timers, wire, recorder = office(ring_timeout=20.0)
    forked = ringing(router, wire)
    timers.advance(21)
    assert to_caller(wire)[-1] == 480
    assert router.layer is not None
    router.layer.receive(make_response(forked, 487, to_tag="callee"), CALLEE)  # CANCELed
    record, = recorder.records
    assert (record["outcome"], record["status"], record["answered_by"]) == ("missed", 480, None)
    assert 20.0 <= record["ring_seconds"] <= 21.0 and record["talk_seconds"] == 0.0


def test_the_callers_cancel_and_a_busy_callee() -> None:
    router, _, wire, recorder = office()
    forked = ringing(router, wire)
    assert router.layer is not None
    cancel = make_request("CANCEL", "sip:102@office.test", via="SIP/2.0/UDP 127.0.0.1:5062;"
                          "branch=z9hG4bK-i2", from_="<sip:101@office.test>;tag=caller",
                          to="<sip:102@office.test>", call_id="call", cseq=2)
    router.layer.receive(cancel, PHONE)
    router.layer.receive(make_response(sent_to(wire, CALLEE, "CANCEL")[0], 200), CALLEE)
    router.layer.receive(make_response(forked, 487, to_tag="callee"), CALLEE)
    assert [r["outcome"] for r in recorder.records] == ["cancelled"]

    router, _, wire, recorder = office()
    forked = ringing(router, wire)
    assert router.layer is not None
    router.layer.receive(make_response(forked, 486, to_tag="callee"), CALLEE)
    assert [(r["outcome"], r["status"]) for r in recorder.records] == [("busy", 486)]


def test_refused_and_unreachable_calls_are_recorded_without_ringing() -> None:
    router, _, wire, recorder = office()
    assert router.layer is not None
    for number in ("0912345678", "105", "102"):  # no connection; no such extension; no phone
        first = invite(number, call_id=f"c-{number}")
        first.headers.set("Via", f"SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-{number}")
        router.layer.receive(first.copy(), PHONE)
        router.layer.receive(with_credentials(first, last_response(wire), "password-101"),
                             PHONE)
        assert last_response(wire).status in (403, 404, 480)
    assert [(r["outcome"], r["status"], r["callee"], r["dialled"]) for r in recorder.records] \
        == [("refused", 403, "0912345678", "0912345678"), ("refused", 404, "105", "105"),
            ("missed", 480, "102", "102")]
    assert len(router.registry) == 0  # never kept as calls
    assert recorder.changes == ["ended"] * 3


def test_an_admins_hang_up_of_a_ringing_call_cancels_and_answers_480() -> None:
    router, _, wire, recorder = office()
    ringing(router, wire)
    live, = router.registry.live()
    router.control.end(live, 'SIP;cause=480;text="Hung up by the administrator"')
    assert to_caller(wire)[-1] == 480
    cancel, = sent_to(wire, CALLEE, "CANCEL")
    assert cancel.headers.get("reason") == 'SIP;cause=480;text="Hung up by the administrator"'
    assert [r["outcome"] for r in recorder.records] == ["cancelled"]
    assert router.registry.live() == []


def test_an_admins_hang_up_of_an_established_call_byes_both_ends() -> None:
    router, timers, wire, recorder = office()
    answered_call(router, wire)
    timers.advance(5)
    wire.sent.clear()
    live, = router.registry.live()
    router.control.end(live, "SIP;cause=480")
    assert len(sent_to(wire, PHONE, "BYE")) == 1 and len(sent_to(wire, CALLEE, "BYE")) == 1
    record, = recorder.records
    assert (record["outcome"], record["reason"], record["talk_seconds"]) == (
        "answered", "hung up", 5.0)


def test_outcomes_and_rows_from_registry_records() -> None:
    router, _, _, _ = office()
    made = router.registry.start(invite("102"), PHONE, "101", "102", None)
    assert history.live_row(made)["state"] == "ringing"
    for reason, status, expected in [("603", 603, "busy"), ("hung up", 0, "cancelled"),
                                     ("no answer", 480, "missed"), ("404", 404, "failed"),
                                     ("outside 503", 500, "failed"), ("busy", 503, "busy"),
                                     ("bye", 487, "cancelled"), ("408", 408, "missed")]:
        made.answered_at, made.reason, made.status = None, reason, status
        assert history.outcome(made) == expected, reason
    made.direction, made.callee_extension = "outbound", "84912345678"
    made.caller.extension = "101"
    assert history.extensions_of(made) == ["101"]  # an outside number is no extension
    made.caller.extension, made.from_user, made.direction = None, "0909123456", "inbound"
    made.callee_extension = ""
    made.dialled = "+842873001234"
    row = history.entry(made, {})
    assert (row["caller"], row["callee"]) == ("0909123456", "+842873001234")
