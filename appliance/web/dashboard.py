"""The dashboard: phones by state, people, recent changes, the box's addresses; live."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from sqlalchemy import func, select

from appliance.store.tables import employees, extensions, phones
from appliance.web import hooks, reach
from appliance.web.audit import describe, names
from appliance.web.common import config, directory, page, store
from appliance.web.i18n import N_, _

bp = Blueprint("dashboard", __name__)
SERVICE_NAMES = {
    "web": N_("admin page"), "web_tls": N_("admin page (HTTPS)"),
    "sip_udp": N_("SIP over UDP"), "sip_tcp": N_("SIP over TCP"), "sip_tls": N_("SIP over TLS"),
    "sip_ws": N_("SIP over WebSocket"), "sip_wss": N_("SIP over secure WebSocket"),
    "tftp": N_("provisioning over TFTP"), "http": N_("provisioning over HTTP"),
    "https": N_("provisioning over HTTPS"), "pnp": N_("SIP PnP discovery"),
    "mdns": N_("mDNS discovery"), "snmp": N_("SNMP discovery"),
}


def service_name(name: str) -> str:
    """A bound service's name in the user's language (an unknown one as it is)."""
    return _(SERVICE_NAMES[name]) if name in SERVICE_NAMES else name


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
    regs = [r for found in hooks.bindings(store()).values() for r in found]
    known = names()
    return {"counts": counts_now, "registered": len({r.extension for r in regs}),
            "desk_registered": sum(r.kind == "desk" for r in regs),
            "app_registered": sum(r.kind != "desk" for r in regs),
            "recent": [describe(e, known) for e in directory().audit_log(limit=10)]}


@bp.get("/")
def index() -> str:
    """The whole dashboard."""
    cfg = config()
    seen_as = reach.seen_host(request.host)
    return page("dashboard.html", **_live(), bound=hooks.bound_addresses(cfg),
                urls=reach.phone_urls(cfg, seen_as),
                sip_servers=reach.sip_servers(cfg, seen_as) if cfg.sip.enabled else [],
                cfg=cfg, service_name=service_name)


@bp.get("/dashboard/live")
def live() -> str:
    """The parts of the dashboard that refresh by themselves."""
    return page("_dashboard_live.html", **_live())
