"""Load the config file, lay the admin page's settings over it, build the Config."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from appliance.config.model import (
    ENV_CONFIG,
    LOG_LEVELS,
    Config,
    LogConfig,
    PathsConfig,
    StoreConfig,
)
from appliance.config.readers import (
    Section,
    backup,
    discovery,
    events,
    mail,
    media,
    path_of,
    provisioning,
    recording,
    sip,
    web,
)
from appliance.errors import ConfigError

# What the admin page may change (kept in the store, laid over the file by with_overrides).
OVERRIDABLE: dict[str, tuple[str, ...]] = {
    "sip": ("domain",),
    "provisioning": ("url", "ntp_server", "timezone", "language"),
    "discovery": ("pnp", "mdns", "snmp", "neighbors", "subnets", "snmp_communities",
                  "snmp_interval", "neighbors_interval"),
}


def _merge(raw: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``raw`` with ``overrides`` laid over it; a key not in OVERRIDABLE is refused."""
    merged = {name: dict(t) if isinstance(t, dict) else t for name, t in raw.items()}
    for name, table in overrides.items():
        if not isinstance(table, Mapping):
            raise ConfigError(f"[{name}]: settings from the admin page must be a table, "
                              f"got {type(table).__name__}")
        for key in table:
            if key not in OVERRIDABLE.get(name, ()):
                raise ConfigError(f"{name}.{key}: cannot be changed on the admin page")
        if isinstance(merged.setdefault(name, {}), dict):
            merged[name].update(table)
    return merged


def with_overrides(config: Config, overrides: Mapping[str, Any]) -> Config:
    """``config`` with the overridable sections rebuilt from its file and ``overrides``."""
    base = config.source.parent if config.source else Path.cwd()
    built = _build(config.raw, base, config.source, overrides)
    return replace(config, sip=built.sip, provisioning=built.provisioning,
                   discovery=built.discovery, overrides=built.overrides)


def _build(raw: Mapping[str, Any], base: Path, source: Path | None,
           overrides: Mapping[str, Any] | None = None) -> Config:
    tables = _merge(raw, overrides or {})
    known = ("paths", "store", "log", "events", "web", "sip", "provisioning", "discovery",
             "backup", "media", "recording", "mail")
    s = {name: Section(name, tables.pop(name, {})) for name in known}
    if tables:
        raise ConfigError(f"unknown config section: {', '.join(sorted(tables))}")
    data = path_of(s["paths"].string("data", "var"), base, "paths.data")
    url = s["store"].string("url", f"sqlite:///{data / 'appliance.db'}")
    if "://" not in url:
        raise ConfigError(f"store.url: expected a URL such as sqlite:///path.db, got {url!r}")
    config = Config(
        paths=PathsConfig(data=data),
        store=StoreConfig(url=url),
        log=LogConfig(level=s["log"].choice("level", "info", LOG_LEVELS)),
        events=events(s["events"]),
        web=web(s["web"], base),
        sip=sip(s["sip"], base),
        provisioning=provisioning(s["provisioning"], base),
        discovery=discovery(s["discovery"]),
        backup=backup(s["backup"], base),
        media=media(s["media"], base),
        recording=recording(s["recording"]),
        mail=mail(s["mail"], base),
        source=source,
        raw=raw,
        overrides=dict(overrides or {}),
    )
    for section in s.values():
        section.finish()
    return config


def load(path: str | Path | None = None, env: Mapping[str, str] | None = None,
         overrides: Mapping[str, Any] | None = None) -> Config:
    """Load the config from ``path``, else ``$APPLIANCE_CONFIG``, else the dev defaults;
    ``overrides`` (the admin page's settings) are laid over the file."""
    env = env if env is not None else {}
    chosen = path if path else env.get(ENV_CONFIG) or None
    if chosen is None:
        return _build({}, Path.cwd(), None, overrides)
    file = Path(chosen).expanduser().resolve()
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {file} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {file} cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {file} is not valid TOML: {exc}") from None
    try:
        return _build(raw, file.parent, file, overrides)
    except ConfigError as exc:
        raise ConfigError(f"{file}: {exc}") from None

