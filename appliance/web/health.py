"""``/healthz``: is the daemon up and its store reachable (no login, no detail)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import text

from appliance.errors import StoreError
from appliance.store import Store

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """200 with ``{"status": "ok"}`` when the store answers, else 503."""
    store: Store = current_app.extensions["appliance.store"]
    try:
        with store.read() as conn:
            conn.execute(text("SELECT 1"))
    except StoreError:
        return jsonify(status="store unavailable"), 503
    return jsonify(status="ok"), 200
