"""Connections whose servers are names, resolved by a real DNS server: all inside a network
namespace of this test (only its loopback), so no query ever reaches a real DNS server.

dnsmasq (Debian's dnsmasq-base) on the namespace's 127.0.0.1:53 with ``--no-resolv
--no-hosts`` and only this test's records: ``provider.test`` has two SRV targets,
sip1 (priority 10, 127.0.0.2:5070) and sip2 (priority 20, 127.0.0.3:5080), and
``secure.provider.test`` a ``_sips._tcp`` target (127.0.0.3:5081). ``/etc/netns/NS/resolv.conf``
points at it (``ip netns exec`` bind-mounts it over /etc/resolv.conf) and is removed after.
Kamailio (the carrier config of test_trunk_registration.py) runs as sip1 and as sip2 (sip2
also with TLS, its certificate for secure.provider.test from a test CA), and the appliance
daemon runs in the namespace too, with ``sip.trunk_ca_file`` that CA; connections are added
with the CLI, their status read back with ``trunk show --json``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import RunningDaemon, appliance, start_daemon, write_config
from tests.integration.netns import can_make_namespaces
from tests.integration.test_trunk_cli import cli
from tests.integration.test_trunk_registration import DOMAIN, USERS, Carrier
from tests.integration.trunk_peers import (
    Authority,
    have,
    need_kamailio,
    start_kamailio,
    stop_kamailio,
)

pytestmark = pytest.mark.integration

SIP1 = ("127.0.0.2", 5070)
SIP2 = ("127.0.0.3", 5080)
SIP2_TLS = 5081
RECORDS = [
    "--srv-host=_sip._udp.provider.test,sip1.provider.test,5070,10,10",
    "--srv-host=_sip._udp.provider.test,sip2.provider.test,5080,20,10",
    "--host-record=sip1.provider.test,127.0.0.2",
    "--host-record=sip2.provider.test,127.0.0.3",
    "--srv-host=_sips._tcp.secure.provider.test,tls.provider.test,5081,10,10",
    "--host-record=tls.provider.test,127.0.0.3",
]


@dataclass
class Office:
    """The namespace, its DNS, carriers and daemon."""

    namespace: str
    config: Path
    daemon: RunningDaemon
    carriers: dict[str, Carrier]
    dns_log: Path


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:
    reason = can_make_namespaces()
    if reason:
        pytest.skip(reason)
    dnsmasq = have("dnsmasq")
    need_kamailio(tls=True)
    folder = tmp_path_factory.mktemp("trunk-dns")
    namespace = f"apl-dns-{uuid.uuid4().hex[:6]}"
    etc = Path("/etc/netns") / namespace
    wrap = ["ip", "netns", "exec", namespace]
    started: list[subprocess.Popen[bytes]] = []
    carriers: dict[str, Carrier] = {}
    daemon: RunningDaemon | None = None
    _run("ip", "netns", "add", namespace)
    try:
        _run("ip", "-n", namespace, "link", "set", "lo", "up")
        etc.mkdir(parents=True)
        (etc / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:2\n")
        dns_log = folder / "dnsmasq.log"
        started.append(subprocess.Popen(
            [*wrap, dnsmasq, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
             "--no-hosts", "--no-poll", "--bind-interfaces", "--listen-address=127.0.0.1",
             "--port=53", "--user=root", f"--pid-file={folder / 'dnsmasq.pid'}",
             "--log-queries", f"--log-facility={dns_log}", "--local=/test/",
             "--local-ttl=30", *RECORDS], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 10
        while "started" not in (dns_log.read_text() if dns_log.exists() else ""):
            assert started[0].poll() is None, "dnsmasq exited"
            assert time.monotonic() < deadline, "dnsmasq did not start"
            time.sleep(0.05)
        ca = Authority.make(folder, "test-ca")
        cert, key = ca.issue(folder, "secure", ["secure.provider.test"])
        carriers["sip1"] = start_kamailio(folder / "sip1", *SIP1, wrap=wrap)
        carriers["sip2"] = start_kamailio(folder / "sip2", *SIP2, wrap=wrap,
                                          tls=[(SIP2_TLS, cert, key)])
        config = write_config(folder, web=False, sip=True, sip_listen="127.0.0.1:0",
                              sip_extra=f'tcp_listen = "127.0.0.1:0"\ntrunk_ca_file = "{ca.pem}"')
        appliance(config, "init")
        daemon = start_daemon(config, env={**os.environ, "NOTIFY_SOCKET": ""}, wrap=wrap)
        yield Office(namespace, config, daemon, carriers, dns_log)
    finally:
        if daemon is not None:
            daemon.stop()
        for carrier in carriers.values():
            stop_kamailio(carrier)
        for process in started:
            process.terminate()
            process.wait(10)
        shutil.rmtree(etc, ignore_errors=True)
        subprocess.run(["ip", "netns", "delete", namespace], check=False, timeout=30)


def add(office: Office, name: str, server: str, user_key: str) -> str:
    user, password = USERS[user_key]
    cli(office.config, "trunk", "add", name, "--server", server, "--username", user,
        "--domain", DOMAIN, "--expires", "60", "--password-stdin", stdin=password + "\n")
    return user


def wait_for(office: Office, name: str, check: str, seconds: float) -> dict[str, Any]:
    """``trunk show NAME --json`` once its registration's state or server is ``check``."""
    deadline = time.monotonic() + seconds
    while True:
        shown: dict[str, Any] = json.loads(
            cli(office.config, "trunk", "show", name, "--json").stdout)
        registration = shown["registration"] or {}
        if check in (registration.get("state"), registration.get("server")):
            return shown
        if time.monotonic() > deadline:
            raise AssertionError(f"{name}: not {check} within {seconds} s: {shown}\n"
                                 + office.daemon.log()[-3000:])
        time.sleep(0.3)


def test_a_name_that_does_not_resolve_is_failing_and_says_so(office: Office) -> None:
    add(office, "ghost", "nowhere.provider.test:5060", "wrong")
    shown = wait_for(office, "ghost", "failing", 15)
    assert shown["registration"]["last_answer"] == \
        "the name nowhere.provider.test does not resolve"
    assert shown["status"].startswith("failing: the name nowhere.provider.test does not resolve")
    assert shown["servers"] == ["nowhere.provider.test:5060;transport=udp"]
    assert "nowhere.provider.test" in office.dns_log.read_text()  # asked our DNS, no other
    assert office.daemon.process.poll() is None


def test_tls_by_name_follows_sips_srv_and_checks_the_certificate_names_it(
        office: Office) -> None:
    user = add(office, "secure", "secure.provider.test;transport=tls", "tcp")
    shown = wait_for(office, "secure", "registered", 20)
    assert shown["registration"]["server"] == f"tls:127.0.0.3:{SIP2_TLS} (secure.provider.test)"
    assert shown["servers"] == ["secure.provider.test;transport=tls"]
    binding = office.carriers["sip2"].binding(user)
    assert "tls:127.0.0.3" in binding.lower(), binding
    assert "_sips._tcp.secure.provider.test" in office.dns_log.read_text()
    cli(office.config, "trunk", "remove", "secure")


def test_srv_picks_the_first_target_and_fails_over_to_the_second_when_it_is_down(
        office: Office) -> None:
    user = add(office, "provider", "provider.test", "refresh")
    shown = wait_for(office, "provider", "registered", 20)
    assert shown["registration"]["server"] == "udp:127.0.0.2:5070 (provider.test)"
    assert shown["servers"] == ["provider.test;transport=udp"]
    assert "trunk-" in office.carriers["sip1"].binding(user)
    assert office.carriers["sip2"].binding(user) == ""
    assert "_sip._udp.provider.test" in office.dns_log.read_text()
    # sip1 goes down: a connection to the same name gets no answer there (32 s), and
    # registers at sip2.
    stop_kamailio(office.carriers["sip1"])
    other = add(office, "provider-2", "provider.test", "failover")
    trying = wait_for(office, "provider-2", "registering", 10)
    assert trying["registration"]["server"] == "udp:127.0.0.2:5070 (provider.test)"
    moved = wait_for(office, "provider-2", "udp:127.0.0.3:5080 (provider.test)", 50)
    assert moved["registration"]["state"] == "registered"
    assert "trunk-" in office.carriers["sip2"].binding(other)
    log = office.daemon.log()
    assert "trunk provider-2: registration at udp:127.0.0.2:5070 (provider.test) failed" in log
    assert USERS["failover"][1] not in log and USERS["refresh"][1] not in log
