"""Outside calls with real softphones and real audio: baresip as the employee's phone
(registered to the daemon) and baresip as the outside party behind an IP-authenticated
connection on 127.0.0.2. The SDP passes end to end through the B2BUA's two dialogs, so the
440 Hz sine each side sends must reach the other (``sndfile`` writes what each decoded)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.callplan.model import Server
from appliance.config import load
from appliance.directory.office import CallPlanDirectory
from appliance.store import open_store
from tests.integration.conftest import RunningDaemon, appliance_json
from tests.integration.sip_helpers import (
    add_accounts,
    address,
    bindings_of,
    need,
    sip_config,
    start_sip_daemon,
    wait_until,
)
from tests.integration.test_calls_outside import CARRIER_HOST, DID, free_port_on
from tests.integration.test_sip_baresip import Baresip

pytestmark = pytest.mark.integration


@pytest.fixture
def office(tmp_path: Path) -> Iterator[tuple[RunningDaemon, Baresip, Baresip, Path]]:
    """102's baresip phone and the outside party's baresip; the office number rings 102."""
    need("baresip")
    config = sip_config(tmp_path, "")
    accounts = add_accounts(config, "102", receive="app", permission="international")
    outside_port = free_port_on(CARRIER_HOST)
    store = open_store(load(config, {}).store.url, create=False)
    try:
        plan = CallPlanDirectory(store, actor="test")
        plan.add_connection("carrier", kind="ip", servers=[Server(CARRIER_HOST, outside_port)],
                            allowed_sources=[f"{CARRIER_HOST}/32"], caller_id=DID,
                            number_format="intl_digits")
        plan.add_number(DID, "carrier", "extension:102", contacts_map=False)
    finally:
        store.dispose()
    daemon = start_sip_daemon(config)
    started: list[Baresip] = []
    try:
        started.append(Baresip(tmp_path / "baresip-102", accounts["102"], address(daemon)))
        started.append(Baresip(tmp_path / "baresip-outside", None, address(daemon),
                               host=CARRIER_HOST, sip_port=outside_port, user="84912345678"))
        assert wait_until(lambda: len(bindings_of(config)) == 1, timeout=15), \
            started[0].output()
        yield daemon, started[0], started[1], config
    finally:
        for phone in started:
            phone.stop()
        daemon.stop()


def _talk(caller: Baresip, callee: Baresip, uri: str) -> None:
    caller.command("dial", uri)
    callee.event("CALL_INCOMING")
    callee.command("accept")
    caller.event("CALL_ESTABLISHED")
    callee.event("CALL_ESTABLISHED")
    time.sleep(1.5)  # let audio flow: the check below is on content, not on timing
    callee.command("hangup")
    caller.event("CALL_CLOSED")
    time.sleep(0.3)


def test_an_outside_caller_and_the_phone_hear_each_other(
        office: tuple[RunningDaemon, Baresip, Baresip, Path]) -> None:
    daemon, phone, outside, config = office
    host, port = address(daemon)
    _talk(outside, phone, f"sip:{DID.lstrip('+')}@{host}:{port}")
    assert outside.decoded_peak() > 1000 and phone.decoded_peak() > 1000
    assert wait_until(lambda: any(r["direction"] == "inbound" and r["answered_by"] == "102"
                                  for r in appliance_json(config, "calls")), 5)
    assert "Traceback" not in daemon.log()


def test_the_phone_calls_out_and_both_hear_each_other(
        office: tuple[RunningDaemon, Baresip, Baresip, Path]) -> None:
    daemon, phone, outside, config = office
    host, port = address(daemon)
    _talk(phone, outside, f"sip:0912345678@{host}:{port}")
    assert outside.decoded_peak() > 1000 and phone.decoded_peak() > 1000
    assert wait_until(lambda: any(r["direction"] == "outbound" and r["outcome"] == "answered"
                                  for r in appliance_json(config, "calls")), 5)
