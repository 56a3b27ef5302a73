"""One typed config: frozen dataclasses loaded from one TOML file.

``load(path, env)`` reads the file named by ``path`` (or ``APPLIANCE_CONFIG`` in
``env``), checks every key and value, and returns a ``Config``; anything wrong
raises ``ConfigError`` with one line naming the file and key. With no file at
all, the dev defaults apply: everything on 127.0.0.1, data in ``./var``, no LAN
discovery. Relative paths in a file are relative to that file's folder.
``with_overrides`` lays the admin page's settings (``OVERRIDABLE`` keys) over it.

``model`` holds the types, ``readers`` the checks of each section, ``loader`` the rest.
"""

from appliance.config.loader import OVERRIDABLE, load, with_overrides
from appliance.config.model import (
    ENV_CONFIG,
    LOG_LEVELS,
    SCANNER_AGENTS,
    BackupConfig,
    Config,
    DiscoveryConfig,
    EventsConfig,
    Listen,
    LogConfig,
    MediaConfig,
    PathsConfig,
    ProvisioningConfig,
    SipConfig,
    SnmpV3User,
    StoreConfig,
    WebConfig,
)
from appliance.config.readers import parse_listen
from appliance.errors import ConfigError

__all__ = [
    "ENV_CONFIG",
    "LOG_LEVELS",
    "OVERRIDABLE",
    "SCANNER_AGENTS",
    "BackupConfig",
    "Config",
    "ConfigError",
    "DiscoveryConfig",
    "EventsConfig",
    "Listen",
    "LogConfig",
    "MediaConfig",
    "PathsConfig",
    "ProvisioningConfig",
    "SipConfig",
    "SnmpV3User",
    "StoreConfig",
    "WebConfig",
    "load",
    "parse_listen",
    "with_overrides",
]
