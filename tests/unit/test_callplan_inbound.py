"""Calls in: the steps in the issue's order ((a) To header, (b) contacts map, (c) destination,
(d) after hours), each switched on and off; receive method mobile; no-answer to mobile;
queues and their fallback; a freed extension never rung nor forwarded to."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from appliance.callplan import hours, inbound
from appliance.callplan.inbound import (
    ForwardOut,
    Greet,
    HangUp,
    InboundCall,
    PlayMenu,
    RingExtension,
    RingQueue,
    Routing,
    Voicemail,
)
from appliance.callplan.model import (
    Connection,
    Destination,
    DirectoryView,
    ExtensionView,
    Greeting,
    Menu,
    Number,
    Queue,
    Server,
    WorkingHours,
)

OPEN = datetime(2027, 3, 1, 3, 0, tzinfo=UTC)  # Monday 10:00 in Vietnam
CLOSED = datetime(2027, 3, 1, 14, 0, tzinfo=UTC)  # Monday 21:00 in Vietnam

TRUNK = Connection(1, "vnpt", "register", (Server("sip.vnpt.test"),),
                   dids=("+842838123456",), number_format="intl_digits", default=True)
MOBILE_TRUNK = Connection(2, "viettel", "ip", (Server("10.0.0.1"),), number_format="national")
DIRECTORY = DirectoryView({
    "100": ExtensionView("100", 10, True, "desk"),  # reception
    "101": ExtensionView("101", 1, True, "both", "84912345678"),
    "102": ExtensionView("102", 2, True, "mobile", "84987654321"),
    "103": ExtensionView("103", None, False),  # freed
    "104": ExtensionView("104", 4, True, "app"),
})
OFFICE_HOURS = WorkingHours("office", "Asia/Ho_Chi_Minh",
                            hours.parse_range("mon-fri 08:00-17:30"))
SALES = Queue("sales", ("101", "103", "104"), "in_order", ring_time=15, timeout=30,
              fallback=Destination("extension", "100"))
MAIN = Number("+842838123456", 1, Destination("queue", "sales"),
              after_hours=Destination("hangup"), hours="office", ring_timeout=20)
ROUTING = Routing(
    connections={1: TRUNK, 2: MOBILE_TRUNK},
    numbers={MAIN.did: MAIN},
    queues={"sales": SALES},
    hours={"office": OFFICE_HOURS},
    directory=DIRECTORY,
    contacts={"+84903000111": 4, "+84903000222": 3},  # 3's extension... none: employee 3 gone
)
CUSTOMER = InboundCall("0903000111", to_user="+842838123456", ruri_user="842838123456")


def steps(number: Number = MAIN, call: InboundCall = CUSTOMER, now: datetime = OPEN,
          routing: Routing = ROUTING) -> list[object]:
    return list(inbound.plan(number, call, now, routing).steps)


END = HangUp(480, "Temporarily Unavailable", "end")


def test_the_full_order_to_header_then_contact_then_destination() -> None:
    call = replace(CUSTOMER, to_user="101")
    got = steps(call=call)
    assert got == [
        RingExtension("101", 20, "to_header"),
        RingExtension("104", 20, "contact"),
        RingQueue("sales", (inbound.queues.Round(("101",), 15),
                            inbound.queues.Round(("104",), 15)), "destination"),
        RingExtension("100", 20, "fallback"),
        END,
    ]


def test_each_step_switched_off() -> None:
    call = replace(CUSTOMER, to_user="101")
    no_to = steps(replace(MAIN, to_header=False), call)
    assert [s.why for s in no_to] == [  # type: ignore[attr-defined]
        "contact", "destination", "fallback", "end"]
    no_contacts = steps(replace(MAIN, contacts_map=False), call)
    assert [s.why for s in no_contacts] == [  # type: ignore[attr-defined]
        "to_header", "destination", "fallback", "end"]
    nothing = steps(replace(MAIN, to_header=False, contacts_map=False,
                            destination=Destination("hangup")), call)
    assert nothing == [HangUp(480, "Temporarily Unavailable", "destination")]


def test_the_request_uri_gives_the_extension_when_the_to_header_does_not() -> None:
    call = InboundCall("unknown", to_user="+842838123456", ruri_user="104")
    assert steps(call=call)[0] == RingExtension("104", 20, "to_header")
    call = InboundCall("unknown", to_user="101", ruri_user="104")
    assert steps(call=call)[0] == RingExtension("101", 20, "to_header")


def test_after_hours_replaces_the_destination_only_when_closed() -> None:
    got = steps(call=InboundCall("0903999999"), now=CLOSED)
    assert got == [HangUp(480, "Temporarily Unavailable", "after_hours")]
    assert not inbound.plan(MAIN, CUSTOMER, CLOSED, ROUTING).open
    assert inbound.plan(MAIN, CUSTOMER, OPEN, ROUTING).open
    # A known caller still reaches their employee after hours, then the after-hours answer.
    assert [s.why for s in steps(now=CLOSED)] == [  # type: ignore[attr-defined]
        "contact", "after_hours"]
    # No after-hours destination: closed hours change nothing.
    no_after = replace(MAIN, after_hours=None)
    assert steps(no_after, InboundCall("x"), CLOSED)[0] == steps(no_after, InboundCall("x"))[0]
    # No schedule: always open.
    assert inbound.plan(replace(MAIN, hours=None), CUSTOMER, CLOSED, ROUTING).open


def test_a_freed_extension_is_never_rung_nor_forwarded_to() -> None:
    # (a) asks for it, (b) maps a caller to its former holder, (c) names it, the queue lists it.
    number = replace(MAIN, destination=Destination("extension", "103"), no_answer="mobile")
    call = InboundCall("0903000222", to_user="103")
    got = steps(number, call)
    assert got == [END]
    for step in steps(call=call):
        assert getattr(step, "extension", None) != "103"
        assert "103" not in [m for r in getattr(step, "rounds", ()) for m in r.extensions]


def test_receive_mobile_is_forwarded_through_the_number_s_connection() -> None:
    call = InboundCall("0903999999", to_user="102")
    first = steps(call=call)[0]
    assert first == ForwardOut(number="84987654321", e164="+84987654321", connection_id=1,
                               seconds=20, presented="842838123456", why="to_header",
                               extension="102")


def test_no_answer_forwards_to_the_mobile_through_the_chosen_connection() -> None:
    number = replace(MAIN, no_answer="mobile", no_answer_connection=2)
    got = steps(number, InboundCall("0903999999", to_user="101"))
    assert got[:2] == [
        RingExtension("101", 20, "to_header"),
        ForwardOut(number="0912345678", e164="+84912345678", connection_id=2, seconds=20,
                   presented="02838123456", why="no_answer", extension="101"),
    ]
    # Without a chosen connection: the number's own. No mobile: nothing to forward to.
    own = steps(replace(number, no_answer_connection=None), InboundCall("x", to_user="101"))
    assert isinstance(own[1], ForwardOut) and own[1].connection_id == 1
    no_mobile = steps(number, InboundCall("x", to_user="104"))
    assert [type(s) for s in no_mobile[:2]] == [RingExtension, RingQueue]


def test_the_extension_s_own_no_answer_setting_overrides_the_number_s() -> None:
    def routing_with(**own: object) -> Routing:
        ext = replace(DIRECTORY.extensions["101"], **own)  # type: ignore[arg-type]
        return replace(ROUTING, directory=DirectoryView({**DIRECTORY.extensions, "101": ext}))

    call = InboundCall("0903999999", to_user="101")
    # The number goes on with its routing; the extension wants its mobile, on its connection,
    # after its own ring time (the mobile rung as long).
    mine = inbound.plan(MAIN, call, OPEN, routing_with(
        no_answer="mobile", no_answer_connection=2, ring_timeout=8)).steps
    assert mine[:2] == (
        RingExtension("101", 8, "to_header"),
        ForwardOut(number="0912345678", e164="+84912345678", connection_id=2, seconds=8,
                   presented="02838123456", why="no_answer", extension="101"),
    )
    # No connection of its own: the number's chosen one, else the number's own.
    chosen = inbound.plan(replace(MAIN, no_answer_connection=2), call, OPEN,
                          routing_with(no_answer="mobile")).steps
    assert isinstance(chosen[1], ForwardOut) and chosen[1].connection_id == 2
    own = inbound.plan(MAIN, call, OPEN, routing_with(no_answer="mobile")).steps
    assert isinstance(own[1], ForwardOut) and own[1].connection_id == 1
    # The number forwards to mobiles; this extension says go on: the queue comes next.
    stay = inbound.plan(replace(MAIN, no_answer="mobile"), call, OPEN,
                        routing_with(no_answer="continue")).steps
    assert stay[0] == RingExtension("101", 20, "to_header")
    assert isinstance(stay[1], RingQueue)
    # "number": the number's setting, as before.
    same = inbound.plan(replace(MAIN, no_answer="mobile"), call, OPEN, routing_with()).steps
    assert isinstance(same[1], ForwardOut) and same[1].why == "no_answer"
    # Receive on mobile: rung there for the extension's own ring time.
    ext102 = replace(DIRECTORY.extensions["102"], ring_timeout=30)
    far = inbound.plan(MAIN, InboundCall("x", to_user="102"), OPEN, replace(
        ROUTING, directory=DirectoryView({**DIRECTORY.extensions, "102": ext102}))).steps
    assert isinstance(far[0], ForwardOut) and far[0].seconds == 30


def test_an_extension_already_rung_is_not_rung_again() -> None:
    number = replace(MAIN, destination=Destination("extension", "101"))
    got = steps(number, InboundCall("0903999999", to_user="101"))
    assert got == [RingExtension("101", 20, "to_header"), END]


def test_a_queue_with_nobody_to_ring_goes_straight_to_its_fallback() -> None:
    routing = replace(ROUTING, presence={1: "on_break", 4: "off"})
    got = steps(call=InboundCall("0903999999"), routing=routing)
    assert got == [RingExtension("100", 20, "fallback"), END]


def test_an_outside_destination_is_forwarded_and_an_office_number_followed() -> None:
    out = replace(MAIN, destination=Destination("outside", "+84909000000", 2))
    got = steps(out, InboundCall("0903999999"))
    assert got[0] == ForwardOut(number="0909000000", e164="+84909000000", connection_id=2,
                                seconds=20, presented="02838123456", why="destination")
    second = Number("+842838999999", 1, Destination("extension", "104"))
    hop = replace(MAIN, destination=Destination("outside", second.did))
    routing = replace(ROUTING, numbers={MAIN.did: hop, second.did: second})
    assert steps(hop, InboundCall("0903999999"), routing=routing) == [
        RingExtension("104", 20, "destination"), END]
    # A cycle that slipped past the save check still ends.
    loop = replace(second, destination=Destination("outside", hop.did))
    routing = replace(ROUTING, numbers={hop.did: hop, loop.did: loop})
    assert steps(hop, InboundCall("0903999999"), routing=routing) == [END]


def test_an_unknown_queue_or_connection_is_skipped() -> None:
    assert steps(replace(MAIN, destination=Destination("queue", "nope")),
                 InboundCall("x")) == [END]
    assert steps(replace(MAIN, destination=Destination("outside", "+84909000000", 9)),
                 InboundCall("x")) == [END]


# -- calls between extensions that reach a mobile ---------------------------------------------

def test_internal_call_rings_the_extension_then_its_mobile_through_its_connection() -> None:
    callee = replace(DIRECTORY.extensions["101"], no_answer="mobile", no_answer_connection=2,
                     ring_timeout=8)
    plan = inbound.internal(callee, ROUTING, OPEN)
    assert plan is not None
    assert plan.steps == (
        RingExtension("101", 8, "destination"),
        ForwardOut("0912345678", "+84912345678", 2, 8, "02838123456", "no_answer", "101"),
        HangUp(480, "Temporarily Unavailable", "end"))


def test_internal_call_without_a_connection_named_uses_the_default_one() -> None:
    callee = replace(DIRECTORY.extensions["101"], no_answer="mobile")
    plan = inbound.internal(callee, ROUTING, OPEN)
    assert plan is not None
    forward = plan.steps[1]
    assert isinstance(forward, ForwardOut)
    # The default connection (intl digits), its office number presented, 20 s by default.
    assert (forward.connection_id, forward.number, forward.presented, forward.seconds) == (
        1, "84912345678", "842838123456", 20)
    assert plan.steps[0] == RingExtension("101", 20, "destination")


def test_internal_call_to_a_mobile_receiver_rings_the_mobile_only() -> None:
    plan = inbound.internal(DIRECTORY.extensions["102"], ROUTING, OPEN)
    assert plan is not None and len(plan.steps) == 2
    forward = plan.steps[0]
    assert isinstance(forward, ForwardOut) and forward.number == "84987654321"
    assert forward.why == "destination" and forward.extension == "102"


def test_internal_calls_that_stay_between_phones_have_no_plan() -> None:
    ext101 = DIRECTORY.extensions["101"]
    # Following the number (there is none) or going on with the routing: the phones alone.
    assert inbound.internal(ext101, ROUTING, OPEN) is None
    assert inbound.internal(replace(ext101, no_answer="continue"), ROUTING, OPEN) is None
    # No mobile to forward to, a freed extension, no default connection (nor a number to
    # present), or a mobile that is no number.
    forwarding = replace(ext101, no_answer="mobile")
    assert inbound.internal(replace(forwarding, mobile=None), ROUTING, OPEN) is None
    assert inbound.internal(replace(forwarding, employee_id=None), ROUTING, OPEN) is None
    no_default = replace(ROUTING, connections={1: replace(TRUNK, default=False),
                                               2: MOBILE_TRUNK})
    assert inbound.internal(forwarding, no_default, OPEN) is None
    assert inbound.internal(replace(forwarding, no_answer_connection=2), no_default,
                            OPEN) is None
    assert inbound.internal(replace(forwarding, mobile="12"), ROUTING, OPEN) is None


# -- greetings and menus ----------------------------------------------------------------------

def test_a_greeting_comes_before_the_destination_while_open() -> None:
    greeted = replace(MAIN, greeting=Greeting("vi", None, 4), to_header=False,
                      contacts_map=False)
    open_steps = inbound.plan(greeted, CUSTOMER, OPEN, ROUTING).steps
    assert open_steps[0] == Greet(Greeting("vi", None, 4), "greeting")
    assert isinstance(open_steps[1], RingQueue)
    # Closed with an after-hours destination: no greeting; switched off: none either.
    assert not any(isinstance(s, Greet) for s in inbound.plan(greeted, CUSTOMER, CLOSED,
                                                              ROUTING).steps)
    off = replace(greeted, greeting=Greeting("vi", None, 4, on=False))
    assert not any(isinstance(s, Greet) for s in inbound.plan(off, CUSTOMER, OPEN,
                                                              ROUTING).steps)


def test_an_extension_dialled_at_the_greeting_rings_then_the_routing() -> None:
    steps = inbound.dialled(MAIN, "104", OPEN, ROUTING)
    assert steps[0] == RingExtension("104", 20, "dialled")
    assert isinstance(steps[1], RingQueue) and isinstance(steps[-1], HangUp)
    # A freed extension is never rung: the routing alone.
    assert isinstance(inbound.dialled(MAIN, "103", OPEN, ROUTING)[0], RingQueue)


def test_a_menu_destination_and_what_its_choices_give() -> None:
    menu = Menu("main", "Press 1", keys={"1": Destination("queue", "sales")})
    routing = replace(ROUTING, menus={"main": menu})
    to_menu = replace(MAIN, destination=Destination("menu", "main"), to_header=False,
                      contacts_map=False)
    assert inbound.plan(to_menu, CUSTOMER, OPEN, routing).steps[0] == PlayMenu("main",
                                                                                 "destination")
    queue_steps = inbound.chosen(to_menu, Destination("queue", "sales"), OPEN, routing)
    assert isinstance(queue_steps[0], RingQueue) and isinstance(queue_steps[-1], HangUp)
    assert inbound.chosen(to_menu, Destination("extension", "104"), OPEN, routing)[0] == \
        RingExtension("104", 20, "menu")
    assert inbound.chosen(to_menu, Destination("menu", "main"), OPEN, routing)[0] == \
        PlayMenu("main", "menu")
    assert isinstance(inbound.chosen(to_menu, Destination("hangup"), OPEN, routing)[0],
                      HangUp)
    # A menu that is gone: hang up.
    assert isinstance(inbound.chosen(to_menu, Destination("menu", "gone"), OPEN, routing)[0],
                      HangUp)


# -- voicemail ----------------------------------------------------------------------------------

def test_no_answer_voicemail_takes_a_message_where_the_routing_ends() -> None:
    call = InboundCall("0903999999", to_user="101")
    by_number = inbound.plan(replace(MAIN, no_answer="voicemail"), call, OPEN, ROUTING).steps
    assert by_number[:2] == (RingExtension("101", 20, "to_header"),
                             Voicemail("101", "no_answer"))
    ext = replace(DIRECTORY.extensions["101"], no_answer="voicemail")
    own = replace(ROUTING, directory=DirectoryView({**DIRECTORY.extensions, "101": ext}))
    assert inbound.plan(MAIN, call, OPEN, own).steps[1] == Voicemail("101", "no_answer")
    # The extension says go on: no message, the queue next.
    stay = replace(ROUTING, directory=DirectoryView({**DIRECTORY.extensions, "101": replace(
        ext, no_answer="continue")}))
    assert isinstance(inbound.plan(replace(MAIN, no_answer="voicemail"), call, OPEN,
                                   stay).steps[1], RingQueue)
    # A box switched off takes nothing: the routing goes on.
    off = replace(ROUTING, directory=DirectoryView({**DIRECTORY.extensions, "101": replace(
        ext, voicemail=False)}))
    assert not any(isinstance(s, Voicemail) for s in inbound.plan(MAIN, call, OPEN, off).steps)


def test_a_voicemail_destination_is_a_message_for_a_held_extension_only() -> None:
    to_box = replace(MAIN, destination=Destination("voicemail", "104"), hours=None)
    assert steps(to_box, InboundCall("x"))[:2] == [Voicemail("104", "destination"), END]
    freed = replace(to_box, destination=Destination("voicemail", "103"))
    assert steps(freed, InboundCall("x")) == [END]
    after = replace(MAIN, after_hours=Destination("voicemail", "100"))
    assert steps(after, InboundCall("x"), CLOSED) == [Voicemail("100", "after_hours"), END]
    chosen = inbound.chosen(MAIN, Destination("voicemail", "100"), OPEN, ROUTING)
    assert chosen == (Voicemail("100", "menu"), END)


def test_internal_call_to_an_extension_with_voicemail_rings_then_takes_a_message() -> None:
    callee = replace(DIRECTORY.extensions["104"], no_answer="voicemail", ring_timeout=9)
    plan = inbound.internal(callee, ROUTING, OPEN)
    assert plan is not None and plan.steps == (
        RingExtension("104", 9, "destination"), Voicemail("104", "no_answer"), END)
    assert inbound.internal(replace(callee, voicemail=False), ROUTING, OPEN) is None
    assert inbound.internal(replace(callee, employee_id=None), ROUTING, OPEN) is None
    # Receiving on the mobile wins: the mobile rings, no box.
    mobile = inbound.internal(replace(DIRECTORY.extensions["102"], no_answer="voicemail"),
                              ROUTING, OPEN)
    assert mobile is not None and isinstance(mobile.steps[0], ForwardOut)
