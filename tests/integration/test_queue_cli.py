"""Queue groups and presence from the CLI over a real migrated store: added, shown, edited
(only the fields given), removed, audited; every bad input one line on stderr, exit 1, and
nothing changed (the queue, the presence and the audit log as before).

Most commands run in this process (``cli_inproc.run``, click's CliRunner); a queue's add,
one refusal, and the presence table (names and local times on a real stdout) run as
separate ``python -m appliance`` processes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.integration import cli_inproc
from tests.integration.cli_inproc import run, run_json
from tests.integration.conftest import appliance, appliance_json, write_config


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A test config, with its store initialised (in this process)."""
    return cli_inproc.init(write_config(tmp_path))


def _office(config: Path) -> None:
    """Three employees (two namesakes), extensions 101-103, a connection and a number."""
    for name in ("Nguyễn Văn An", "Trần Thị Bình", "Trần Thị Bình"):
        run(config, "employee", "add", name)
    for number, holder in (("101", "1"), ("102", "2"), ("103", None)):
        run(config, "ext", "add", number)
        if holder:
            run(config, "ext", "assign", number, holder)
    run(config, "trunk", "add", "viettel", "--kind", "ip", "--server", "127.0.0.2",
        "--source", "127.0.0.2", "--did", "02873001234")


def _refused(config: Path, *args: str, says: str, process: bool = False) -> None:
    """Exit 1, one line ``Error: ...`` on stderr saying ``says``, no traceback; in this
    process, or with ``process`` as a separate one."""
    result = (appliance if process else run)(config, *args, check=False)
    assert result.returncode == 1, (args, result.stdout, result.stderr)
    line = result.stderr.strip()
    assert "\n" not in line and line.startswith("Error: ") and says in line, line
    assert "Traceback" not in result.stderr


def _state(config: Path) -> tuple[Any, Any, int]:
    return (run_json(config, "queue", "list"), run_json(config, "presence", "list"),
            len(run_json(config, "audit", "--limit", "1000")))


def test_a_queue_is_added_shown_edited_and_removed(config: Path) -> None:
    _office(config)
    # A separate process: the entry point, JSON on a real stdout.
    made = appliance_json(config, "queue", "add", "sales", "--member", "102", "--member",
                          "101", "--strategy", "round_robin", "--ring-time", "15",
                          "--timeout", "90", "--ring-busy",
                          "--fallback", "outside:0909123456@viettel")
    assert made == {"name": "sales", "members": ["102", "101"], "strategy": "round_robin",
                    "ring_time": 15, "timeout": 90, "ring_busy": True,
                    "fallback": "outside:+84909123456@viettel"}
    plain = run_json(config, "queue", "add", "support")
    assert plain == {"name": "support", "members": [], "strategy": "ring_all",
                     "ring_time": 20, "timeout": 60, "ring_busy": False, "fallback": "hangup"}
    table = run(config, "queue", "list").stdout.splitlines()
    assert table[0].split() == ["NAME", "MEMBERS", "STRATEGY", "RING_TIME", "TIMEOUT",
                                "RING_BUSY", "FALLBACK"]
    assert table[1].split()[:3] == ["sales", "102,", "101"] and "support" in table[2]

    # Only the fields given change; --member replaces the list.
    edited = run_json(config, "queue", "edit", "sales", "--member", "103",
                      "--member", "101", "--no-ring-busy", "--fallback", "queue:support")
    assert edited == {**made, "members": ["103", "101"], "ring_busy": False,
                      "fallback": "queue:support"}
    assert run_json(config, "queue", "show", "sales") == edited
    emptied = run_json(config, "queue", "edit", "sales", "--member", "")
    assert emptied["members"] == [] and emptied["strategy"] == "round_robin"
    shown = run(config, "queue", "show", "sales").stdout
    assert "fallback   queue:support" in shown and "strategy   round_robin" in shown

    # support is where sales sends calls: it stays until sales sends them elsewhere.
    _refused(config, "queue", "remove", "support", says="'support' is where sales send calls",
             process=True)  # the one line on a real process's stderr, exit code 1
    run(config, "queue", "edit", "sales", "--fallback", "hangup")
    assert run(config, "queue", "remove", "support").stdout.strip() == \
        "queue support removed"
    assert [q["name"] for q in run_json(config, "queue", "list")] == ["sales"]
    _refused(config, "queue", "show", "support", says="no queue named 'support'")

    actions = [(a["action"], a["target"], a["label"], a["details"])
               for a in run_json(config, "audit", "--search", "queue")]
    assert actions[0][:3] == ("queue.removed", "support", "Queue removed")
    assert ("queue.updated", "sales", "Queue changed",
            "Changed: fallback, members, ring busy members.") in actions
    assert [a[0] for a in actions].count("queue.added") == 2
    assert all(a["actor"].startswith("cli:") for a in run_json(config, "audit"))


def test_bad_queue_input_is_one_line_and_changes_nothing(config: Path) -> None:
    _office(config)
    run(config, "queue", "add", "sales", "--member", "101")
    run(config, "queue", "add", "support", "--fallback", "queue:sales")
    run(config, "number", "edit", "02873001234", "--destination", "queue:support")
    before = _state(config)
    for args, says in [
        (("queue", "edit", "sales", "--strategy", "loudest"),
         "strategy: one of ring_all, in_order, round_robin, least_recent, fewest_calls, "
         "got 'loudest'"),
        (("queue", "edit", "sales", "--ring-time", "601"), "ring_time: from 5 to 600, got 601"),
        (("queue", "edit", "sales", "--ring-time", "soon"), "ring_time: a whole number"),
        (("queue", "edit", "sales", "--timeout", "4"), "timeout: from 5 to 3600, got 4"),
        (("queue", "edit", "sales", "--member", "101", "--member", "999"),
         "members: no extension 999"),
        (("queue", "edit", "sales", "--member", "12345"), "members: an extension is 1 to 4"),
        (("queue", "edit", "sales", "--fallback", "queue:support"),
         "routing: this change makes a cycle: queue support -> queue sales -> queue support"),
        (("queue", "edit", "sales", "--fallback", "outside:+842873001234"),
         "this change makes a cycle"),
        (("queue", "edit", "sales", "--fallback", "fax:101"), "fallback: one of"),
        (("queue", "edit", "sales", "--fallback", "extension:555"),
         "fallback: no extension 555"),
        (("queue", "edit", "sales", "--fallback", "outside:0909123456@nowhere"),
         "no connection named 'nowhere'"),
        (("queue", "edit", "sales"), "nothing to change"),
        (("queue", "edit", "nosuch", "--timeout", "30"), "no queue named 'nosuch'"),
        (("queue", "add", "sales"), "a queue named 'sales' exists"),
        (("queue", "add", "new", "--member", "999"), "members: no extension 999"),
        (("queue", "add", "bad name"), "use 1 to 32 ASCII letters"),
        (("queue", "add", "new", "--strategy", "random"), "strategy: one of"),
        (("queue", "remove", "support"), "'support' is where +842873001234 send calls"),
        (("queue", "remove", "nosuch"), "no queue named 'nosuch'"),
    ]:
        _refused(config, *args, says=says)
    assert _state(config) == before


def test_presence_is_set_by_id_or_name_and_listed(tmp_path: Path) -> None:
    config = write_config(tmp_path, 'timezone = "Asia/Ho_Chi_Minh"')
    cli_inproc.init(config)
    _office(config)
    run(config, "employee", "add", "Lê Văn Cường")
    run(config, "employee", "dismiss", "4")
    listed = run_json(config, "presence", "list")
    assert [(p["employee_id"], p["state"], p["since"]) for p in listed] == [
        (1, "working", None), (2, "working", None), (3, "working", None)]
    before = datetime.now(UTC)
    out = run(config, "presence", "set", "Nguyễn Văn An", "on_break").stdout
    assert out.strip() == "Nguyễn Văn An (#1) is now on_break"
    set_json = run_json(config, "presence", "set", "3", "off")
    assert set_json["employee_id"] == 3 and set_json["state"] == "off"
    since = datetime.fromisoformat(set_json["since"])
    assert since.tzinfo is not None and since.utcoffset().total_seconds() == 0
    assert before <= since <= datetime.now(UTC)
    # A dismissed namesake does not make a name ambiguous.
    run(config, "employee", "add", "Lê Văn Cường")
    run(config, "presence", "set", "  Lê   Văn Cường ", "off")
    rows = {p["employee_id"]: p for p in run_json(config, "presence", "list")}
    assert sorted(rows) == [1, 2, 3, 5]  # dismissed employee 4 is not listed
    assert (rows[1]["state"], rows[1]["extension"]) == ("on_break", "101")
    assert (rows[2]["state"], rows[2]["since"]) == ("working", None)
    assert rows[3]["state"] == rows[5]["state"] == "off"
    # The table shows the box's local time (UTC+7 here) to the second; --json kept UTC.
    table = appliance(config, "presence", "list").stdout.splitlines()  # a separate process
    assert table[0].split() == ["EMPLOYEE_ID", "NAME", "EXTENSION", "STATE", "SINCE"]
    local = datetime.fromisoformat(rows[3]["since"]).astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    assert [line.split()[-3:] for line in table if line.startswith("3 ")] == [
        ["off", local.strftime("%Y-%m-%d"), local.strftime("%H:%M:%S")]]
    assert [line.split()[-2:] for line in table if line.startswith("2 ")] == [["working", "-"]]
    audit = run_json(config, "audit", "--search", "presence")
    assert [(a["action"], a["target_name"], a["details"]) for a in audit[:2]] == [
        ("presence.set", "Lê Văn Cường (#5)", "Now: off work."),
        ("presence.set", "Trần Thị Bình (#3)", "Now: off work.")]


def test_bad_presence_input_is_one_line_and_changes_nothing(config: Path) -> None:
    _office(config)
    run(config, "employee", "add", "Lê Văn Cường")
    run(config, "employee", "dismiss", "4")
    run(config, "presence", "set", "1", "on_break")
    before = _state(config)
    for args, says in [
        (("presence", "set", "1", "lunch"), "state: one of working, on_break, off, got 'lunch'"),
        (("presence", "set", "99", "off"), "employee 99 does not exist"),
        (("presence", "set", "Nobody Here", "off"), "nobody is named 'Nobody Here'"),
        (("presence", "set", "Trần Thị Bình", "off"),
         "2 employees are named 'Trần Thị Bình' (ids 2, 3); give the id"),
        (("presence", "set", "Lê Văn Cường", "off"), "employee 4 is dismissed"),
        (("presence", "set", "4", "working"), "employee 4 is dismissed"),
    ]:
        _refused(config, *args, says=says)
    assert _state(config) == before
