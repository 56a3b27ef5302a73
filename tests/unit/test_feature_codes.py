"""Feature codes on the phone (``calls/features.py``): *70 starts a break, *71 ends it; the
answer says what was stored, a failed write says so, and nothing goes out."""

from __future__ import annotations

from collections.abc import Callable

from appliance.calls.features import FeatureCodes
from appliance.sip.message import Response
from tests.unit.test_b2bua import CARRIER, Box
from tests.unit.test_sip_routing import PHONE, last_response


class Recorder:
    def __init__(self, stored: bool = True) -> None:
        self.stored = stored
        self.calls: list[tuple[int, str, str]] = []
        self.pending: list[Callable[[bool], None]] = []

    def __call__(self, employee_id: int, state: str, number: str,
                 then: Callable[[bool], None]) -> None:
        self.calls.append((employee_id, state, number))
        self.pending.append(then)

    def finish(self) -> None:
        for then in self.pending:
            then(self.stored)
        self.pending.clear()


def box_with(recorder: Recorder) -> Box:
    box = Box()
    box.b2bua.features = FeatureCodes(recorder)
    return box


def test_star_70_records_a_break_and_says_so() -> None:
    recorder = Recorder()
    box = box_with(recorder)
    box.dial("*70")
    employee = next(e.employee_id for e in box.extensions if e.number == "101")
    assert recorder.calls == [(employee, "on_break", "101")]
    assert last_response(box.wire).status == 100  # the write is under way
    recorder.finish()
    answer = last_response(box.wire)
    assert (answer.status, answer.reason) == (603, "On Break") and answer.to.tag
    assert box.sent(CARRIER) == []


def test_star_71_ends_the_break_and_an_escaped_star_counts() -> None:
    recorder = Recorder()
    box = box_with(recorder)
    box.dial("%2A71")
    recorder.finish()
    assert recorder.calls[0][1] == "working"
    assert (last_response(box.wire).status, last_response(box.wire).reason) == \
        (603, "Back At Work")


def test_a_failed_write_is_500_and_said() -> None:
    recorder = Recorder(stored=False)
    box = box_with(recorder)
    box.dial("*70")
    recorder.finish()
    answer = last_response(box.wire)
    assert (answer.status, answer.reason) == (500, "Presence Not Stored")


def test_other_star_codes_are_not_features() -> None:
    recorder = Recorder()
    box = box_with(recorder)
    box.dial("*99")
    assert recorder.calls == []
    finals = [m.status for m, p in box.wire.sent if isinstance(m, Response) and p == PHONE
              and m.status >= 200]
    assert finals and finals[-1] != 603
