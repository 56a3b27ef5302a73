"""IVR menus from the CLI over a real migrated store and the real espeak-ng: a menu's text
spoken when it is added (a WAV under the data folder's media/prompts) and again when an edit
changes its text or language; keys set and removed; shown, listed, removed once nothing
sends calls to it, audited; every bad input one line on stderr, exit 1, and nothing changed
(the menus, the audit log, the prompts).

Most commands run in this process (``cli_inproc.run``, click's CliRunner); the add, the
listing and one refusal run as separate ``python -m appliance`` processes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.integration import cli_inproc
from tests.integration.cli_inproc import run, run_json
from tests.integration.conftest import appliance, appliance_json, write_config

DID = "+842873001234"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A test config, with its store initialised (in this process)."""
    return cli_inproc.init(write_config(tmp_path))


def _office(config: Path) -> None:
    """Extension 101 held by An, a connection carrying DID, a queue."""
    run(config, "employee", "add", "Nguyễn Văn An")
    run(config, "ext", "add", "101")
    run(config, "ext", "assign", "101", "1")
    run(config, "trunk", "add", "viettel", "--kind", "ip", "--server", "127.0.0.2",
        "--source", "127.0.0.2", "--did", DID)
    run(config, "queue", "add", "sales", "--member", "101")


def _prompts(config: Path) -> Path:
    return config.parent / "data" / "media" / "prompts"


def _spoken(config: Path, language: str = "*") -> list[Path]:
    return sorted(_prompts(config).glob(f"speech-{language}-*.wav"))


def _refused(config: Path, *args: str, says: str, env: dict[str, str] | None = None,
             process: bool = False) -> None:
    """Exit 1, one line ``Error: ...`` on stderr saying ``says``, no traceback; in this
    process, or with ``process`` as a separate one."""
    result = (appliance if process else run)(config, *args, check=False, env=env)
    assert result.returncode == 1, (args, result.stdout, result.stderr)
    line = result.stderr.strip()
    assert "\n" not in line and line.startswith("Error: ") and says in line, (args, line)
    assert "Traceback" not in result.stderr


def _state(config: Path) -> tuple[Any, ...]:
    folder = _prompts(config)
    files = sorted(p.name for p in folder.iterdir()) if folder.exists() else []
    return (run_json(config, "menu", "list"), run_json(config, "number", "list"),
            len(run_json(config, "audit", "--limit", "1000")), files)


def test_a_menu_is_spoken_added_keyed_shown_edited_and_removed(config: Path) -> None:
    _office(config)
    assert _spoken(config) == []
    # A separate process: the entry point, espeak-ng run from it, JSON on a real stdout.
    made = appliance_json(config, "menu", "add", "main", "--text",
                          "Press 1 for sales, star to hear this again.", "--timeout", "8",
                          "--timeout-destination", "queue:sales", "--invalid-retries", "1")
    assert made == {"name": "main", "text": "Press 1 for sales, star to hear this again.",
                    "language": "en", "extensions": True, "timeout": 8,
                    "timeout_retries": 2, "timeout_destination": "queue:sales",
                    "invalid_retries": 1, "invalid_destination": "hangup", "keys": {},
                    "audio": None}
    spoken = _spoken(config, "en")
    assert len(spoken) == 1 and spoken[0].stat().st_size > 8000  # made when saved

    run(config, "menu", "key", "main", "1", "queue:sales")
    run(config, "menu", "key", "main", "*", "repeat")
    keyed = run_json(config, "menu", "key", "main", "2", "outside:0909123456@viettel")
    assert keyed["keys"] == {"1": "queue:sales", "2": "outside:+84909123456@viettel",
                             "*": "repeat"}
    after = run_json(config, "menu", "key", "main", "2", "--remove")
    assert after["keys"] == {"1": "queue:sales", "*": "repeat"}
    assert run_json(config, "menu", "show", "main") == after

    # Only what is given changes; a new language (or text) is spoken before it is saved.
    edited = run_json(config, "menu", "edit", "main", "--no-extensions",
                      "--timeout-retries", "0")
    assert edited == {**after, "extensions": False, "timeout_retries": 0}
    assert len(_spoken(config)) == 1  # nothing new to speak
    vi = run_json(config, "menu", "edit", "main", "--language", "vi", "--text",
                  "Bấm phím 1 để gặp bộ phận bán hàng.")
    assert (vi["language"], vi["text"], vi["keys"]) == (
        "vi", "Bấm phím 1 để gặp bộ phận bán hàng.", after["keys"])
    assert len(_spoken(config, "vi")) == 1 and len(_spoken(config)) == 2

    shown = run(config, "menu", "show", "main").stdout
    assert "key 1                queue:sales" in shown and "key *" in shown
    run(config, "menu", "add", "closed", "--text", "We are closed.")
    table = appliance(config, "menu", "list").stdout.splitlines()  # a separate process
    assert table[0].split() == ["NAME", "LANGUAGE", "KEYS", "TIMEOUT_DESTINATION",
                                "INVALID_DESTINATION", "TEXT"]
    assert table[1].split()[:2] == ["closed", "en"] and "1=queue:sales, *=repeat" in table[2]

    # The number sends its calls to the menu: the menu stays until it sends them elsewhere.
    run(config, "number", "edit", DID, "--destination", "menu:main",
        "--after-hours", "menu:closed")
    assert run_json(config, "number", "show", DID)["destination"] == "menu:main"
    _refused(config, "menu", "remove", "main", says=f"'main' is where number {DID} send calls",
             process=True)  # the one line on a real process's stderr, exit code 1
    run(config, "number", "edit", DID, "--destination", "hangup")
    assert run(config, "menu", "remove", "main").stdout.strip() == "menu main removed"
    assert [m["name"] for m in run_json(config, "menu", "list")] == ["closed"]
    _refused(config, "menu", "show", "main", says="no menu named 'main'")

    actions = [(a["action"], a["target"]) for a in
               run_json(config, "audit", "--search", "menu", "--limit", "100")]
    assert actions[0] == ("menu.removed", "main")
    for kind in ("menu.added", "menu.updated", "menu.key_set", "menu.key_removed"):
        assert (kind, "main") in actions, kind
    assert all(a["actor"].startswith("cli:") for a in run_json(config, "audit"))


def test_bad_menu_input_is_one_line_and_changes_nothing(config: Path) -> None:
    _office(config)
    run(config, "menu", "add", "main", "--text", "Press 1.")
    run(config, "menu", "key", "main", "1", "queue:sales")
    run(config, "menu", "add", "sub", "--text", "Sub.", "--timeout-destination",
        "menu:main")
    before = _state(config)
    for args, says in [
        (("menu", "add", "new", "--text", ""), "text: 1 to 1000 printable characters"),
        (("menu", "add", "new", "--text", "x" * 1001), "text: 1 to 1000 printable"),
        (("menu", "add", "new", "--text", "Hi.", "--timeout", "31"),
         "timeout: from 1 to 30, got 31"),
        (("menu", "add", "new", "--text", "Hi.", "--timeout", "soon"),
         "timeout: a whole number, got 'soon'"),
        (("menu", "add", "new", "--text", "Hi.", "--timeout-retries", "6"),
         "timeout_retries: from 0 to 5, got 6"),
        (("menu", "add", "new", "--text", "Hi.", "--language", "fr"),
         "language: one of en, vi, got 'fr'"),
        (("menu", "add", "new", "--text", "Hi.", "--timeout-destination", "repeat"),
         "timeout_destination: one of extension, queue, outside, menu, voicemail, hangup"),
        (("menu", "add", "new", "--text", "Hi.", "--invalid-destination", "menu:nope"),
         "invalid_destination: no menu named 'nope'"),
        (("menu", "add", "bad name", "--text", "Hi."), "use 1 to 32 ASCII letters"),
        (("menu", "add", "main", "--text", "Hi."), "a menu named 'main' exists"),
        (("menu", "edit", "main"), "nothing to change"),
        (("menu", "edit", "main", "--text", " "), "text: 1 to 1000 printable characters"),
        (("menu", "edit", "main", "--timeout", "0"), "timeout: from 1 to 30, got 0"),
        (("menu", "edit", "main", "--timeout-destination", "menu:sub"),
         "routing: this change makes a cycle: menu main -> menu sub -> menu main"),
        (("menu", "edit", "nosuch", "--timeout", "3"), "no menu named 'nosuch'"),
        (("menu", "key", "main", "#", "hangup"), "key: one of 0-9 or *"),
        (("menu", "key", "main", "12", "hangup"), "key: one of 0-9 or *"),
        (("menu", "key", "main", "2", "fax:101"), "destination: one of"),
        (("menu", "key", "main", "2", "menu:nope"), "destination: no menu named 'nope'"),
        (("menu", "key", "main", "2", "extension:999"), "destination: no extension 999"),
        (("menu", "key", "main", "2", "menu:main"), "this change makes a cycle"),
        (("menu", "key", "main", "2"), "give the key's DESTINATION, or --remove"),
        (("menu", "key", "main", "2", "hangup", "--remove"), "give the key's DESTINATION"),
        (("menu", "key", "main", "5", "--remove"), "menu 'main' has no key 5"),
        (("menu", "key", "nosuch", "1", "hangup"), "no menu named 'nosuch'"),
        (("menu", "remove", "main"), "'main' is where menu sub send calls"),
        (("menu", "remove", "nosuch"), "no menu named 'nosuch'"),
        (("queue", "remove", "sales"), "'sales' is where menu main send calls"),
        (("number", "edit", DID, "--destination", "menu:nope"),
         "destination: no menu named 'nope'"),
    ]:
        _refused(config, *args, says=says)
    assert _state(config) == before

    # A text the box cannot speak (here: no espeak-ng on the PATH) is refused, not stored.
    bare = config.parent / "bin"
    bare.mkdir()
    env = {**os.environ, "PATH": str(bare)}
    _refused(config, "menu", "add", "new", "--text", "Never spoken.", env=env,
             says="text: espeak-ng is not installed")
    _refused(config, "menu", "edit", "main", "--text", "Never spoken either.", env=env,
             says="text: espeak-ng is not installed")
    assert _state(config) == before
