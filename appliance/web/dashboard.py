"""The dashboard: phones by state, people, recent changes, the box's addresses; live."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from sqlalchemy import func, select

from appliance.store.tables import employees, extensions, phones
from appliance.web import hooks, reach
from appliance.web.audit import describe
from appliance.web.common import config, directory, page, store

bp = Blueprint("dashboard", __name__)


def counts() -> dict[str, int]:
    """Phones by state, employees and extensions, in one read."""
    out: dict[str, int] = {}
    with store().read() as conn:
        for state, n in conn.execute(select(phones.c.state, func.count()).group_by(phones.c.state)):
            out[f"phones_{state}"] = int(n)
        for status, n in conn.execute(select(employees.c.status, func.count())
                                      .group_by(employees.c.status)):
            out[f"employees_{status}"] = int(n)
        assigned = extensions.c.employee_id.is_not(None)
        for taken, n in conn.execute(select(assigned, func.count()).group_by(assigned)):
            out["extensions_assigned" if taken else "extensions_free"] = int(n)
    return out


def _live() -> dict[str, Any]:
    counts_now = counts()
    return {"counts": counts_now, "registered": hooks.registrations(store()),
            "recent": [describe(e) for e in directory().audit_log(limit=10)]}


@bp.get("/")
def index() -> str:
    """The whole dashboard."""
    cfg = config()
    seen_as = reach.seen_host(request.host)
    return page("dashboard.html", **_live(), bound=hooks.bound_addresses(cfg),
                urls=reach.phone_urls(cfg, seen_as),
                sip_servers=reach.sip_servers(cfg, seen_as) if cfg.sip.enabled else [],
                cfg=cfg)


@bp.get("/dashboard/live")
def live() -> str:
    """The parts of the dashboard that refresh by themselves."""
    return page("_dashboard_live.html", **_live())
