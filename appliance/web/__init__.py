"""The admin web page: a Flask app factory, one blueprint per page."""

from __future__ import annotations

from flask import Flask

from appliance.config import Config
from appliance.store import Store


def create_app(config: Config, store: Store) -> Flask:
    """Build the web app for ``config`` over ``store``."""
    from appliance.web import health

    app = Flask(__name__)
    app.config["APPLIANCE"] = config
    app.extensions["appliance.store"] = store
    app.register_blueprint(health.bp)

    @app.after_request
    def _security_headers(response):  # type: ignore[no-untyped-def]
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    return app
