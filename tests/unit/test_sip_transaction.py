"""RFC 3261 §17 transactions on a fake clock: retransmissions, Timers A-K, absorption."""

from __future__ import annotations

from dataclasses import dataclass, field

from appliance.sip.message import Request, Response, make_request, make_response
from appliance.sip.transaction import (
    ClientTransaction,
    Peer,
    ServerTransaction,
    TransactionLayer,
)
from tests.unit.sip_fakes import FakeTimers, Wire

UDP = Peer("udp", "127.0.0.1", 5062)
TCP = Peer("tcp", "127.0.0.1", 40000)


@dataclass
class Core:
    """A transaction user that records what reaches it and answers nothing by itself."""

    requests: list[tuple[ServerTransaction, Request]] = field(default_factory=list)
    acks: list[Request] = field(default_factory=list)
    stray: list[Response] = field(default_factory=list)
    responses: list[int] = field(default_factory=list)
    timeouts: int = 0

    def on_request(self, txn: ServerTransaction, request: Request) -> None:
        self.requests.append((txn, request))

    def on_ack(self, request: Request, peer: Peer) -> None:
        self.acks.append(request)

    def on_stray_response(self, response: Response, peer: Peer) -> None:
        self.stray.append(response)

    def on_response(self, txn: ClientTransaction, response: Response) -> None:
        self.responses.append(response.status)

    def on_timeout(self, txn: ClientTransaction) -> None:
        self.timeouts += 1


def request(method: str = "INVITE", branch: str = "z9hG4bK-1", cseq: int = 1) -> Request:
    return make_request(method, "sip:102@office.test",
                        via=f"SIP/2.0/UDP 127.0.0.1:5062;branch={branch}",
                        from_="<sip:101@office.test>;tag=a", to="<sip:102@office.test>",
                        call_id="c1", cseq=cseq)


def setup() -> tuple[FakeTimers, Wire, Core, TransactionLayer]:
    timers, wire, core = FakeTimers(), Wire(), Core()
    return timers, wire, core, TransactionLayer(wire, timers, core)


def test_invite_server_retransmits_final_until_ack_then_absorbs() -> None:
    timers, wire, core, layer = setup()
    layer.receive(request(), UDP)
    txn, invite = core.requests[0]
    txn.respond(make_response(invite, 100))
    layer.receive(request(), UDP)  # a retransmission: the 100 again, not a new request
    assert len(core.requests) == 1 and wire.statuses() == [100, 100]
    txn.respond(make_response(invite, 486, to_tag="x"))
    timers.advance(0.5)  # Timer G: T1
    timers.advance(1.0)  # then 2*T1
    assert wire.statuses() == [100, 100, 486, 486, 486]
    ack = request("ACK")
    layer.receive(ack, UDP)
    timers.advance(10)
    assert wire.statuses().count(486) == 3 and core.acks == []
    assert not layer.servers  # Timer I ended it


def test_invite_server_gives_up_after_timer_h() -> None:
    timers, wire, core, layer = setup()
    layer.receive(request(), UDP)
    txn, invite = core.requests[0]
    txn.respond(make_response(invite, 404, to_tag="x"))
    timers.advance(31.9)
    assert layer.servers
    timers.advance(0.2)
    assert not layer.servers
    # Timer G at 0.5, 1.5, 3.5, 7.5, then every T2 (4 s) up to 31.5: ten retransmissions.
    assert wire.statuses().count(404) == 11


def test_non_invite_server_answers_retransmissions_and_ends_after_timer_j() -> None:
    timers, wire, core, layer = setup()
    layer.receive(request("REGISTER"), UDP)
    txn, register = core.requests[0]
    txn.respond(make_response(register, 200))
    layer.receive(request("REGISTER"), UDP)
    assert wire.statuses() == [200, 200] and len(core.requests) == 1
    assert not layer.servers and len(layer.completed) == 1  # only the response is kept
    timers.advance(31.9)
    layer.receive(request("REGISTER"), UDP)  # still within Timer J: absorbed
    assert wire.statuses() == [200, 200, 200] and len(core.requests) == 1
    timers.advance(0.3)
    assert not layer.servers and not layer.completed
    layer.receive(request("REGISTER"), UDP)  # after Timer J: a new transaction
    assert len(core.requests) == 2


def test_reliable_transport_needs_no_retransmission_and_ends_at_once() -> None:
    timers, wire, core, layer = setup()
    layer.receive(request("REGISTER"), TCP)
    txn, register = core.requests[0]
    txn.respond(make_response(register, 200))
    timers.advance(0)
    assert not layer.servers and wire.sent[0][1] == TCP


def test_response_goes_to_source_address_and_via_port_or_rport() -> None:
    _, wire, core, layer = setup()
    rport = request("OPTIONS", "z9hG4bK-r")
    rport.headers.set("Via", "SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bK-r;rport")
    layer.receive(rport, UDP)
    core.requests[0][0].respond(make_response(core.requests[0][1], 200))
    plain = request("OPTIONS", "z9hG4bK-p")
    plain.headers.set("Via", "SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bK-p")
    layer.receive(plain, UDP)
    core.requests[1][0].respond(make_response(core.requests[1][1], 200))
    assert [peer for _, peer in wire.sent] == [UDP, Peer("udp", "127.0.0.1", 5070)]


def test_invite_client_retransmits_with_timer_a_and_times_out_with_b() -> None:
    timers, wire, core, layer = setup()
    layer.client(request(), UDP, core)
    timers.advance(0.5 + 1 + 2 + 4)
    assert wire.methods() == ["INVITE"] * 5
    timers.advance(32)
    assert core.timeouts == 1 and not layer.clients


def test_invite_client_stops_on_provisional_and_acks_a_failure() -> None:
    timers, wire, core, layer = setup()
    invite = request()
    layer.client(invite, UDP, core)
    layer.receive(make_response(invite, 180, to_tag="t"), UDP)
    timers.advance(10)
    assert wire.methods() == ["INVITE"]
    failure = make_response(invite, 486, to_tag="t")
    layer.receive(failure, UDP)
    layer.receive(failure, UDP)  # retransmitted: ACKed again, reported once
    assert wire.methods() == ["INVITE", "ACK", "ACK"] and core.responses == [180, 486]
    ack = wire.sent[1][0]
    assert isinstance(ack, Request) and ack.cseq.seq == 1 and ack.to.tag == "t"
    assert ack.via[0].branch == invite.via[0].branch
    timers.advance(33)
    assert not layer.clients and core.timeouts == 0


def test_invite_client_passes_every_2xx_while_accepted() -> None:
    timers, _, core, layer = setup()
    invite = request()
    layer.client(invite, UDP, core)
    ok = make_response(invite, 200, to_tag="t")
    layer.receive(ok, UDP)
    layer.receive(ok, UDP)
    assert core.responses == [200, 200]
    timers.advance(32.1)  # Timer M
    layer.receive(ok, UDP)
    assert core.stray and core.responses == [200, 200]


def test_non_invite_client_timer_e_caps_at_t2_and_f_times_out() -> None:
    timers, wire, core, layer = setup()
    layer.client(request("OPTIONS"), UDP, core)
    timers.advance(0.5 + 1 + 2 + 4 + 4 + 4)
    assert wire.methods().count("OPTIONS") == 7
    timers.advance(20)
    assert core.timeouts == 1


def test_cancel_finds_its_invite_and_a_2xx_ack_goes_to_the_core() -> None:
    _, _, core, layer = setup()
    invite = request()
    layer.receive(invite, UDP)
    cancel = request("CANCEL")
    assert layer.invite_server_for(cancel) is core.requests[0][0]
    ack = request("ACK", "z9hG4bK-other", cseq=1)
    layer.receive(ack, UDP)
    assert core.acks == [ack]


def test_rfc2543_requests_without_magic_cookie_still_match() -> None:
    _, wire, core, layer = setup()
    old = request("OPTIONS", "xyz")
    layer.receive(old, UDP)
    core.requests[0][0].respond(make_response(old, 200))
    layer.receive(request("OPTIONS", "xyz"), UDP)
    assert len(core.requests) == 1 and wire.statuses() == [200, 200]


def test_state_is_bounded() -> None:
    timers, wire, core, _ = setup()
    layer = TransactionLayer(wire, timers, core, max_transactions=2)
    for n in range(3):
        layer.receive(request("OPTIONS", f"z9hG4bK-{n}"), UDP)
    assert len(core.requests) == 2 and wire.statuses() == [503]


def test_a_ringing_invite_outlives_timer_b_and_its_answer_goes_through() -> None:
    # RFC 3261 §17.1.1.2: Timer B only fires in Calling; a provisional response stops it.
    timers, wire, core, layer = setup()
    invite = request()
    layer.client(invite, UDP, core)
    layer.receive(make_response(invite, 180, to_tag="t"), UDP)
    timers.advance(40)
    assert core.timeouts == 0 and layer.clients and wire.methods() == ["INVITE"]
    layer.receive(make_response(invite, 200, to_tag="t"), UDP)
    assert core.responses == [180, 200]


def test_a_provisional_does_not_stop_timer_f() -> None:
    timers, _, core, layer = setup()
    options = request("OPTIONS")
    layer.client(options, UDP, core)
    layer.receive(make_response(options, 100), UDP)
    timers.advance(32.1)
    assert core.timeouts == 1 and not layer.clients


def test_a_parked_answer_is_kept_as_its_bytes_and_resent_as_they_are() -> None:
    timers, wire, core = FakeTimers(), Wire(), Core()
    sent: list[tuple[bytes, Peer]] = []
    layer = TransactionLayer(wire, timers, core, send_bytes=lambda d, p: sent.append((d, p)))
    layer.receive(request("REGISTER", cseq=2), UDP)
    txn, req = core.requests[0]
    txn.respond(make_response(req, 200, to_tag="t"))
    assert not wire.sent and len(sent) == 1 and sent[0][0].startswith(b"SIP/2.0 200 OK")
    assert isinstance(next(iter(layer.completed.items.values()))[0], bytes)
    layer.receive(request("REGISTER", cseq=2), UDP)  # retransmitted: the same bytes again
    assert sent[1] == sent[0] and len(core.requests) == 1
    timers.advance(33)
    assert not layer.completed


def test_an_accepted_invite_keeps_only_the_headers_it_still_reads() -> None:
    _, _, core, layer = setup()
    invite = request()
    invite.body = b"v=0\r\n" * 100
    invite.headers.add("Contact", "<sip:101@127.0.0.1:5062>")
    invite.headers.add("User-Agent", "x" * 500)
    layer.receive(invite, UDP)
    txn, req = core.requests[0]
    txn.respond(make_response(req, 200, to_tag="t"))
    assert txn.request.body == b"" and txn.request.headers.get("user-agent") is None
    assert txn.request.call_id == "c1" and str(txn.request.contacts[0].uri).startswith("sip:101")
    assert req.body  # the TU's own reference to the INVITE is untouched


def test_an_accepted_invite_server_is_an_entry_that_absorbs_and_hands_acks_up() -> None:
    timers, wire, core, layer = setup()
    layer.receive(request(), UDP)
    txn, invite = core.requests[0]
    txn.respond(make_response(invite, 200, to_tag="t"))
    assert not layer.servers and len(layer.settled) == 1  # the object is the TU's alone
    layer.receive(request(), UDP)  # a retransmitted INVITE: swallowed, no new request
    layer.receive(request("ACK"), UDP)  # an ACK matching the INVITE (RFC 2543 style): up
    assert len(core.requests) == 1 and wire.statuses() == [200] and len(core.acks) == 1
    txn.respond(make_response(invite, 200, to_tag="t"))  # the TU's 2xx retransmission
    assert wire.statuses() == [200, 200]
    timers.advance(32.2)  # Timer L
    assert not layer.settled
    layer.receive(request(), UDP)
    assert len(core.requests) == 2


def test_a_confirmed_invite_server_and_a_completed_client_only_absorb() -> None:
    timers, wire, core, layer = setup()
    layer.receive(request(), UDP)
    txn, invite = core.requests[0]
    txn.respond(make_response(invite, 407, to_tag="t"))
    layer.receive(request("ACK"), UDP)
    assert not layer.servers and len(layer.settled) == 1
    layer.receive(request("ACK"), UDP)
    layer.receive(request(), UDP)
    assert wire.statuses() == [407] and len(core.requests) == 1 and not core.acks
    bye = request("BYE", "z9hG4bK-bye", cseq=2)
    layer.client(bye, UDP, core)
    ok = make_response(bye, 200)
    layer.receive(ok, UDP)
    layer.receive(ok, UDP)  # a retransmission: absorbed, neither stray nor passed up again
    assert core.responses == [200] and not core.stray and not layer.clients
    timers.advance(32.2)
    layer.receive(ok, UDP)
    assert core.stray and not layer.settled and not layer.settled_clients


def test_settled_entries_are_bounded() -> None:
    timers, wire, core, _ = setup()
    layer = TransactionLayer(wire, timers, core, max_transactions=4)
    layer.settled.cap = 3
    for n in range(5):
        layer.receive(request(branch=f"z9hG4bK-{n}"), UDP)
        txn, invite = core.requests[-1]
        txn.respond(make_response(invite, 200, to_tag="t"))
    assert len(layer.settled) == 3 and not layer.servers
