"""The audit log: who changed what and when, searchable."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, request

from appliance.directory import AuditEntry
from appliance.web.common import directory, page
from appliance.web.i18n import N_, _

bp = Blueprint("audit", __name__)

ACTIONS = {
    "employee.added": N_("Employee added"),
    "employee.updated": N_("Employee changed"),
    "employee.dismissed": N_("Employee dismissed"),
    "extension.added": N_("Extension added"),
    "extension.updated": N_("Extension changed"),
    "extension.assigned": N_("Extension assigned"),
    "extension.freed": N_("Extension freed"),
    "extension.password_changed": N_("SIP password changed"),
    "extension.credentials_shown": N_("SIP login info shown"),
    "phone.discovered": N_("Phone discovered"),
    "phone.assigned": N_("Phone assigned"),
    "phone.disabled": N_("Phone disabled"),
    "phone.resync_requested": N_("Phone resync requested"),
    "setup.token_issued": N_("Setup token issued"),
    "setup.token_used": N_("Setup token used"),
    "admin.added": N_("Web user added"),
    "admin.removed": N_("Web user removed"),
    "admin.password_changed": N_("Web password changed"),
    "admin.language": N_("Language changed"),
    "admin.login": N_("Signed in"),
    "admin.logout": N_("Signed out"),
    "admin.sessions_revoked": N_("Sessions ended"),
    "sip.unbanned": N_("SIP ban lifted"),
}
LIMITS = (50, 200, 1000)


@dataclass(frozen=True)
class Row:
    """An audit entry ready to show."""

    at: datetime
    actor: str
    action: str
    label: str
    target: str
    detail: str


def describe(entry: AuditEntry) -> Row:
    """An entry with its action in the user's language and its detail as short text."""
    label = _(ACTIONS[entry.action]) if entry.action in ACTIONS else entry.action
    detail = ", ".join(f"{k}={_value(v)}" for k, v in sorted(entry.detail.items()))
    return Row(entry.at, entry.actor, entry.action, label, entry.target, detail)


def _value(value: Any) -> str:
    if isinstance(value, list):
        return "[" + " ".join(str(v) for v in value) + "]"
    return "-" if value is None else str(value)


@bp.get("/audit")
def index() -> str:
    """The newest entries first; ``q`` searches action, target and actor."""
    search = request.args.get("q", "").strip()[:64]
    limit = request.args.get("limit", type=int) or LIMITS[0]
    limit = limit if limit in LIMITS else LIMITS[0]
    rows = [describe(e) for e in directory().audit_log(limit=limit, search=search or None)]
    return page("audit.html", rows=rows, search=search, limit=limit, limits=LIMITS)
