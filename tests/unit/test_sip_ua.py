"""The user-agent side on a fake clock: digest answers, the INVITE 2xx's ACK, 2xx retransmission."""

from __future__ import annotations

from dataclasses import dataclass, field

from appliance.sip.auth import DigestAuth
from appliance.sip.dialog import Dialog
from appliance.sip.message import Request, Response, make_request, make_response
from appliance.sip.transaction import Peer, ServerTransaction, TransactionLayer
from appliance.sip.ua import Accepted, ClientRequest, Credentials
from tests.unit.sip_fakes import FakeTimers, Wire

TRUNK = Peer("udp", "127.0.0.1", 5080)
PROXY = Peer("udp", "127.0.0.9", 5060)


@dataclass
class Seen:
    """An Outcome that records what it was told."""

    provisional: list[int] = field(default_factory=list)
    finals: list[tuple[int, Dialog | None]] = field(default_factory=list)
    timeouts: int = 0

    def on_provisional(self, response: Response) -> None:
        self.provisional.append(response.status)

    def on_final(self, response: Response, dialog: Dialog | None) -> None:
        self.finals.append((response.status, dialog))

    def on_timeout(self) -> None:
        self.timeouts += 1


class NoCore:
    """A transaction user that is never reached in these tests."""

    def on_request(self, txn: ServerTransaction, request: Request) -> None:
        raise AssertionError("unexpected request")

    def on_ack(self, request: Request, peer: Peer) -> None:
        raise AssertionError("unexpected ACK")

    def on_stray_response(self, response: Response, peer: Peer) -> None:
        return None


def setup() -> tuple[FakeTimers, Wire, TransactionLayer]:
    timers, wire = FakeTimers(), Wire()
    return timers, wire, TransactionLayer(wire, timers, NoCore())


def outgoing(method: str = "REGISTER") -> Request:
    return make_request(method, "sip:trunk.test", via="SIP/2.0/UDP 127.0.0.1:5060;branch="
                        "z9hG4bK-first;rport", from_="<sip:office@trunk.test>;tag=ours",
                        to="<sip:office@trunk.test>" if method == "REGISTER" else
                        "<sip:84901234567@trunk.test>", call_id="call-1", cseq=7,
                        contact="<sip:office@127.0.0.1:5060>")


def last_request(wire: Wire) -> Request:
    sent = [m for m, _ in wire.sent if isinstance(m, Request)]
    return sent[-1]


def test_a_401_is_answered_once_with_credentials_the_server_accepts() -> None:
    timers, wire, layer = setup()
    server = DigestAuth("trunk.test", clock=timers.clock)
    seen = Seen()
    ClientRequest(layer, outgoing(), TRUNK, seen,
                  credentials=Credentials("office", "s3cret-pass")).start()
    first = last_request(wire)
    layer.receive(make_response(first, 401, to_tag="t1", headers=[
        ("WWW-Authenticate", value) for value in server.challenge()]), TRUNK)
    retry = last_request(wire)
    assert retry is not first and retry.cseq.seq == 8 and retry.call_id == "call-1"
    assert retry.top_via.branch != first.top_via.branch
    assert retry.from_.tag == "ours"
    result = server.verify(retry, "authorization",
                           lambda user: "s3cret-pass" if user == "office" else None)
    assert result.ok and "algorithm=SHA-256" in (retry.headers.get("authorization") or "")
    layer.receive(make_response(retry, 200, to_tag="t1"), TRUNK)
    assert seen.finals == [(200, None)]


def test_a_wrong_password_ends_at_the_second_challenge() -> None:
    timers, wire, layer = setup()
    server = DigestAuth("trunk.test", clock=timers.clock)
    seen = Seen()
    ClientRequest(layer, outgoing(), TRUNK, seen, credentials=Credentials("office", "x")).start()
    for _ in range(2):
        layer.receive(make_response(last_request(wire), 401, to_tag="t", headers=[
            ("WWW-Authenticate", v) for v in server.challenge()]), TRUNK)
    assert seen.finals == [(401, None)]
    assert wire.methods().count("REGISTER") == 2


def test_a_stale_nonce_is_answered_again() -> None:
    timers, wire, layer = setup()
    server = DigestAuth("trunk.test", clock=timers.clock)
    seen = Seen()
    ClientRequest(layer, outgoing(), TRUNK, seen, credentials=Credentials("office", "x")).start()
    layer.receive(make_response(last_request(wire), 401, to_tag="t", headers=[
        ("WWW-Authenticate", v) for v in server.challenge()]), TRUNK)
    layer.receive(make_response(last_request(wire), 401, to_tag="t", headers=[
        ("WWW-Authenticate", v) for v in server.challenge(stale=True)]), TRUNK)
    assert wire.methods().count("REGISTER") == 3 and not seen.finals


def test_without_credentials_a_challenge_is_final() -> None:
    _, wire, layer = setup()
    seen = Seen()
    ClientRequest(layer, outgoing("INVITE"), TRUNK, seen).start()
    layer.receive(make_response(last_request(wire), 407, to_tag="t", headers=[
        ("Proxy-Authenticate", 'Digest realm="t", nonce="n", qop="auth"')]), TRUNK)
    assert [status for status, _ in seen.finals] == [407]


def answer(invite: Request, status: int, tag: str) -> Response:
    return make_response(invite, status, to_tag=tag, headers=[
        ("Contact", f"<sip:callee-{tag}@127.0.0.1:5090>"),
        ("Record-Route", "<sip:127.0.0.9:5060;lr>")])


def test_invite_2xx_is_acknowledged_through_the_dialog_route_retransmissions_too() -> None:
    _, wire, layer = setup()
    seen = Seen()
    resolved = []

    def resolve(uri: object) -> Peer:
        resolved.append(str(uri))
        return PROXY

    ClientRequest(layer, outgoing("INVITE"), TRUNK, seen, resolve=resolve).start()
    invite = last_request(wire)
    layer.receive(answer(invite, 180, "b1"), TRUNK)
    layer.receive(answer(invite, 200, "b1"), TRUNK)
    ack, peer = wire.sent[-1]
    assert isinstance(ack, Request) and ack.method == "ACK" and peer == PROXY
    assert ack.cseq.seq == invite.cseq.seq and ack.to.tag == "b1"
    assert str(ack.uri) == "sip:callee-b1@127.0.0.1:5090"
    assert [str(r.uri) for r in ack.routes] == ["sip:127.0.0.9:5060;lr"]
    assert ack.top_via.branch != invite.top_via.branch
    assert seen.provisional == [180]
    assert len(seen.finals) == 1 and seen.finals[0][1] is not None
    assert seen.finals[0][1].remote_tag == "b1"
    layer.receive(answer(invite, 200, "b1"), TRUNK)  # retransmitted: the same ACK again
    assert wire.sent[-1][0] is ack and len(seen.finals) == 1


def test_a_second_fork_answering_is_acknowledged_and_hung_up() -> None:
    _, wire, layer = setup()
    seen = Seen()
    ClientRequest(layer, outgoing("INVITE"), TRUNK, seen).start()
    invite = last_request(wire)
    layer.receive(answer(invite, 200, "b1"), TRUNK)
    layer.receive(answer(invite, 200, "b2"), TRUNK)
    assert wire.methods()[-3:] == ["ACK", "ACK", "BYE"]
    bye = last_request(wire)
    assert bye.to.tag == "b2" and len(seen.finals) == 1


def test_no_answer_times_out() -> None:
    timers, _, layer = setup()
    seen = Seen()
    ClientRequest(layer, outgoing(), TRUNK, seen).start()
    timers.advance(33)
    assert seen.timeouts == 1 and not seen.finals


def incoming_invite(peer: Peer) -> tuple[TransactionLayer, FakeTimers, Wire, ServerTransaction]:
    timers, wire = FakeTimers(), Wire()
    txns: list[ServerTransaction] = []

    class Core(NoCore):
        def on_request(self, txn: ServerTransaction, request: Request) -> None:
            txns.append(txn)

    layer = TransactionLayer(wire, timers, Core())
    layer.receive(make_request("INVITE", "sip:office@127.0.0.1", via=f"SIP/2.0/{peer.transport} "
                               f"{peer.host}:{peer.port};branch=z9hG4bK-in",
                               from_="<sip:caller@trunk.test>;tag=c", to="<sip:office@box>",
                               call_id="in-1", cseq=3, contact="<sip:caller@127.0.0.1:5080>"),
                  peer)
    return layer, timers, wire, txns[0]


def test_uas_2xx_is_retransmitted_doubling_to_t2_until_the_ack() -> None:
    layer, timers, wire, txn = incoming_invite(TRUNK)
    gave_up = []
    accepted = Accepted(layer, txn, make_response(txn.request, 200, to_tag="us"),
                        lambda: gave_up.append(True))
    timers.advance(0.5 + 1.0 + 2.0 + 4.0 + 4.0 + 0.01)  # T1, 2T1, 4T1, then T2 twice
    assert wire.statuses() == [200] * 6
    ack = make_request("ACK", "sip:office@127.0.0.1", via="SIP/2.0/UDP 127.0.0.1:5080;branch="
                       "z9hG4bK-ack", from_="<sip:caller@trunk.test>;tag=c",
                       to="<sip:office@box>;tag=us", call_id="in-1", cseq=3)
    assert not accepted.ack(make_request("ACK", "sip:x@y", via="SIP/2.0/UDP 1.2.3.4;branch="
                                         "z9hG4bK-x", from_="<sip:a@b>;tag=c", to="<sip:c@d>",
                                         call_id="in-1", cseq=4))
    assert accepted.ack(ack)
    timers.advance(40)
    assert wire.statuses() == [200] * 6 and not gave_up


def test_uas_without_ack_gives_up_at_64_t1_and_tcp_is_not_retransmitted() -> None:
    layer, timers, wire, txn = incoming_invite(Peer("tcp", "127.0.0.1", 40000))
    gave_up = []
    Accepted(layer, txn, make_response(txn.request, 200, to_tag="us"),
             lambda: gave_up.append(True))
    timers.advance(31.9)
    assert wire.statuses() == [200] and not gave_up
    timers.advance(0.2)
    assert gave_up == [True]
