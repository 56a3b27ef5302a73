"""Trunk registrations kept in step with the store's connections (``calls/trunk_manager``),
on a fake SIP part and a fake DNS: the mapping of a connection onto a ``TrunkTarget`` (or
why not), start at start, restart on a change that matters only, stop on removal or a change
of kind, a server by name registering once DNS knows it (failing with why until then), TLS
addresses pinned and opened before a REGISTER, and the statuses published in
``connection_status`` without a secret."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from appliance.callplan.model import Connection, Server
from appliance.calls.registration import TrunkRegistration
from appliance.calls.trunk_manager import TrunkManager, target_of
from appliance.config import SipConfig
from appliance.directory import trunk_status
from appliance.directory.office import CallPlanDirectory
from appliance.events import Event
from appliance.sip.locate import Address
from appliance.sip.message import Request, Response
from appliance.sip.transaction import Peer, ServerTransaction, TransactionLayer
from appliance.store import Store
from appliance.workers import Workers
from tests.unit.dns_fakes import FakeDns
from tests.unit.sip_fakes import FakeTimers, Wire

SECRET = "Trunk-s3cret-pw"


class NoCore:
    def on_request(self, txn: ServerTransaction, request: Request) -> None:
        raise AssertionError("unexpected request")

    def on_ack(self, request: Request, peer: Peer) -> None:
        raise AssertionError("unexpected ACK")

    def on_stray_response(self, response: Response, peer: Peer) -> None:
        return None


@dataclass
class FakeStreams:
    """The transport's pins and the TLS streams opened (``refuse``: why a peer's fails)."""

    pins: dict[Peer, tuple[str, ssl.SSLContext]] = field(default_factory=dict)
    opened: list[Peer] = field(default_factory=list)
    refuse: dict[Peer, str] = field(default_factory=dict)

    def pin(self, peers: Mapping[Peer, tuple[str, ssl.SSLContext]]) -> None:
        self.pins = dict(peers)

    async def open(self, peer: Peer) -> str | None:
        assert peer in self.pins, "a TLS peer is opened only once pinned"
        self.opened.append(peer)
        return self.refuse.get(peer)


@dataclass
class FakeSip:
    """The SIP part as the manager sees it; a stop is over at once (no provider here)."""

    timers: FakeTimers = field(default_factory=FakeTimers)
    wire: Wire = field(default_factory=Wire)
    started: list[TrunkRegistration] = field(default_factory=list)
    stopped: list[TrunkRegistration] = field(default_factory=list)
    cfg: SipConfig = field(default_factory=SipConfig)
    transport: FakeStreams = field(default_factory=FakeStreams)

    def __post_init__(self) -> None:
        self.layer = TransactionLayer(self.wire, self.timers, NoCore())

    def sent_by(self, transport: str, toward: str) -> tuple[str, int]:
        return "127.0.0.1", 5060

    def start_registration(self, registration: TrunkRegistration) -> None:
        self.started.append(registration)
        registration.start()

    def stop_registration(self, registration: TrunkRegistration) -> asyncio.Future[None]:
        self.stopped.append(registration)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


def conn(**fields: object) -> Connection:
    values: dict[str, object] = {"id": 1, "name": "viettel", "kind": "register",
                                 "servers": (Server("203.0.113.5", 5070),),
                                 "username": "8428", "password": SECRET, **fields}
    return Connection(**values)  # type: ignore[arg-type]


def test_a_connection_maps_onto_a_trunk_target_or_says_why_not() -> None:
    target = target_of(conn(domain="trunk.test", auth_username="auth1", expires=120,
                            servers=(Server("203.0.113.5", 5070, "tcp"),
                                     Server("203.0.113.6"))))
    assert not isinstance(target, str)
    assert target.domain == "trunk.test" and target.auth_username == "auth1"
    assert target.expires == 120 and target.password == SECRET
    assert [str(s) for s in target.servers] == ["tcp:203.0.113.5:5070", "udp:203.0.113.6:5060"]
    plain = target_of(conn())
    assert not isinstance(plain, str) and plain.domain == "203.0.113.5"
    assert plain.auth_username == "" and plain.expires == 3600
    named = target_of(conn(servers=(Server("sip.provider.example", 0, "tls"),)))
    assert not isinstance(named, str) and named.domain == "sip.provider.example"
    assert [str(s) for s in named.servers] == ["tls:sip.provider.example:0"]
    assert named.literal_addresses is None and plain.literal_addresses is not None
    missing = target_of(conn(username=None))
    assert isinstance(missing, str) and "username" in missing and SECRET not in missing


def run(store: Store, scenario: Callable[[TrunkManager, FakeSip], object],
        dns: FakeDns | None = None) -> None:
    async def main() -> None:
        sip = FakeSip()
        workers = Workers("test-trunks", 1)
        manager = TrunkManager(sip, store, workers, clock=sip.timers.clock,  # type: ignore[arg-type]
                               dns=dns or FakeDns())
        try:
            await manager.start()
            await scenario(manager, sip)  # type: ignore[misc]
        finally:
            await manager.stop()
            workers.close()
    asyncio.run(main())


async def settle(manager: TrunkManager, check: Callable[[], bool]) -> None:
    """Let the follower and the writer run until ``check`` holds (bounded)."""
    for _ in range(200):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("did not settle")


def test_registrations_follow_the_store(store: Store) -> None:
    plan = CallPlanDirectory(store, actor="test")
    plan.add_connection("viettel", "register", [Server("203.0.113.5", 5070)],
                        username="8428", password=SECRET)
    plan.add_connection("named", "register", [Server("sip.provider.example", 5080)],
                        username="u1", password="named-pw")
    plan.add_connection("pbx", "ip", [Server("192.0.2.9")], allowed_sources=["192.0.2.9"])
    event = Event(0, "connection.updated", {}, None)  # type: ignore[arg-type]
    dns = FakeDns()

    async def scenario(manager: TrunkManager, sip: FakeSip) -> None:
        assert sorted(manager.running) == ["named", "viettel"]
        await settle(manager, lambda: len(trunk_status.read(store)) == 2
                     and trunk_status.read(store)["named"].state == "failing")
        assert sip.wire.methods() == ["REGISTER"]  # viettel's: the name has no address
        rows = trunk_status.read(store)
        assert rows["viettel"].state == "registering"
        assert rows["viettel"].server == "udp:203.0.113.5:5070"
        assert rows["named"].last_answer == "the name sip.provider.example does not resolve"
        assert rows["named"].next_at is not None and rows["named"].server is None
        # DNS learns the name: the lookup after the backoff finds it, and it registers there.
        dns.a("sip.provider.example", "203.0.113.8")
        manager.servers.failover_floor = 0.0
        manager.servers.failed(manager.running["named"].target.servers)
        await settle(manager, lambda: len(sip.wire.methods()) == 2)
        message, peer = sip.wire.sent[-1]
        assert (peer.host, peer.port) == ("203.0.113.8", 5080)
        assert "sip:u1@sip.provider.example" in str(message.headers.get("from"))
        assert manager.resolved(plan.get_connection("named")) == [
            Address("203.0.113.8", 5080, "udp", "sip.provider.example")]
        first = manager.running["viettel"]
        # A change the registration does not depend on: nothing restarts.
        plan.update_connection("viettel", max_calls=3)
        manager.on_event(event)
        await asyncio.sleep(0.1)
        assert manager.running["viettel"] is first and sip.stopped == []
        # A new password: the old one stopped (un-REGISTER), a new one started.
        plan.update_connection("viettel", password="An0ther-pw")
        manager.on_event(event)
        await settle(manager, lambda: manager.running["viettel"] is not first)
        assert sip.stopped == [first] and manager.running["viettel"].target.password == "An0ther-pw"
        # Given an address instead: restarted there; made an ip connection: it stops.
        named = manager.running["named"]
        plan.update_connection("named", servers=[Server("203.0.113.7")])
        manager.on_event(event)
        await settle(manager, lambda: manager.running["named"] is not named)
        assert manager.invalid == {}
        plan.update_connection("named", kind="ip", allowed_sources=["203.0.113.7"])
        manager.on_event(event)
        await settle(manager, lambda: "named" not in manager.running)
        await settle(manager, lambda: "named" not in trunk_status.read(store))
        plan.remove_connection("viettel")
        manager.on_event(event)
        await settle(manager, lambda: trunk_status.read(store) == {})
        assert manager.running == {}
        text = " ".join(str(s) for s in sip.wire.sent) + repr(manager.running)
        assert SECRET not in text

    run(store, scenario, dns)


def test_stop_writes_the_last_status(store: Store) -> None:
    CallPlanDirectory(store).add_connection("viettel", "register", [Server("203.0.113.5")],
                                            username="8428", password=SECRET)

    async def scenario(manager: TrunkManager, sip: FakeSip) -> None:
        registration = manager.running["viettel"]
        registration.stop()  # what the SIP part's stop does
        sip.timers.advance(40)  # the REGISTER in flight times out; no binding to remove
        assert registration.status.state == "stopped"

    run(store, scenario)
    assert trunk_status.read(store)["viettel"].state == "stopped"
