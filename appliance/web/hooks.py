"""What other parts of the appliance report, as the web shows it; each hook says when it has
nothing yet, never a made-up value.

- registration state: the SIP routing core persists its bindings in the store
  (``routing/bindings.py``); ``registrations`` reads the live ones.
- firmware images: provisioning keeps them in the store (``appliance firmware add``).
- the addresses the daemon bound come from ``<data>/run/ports.json``, written by the daemon.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from appliance.config import Config, Listen
from appliance.store import Store

WILDCARDS = ("0.0.0.0", "::", "")  # noqa: S104 (recognised, not bound)


@dataclass(frozen=True)
class Registration:
    """One live registration (binding) of an extension, as the registrar persisted it."""

    extension: str
    kind: str  # "desk" (a desk phone) or "app" (a softphone)
    transport: str
    host: str
    port: int
    contact: str
    user_agent: str
    expires_at: datetime

    @property
    def address(self) -> str:
        """``udp 192.0.2.7:5060`` (an IPv6 host in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport} {host}:{self.port}"


def bindings(store: Store) -> dict[str, list[Registration]]:
    """Live registrations by extension number (desk phones first)."""
    from appliance.routing.bindings import report

    now = datetime.now(UTC)
    found: dict[str, list[Registration]] = {}
    for row in report(store):
        transport, _, rest = row["via"].partition(":")
        host, _, port = rest.rpartition(":")
        found.setdefault(row["extension"], []).append(Registration(
            row["extension"], row["kind"], transport, host, int(port or 0), row["contact"],
            row["user_agent"], now + timedelta(seconds=int(row["expires_in"]))))
    for regs in found.values():
        regs.sort(key=lambda r: (r.kind != "desk", r.host, r.port))
    return found


def registrations(store: Store) -> dict[str, str]:
    """Live registrations by extension number, as ``desk 192.0.2.7, app 192.0.2.9``."""
    return {number: ", ".join(f"{r.kind} {r.host}" for r in regs)
            for number, regs in bindings(store).items()}


def firmware_images(config: Config, store: Store) -> list[str]:
    """The firmware images provisioning serves, as ``vendor model version (size)``."""
    from appliance.provisioning.firmware import Firmware

    return [f"{i.vendor} {i.model} {i.version} ({i.size:,} bytes)"
            for i in Firmware(store, config.paths.data, profiles={}).images()]


def bound_addresses(config: Config) -> dict[str, str]:
    """What the running daemon bound, by service name (empty when it does not run)."""
    try:
        data = json.loads((config.run_dir / "ports.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items() if k != "pid"}


@dataclass(frozen=True)
class ProvisioningUrls:
    """Where phones fetch their files: for DHCP option 66, and both servers."""

    option66: str
    http: str
    tftp: str


def _host(listen: Listen, seen_as: str) -> str:
    host = seen_as if listen.host in WILDCARDS else listen.host
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def provisioning_urls(config: Config, seen_as: str) -> ProvisioningUrls | None:
    """The provisioning URLs, with the box's address as the browser reached it when the
    servers listen on every address; None when provisioning is switched off."""
    prov = config.provisioning
    if not prov.enabled:
        return None
    http_host = _host(prov.http_listen, seen_as)
    tftp_host = _host(prov.tftp_listen, seen_as)
    http = f"http://{http_host}" + ("" if prov.http_listen.port == 80
                                    else f":{prov.http_listen.port}") + "/"
    tftp = f"tftp://{tftp_host}" + ("" if prov.tftp_listen.port == 69
                                    else f":{prov.tftp_listen.port}")
    configured = str(getattr(prov, "url", "") or "")
    return ProvisioningUrls(option66=configured or http, http=http, tftp=tftp)
