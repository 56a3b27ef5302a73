"""An extension's own no-answer setting through the running daemon: the carrier (SIPp on
127.0.0.2) calls the office number, which rings 102 and would go on with its routing; 102,
set from the CLI to forward to the employee's mobile after its own 5 s through the
``mobiles`` connection (SIPp on 127.0.0.4), rings its phone (SIPp, never answering) and is
cancelled, and the mobile answers: the carrier's call is bridged to it, with the original
caller in Diversion and the office number presented. And a call between extensions to 102
goes on to the mobile the same way."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from appliance.callplan.model import Server
from appliance.config import load
from appliance.directory import Directory
from appliance.directory.office import CallPlanDirectory
from appliance.store import open_store
from tests.integration.conftest import appliance_json
from tests.integration.sip_helpers import (
    add_accounts,
    address,
    free_port,
    need,
    register,
    sip_config,
    sipp_command,
    start_sip_daemon,
)
from tests.integration.test_call_history import history
from tests.integration.test_calls_outside import (
    CARRIER_HOST,
    DID,
    carrier_sipp,
    finish,
    free_port_on,
    phone_sipp,
    received_invite,
)

pytestmark = pytest.mark.integration

MOBILES_HOST = "127.0.0.4"


def test_an_unanswered_extension_forwards_to_the_mobile_it_names(tmp_path: Path) -> None:
    need("sipp")
    config = sip_config(tmp_path)
    accounts = add_accounts(config, "102")
    carrier_port = free_port_on(CARRIER_HOST)
    mobiles_port = free_port_on(MOBILES_HOST)
    store = open_store(load(config, {}).store.url, create=False)
    try:
        Directory(store, actor="test").update_employee(accounts["102"].employee_id,
                                                       mobile="84901111222")
        plan = CallPlanDirectory(store, actor="test")
        plan.add_connection("carrier", kind="ip", servers=[Server(CARRIER_HOST, carrier_port)],
                            allowed_sources=[f"{CARRIER_HOST}/32"], caller_id=DID,
                            number_format="intl_digits")
        plan.add_connection("mobiles", kind="ip", servers=[Server(MOBILES_HOST, mobiles_port)],
                            allowed_sources=[f"{MOBILES_HOST}/32"], number_format="national")
        # The number itself goes on with its routing (here: nothing more) after 20 s.
        plan.add_number(DID, "carrier", "extension:102", contacts_map=False, to_header=False,
                        ring_timeout=20)
    finally:
        store.dispose()
    shown = appliance_json(config, "ext", "edit", "102", "--no-answer", "mobile",
                           "--no-answer-connection", "mobiles", "--ring-timeout", "5")
    assert (shown["no_answer"], shown["ring_timeout"]) == ("mobile", 5)
    daemon = start_sip_daemon(config)
    try:
        target = address(daemon)
        phone_port = free_port()
        assert register(target, accounts["102"], port=phone_port, cwd=tmp_path).returncode == 0
        phone = phone_sipp("uas_cancel.xml", target, phone_port, tmp_path, "-s", "102")
        command = sipp_command("uas_call.xml", target, "-s", "mobile", port=mobiles_port)
        command[command.index("-i") + 1] = MOBILES_HOST
        command += ["-trace_msg", "-message_file", str(tmp_path / "mobile.log")]
        command_mobile = subprocess.Popen(command, cwd=tmp_path, text=True,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          stdin=subprocess.DEVNULL)
        time.sleep(0.3)
        started = time.monotonic()
        carrier = carrier_sipp("carrier_uac_call.xml", target, carrier_port, tmp_path,
                               "-s", "842873001234", "-d", "500")
        carrier_rc, carrier_err = finish(carrier)
        elapsed = time.monotonic() - started
        phone_rc, phone_err = finish(phone)
        mobile_rc, mobile_err = finish(command_mobile)
    finally:
        daemon.stop()
    assert carrier_rc == 0, carrier_err
    assert phone_rc == 0, phone_err  # rung, then cancelled
    assert mobile_rc == 0, mobile_err  # answered, then the carrier's BYE came through
    # The extension's 5 s, not the number's 20 (the carrier would have timed out at 15 s).
    assert elapsed < 14, elapsed
    invite = received_invite(tmp_path / "mobile.log")
    # The mobile written as the mobiles connection wants it (national), the office number
    # presented, the customer carried in Diversion.
    assert re.match(r"INVITE sip:0901111222@", invite), invite
    assert re.search(r"^Diversion: .*", invite, re.M), invite
    assert re.search(r"^From: .*(842873001234|02873001234)", invite, re.M), invite


def test_an_internal_call_goes_on_to_the_mobile_when_the_extension_does_not_answer(
        tmp_path: Path) -> None:
    """101 (SIPp, digest) calls 102; 102's phone rings its 5 s and is cancelled; the mobile
    (SIPp behind the ``mobiles`` connection) answers, and 101 talks to it and hangs up."""
    need("sipp")
    config = sip_config(tmp_path)
    accounts = add_accounts(config, "101", "102")
    mobiles_port = free_port_on(MOBILES_HOST)
    store = open_store(load(config, {}).store.url, create=False)
    try:
        Directory(store, actor="test").update_employee(accounts["102"].employee_id,
                                                       mobile="84901111222")
        plan = CallPlanDirectory(store, actor="test")
        plan.add_connection("mobiles", kind="ip", servers=[Server(MOBILES_HOST, mobiles_port)],
                            allowed_sources=[f"{MOBILES_HOST}/32"], caller_id=DID,
                            number_format="national")
    finally:
        store.dispose()
    appliance_json(config, "ext", "edit", "102", "--no-answer", "mobile",
                   "--no-answer-connection", "mobiles", "--ring-timeout", "5")
    daemon = start_sip_daemon(config)
    try:
        target = address(daemon)
        phone_port = free_port()
        assert register(target, accounts["102"], port=phone_port, cwd=tmp_path).returncode == 0
        phone = phone_sipp("uas_cancel.xml", target, phone_port, tmp_path, "-s", "102")
        command = sipp_command("uas_call.xml", target, "-s", "mobile", port=mobiles_port)
        command[command.index("-i") + 1] = MOBILES_HOST
        command += ["-trace_msg", "-message_file", str(tmp_path / "mobile.log")]
        mobile = subprocess.Popen(command, cwd=tmp_path, text=True, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        time.sleep(0.3)
        started = time.monotonic()
        caller = phone_sipp("uac_call.xml", target, free_port(), tmp_path, "-s", "102",
                            "-key", "caller", "101", "-au", "101",
                            "-ap", accounts["101"].password, "-d", "500")
        caller_rc, caller_err = finish(caller)
        elapsed = time.monotonic() - started
        phone_rc, phone_err = finish(phone)
        mobile_rc, mobile_err = finish(mobile)
        calls = history(config)
    finally:
        daemon.stop()
    assert caller_rc == 0, caller_err  # answered (by the mobile), then its own BYE
    assert phone_rc == 0, phone_err  # rung, then cancelled
    assert mobile_rc == 0, mobile_err  # answered, then 101's BYE came through
    assert 4.5 < elapsed < 14, elapsed
    invite = received_invite(tmp_path / "mobile.log")
    assert re.match(r"INVITE sip:0901111222@", invite), invite
    assert re.search(r"^From: .*02873001234", invite, re.M), invite
    assert re.search(r"^Diversion: <sip:\+842873001234@", invite, re.M), invite
    row, = calls
    assert (row["direction"], row["caller"], row["connection"], row["outcome"]) == (
        "forwarded", "101", "mobiles", "answered")
