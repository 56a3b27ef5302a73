"""Settings an admin changes on the Settings page, kept as overrides over the config file.

The file stays the base. What the admin sets differently is kept in the store (settings key
``override``, JSON ``{"sip": {"domain": ...}, ...}``), checked by the config's own readers
(``config.with_overrides``), audited and published as ``settings.changed`` (the names of the
keys only), on which the daemon restarts its parts with the new config. Every request of the
web app reads the overrides, so a change made here, by the CLI or by another box shows at once.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Flask

from appliance.config import Config, with_overrides
from appliance.errors import ConfigError
from appliance.store import Store, journal
from appliance.store import settings as kv
from appliance.web.i18n import N_, _

log = logging.getLogger(__name__)
CACHE = "appliance.effective_config"  # app.extensions key: (overrides JSON, Config)
HIDDEN = "(changed)"  # what the audit log says instead of a secret value


@dataclass(frozen=True)
class Field:
    """One setting on the form: where it lives in the config, how it is typed in."""

    section: str
    key: str
    kind: str  # text, choice, bool, list, secret (a list never shown), number
    label: str
    help: str = ""

    @property
    def name(self) -> str:
        """The form field's name, e.g. ``sip_domain``."""
        return f"{self.section}_{self.key}"

    @property
    def dotted(self) -> str:
        """The config key, e.g. ``sip.domain``."""
        return f"{self.section}.{self.key}"


FIELDS = (
    Field("sip", "domain", "text", N_("SIP domain"),
          N_("The name phones register to, such as pbx.example.com; empty accepts any.")),
    Field("provisioning", "url", "text", N_("Provisioning URL"),
          N_("Where phones fetch their files; empty uses this appliance's own address.")),
    Field("provisioning", "ntp_server", "text", N_("Time server (NTP)")),
    Field("provisioning", "timezone", "text", N_("Time zone"),
          N_("An IANA time zone such as Asia/Ho_Chi_Minh.")),
    Field("provisioning", "language", "choice", N_("Language on the phones")),
    Field("discovery", "pnp", "bool", N_("SIP PnP: answer phones that ask for a server")),
    Field("discovery", "mdns", "bool", N_("mDNS: announce the appliance, look for phones")),
    Field("discovery", "snmp", "bool", N_("SNMP: ask the devices in the subnets")),
    Field("discovery", "neighbors", "bool", N_("Neighbor table: phones by their MAC prefix")),
    Field("discovery", "subnets", "list", N_("Subnets to search"),
          N_("Separated by commas or spaces, such as 192.168.1.0/24.")),
    Field("discovery", "snmp_communities", "secret", N_("SNMP communities"),
          N_("Separated by commas. Never shown; leave empty to keep the current ones.")),
    Field("discovery", "snmp_interval", "number", N_("SNMP search every (seconds)")),
    Field("discovery", "neighbors_interval", "number",
          N_("Neighbor table read every (seconds)")),
)
PHONE_LANGUAGES = {"en": "English", "fr": "Français", "de": "Deutsch", "es": "Español",
                   "it": "Italiano", "nl": "Nederlands", "pt": "Português"}

_GOT = r"(?:, got (?P<got>.*))?"
# The config readers' messages (after "section.key: "), with the text shown on the page.
PATTERNS: list[tuple[re.Pattern[str], str]] = [(re.compile(p + r"\Z", re.S), m) for p, m in [
    (r"expected a host name" + _GOT,
     N_("Use a host name: letters, digits, '.' and '-' only.")),
    (r"expected an http://, https:// or tftp:// URL" + _GOT,
     N_("Use a URL that starts with http://, https:// or tftp://.")),
    (r"not an IANA zone such as '(?P<example>[^']+)'" + _GOT,
     N_("Use a time zone name such as %(example)s.")),
    (r"expected a host name or address" + _GOT, N_("Use a host name or an IP address.")),
    (r"expected one of (?P<choices>[a-z, ]+)" + _GOT, N_("Choose one of: %(choices)s.")),
    (r"(?P<value>'.*') is not a subnet such as (?P<example>\S+)",
     N_("%(value)s is not a subnet such as %(example)s.")),
    (r"must be between (?P<low>[\d.]+) and (?P<high>[\d.]+)" + _GOT,
     N_("Use a number from %(low)s to %(high)s.")),
    (r"expected a number" + _GOT, N_("Use a number.")),
]]


def translate(message: str) -> str:
    """A config reader's message (without its key) in the current language."""
    for pattern, text in PATTERNS:
        match = pattern.match(message)
        if match:
            values = {k: _plain(v) for k, v in match.groupdict().items() if v is not None}
            shown = _(text, **values)
            got = values.get("got")
            return _("%(rule)s (got %(value)s)", rule=shown, value=got) if got else shown
    return message


def _plain(value: str) -> str:
    return value[:-2] if re.fullmatch(r"\d+\.0", value) else value


def stored(store: Store) -> dict[str, Any]:
    """The overrides kept in the store."""
    with store.read() as conn:
        return kv.get_overrides(conn)


def effective(app: Flask) -> Config:
    """The app's config with the stored overrides (the file's alone if they no longer fit)."""
    base: Config = app.config["APPLIANCE"]
    overrides = stored(app.extensions["appliance.store"])
    key = json.dumps(overrides, sort_keys=True)
    cached = app.extensions.get(CACHE)
    if cached is not None and cached[0] == key:
        config: Config = cached[1]
        return config
    try:
        config = with_overrides(base, overrides) if overrides or base.overrides else base
    except ConfigError as exc:
        log.warning("settings from the admin page do not apply, the file's do: %s", exc)
        config = with_overrides(base, {})
    app.extensions[CACHE] = (key, config)
    return config


def value(config: Config, field: Field) -> Any:
    """The field's current value in ``config``."""
    return getattr(getattr(config, field.section), field.key)


def shown(config: Config, field: Field) -> str:
    """The field's value as the form shows it (a secret never)."""
    current = value(config, field)
    if field.kind == "secret":
        return ""
    if field.kind == "bool":
        return "on" if current else ""
    if field.kind == "list":
        return ", ".join(current)
    if field.kind == "number":
        return _plain(str(current))
    return str(current)


def _typed(field: Field, form: Mapping[str, str], current: Config) -> Any:
    """The form's text for ``field`` as the TOML value the config reader expects."""
    text = form.get(field.name, "").strip()
    if field.kind == "bool":
        return field.name in form
    if field.kind in ("list", "secret"):
        items = [t for t in re.split(r"[,\s]+" if field.kind == "list" else r"\s*,\s*", text)
                 if t]
        return list(value(current, field)) if field.kind == "secret" and not items else items
    if field.kind == "number":
        try:
            number = float(text)
        except ValueError:
            return text  # the reader names it: "expected a number"
        return int(number) if number.is_integer() else number
    return text


def _describe(config: Config, field: Field) -> Any:
    """The new value for the audit log (lists as lists, secrets hidden)."""
    current = value(config, field)
    if field.kind == "secret":
        return HIDDEN
    return list(current) if isinstance(current, tuple) else current


def save(base: Config, now: Config, form: Mapping[str, str], store: Store,
         actor: str) -> tuple[dict[str, list[str]], list[str]]:
    """Check and keep the form's settings; return (errors by field, changed config keys).

    Only what differs from the config file is kept; nothing is written when nothing changed.
    """
    candidate: dict[str, dict[str, Any]] = {}
    errors: dict[str, list[str]] = {}
    for field in FIELDS:
        typed = _typed(field, form, now)
        try:
            with_overrides(base, {field.section: {field.key: typed}})
        except ConfigError as exc:
            errors[field.name] = [translate(str(exc).removeprefix(f"{field.dotted}: "))]
        candidate.setdefault(field.section, {})[field.key] = typed
    if errors:
        return errors, []
    try:
        new = with_overrides(base, candidate)
    except ConfigError as exc:
        return {"_form": [str(exc)]}, []
    return {}, apply(base, now, new, candidate, store, actor)


def apply(base: Config, now: Config, new: Config, candidate: Mapping[str, Mapping[str, Any]],
          store: Store, actor: str) -> list[str]:
    """Keep the values of ``new`` that differ from the file; audit and publish the change."""
    file = with_overrides(base, {})
    kept: dict[str, dict[str, Any]] = {}
    for field in FIELDS:
        if value(new, field) != value(file, field):
            kept.setdefault(field.section, {})[field.key] = candidate[field.section][field.key]
    changed = sorted(f.dotted for f in FIELDS if value(new, f) != value(now, f))
    if not changed:
        return []
    at = datetime.now(UTC)
    with store.write() as conn:
        kv.put_overrides(conn, kept)
        detail = {f.dotted: _describe(new, f) for f in FIELDS if f.dotted in changed}
        journal.record(conn, actor, "settings.changed", "settings", detail, at)
        journal.publish(conn, "settings.changed", {"keys": changed}, at)
    return changed


def reset(base: Config, now: Config, store: Store, actor: str) -> list[str]:
    """Drop every override: the config file's values apply again."""
    file = with_overrides(base, {})
    return apply(base, now, file, {}, store, actor)
