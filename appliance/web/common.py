"""What every page shares: the signed-in user, the directory acting as them, form errors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from flask import current_app, flash, g, render_template
from markupsafe import Markup

from appliance import localtime
from appliance.config import Config
from appliance.directory import Directory
from appliance.errors import DirectoryError
from appliance.store import Store
from appliance.web.accounts import Accounts, Admin, LoginThrottle
from appliance.web.i18n import _
from appliance.web.messages import translate
from appliance.web.overrides import effective

T = TypeVar("T")
Errors = dict[str, list[str]]
FORM = "_form"  # errors that name no field


def config() -> Config:
    """The appliance config: the file's, with the admin page's settings from the store."""
    if "config" not in g:
        g.config = effective(current_app)
    cfg: Config = g.config
    return cfg


def store() -> Store:
    """The store."""
    s: Store = current_app.extensions["appliance.store"]
    return s


def accounts() -> Accounts:
    """The web users."""
    a: Accounts = current_app.extensions["appliance.accounts"]
    return a


def throttle() -> LoginThrottle:
    """The failed-login throttle."""
    t: LoginThrottle = current_app.extensions["appliance.throttle"]
    return t


def user() -> Admin:
    """The signed-in user (the guard has made sure there is one)."""
    who: Admin = g.user
    return who


def directory() -> Directory:
    """The directory, audited as ``web:<username>``."""
    return Directory(store(), actor=f"web:{user().username}")


def idle_timeout() -> timedelta:
    """How long an unused session lives."""
    return timedelta(minutes=config().web.session_idle_minutes)


def attempt(errors: Errors, change: Callable[[], T]) -> T | None:
    """Run ``change``; a directory error goes into ``errors`` under its field and gives None."""
    try:
        return change()
    except DirectoryError as exc:
        errors.setdefault(exc.field or FORM, []).append(translate(exc))
        return None


def flash_error(exc: DirectoryError) -> None:
    """Show a directory error at the top of the next page."""
    flash(translate(exc), "error")


def page(template: str, **context: Any) -> str:
    """Render a page template."""
    return render_template(template, **context)


def format_mac(mac: str) -> str:
    """``001565123456`` as ``00:15:65:12:34:56``."""
    return ":".join(mac[i:i + 2] for i in range(0, len(mac), 2))


def zone() -> ZoneInfo:
    """The box's time zone (``provisioning.timezone``, as changed on the Settings page)."""
    return localtime.zone_of(config())


def local_time(value: datetime) -> str:
    """``value`` as ``YYYY-MM-DD HH:MM:SS`` in the box's time zone."""
    return localtime.shown(value, zone())


def when(value: datetime | None) -> Markup:
    """A time for a table: the UTC instant for machines (``datetime``, ``data-sort``), the
    box's local time for people."""
    if value is None:
        return Markup('<span data-sort="">&ndash;</span>')
    iso = value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat() + "+00:00"
    return Markup('<time datetime="{0}" data-sort="{0}">{1}</time>').format(
        iso, local_time(value))


def oui_vendor(mac: str) -> str:
    """The vendor a MAC's prefix belongs to (the OUI list), or ''."""
    from appliance.directory.rules import vendor_name
    from appliance.lan.oui import vendor_of

    return vendor_name(vendor_of(mac)) or ""


def found_by(method: str) -> str:
    """How a phone was found, in the user's language."""
    from appliance.web.auditlog import METHODS

    return _(METHODS[method]) if method in METHODS else method
