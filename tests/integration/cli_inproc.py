"""The ``appliance`` CLI run inside the test process (click's ``CliRunner``), over the same
real store a test's config names: what ``conftest.appliance`` does without paying a Python
start-up and the imports for each command (~1-2 s on a busy CI machine).

``run`` returns a ``subprocess.CompletedProcess`` as ``conftest.appliance`` does, so a test's
assertions read it unchanged: ``returncode`` is the exit code, ``stdout`` and ``stderr`` are
kept apart (click >= 8.2 always separates them), and an exception that escapes the command
(which a real process would print as a traceback before exiting 1) is written into
``stderr`` as that traceback, so "no Traceback on stderr" checks still catch it.

What a separate process would drop at its exit is dropped after each run: every store
(engine and pooled SQLite connections) the command opened is disposed, and the environment
is exactly ``env`` when one is given (as ``subprocess.run(env=...)`` would see it).
Files that use this keep a few genuine ``python -m appliance`` runs of their own, so the
installed entry point and a separate process are still exercised.
"""

from __future__ import annotations

import json
import os
import subprocess
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from appliance.cli import cli
from appliance.store.engine import Store


def run(config: Path, *args: str, check: bool = True, env: Mapping[str, str] | None = None,
        stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``appliance ARGS --config CONFIG`` in this process, ``stdin`` as its standard input;
    with ``check``, a non-zero exit fails as ``conftest.appliance`` fails."""
    argv = [*args, "--config", str(config)]
    overlay: dict[str, str | None] | None = None
    if env is not None:  # the whole environment, as a child process given env= would have
        overlay = {key: None for key in os.environ if key not in env}
        overlay.update(env)
    opened: list[Store] = []
    original = Store.__init__

    def tracked(self: Store, *a: Any, **kw: Any) -> None:
        original(self, *a, **kw)
        opened.append(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Store, "__init__", tracked)
        try:
            result = CliRunner().invoke(cli, argv, input=stdin, env=overlay,
                                        catch_exceptions=True, prog_name="appliance")
        finally:
            for store in opened:
                store.dispose()
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "Traceback (most recent call last):\n" + "".join(
            traceback.format_exception(result.exception))
    completed = subprocess.CompletedProcess(["appliance", *argv], result.exit_code,
                                            result.stdout, stderr)
    if check and completed.returncode != 0:
        raise AssertionError(f"appliance {' '.join(args)} failed {completed.returncode}: "
                             f"{completed.stderr}")
    return completed


def run_json(config: Path, *args: str) -> Any:
    """``run`` with ``--json``, its output parsed."""
    return json.loads(run(config, *args, "--json").stdout)


def init(config: Path) -> Path:
    """``appliance init`` (the real migrations) for ``config``; returns ``config``."""
    run(config, "init")
    return config
