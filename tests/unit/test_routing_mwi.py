"""The message-waiting policy on fakes (``routing/mwi.py`` behind the router): who may
subscribe to which mailbox, expiry bounds, refresh and unsubscribe, a change brought to the
subscriptions and, unsolicited, to the other bindings, the caps, a freed extension's lamp
put out, and every malformed SUBSCRIBE answered cleanly."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.directory import Extension
from appliance.errors import SipParseError
from appliance.events import Event
from appliance.routing.mwi import MessageWaiting, Reply
from appliance.routing.router import Router
from appliance.sip import mwi
from appliance.sip.message import Request, Response, make_request, make_response, parse
from appliance.sip.transaction import Peer
from tests.unit.sip_fakes import FakeTimers, Wire
from tests.unit.test_sip_routing import (
    Locals,
    do_register,
    ext,
    last_response,
    make_router,
    with_credentials,
)

PHONE = Peer("udp", "127.0.0.1", 5062)
OTHER_PHONE = Peer("udp", "127.0.0.1", 5064)
SEQ = itertools.count(1)


@dataclass
class Counts:
    """The fake store: counts per extension, answered at once or held until ``release``."""

    found: dict[str, tuple[int, int]] = field(default_factory=dict)
    hold: bool = False
    waiting: list[tuple[str, Reply]] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)

    def __call__(self, number: str, then: Reply) -> None:
        self.reads.append(number)
        if self.hold:
            self.waiting.append((number, then))
        else:
            then(self.found.get(number, (0, 0)))

    def release(self) -> None:
        waiting, self.waiting = self.waiting, []
        for number, then in waiting:
            then(self.found.get(number, (0, 0)) if number != "broken" else None)


@dataclass
class Box:
    router: Router
    mwi: MessageWaiting
    timers: FakeTimers
    wire: Wire
    counts: Counts

    def receive(self, message: Request | Response, peer: Peer = PHONE) -> None:
        assert self.router.layer is not None
        self.router.layer.receive(message, peer)

    def notifies(self) -> list[tuple[Request, Peer]]:
        return [(m, p) for m, p in self.wire.sent if isinstance(m, Request)
                and m.method == "NOTIFY"]

    def answer_notifies(self, status: int = 200) -> None:
        for notify, peer in self.notifies():
            self.receive(make_response(notify, status, to_tag=notify.to.tag or "p"), peer)
        self.wire.sent.clear()


def make_box(*extensions: Extension, per_extension: int = 8, total: int = 4096) -> Box:
    router, timers, wire = make_router(*extensions)
    counts = Counts()
    service = MessageWaiting(locals_=Locals(), bindings=router.registrar,
                             extensions=router.extensions, read_counts=counts,
                             domain="office.test", clock=timers.clock,
                             per_extension=per_extension, total=total)
    service.layer = router.layer
    router.mwi = service
    return Box(router, service, timers, wire, counts)


def subscribe(user: str = "101", mailbox: str | None = None, *, expires: str | None = "3600",
              call_id: str | None = None, to_tag: str | None = None, cseq: int = 1,
              event: str | None = "message-summary", extra: tuple[tuple[str, str], ...] = (),
              port: int = 5062, contact: bool = True) -> Request:
    target = mailbox or user
    headers = [*extra]
    if event is not None:
        headers.append(("Event", event))
    if expires is not None:
        headers.append(("Expires", expires))
    to = f"<sip:{target}@office.test>" + (f";tag={to_tag}" if to_tag else "")
    return make_request("SUBSCRIBE", f"sip:{target}@office.test",
                        via=f"SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-m{next(SEQ)}",
                        from_=f"<sip:{user}@office.test>;tag=ph{port}", to=to,
                        call_id=call_id or f"mwi-{next(SEQ)}", cseq=cseq,
                        contact=f"<sip:{user}@127.0.0.1:{port}>" if contact else None,
                        headers=headers)


def authenticated(box: Box, request: Request, peer: Peer = PHONE,
                  password: str | None = None) -> Response:
    """Send ``request``, answer the 401 with the extension's password; the final answer."""
    box.receive(request, peer)
    challenge = last_response(box.wire)
    assert challenge.status == 401 and challenge.headers.get("www-authenticate")
    user = request.from_.uri.user or ""
    box.receive(with_credentials(request, challenge, password or f"password-{user}"), peer)
    return last_response(box.wire)


def summary_of(notify: Request) -> mwi.Summary:
    assert notify.headers.get("content-type") == mwi.CONTENT_TYPE
    return mwi.parse_summary(notify.body)


def test_a_phone_subscribes_to_its_own_mailbox_and_gets_the_counts_at_once() -> None:
    box = make_box(ext("101"))
    box.counts.found["101"] = (2, 5)
    ok = authenticated(box, subscribe())
    assert ok.status == 200 and ok.headers.get("expires") == "3600"
    assert ok.to.tag and ok.headers.get("contact") == "<sip:127.0.0.1:5060;transport=udp>"
    ((notify, peer),) = box.notifies()
    assert peer == PHONE and str(notify.uri) == "sip:101@127.0.0.1:5062"
    assert notify.from_.tag == ok.to.tag and notify.to.tag == "ph5062"
    assert notify.call_id == ok.call_id and notify.headers.get("event") == "message-summary"
    assert notify.headers.get("subscription-state") == "active;expires=3600"
    assert summary_of(notify) == mwi.Summary.voice(2, 5, account="sip:101@office.test")
    assert len(box.mwi.by_dialog) == 1 and box.mwi.stats["subscribed"] == 1


def test_an_unauthenticated_subscribe_is_challenged_and_a_wrong_password_refused() -> None:
    box = make_box(ext("101"))
    box.receive(subscribe())
    assert last_response(box.wire).status == 401 and box.notifies() == []
    assert authenticated(box, subscribe(), password="wrong").status == 401
    assert box.router.stats["auth_failed"] == 1 and box.mwi.by_dialog == {}


@pytest.mark.parametrize(("user", "mailbox", "status"), [
    ("101", "102", 403), ("101", "102.name", 403), ("103", "103", 403), ("101", "999", 403),
])
def test_only_your_own_mailbox(user: str, mailbox: str, status: int) -> None:
    box = make_box(ext("101"), ext("102", name="102.name"), ext("103", assigned=False))
    answer = authenticated(box, subscribe(user, mailbox))
    assert answer.status == status and box.notifies() == [] and box.mwi.by_dialog == {}


def test_a_memorable_name_of_your_own_is_your_mailbox() -> None:
    box = make_box(ext("101", name="an.nguyen"))
    assert authenticated(box, subscribe("101", "an.nguyen")).status == 200


@pytest.mark.parametrize(("asked", "status", "granted"), [
    (None, 200, "3600"), ("600", 200, "600"), ("60", 200, "60"), ("7200", 200, "3600"),
    ("59", 423, None), ("1", 423, None),
])
def test_expiry_bounds(asked: str | None, status: int, granted: str | None) -> None:
    box = make_box(ext("101"))
    answer = authenticated(box, subscribe(expires=asked))
    assert answer.status == status and answer.headers.get("expires") == granted
    if status == 423:
        assert answer.headers.get("min-expires") == "60" and box.notifies() == []
    else:
        (notify, _), = box.notifies()
        assert notify.headers.get("subscription-state") == f"active;expires={granted}"


def _subscribed(box: Box, peer: Peer = PHONE, user: str = "101") -> Response:
    ok = authenticated(box, subscribe(user, port=peer.port), peer)
    assert ok.status == 200
    box.answer_notifies()
    return ok


def _in_dialog(ok: Response, *, expires: str, cseq: int, port: int = 5062) -> Request:
    return subscribe(expires=expires, call_id=ok.call_id, to_tag=ok.to.tag, cseq=cseq,
                     port=port)


def test_a_refresh_in_the_dialog_and_then_an_unsubscribe() -> None:
    box = make_box(ext("101"))
    ok = _subscribed(box)
    box.counts.found["101"] = (1, 0)
    refreshed = authenticated(box, _in_dialog(ok, expires="600", cseq=10))
    assert refreshed.status == 200 and refreshed.headers.get("expires") == "600"
    assert refreshed.to.tag == ok.to.tag
    (notify, _), = box.notifies()
    assert notify.headers.get("subscription-state") == "active;expires=600"
    assert summary_of(notify).voice_counts == mwi.Counts(1, 0)
    box.answer_notifies()
    gone = authenticated(box, _in_dialog(ok, expires="0", cseq=20))
    assert gone.status == 200 and gone.headers.get("expires") == "0"
    (last, _), = box.notifies()
    assert last.headers.get("subscription-state") == "terminated;reason=timeout"
    assert summary_of(last).voice_counts == mwi.Counts(1, 0)
    assert box.mwi.by_dialog == {} and box.mwi.by_extension == {}
    box.wire.sent.clear()
    again = _in_dialog(ok, expires="600", cseq=30)
    box.receive(again)
    assert last_response(box.wire).status == 481  # not ours any more


def test_an_out_of_order_refresh_and_another_extensions_refresh() -> None:
    box = make_box(ext("101"), ext("102"))
    ok = _subscribed(box)
    assert authenticated(box, _in_dialog(ok, expires="600", cseq=10)).status == 200
    box.answer_notifies()
    assert authenticated(box, _in_dialog(ok, expires="600", cseq=5)).status == 500
    stolen = _in_dialog(ok, expires="0", cseq=40)
    stolen.headers.set("From", "<sip:102@office.test>;tag=ph5062")
    assert authenticated(box, stolen).status == 403 and len(box.mwi.by_dialog) == 1


def test_a_fetch_out_of_dialog_is_the_state_once() -> None:
    box = make_box(ext("101"))
    box.counts.found["101"] = (0, 4)
    ok = authenticated(box, subscribe(expires="0"))
    assert ok.status == 200 and ok.headers.get("expires") == "0"
    (notify, _), = box.notifies()
    assert notify.headers.get("subscription-state") == "terminated;reason=timeout"
    assert summary_of(notify) == mwi.Summary.voice(0, 4, account="sip:101@office.test")
    assert box.mwi.by_dialog == {}


def test_a_change_reaches_subscriptions_and_unsolicited_the_other_bindings() -> None:
    box = make_box(ext("101"), ext("102"))
    do_register(box.router, box.wire, "101", "<sip:101@127.0.0.1:5062>", PHONE)
    do_register(box.router, box.wire, "101", "<sip:101@127.0.0.1:5064>", OTHER_PHONE,
                agent="Yealink SIP-T46U")
    do_register(box.router, box.wire, "102", "<sip:102@127.0.0.1:5066>",
                Peer("udp", "127.0.0.1", 5066))
    _subscribed(box)
    box.counts.found["101"] = (1, 0)
    box.mwi.on_event(Event(1, datetime.now(UTC), "voicemail.changed",
                           {"employee_id": 1, "extension": "101"}))
    sent = box.notifies()
    assert {p for _, p in sent} == {PHONE, OTHER_PHONE}  # 102 is not told
    in_dialog = next(n for n, p in sent if p == PHONE)
    unsolicited = next(n for n, p in sent if p == OTHER_PHONE)
    assert in_dialog.to.tag == "ph5062" and in_dialog.headers.get(
        "subscription-state") == "active;expires=3600"
    assert str(unsolicited.uri) == "sip:101@127.0.0.1:5064" and unsolicited.to.tag is None
    assert unsolicited.headers.get("event") == "message-summary"
    assert unsolicited.headers.get("subscription-state") == "terminated"
    for notify in (in_dialog, unsolicited):
        assert summary_of(notify) == mwi.Summary.voice(1, 0, account="sip:101@office.test")
    assert box.mwi.stats["unsolicited"] == 1
    box.wire.sent.clear()
    box.mwi.on_event(Event(2, datetime.now(UTC), "voicemail.changed",
                           {"employee_id": 1, "extension": None}))  # dismissed: no one
    assert box.notifies() == [] and box.counts.reads[-1] == "101"


def test_one_notify_in_flight_per_subscription_the_newest_counts_after() -> None:
    box = make_box(ext("101"))
    _subscribed(box)
    for n in (1, 2, 3):
        box.counts.found["101"] = (n, 0)
        box.mwi.changed("101")
    (first, peer), = box.notifies()
    assert summary_of(first).voice_counts == mwi.Counts(1, 0)
    box.wire.sent.clear()
    box.receive(make_response(first, 200, to_tag="ph5062"), peer)
    (second, _), = box.notifies()
    assert summary_of(second).voice_counts == mwi.Counts(3, 0)
    assert second.cseq.seq == first.cseq.seq + 1


def test_counts_read_off_the_loop_arrive_later_and_a_failed_read_sends_nothing() -> None:
    box = make_box(ext("101"))
    box.counts.hold = True
    assert authenticated(box, subscribe()).status == 200
    assert box.notifies() == [] and box.counts.reads == ["101"]
    box.counts.release()
    assert len(box.notifies()) == 1
    box.answer_notifies()
    box.counts.hold = True
    box.mwi.read_counts("broken", lambda counts: box.mwi._publish("101", counts))
    box.counts.release()
    assert box.notifies() == []


def test_a_refused_or_unanswered_notify_forgets_the_subscription() -> None:
    box = make_box(ext("101"))
    authenticated(box, subscribe())
    box.answer_notifies(481)
    assert box.mwi.by_dialog == {}
    authenticated(box, subscribe())
    box.wire.sent.clear()
    box.timers.advance(40)  # no answer: Timer F
    assert box.mwi.by_dialog == {}


def test_expiry_ends_the_subscription_with_a_notify() -> None:
    box = make_box(ext("101"))
    assert authenticated(box, subscribe(expires="60")).status == 200
    box.answer_notifies()
    box.timers.advance(59)
    assert box.notifies() == [] and len(box.mwi.by_dialog) == 1
    box.timers.advance(20)
    sent = box.notifies()  # the NOTIFY, and its retransmissions as no answer came
    notify = sent[0][0]
    assert {n.via[0].branch for n, _ in sent} == {notify.via[0].branch}
    assert notify.headers.get("subscription-state") == "terminated;reason=timeout"
    assert notify.body == b"" and box.mwi.by_dialog == {}


def test_a_freed_extension_puts_its_lamp_out() -> None:
    box = make_box(ext("101"), ext("102"))
    _subscribed(box)
    _subscribed(box, Peer("udp", "127.0.0.1", 5070), user="102")
    extensions = box.router.extensions
    extensions.found["101"] = ext("101", assigned=False)  # type: ignore[attr-defined]
    box.mwi.on_event(Event(3, datetime.now(UTC), "employee.dismissed",
                           {"employee_id": 1, "extension": "101"}))
    (notify, peer), = box.notifies()
    assert peer == PHONE
    assert notify.headers.get("subscription-state") == "terminated;reason=noresource"
    assert summary_of(notify) == mwi.Summary(False, "sip:101@office.test")
    assert set(box.mwi.by_extension) == {"102"}
    box.mwi.drop("102")
    assert box.mwi.by_dialog == {}


def test_subscriptions_are_capped_per_extension_and_in_all() -> None:
    box = make_box(ext("101"), ext("102"), per_extension=2, total=3)
    peers = [Peer("udp", "127.0.0.1", port) for port in (6001, 6002, 6003)]
    first = _subscribed(box, peers[0])
    _subscribed(box, peers[1])
    _subscribed(box, peers[2])  # the oldest of 101's goes
    assert [s.peer for s in box.mwi.by_extension["101"]] == peers[1:]
    assert (first.call_id, first.to.tag, "ph6001") not in box.mwi.by_dialog
    _subscribed(box, peers[2])  # the same phone again: replaces its own
    assert [s.peer for s in box.mwi.by_extension["101"]] == peers[1:]
    _subscribed(box, Peer("udp", "127.0.0.1", 6010), user="102")
    assert len(box.mwi.by_dialog) == 3
    full = authenticated(box, subscribe("102", port=6011), Peer("udp", "127.0.0.1", 6011))
    assert full.status == 503 and full.headers.get("retry-after") == "60"
    assert box.mwi.stats["refused"] == 1


@pytest.mark.parametrize(("request_", "status"), [
    (subscribe(event="presence"), 489),
    (subscribe(event=None), 489),
    (subscribe(event="message summary"), 400),
    (subscribe(event="message-summary;;"), 400),
])
def test_malformed_or_foreign_subscribes_before_authentication(request_: Request,
                                                               status: int) -> None:
    box = make_box(ext("101"))
    box.receive(request_)
    answer = last_response(box.wire)
    assert answer.status == status and "www-authenticate" not in answer.headers


@pytest.mark.parametrize(("request_", "status"), [
    (subscribe(expires="soon"), 400),
    (subscribe(contact=False), 400),
    (subscribe(extra=(("Contact", "<sip:101@127.0.0.1:7000>"),)), 400),  # two Contacts
    (subscribe(extra=(("Accept", "application/pidf+xml"),)), 406),
    (subscribe(extra=(("Accept", "application/simple-message-summary"),)), 200),
])
def test_malformed_subscribes_after_authentication(request_: Request, status: int) -> None:
    box = make_box(ext("101"))
    answer = authenticated(box, request_)
    assert answer.status == status and answer.reason in (
        "Bad Request", "Not Acceptable", "OK")


def test_an_in_dialog_subscribe_the_box_does_not_know_is_481_as_before() -> None:
    box = make_box(ext("101"))
    box.receive(subscribe(to_tag="nobody"))
    assert last_response(box.wire).status == 481


RAW = ("SUBSCRIBE sip:{mailbox}@office.test SIP/2.0\r\n"
       "Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-fz{n}\r\n"
       "Max-Forwards: 70\r\nFrom: <sip:101@office.test>;tag=f\r\n"
       "To: <sip:{mailbox}@office.test>{totag}\r\nCall-ID: fz{n}\r\nCSeq: 1 SUBSCRIBE\r\n"
       "Contact: <sip:101@127.0.0.1:5062>\r\n{extra}Content-Length: 0\r\n\r\n")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=st.sampled_from(["message-summary", "Message-Summary;id=1", "message-summary;id",
                              "message-summary;id=\"x\"", "presence", "", ";", "x y", None]),
       expires=st.sampled_from([None, "0", "1", "60", "4294967296", "-1", "1.5", ""]),
       accept=st.sampled_from([None, "", "*/*", "text/plain", ",,", "application/*;q=0"]),
       totag=st.sampled_from(["", ";tag=t", ";tag="]),
       mailbox=st.sampled_from(["101", "102", "", "an.nguyen", "+84", "%00"]))
def test_whatever_a_subscribe_holds_it_is_answered_and_nothing_raises(
        event: str | None, expires: str | None, accept: str | None, totag: str,
        mailbox: str) -> None:
    box = make_box(ext("101", name="an.nguyen"), ext("102"))
    extra = "".join(f"{name}: {value}\r\n" for name, value in (
        ("Event", event), ("Expires", expires), ("Accept", accept)) if value is not None)
    text = RAW.format(mailbox=mailbox, totag=totag, n=next(SEQ), extra=extra).replace(
        "sip:@", "sip:")
    try:
        request = parse(text.encode())
    except SipParseError:
        return  # answered 400 (or dropped) before the router: tests of the codec
    assert isinstance(request, Request)
    box.receive(request)
    first = last_response(box.wire)
    if first.status == 401:
        box.receive(with_credentials(request, first, "password-101"))
    final = last_response(box.wire)
    assert final.status >= 200 and final.status != 500
    box.answer_notifies()
    box.timers.advance(4000)
