"""Outside calls through a real provider: Kamailio (Debian's package, config
tests/data/kamailio/carrier_calls.cfg) on 127.0.0.5 as the carrier the running daemon's
register connection registers to (digest, from the store, as the box runs it). An outside
caller (SIPp on 127.0.0.3, the carrier's PSTN side) calls the office number through it and
Kamailio relays the INVITE to the box's binding, record-routing: the box rings 102 (SIPp),
and the ACK and BYE come back through the carrier. A call out from 101 is challenged by the
carrier (digest on the INVITE, answered with the connection's credentials) and reaches the
PSTN side presenting the office number."""

from __future__ import annotations

import re
import subprocess
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
    Account,
    add_accounts,
    address,
    free_port,
    register,
    sip_config,
    sipp_command,
    start_sip_daemon,
    wait_until,
)
from tests.integration.test_calls_outside import finish, free_port_on, phone_sipp
from tests.integration.test_trunk_registration import (
    USERS,
    Carrier,
    _install_kamailio,
    start_carrier,
    stop_carrier,
)

pytestmark = pytest.mark.integration

CALLS_CFG = Path(__file__).resolve().parents[1] / "data" / "kamailio" / "carrier_calls.cfg"
KAMAILIO_HOST = "127.0.0.5"
PSTN_HOST = "127.0.0.3"
USER, PASSWORD = USERS["calls"]
DID = f"+{USER}"


def pstn_sipp(scenario: str, target: tuple[str, int], port: int, folder: Path,
              *args: str) -> subprocess.Popen[str]:
    """SIPp on the carrier's PSTN side (PSTN_HOST), logging every message it sees."""
    command = sipp_command(scenario, target, *args, port=port)
    command[command.index("-i") + 1] = PSTN_HOST
    command += ["-trace_msg", "-message_file", str(folder / f"pstn-{scenario}.log")]
    return subprocess.Popen(command, cwd=folder, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)


@pytest.fixture()
def provider(tmp_path: Path) -> Iterator[tuple[Path, dict[str, Account], Carrier, int,
                                               RunningDaemon]]:
    _install_kamailio()
    pstn_port = free_port_on(PSTN_HOST)
    carrier = start_carrier(tmp_path / "carrier", "MD5", cfg_template=CALLS_CFG,
                            host=KAMAILIO_HOST,
                            values={"PSTN_HOST": PSTN_HOST, "PSTN_PORT": str(pstn_port)})
    daemon: RunningDaemon | None = None
    try:
        config = sip_config(tmp_path)
        accounts = add_accounts(config, "101", permission="international")
        accounts |= add_accounts(config, "102")
        store = open_store(load(config, {}).store.url, create=False)
        try:
            plan = CallPlanDirectory(store, actor="test")
            plan.add_connection("carrier", kind="register",
                                servers=[Server(KAMAILIO_HOST, carrier.port)], username=USER,
                                password=PASSWORD, domain="trunk.test", caller_id=DID,
                                number_format="intl_digits", expires=60)
            plan.add_number(DID, "carrier", "extension:102", contacts_map=False)
        finally:
            store.dispose()
        daemon = start_sip_daemon(config)
        assert wait_until(lambda: carrier.binding(USER) != "", 10), carrier.log.read_text()
        yield config, accounts, carrier, pstn_port, daemon
    finally:
        if daemon is not None:
            daemon.stop()
        stop_carrier(carrier)


def test_an_outside_call_through_the_carrier_rings_the_phone_and_ends_through_it(
        provider: tuple[Path, dict[str, Account], Carrier, int, RunningDaemon],
        tmp_path: Path) -> None:
    config, accounts, carrier, _, daemon = provider
    phone_port = free_port()
    assert register(address(daemon), accounts["102"], port=phone_port, cwd=tmp_path
                    ).returncode == 0
    phone = phone_sipp("uas_call.xml", address(daemon), phone_port, tmp_path, "-s", "102")
    time.sleep(0.3)
    caller = pstn_sipp("carrier_uac_call.xml", (KAMAILIO_HOST, carrier.port),
                       free_port_on(PSTN_HOST), tmp_path, "-s", USER, "-d", "500")
    caller_rc, caller_err = finish(caller)
    phone_rc, phone_err = finish(phone)
    assert caller_rc == 0, caller_err + carrier.log.read_text(errors="replace")[-3000:]
    assert phone_rc == 0, phone_err
    text = (tmp_path / "pstn-carrier_uac_call.xml.log").read_text(errors="replace")
    assert re.search(rf"Record-Route: <sip:{re.escape(KAMAILIO_HOST)}:{carrier.port};lr",
                     text), text[-3000:]  # the dialog goes through the carrier
    assert f"carrier-inbound to={USER}" in carrier.log.read_text(errors="replace")
    assert "sip: call from connection carrier for " + DID in daemon.log()
    assert wait_until(lambda: any(r["direction"] == "inbound" and r["answered_by"] == "102"
                                  for r in appliance_json(config, "calls")), 5)


def test_a_call_out_answers_the_carriers_challenge_and_presents_the_office_number(
        provider: tuple[Path, dict[str, Account], Carrier, int, RunningDaemon],
        tmp_path: Path) -> None:
    _, accounts, carrier, pstn_port, daemon = provider
    callee = pstn_sipp("uas_call.xml", address(daemon), pstn_port, tmp_path)
    time.sleep(0.3)
    phone = phone_sipp("uac_call.xml", address(daemon), free_port(), tmp_path, "-s",
                       "0912345678", "-key", "caller", "101", "-au", "101", "-ap",
                       accounts["101"].password, "-d", "500")
    phone_rc, phone_err = finish(phone)
    callee_rc, callee_err = finish(callee)
    log = carrier.log.read_text(errors="replace")
    assert phone_rc == 0, phone_err + log[-3000:]
    assert callee_rc == 0, callee_err
    assert f"carrier-outbound to=84912345678 from={USER} pai=<sip:{USER}@" in log, log[-3000:]
