"""The audit log page: who changed what and when, searchable by what is shown."""

from __future__ import annotations

from flask import Blueprint, request

from appliance.directory import AuditEntry
from appliance.web import auditlog
from appliance.web.auditlog import Names, Shown
from appliance.web.common import local_time, page, store
from appliance.web.i18n import _
from appliance.web.overrides import FIELDS

bp = Blueprint("audit", __name__)
ACTIONS = auditlog.ACTIONS
LIMITS = (50, 200, 1000)


def names() -> Names:
    """The names entries refer to, and the Settings page's labels of setting keys."""
    return Names.load(store(), {f.dotted: f.label for f in FIELDS})


def describe(entry: AuditEntry, known: Names | None = None) -> Shown:
    """An entry with its action, target and detail in the user's language."""
    return auditlog.describe(entry, known or names(), _)


@bp.get("/audit")
def index() -> str:
    """The newest entries first; ``q`` matches what the rows show (any order of words,
    accents and case ignored)."""
    search = request.args.get("q", "").strip()[:64]
    limit = request.args.get("limit", type=int) or LIMITS[0]
    limit = limit if limit in LIMITS else LIMITS[0]
    rows, cut = auditlog.search(store(), search, limit, names(), _, when=local_time)
    return page("audit.html", rows=rows, search=search, limit=limit, limits=LIMITS, cut=cut,
                scanned=auditlog.SCAN_LIMIT)
