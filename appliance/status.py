"""What ``appliance status`` reports: store, directory counts, and the running daemon."""

from __future__ import annotations

import json
import os
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from appliance.config import Config
from appliance.daemon import ports_file
from appliance.store import Store, current_revision, head_revision
from appliance.store.tables import employees, extensions, phones


def _counts(store: Store) -> dict[str, int]:
    with store.read() as conn:
        def count(query: Any) -> int:
            return int(conn.execute(query).scalar_one())

        total = select(func.count())
        return {
            "employees_active": count(total.select_from(employees)
                                      .where(employees.c.status == "active")),
            "employees_dismissed": count(total.select_from(employees)
                                         .where(employees.c.status == "dismissed")),
            "extensions_assigned": count(total.select_from(extensions)
                                         .where(extensions.c.employee_id.is_not(None))),
            "extensions_free": count(total.select_from(extensions)
                                     .where(extensions.c.employee_id.is_(None))),
            **{f"phones_{state}": count(total.select_from(phones).where(phones.c.state == state))
               for state in ("discovered", "assigned", "disabled")},
        }


def daemon_state(config: Config) -> dict[str, Any]:
    """The running daemon's pid and bound addresses from ``ports.json``, if it is alive."""
    try:
        data = json.loads(ports_file(config).read_text(encoding="utf-8"))
        pid = int(data.pop("pid"))
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError, TypeError):
        return {"daemon": "not running"}
    return {"daemon": f"running (pid {pid})", **{f"listen_{k}": v for k, v in data.items()}}


def collect(config: Config, store: Store) -> dict[str, Any]:
    """Everything ``appliance status`` prints."""
    return {
        "store": make_url(config.store.url).render_as_string(hide_password=True),
        "revision": current_revision(store),
        "head": head_revision(),
        "data": str(config.paths.data),
        **daemon_state(config),
        **_counts(store),
    }
