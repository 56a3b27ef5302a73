"""Render vendor templates (Jinja2) from plain values: pure, no store, no sockets."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import jinja2

from appliance.errors import ProvisioningError
from appliance.lan.addresses import is_wildcard, reachable, unbracket, url_host
from appliance.provisioning.vendors.base import Vendor

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
# Templates in a cfg "key = value" format (no XML escaping): every other one (a Yealink
# phonebook .xml too) is XML.
CFG_FORMATS = ("yealink/",)
UNASSIGNED = "Unassigned"
SHARED_MEMO = 256  # shared files kept rendered (each a few KB: vendor x model x address)
# What the message key of an assigned phone dials: the mailbox feature code (asks for the PIN);
# the same code as ``appliance.calls.voicemail.CODES`` (not imported: that pulls in media).
MAILBOX_NUMBER = "*97"


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
    return name is None or not (name.startswith(CFG_FORMATS) and name.endswith(".cfg"))


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


def split_host_port(text: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]`` or ``[v6]:port`` as (host unbracketed, port or None)."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":")
        return host, int(port) if port.isdigit() else None
    host, sep, port = text.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        return host, int(port)
    return text, None


def seen_url(url: str, local_ip: str, fallbacks: Sequence[str] = ()) -> str:
    """``url`` with a wildcard host (``0.0.0.0``, ``[::]``) replaced by the box's address
    as the phone reached it (``local_ip``; else the first of ``fallbacks`` that fits).
    The TFTP server's socket takes both families on ``[::]``, the HTTP servers IPv6 only."""
    scheme, sep, rest = url.partition("://")
    hostport, slash, path = rest.partition("/")
    host, port = split_host_port(hostport)
    if not sep or not is_wildcard(host):
        return url
    address = url_host(reachable(host, local_ip, fallbacks, dual_stack=scheme == "tftp"))
    return f"{scheme}://{address}" + ("" if port is None else f":{port}") + slash + path


@dataclass(frozen=True)
class Site:
    """What every file of this box tells a phone, besides its account. A wildcard
    ``sip_host`` stands for the box's address as each phone reaches it (``seen_from``)."""

    sip_host: str
    sip_port: int
    sip_transport: str
    ntp: str
    timezone: str
    language: str
    fallbacks: tuple[str, ...] = ()  # the box's LAN addresses, when the request's won't do

    def seen_from(self, local_ip: str) -> Site:
        """This site as told to a phone whose request reached the box on ``local_ip``."""
        if not is_wildcard(unbracket(self.sip_host)):
            return self
        return replace(self, sip_host=url_host(reachable(
            self.sip_host, local_ip, self.fallbacks, dual_stack=self.sip_transport == "udp")))

    def tz(self, now: datetime) -> dict[str, Any]:
        """The zone name and its UTC offset in minutes at ``now``."""
        offset = now.astimezone(ZoneInfo(self.timezone)).utcoffset()
        minutes = int(offset.total_seconds() // 60) if offset is not None else 0
        return {"name": self.timezone, "offset_minutes": minutes}


class Renderer:
    """Compiled vendor templates from one folder; files with nothing of one phone in them
    memoised by their whole context (``render_shared``)."""

    def __init__(self, folder: Path | None = None, shared_memo: int = SHARED_MEMO) -> None:
        self.shared_memo = shared_memo
        self._shared: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(folder or TEMPLATES)),
            autoescape=_autoescape,  # noqa: S701 (XML escaped; cfg files use |cfg)
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True, auto_reload=False)
        self.env.filters["cfg"] = _cfg_value

    def context(self, vendor: Vendor, site: Site, now: datetime, *, mac: str | None,
                model: str | None, account: Account, prov: Mapping[str, str],
                admin_password: str = "", firmware: Mapping[str, str] | None = None,
                entries: Sequence[Any] = ()) -> dict[str, Any]:
        """Every value a template may use, vendor extras and ``prov.auth_base`` included;
        ``entries`` is the company phonebook (in a phonebook file only)."""
        full = {"base": "", "http_base": "", "path": "", "user": "", "password": "", **prov}
        full["auth_base"] = with_credentials(full["http_base"], full["user"], full["password"])
        ctx: dict[str, Any] = {
            "mac": mac or "", "MAC": (mac or "").upper(), "model": model or "",
            "vendor_label": vendor.label, "account": account,
            # the message key's number; "" for a phone with its account off
            "mailbox": MAILBOX_NUMBER if account.enabled else "",
            "sip": {"host": site.sip_host, "port": site.sip_port,
                    "transport": site.sip_transport,
                    "server": f"{site.sip_host}:{site.sip_port}"},
            "prov": full,
            "ntp": site.ntp, "tz": site.tz(now),
            "lang": vendor.languages.get(site.language, site.language),
            "site_language": site.language,
            "admin_password": admin_password, "firmware": firmware,
            "entries": tuple(entries),
        }
        ctx.update(vendor.extras(ctx))
        return ctx

    def render(self, template: str, ctx: Mapping[str, Any]) -> bytes:
        """The rendered file; any template fault becomes ProvisioningError (never its values)."""
        try:
            return self.env.get_template(template).render(ctx).encode("utf-8")
        except jinja2.TemplateError as exc:
            raise ProvisioningError(f"template {template}: {type(exc).__name__}") from None

    def render_shared(self, template: str, ctx: Mapping[str, Any]) -> bytes:
        """``render`` for a file every phone of a kind gets alike (no MAC, account off, no
        secret), kept by template and context: a boot storm renders each once. The context is
        the key, so whatever changes in it (address, clock's zone offset, firmware) misses."""
        if ctx.get("mac") or ctx["account"].enabled or ctx.get("admin_password") \
                or ctx["prov"].get("password"):
            raise ProvisioningError("a file with one phone's values in it is never shared")
        key = (template, repr(ctx))
        with self._lock:
            data = self._shared.get(key)
            if data is not None:
                self._shared.move_to_end(key)
                return data
        data = self.render(template, ctx)
        with self._lock:
            self._shared[key] = data
            while len(self._shared) > self.shared_memo:
                self._shared.popitem(last=False)
        return data
