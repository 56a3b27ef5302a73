"""Missed-call callbacks through the running daemon: SIPp as the carrier (127.0.0.2) calls
the office number while 102 has no phone registered (missed), the job is kept across a
restart of the daemon, and when due the box rings 102 (a SIPp phone answering a delayed
offer) and then the customer through the carrier (SIPp answering, then hanging up): the job
is done. A customer who calls again has their old job dropped."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.callplan.model import Server
from appliance.config import load
from appliance.directory.callbacks import CallbackDirectory
from appliance.directory.office import CallPlanDirectory
from appliance.store import open_store
from tests.integration.conftest import appliance, appliance_json
from tests.integration.sip_helpers import (
    Account,
    add_accounts,
    address,
    free_port,
    need,
    register,
    sip_config,
    start_sip_daemon,
    wait_until,
)
from tests.integration.test_calls_outside import (
    CARRIER_HOST,
    DID,
    carrier_sipp,
    finish,
    free_port_on,
    phone_sipp,
)

pytestmark = pytest.mark.integration


@pytest.fixture()
def office(tmp_path: Path) -> Iterator[tuple[Path, dict[str, Account], int]]:
    """The carrier's connection, its number ringing 102, callbacks 10 s after a miss."""
    need("sipp")
    config = sip_config(tmp_path)
    accounts = add_accounts(config, "102")
    carrier_port = free_port_on(CARRIER_HOST)
    store = open_store(load(config, {}).store.url, create=False)
    try:
        plan = CallPlanDirectory(store, actor="test")
        plan.add_connection("carrier", kind="ip", servers=[Server(CARRIER_HOST, carrier_port)],
                            allowed_sources=[f"{CARRIER_HOST}/32"], caller_id=DID,
                            number_format="intl_digits")
        plan.add_number(DID, "carrier", "extension:102", contacts_map=False, to_header=False)
    finally:
        store.dispose()
    rule = appliance_json(config, "callback", "set", DID, "--after", "10", "--attempts", "2",
                          "--every", "60")
    assert rule == {"did": DID, "delay": 10, "attempts": 2, "interval": 60}
    yield config, accounts, carrier_port


def _jobs(config: Path) -> list[dict[str, object]]:
    return list(appliance_json(config, "callback", "list"))


def test_a_missed_call_is_called_back_after_a_restart(
        office: tuple[Path, dict[str, Account], int], tmp_path: Path) -> None:
    config, accounts, carrier_port = office
    daemon = start_sip_daemon(config)
    try:
        target = address(daemon)
        missed = carrier_sipp("carrier_uac_missed.xml", target, carrier_port, tmp_path,
                              "-s", "842873001234")
        rc, err = finish(missed)
        assert rc == 0, err
        assert wait_until(lambda: _jobs(config), 5)
        job, = _jobs(config)
        assert job["customer"] == "+84909123456" and job["target"] == "extension:102"
        assert job["state"] == "pending" and job["attempts"] == 0
        phone_port = free_port()
        assert register(target, accounts["102"], port=phone_port, cwd=tmp_path
                        ).returncode == 0
    finally:
        daemon.stop()
    daemon = start_sip_daemon(config)  # the job is in the store, not in the old process
    try:
        target = address(daemon)
        phone = phone_sipp("uas_delayed.xml", target, phone_port, tmp_path, "-s", "102")
        customer = carrier_sipp("carrier_uas_callback.xml", target, carrier_port, tmp_path)
        customer_rc, customer_err = finish(customer, timeout=60)
        phone_rc, phone_err = finish(phone, timeout=10)
        assert customer_rc == 0, customer_err
        assert phone_rc == 0, phone_err
        assert wait_until(lambda: _jobs(config)[0]["state"] == "done", 5), _jobs(config)
        job, = _jobs(config)
        assert job["attempts"] == 1 and job["outcome"] == "reached"
        log = daemon.log()
        assert "callbacks: job" in log and "calling 84909123456 through carrier" in log
        assert wait_until(lambda: any(r["direction"] == "outbound" and
                                      r["outcome"] == "answered"
                                      for r in appliance_json(config, "calls")), 5)
    finally:
        daemon.stop()


def test_a_customer_who_calls_again_drops_the_old_job_and_an_admin_the_new(
        office: tuple[Path, dict[str, Account], int], tmp_path: Path) -> None:
    config, _, carrier_port = office
    daemon = start_sip_daemon(config)
    try:
        target = address(daemon)
        for _ in range(2):
            missed = carrier_sipp("carrier_uac_missed.xml", target, carrier_port, tmp_path,
                                  "-s", "842873001234")
            assert finish(missed)[0] == 0
            time.sleep(0.5)
        assert wait_until(lambda: len(_jobs(config)) == 2, 5)
        newer, older = _jobs(config)
        assert older["state"] == "dropped" and newer["state"] == "pending"
        assert older["outcome"] in ("the customer called again", "a newer missed call")
        out = appliance(config, "callback", "drop", str(newer["id"])).stdout
        assert "dropped" in out
        bad = appliance(config, "callback", "drop", str(newer["id"]), check=False)
        assert bad.returncode == 1 and "no open callback" in bad.stderr
        store = open_store(load(config, {}).store.url, create=False)
        try:
            assert [j.state for j in CallbackDirectory(store).jobs()] == ["dropped", "dropped"]
        finally:
            store.dispose()
    finally:
        daemon.stop()
