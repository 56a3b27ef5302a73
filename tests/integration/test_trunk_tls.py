"""Connections over TLS with the provider's certificate verified, against a real TLS peer:
Kamailio (its tls module) as the carrier on 127.0.0.1 with three TLS listeners, each with
its own certificate: one from the test CA for 127.0.0.1 (IP SAN), one from the test CA for
another name only, one from a CA the box does not trust. The SIP part runs in process with
``sip.trunk_ca_file`` the test CA, and its trunk manager registers the store's connections.

Trusted: registered over TLS (the carrier's binding says tls). Wrong name and untrusted:
failing with the reason ("certificate not trusted: ..."), and the carrier never logged a
REGISTER from that user: nothing went out, in clear or otherwise.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from appliance import config as config_mod
from appliance.calls.registration import RegistrationStatus
from appliance.directory.office import CallPlanDirectory
from appliance.events import EventBus
from appliance.routing.service import SipService, create
from appliance.service import ServiceContext
from appliance.store import Store
from tests.integration.sip_helpers import free_port
from tests.integration.test_trunk_registration import DOMAIN, USERS, Carrier
from tests.integration.trunk_peers import (
    Authority,
    need_kamailio,
    registers_of,
    start_kamailio,
    stop_kamailio,
)

pytestmark = pytest.mark.integration


class Provider:
    """The carrier, its ports by case, and the CA the box is told to trust."""

    def __init__(self, carrier: Carrier, ports: dict[str, int], ca: Path) -> None:
        self.carrier = carrier
        self.ports = ports
        self.ca = ca


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    need_kamailio(tls=True)
    folder = tmp_path_factory.mktemp("tls-carrier")
    ours = Authority.make(folder, "test-ca")
    stranger = Authority.make(folder, "stranger-ca")
    ports = {case: free_port(socket.SOCK_STREAM) for case in ("trusted", "named", "stranger")}
    certs = {"trusted": ours.issue(folder, "trusted", ["127.0.0.1"]),
             "named": ours.issue(folder, "named", ["other.provider.test"]),
             "stranger": stranger.issue(folder, "stranger", ["127.0.0.1"])}
    carrier = start_kamailio(folder / "kamailio", "127.0.0.1", free_port(), tls=[
        (ports[case], *certs[case]) for case in ("trusted", "named", "stranger")])
    try:
        yield Provider(carrier, ports, ours.pem)
    finally:
        stop_kamailio(carrier)


def run_with_sip(tmp_path: Path, store: Store, ca: Path,
                 scenario: Callable[[SipService], object]) -> None:
    """The SIP part (UDP and TCP on 127.0.0.1, no TLS listener) trusting ``ca``."""
    path = tmp_path / "appliance.toml"
    path.write_text('[sip]\nlisten = "127.0.0.1:0"\ntcp_listen = "127.0.0.1:0"\n'
                    f'trunk_ca_file = "{ca}"\n', encoding="utf-8")
    config = config_mod.load(path, {})

    async def main() -> None:
        service = create(ServiceContext(config, store, EventBus()))
        await service.start()
        try:
            await scenario(service)  # type: ignore[misc]
        finally:
            await service.stop()

    asyncio.run(main())


async def status_of(sip: SipService, name: str, state: str, seconds: float
                    ) -> RegistrationStatus:
    deadline = time.monotonic() + seconds
    while True:
        registration = sip.trunks.running.get(name)
        if registration is not None and registration.status.state == state:
            return registration.status
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} not {state} within {seconds} s: "
                                 f"{registration and registration.status}")
        await asyncio.sleep(0.05)


def add(store: Store, name: str, user_key: str, port: int) -> str:
    user, password = USERS[user_key]
    CallPlanDirectory(store, actor="test").add_connection(
        name, "register", [f"127.0.0.1:{port};transport=tls"], username=user,
        password=password, domain=DOMAIN, expires=60)
    return user


def test_a_trusted_certificate_registers_over_tls(tmp_path: Path, store: Store,
                                                  provider: Provider) -> None:
    user = add(store, "secure", "tcp", provider.ports["trusted"])

    async def scenario(sip: SipService) -> None:
        status = await status_of(sip, "secure", "registered", 10)
        assert str(status.server) == f"tls:127.0.0.1:{provider.ports['trusted']}"
        assert status.last_answer == "200 OK"
        binding = provider.carrier.binding(user)
        assert ";transport=tls" in binding and "tls:127.0.0.1" in binding.lower(), binding
        assert registers_of(provider.carrier, user) == 2  # challenged, then answered
        await asyncio.wait_for(sip.stop_registration(sip.trunks.running["secure"]), 5)
        assert provider.carrier.binding(user) == ""

    run_with_sip(tmp_path, store, provider.ca, scenario)


@pytest.mark.parametrize(("case", "user_key", "reason"), [
    ("named", "wrong", "certificate not trusted: IP address mismatch"),
    ("stranger", "failover", "certificate not trusted: unable to get local issuer certificate"),
])
def test_a_certificate_that_does_not_verify_fails_and_sends_nothing(
        tmp_path: Path, store: Store, provider: Provider, case: str, user_key: str,
        reason: str) -> None:
    user = add(store, case, user_key, provider.ports[case])

    async def scenario(sip: SipService) -> None:
        status = await status_of(sip, case, "failing", 10)
        assert status.last_answer is not None and status.last_answer.startswith(reason), status
        assert status.next_at is not None
        await asyncio.sleep(0.5)

    run_with_sip(tmp_path, store, provider.ca, scenario)
    assert registers_of(provider.carrier, user) == 0
    assert provider.carrier.binding(user) == ""
