"""What ``appliance run`` says before and after the daemon starts: that one already runs
(and where), and, for ``make run``, a banner with the admin page's URL and the setup token set
apart from the start-up log."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, TextIO

from appliance.config import Config
from appliance.daemon import ports_file
from appliance.directory import access
from appliance.store import open_store

READY = "appliance ready"  # the daemon's log line once every part is up


def running(config: Config, proc: Path = Path("/proc")) -> dict[str, Any] | None:
    """What ``ports.json`` says of a daemon on this data folder whose pid is alive and is an
    appliance (a file left by a crash, its pid since reused, does not count), else None."""
    try:
        data = json.loads(ports_file(config).read_text(encoding="utf-8"))
        pid = int(data["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(data, dict) or pid == os.getpid() or not _is_appliance(proc / str(pid)):
        return None
    return data


def _is_appliance(process: Path) -> bool:
    """True when ``/proc/<pid>`` is a live (not zombie) process running the appliance."""
    try:
        state = (process / "stat").read_text(encoding="ascii").rpartition(")")[2].split()[0]
        command = (process / "cmdline").read_bytes().replace(b"\0", b" ")
    except (OSError, IndexError, UnicodeDecodeError):
        return False
    return state != "Z" and b"appliance" in command


def already_running(config: Config, found: dict[str, Any]) -> str:
    """The one line that says a daemon already runs on this data folder, and where."""
    where = ", ".join(f"{k} {v}" for k, v in found.items() if k != "pid")
    page = admin_url(found)
    return (f"the appliance already runs on {config.paths.data} (pid {found.get('pid')}"
            + (f"; admin page {page}" if page else "") + (f"; {where}" if where else "")
            + "); stop it first (systemctl stop appliance, or Ctrl-C where it runs)")


def admin_url(bound: dict[str, Any]) -> str:
    """The admin page's URL from the bound addresses (HTTPS when it is served)."""
    if bound.get("web_tls"):
        return f"https://{bound['web_tls']}/"
    return f"http://{bound['web']}/" if bound.get("web") else ""


def banner(config: Config) -> str:
    """The lines to show once the daemon is ready: admin page, setup token if setup is not
    done, how to stop."""
    try:
        bound = json.loads(ports_file(config).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        bound = {}
    store = open_store(config.store.url, create=False)
    try:
        token = access.current_setup_token(store, config.paths.data)
    finally:
        store.dispose()
    url = admin_url(bound if isinstance(bound, dict) else {})
    lines = ["The appliance runs.",
             f"  Admin page:   {url or '(the web page is switched off in the config)'}"]
    if token is not None:
        lines += [f"  Setup token:  {token}",
                  "                (one use: the admin page asks for it on the first visit;",
                  "                 'appliance init' prints it again until it is used)"]
    lines.append("  Stop it with Ctrl-C.")
    rule = "=" * max(len(line) for line in lines)
    return "\n".join(["", rule, *lines, rule, ""])


class BannerHandler(logging.Handler):
    """A log handler that writes the banner after the daemon's "ready" line (added after the
    stream handler, so the line is out first)."""

    def __init__(self, config: Config, out: TextIO) -> None:
        super().__init__(logging.INFO)
        self.config = config
        self.out = out
        self.shown = False

    def emit(self, record: logging.LogRecord) -> None:
        """Write the banner once, after the ready line."""
        if self.shown or record.name != "appliance" or record.getMessage() != READY:
            return
        self.shown = True
        try:
            self.out.write(banner(self.config) + "\n")
            self.out.flush()
        except Exception:  # a banner never stops the daemon
            self.handleError(record)
