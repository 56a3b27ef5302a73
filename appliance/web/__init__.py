"""The admin web page: a Flask app factory, one blueprint per page.

Every page needs a signed-in user except ``/healthz``, ``/static``, the first-boot setup page
(only until setup is done), the login page and the language switch. A ``viewer`` may only
read; every state-changing request carries a CSRF token (Flask-WTF).
"""

from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import quote, urlsplit

from flask import (
    Flask,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFError, CSRFProtect  # type: ignore[import-untyped]
from werkzeug.exceptions import HTTPException

from appliance import localtime
from appliance.config import Config
from appliance.directory import access
from appliance.store import Store
from appliance.store import settings as kv
from appliance.version import app_version
from appliance.web import common, i18n
from appliance.web.accounts import Accounts, LoginThrottle
from appliance.web.common import format_mac, found_by, idle_timeout, oui_vendor, when
from appliance.web.i18n import _

COOKIE_KEY = "web_cookie_key"  # settings key of the key that signs the session cookie
PUBLIC = {"health.healthz", "static", "auth.login", "auth.language"}
# What a viewer may still post: their own sign-out, language and password.
SELF_SERVICE = {"auth.logout", "auth.language", "auth.password"}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HSTS = "max-age=31536000"  # sent over HTTPS only; no includeSubDomains (the box is one host)
HOST = re.compile(r"\A(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?\Z")


def _cookie_key(store: Store) -> str:
    """The key that signs session cookies: made once, kept in the store (shared by boxes)."""
    with store.write() as conn:
        key = kv.get(conn, COOKIE_KEY)
        if key is None:
            key = secrets.token_hex(32)
            kv.put(conn, COOKIE_KEY, key)
    return key


def create_app(config: Config, store: Store, accounts: Accounts | None = None) -> Flask:
    """Build the web app for ``config`` over ``store``."""
    from appliance.web import (
        audit,
        auth,
        bans,
        callbacks,
        calls,
        connections,
        dashboard,
        employees,
        extensions,
        health,
        menus,
        phones,
        queues,
        settings,
        setup,
        transfer,
        users,
        voicemail,
    )

    app = Flask(__name__)
    app.config.update(
        APPLIANCE=config,
        SECRET_KEY=_cookie_key(store),
        SESSION_COOKIE_NAME="appliance_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.web.tls,
        HTTPS_PORT=config.web.tls_listen.port,  # the bound port, once the server has bound
        WTF_CSRF_TIME_LIMIT=None,  # valid as long as the (idle-limited) session
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    app.extensions["appliance.store"] = store
    app.extensions["appliance.accounts"] = accounts or Accounts(store)
    app.extensions["appliance.throttle"] = LoginThrottle()
    app.extensions["appliance.setup_done"] = False
    # the pages that take a file, and how big their requests may be (others: 64 kB)
    app.extensions["appliance.upload_limits"] = {
        "settings.upload_hold_music": settings.UPLOAD_LIMIT,
        "voicemail.upload_greeting": settings.UPLOAD_LIMIT,
        "menus.upload_audio": settings.UPLOAD_LIMIT,
        "connections.number_upload_greeting": settings.UPLOAD_LIMIT}
    app.before_request(_to_https)  # first: a plain-HTTP POST is redirected, not refused
    app.before_request(_upload_limit)  # before the CSRF check reads the form
    CSRFProtect(app)
    i18n.init_app(app)
    app.jinja_env.filters["mac"] = format_mac
    app.jinja_env.filters["when"] = when
    app.jinja_env.filters["oui_vendor"] = oui_vendor
    app.jinja_env.filters["found_by"] = found_by
    app.jinja_env.filters["local_iso"] = lambda text: localtime.shown_text(str(text),
                                                                           common.zone())
    app.jinja_env.globals["time_zone"] = lambda: common.config().provisioning.timezone
    app.jinja_env.globals["app_version"] = app_version()
    for module in (health, setup, auth, dashboard, employees, extensions, phones, audit,
                   settings, users, bans, transfer, connections, queues, menus, calls,
                   voicemail, callbacks):
        app.register_blueprint(module.bp)
    app.before_request(_guard)
    app.after_request(_security_headers)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
    return app


def _setup_done(app: Flask) -> bool:
    if not app.extensions["appliance.setup_done"]:
        app.extensions["appliance.setup_done"] = access.setup_done(
            app.extensions["appliance.store"])
    return bool(app.extensions["appliance.setup_done"])


def _to_https() -> Any:
    """With a certificate, plain HTTP redirects to HTTPS on the same host (but /healthz)."""
    if (not current_app.config["APPLIANCE"].web.tls or request.is_secure
            or request.endpoint == "health.healthz"):
        return None
    match = HOST.match(request.host)
    if match is None:
        abort(400)
    port = int(current_app.config["HTTPS_PORT"])
    query = request.query_string.decode("latin-1")
    target = (f"https://{match.group(1)}" + ("" if port == 443 else f":{port}")
              + quote(request.path, safe="/:@!$&'()*+,;=-._~") + (f"?{query}" if query else ""))
    return redirect(target, 308)


def _upload_limit() -> None:
    """Let a page that takes a file have a request bigger than the app's limit."""
    limit = current_app.extensions["appliance.upload_limits"].get(request.endpoint)
    if limit is not None:
        request.max_content_length = limit


def _guard() -> Any:
    """Setup first, then sign-in, then read-only for viewers."""
    endpoint = request.endpoint or ""
    g.user = None
    if endpoint in ("health.healthz", "static"):
        return None
    if not _setup_done(current_app):
        return None if endpoint.startswith("setup.") else redirect(url_for("setup.form"))
    if endpoint.startswith("setup."):
        return redirect(url_for("auth.login"))
    _resume(current_app)
    if endpoint in PUBLIC:
        return None
    return _refuse(endpoint)


def _resume(app: Flask) -> None:
    """Find the signed-in user from the session cookie (a background poll keeps it idle)."""
    token = session.get("sid")
    if isinstance(token, str):
        background = request.headers.get("X-Live") == "1"
        g.user = app.extensions["appliance.accounts"].resume(
            token, idle_timeout(), touch=not background)
        if g.user is None:
            session.pop("sid", None)
            flash(_("Your session ended; please sign in again."), "info")


def _refuse(endpoint: str) -> Any:
    """A response when the request is not allowed for who is (not) signed in, else None."""
    if g.user is None:
        if request.headers.get("X-Live") == "1":
            return Response(_("Please sign in."), 401)
        target = request.full_path if request.method == "GET" else None
        return redirect(url_for("auth.login", next=target))
    if request.method not in SAFE_METHODS and not g.user.can_change \
            and endpoint not in SELF_SERVICE:
        return render_template("error.html", code=403,
                               message=_("Your account can only view; ask an admin.")), 403
    return None


def safe_next(target: str | None) -> str:
    """A local path to go to after sign-in (never another site)."""
    if target and target.startswith("/") and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and "\\" not in target:
            return target
    return url_for("dashboard.index")


def _security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if request.endpoint != "static":
        headers.setdefault("Cache-Control", "no-store")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def _csrf_error(exc: CSRFError) -> tuple[str, int]:
    message = _("This form has expired or did not come from this page. "
                "Go back, reload the page and try again.")
    return render_template("error.html", code=400, message=message), 400


def _http_error(exc: HTTPException) -> Any:
    if exc.code is None or exc.code < 400:
        return exc
    messages = {404: _("There is no such page."), 403: _("Not allowed."),
                405: _("Not allowed."), 413: _("What was sent is too large.")}
    message = messages.get(exc.code, _("The request could not be handled."))
    return render_template("error.html", code=exc.code, message=message), exc.code
