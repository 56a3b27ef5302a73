"""Render vendor templates (Jinja2) from plain values: pure, no store, no sockets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import jinja2

from appliance.errors import ProvisioningError
from appliance.provisioning.vendors.base import Vendor

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
# Templates in a cfg "key = value" format (no XML escaping): every other one is XML.
CFG_FORMATS = ("yealink/",)
UNASSIGNED = "Unassigned"


def _cfg_value(value: object) -> str:
    """One cfg value on one line: CR, LF and NUL removed."""
    return str(value).replace("\r", "").replace("\n", "").replace("\x00", "")


def with_credentials(base: str, user: str, password: str) -> str:
    """``base`` (``http://host[:port]``) with ``user:password@`` before the host; "" if no user."""
    scheme, sep, rest = base.partition("://")
    if not (user and password and sep):
        return ""
    return f"{scheme}://{quote(user, safe='')}:{quote(password, safe='')}@{rest}"


def _autoescape(name: str | None) -> bool:
    return name is None or not name.startswith(CFG_FORMATS)


@dataclass(frozen=True)
class Account:
    """Line 1 as a phone gets it: enabled with credentials, or off with none."""

    enabled: bool
    label: str
    display_name: str
    user: str = ""
    auth_user: str = ""
    password: str = ""

    @classmethod
    def off(cls) -> Account:
        """The account of an unassigned or disabled phone: off, no secret."""
        return cls(False, UNASSIGNED, UNASSIGNED)


@dataclass(frozen=True)
class Site:
    """What every file of this box tells a phone, besides its account."""

    sip_host: str
    sip_port: int
    sip_transport: str
    ntp: str
    timezone: str
    language: str

    def tz(self, now: datetime) -> dict[str, Any]:
        """The zone name and its UTC offset in minutes at ``now``."""
        offset = now.astimezone(ZoneInfo(self.timezone)).utcoffset()
        minutes = int(offset.total_seconds() // 60) if offset is not None else 0
        return {"name": self.timezone, "offset_minutes": minutes}


class Renderer:
    """Compiled vendor templates from one folder."""

    def __init__(self, folder: Path | None = None) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(folder or TEMPLATES)),
            autoescape=_autoescape,  # noqa: S701 (XML escaped; cfg files use |cfg)
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True, auto_reload=False)
        self.env.filters["cfg"] = _cfg_value

    def context(self, vendor: Vendor, site: Site, now: datetime, *, mac: str | None,
                model: str | None, account: Account, prov: Mapping[str, str],
                admin_password: str = "", firmware: Mapping[str, str] | None = None
                ) -> dict[str, Any]:
        """Every value a template may use, vendor extras and ``prov.auth_base`` included."""
        full = {"base": "", "http_base": "", "path": "", "user": "", "password": "", **prov}
        full["auth_base"] = with_credentials(full["http_base"], full["user"], full["password"])
        ctx: dict[str, Any] = {
            "mac": mac or "", "MAC": (mac or "").upper(), "model": model or "",
            "vendor_label": vendor.label, "account": account,
            "sip": {"host": site.sip_host, "port": site.sip_port,
                    "transport": site.sip_transport,
                    "server": f"{site.sip_host}:{site.sip_port}"},
            "prov": full,
            "ntp": site.ntp, "tz": site.tz(now),
            "lang": vendor.languages.get(site.language, site.language),
            "site_language": site.language,
            "admin_password": admin_password, "firmware": firmware,
        }
        ctx.update(vendor.extras(ctx))
        return ctx

    def render(self, template: str, ctx: Mapping[str, Any]) -> bytes:
        """The rendered file; any template fault becomes ProvisioningError (never its values)."""
        try:
            return self.env.get_template(template).render(ctx).encode("utf-8")
        except jinja2.TemplateError as exc:
            raise ProvisioningError(f"template {template}: {type(exc).__name__}") from None
