"""mDNS with python-zeroconf: announce the appliance, browse for phones and softphones."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from zeroconf import InterfaceChoice, IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from appliance.discovery.identify import Identity, from_description, vendor_from_text

log = logging.getLogger(__name__)

INSTANCE = "Office phone appliance"
RESOLVE_MS = 3000


@dataclass(frozen=True)
class Announcement:
    """A service the appliance announces: type, port and TXT properties."""

    type_: str
    port: int
    properties: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Found:
    """A service some device announced: name, type, IPv4 addresses, TXT, who it seems to be."""

    name: str
    type_: str
    addresses: tuple[str, ...]
    port: int
    properties: dict[str, str]
    identity: Identity


def identify(name: str, properties: dict[str, str]) -> Identity:
    """Vendor, model and firmware from a service's instance name and TXT properties."""
    lowered = {k.lower(): v for k, v in properties.items()}
    text = " ".join([name, *lowered.values()])
    found = from_description(text, model=lowered.get("model", ""),
                             firmware=lowered.get("version", lowered.get("firmware", "")))
    vendor = vendor_from_text(lowered.get("vendor", "")) or found.vendor
    return Identity(vendor, found.model, found.firmware)


def _decode(properties: dict[bytes, bytes | None]) -> dict[str, str]:
    return {k.decode("utf-8", "replace"): (v or b"").decode("utf-8", "replace")
            for k, v in properties.items()}


class Mdns:
    """One zeroconf instance on the given interface addresses."""

    def __init__(self, interfaces: Sequence[str], hostname: str | None = None) -> None:
        choice: Sequence[str | int | tuple[tuple[str, int, int], int]] | InterfaceChoice = (
            list(interfaces) if interfaces else InterfaceChoice.All)
        self.azc = AsyncZeroconf(interfaces=choice, ip_version=IPVersion.V4Only)
        self.addresses = [a for a in interfaces if a]
        self.hostname = hostname or socket.gethostname()
        self.infos: list[AsyncServiceInfo] = []
        self.browser: AsyncServiceBrowser | None = None
        self.pending: set[asyncio.Task[None]] = set()

    async def announce(self, services: Sequence[Announcement]) -> None:
        """Register each service under the appliance's instance name."""
        for service in services:
            info = AsyncServiceInfo(
                service.type_, f"{INSTANCE}.{service.type_}",
                addresses=[socket.inet_aton(a) for a in self.addresses], port=service.port,
                properties=service.properties, server=f"{self.hostname}.local.")
            await self.azc.async_register_service(info, allow_name_change=True)
            self.infos.append(info)

    def browse(self, types: Sequence[str], found: Callable[[Found], None]) -> None:
        """Call ``found`` for every service of ``types`` that appears (not our own)."""

        def changed(zeroconf: Zeroconf, service_type: str, name: str,
                    state_change: ServiceStateChange) -> None:
            if state_change is not ServiceStateChange.Added or name.startswith(INSTANCE):
                return
            task = asyncio.ensure_future(self._resolve(service_type, name, found))
            self.pending.add(task)
            task.add_done_callback(self.pending.discard)

        if types:
            self.browser = AsyncServiceBrowser(self.azc.zeroconf, list(types),
                                               handlers=[changed])

    async def _resolve(self, type_: str, name: str, found: Callable[[Found], None]) -> None:
        info = AsyncServiceInfo(type_, name)
        if not await info.async_request(self.azc.zeroconf, RESOLVE_MS):
            log.debug("mdns: %s did not resolve", name)
            return
        properties = _decode(info.properties)
        instance = name.removesuffix("." + type_)
        found(Found(instance, type_, tuple(info.parsed_addresses(IPVersion.V4Only)),
                    info.port or 0, properties, identify(instance, properties)))

    async def close(self) -> None:
        """Withdraw the announcements and stop browsing."""
        if self.browser is not None:
            await self.browser.async_cancel()
        for task in list(self.pending):
            task.cancel()
        for info in self.infos:
            await self.azc.async_unregister_service(info)
        await self.azc.async_close()
