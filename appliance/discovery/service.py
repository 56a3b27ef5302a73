"""The discovery part: SIP PnP responder, mDNS, SNMP sweeps and neighbor-table scans."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import netifaces

from appliance.config import DiscoveryConfig, Listen
from appliance.directory import Directory
from appliance.discovery import pnp
from appliance.discovery.inventory import Inventory
from appliance.discovery.mdns import Announcement, Found, Mdns
from appliance.discovery.snmp import Sweeper, credentials
from appliance.errors import ConfigError
from appliance.lan import addresses, neighbors
from appliance.service import ServiceContext

log = logging.getLogger(__name__)

WEB_BIND_WAIT = 30.0  # seconds the mDNS announcement waits for the web part to bind


def interface_addresses(cfg: DiscoveryConfig) -> list[tuple[str, str]]:
    """(address, netmask) of each configured interface, or of every non-loopback IPv4 one."""
    names = list(cfg.interfaces) or list(netifaces.interfaces())
    found = []
    for name in names:
        if name not in netifaces.interfaces():
            raise ConfigError(f"discovery.interfaces: no interface named {name!r}")
        for entry in netifaces.ifaddresses(name).get(netifaces.AF_INET, []):
            address = entry.get("addr", "")
            if address and not ipaddress.ip_address(address).is_loopback:
                found.append((address, entry.get("netmask", "255.255.255.255")))
    return found


def announcements(bound: Mapping[str, Listen], lan: list[str],
                  provisioning: str) -> list[Announcement]:
    """What mDNS announces on the box's ``lan`` addresses: the admin page (TXT: the
    provisioning URL) and the registrar, each on the port it bound and only when it listens
    on those addresses (a server bound to the loopback is not announced)."""
    out = []
    web, sip = bound.get("web"), bound.get("sip_udp")
    if web is not None and _on_lan(web, lan, dual_stack=False):
        out.append(Announcement("_http._tcp.local.", web.port,
                                {"path": "/", "provisioning": provisioning}))
    if sip is not None and _on_lan(sip, lan, dual_stack=True):
        out.append(Announcement("_sip._udp.local.", sip.port, {}))
    return out


def _on_lan(listen: Listen, lan: list[str], dual_stack: bool) -> bool:
    return any(addresses.reachable(listen.host, a, (), dual_stack) == a for a in lan)


def connected_subnets(addresses: list[tuple[str, str]]) -> list[str]:
    """The directly connected IPv4 subnets of ``addresses``."""
    nets = {str(ipaddress.ip_network(f"{a}/{m}", strict=False)) for a, m in addresses}
    return sorted(nets)


class DiscoveryService:
    """Runs the enabled discovery methods and merges what they see into the inventory."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.cfg = ctx.config.discovery
        self.inventory = Inventory(Directory(ctx.store, actor="discovery"))
        self.tasks: list[asyncio.Task[None]] = []
        self.transport: asyncio.DatagramTransport | None = None
        self.mdns: Mdns | None = None
        self.lan: list[str] = []  # the box's addresses on the discovery interfaces

    def base_url(self, local_ip: str) -> str:
        """The provisioning URL as a phone that reaches the box on ``local_ip`` must be told
        it: ``provisioning.url``, else the HTTP server's bound address and port (on a
        wildcard bind, ``local_ip``)."""
        if self.ctx.config.provisioning.url:
            return self.ctx.config.provisioning.url.rstrip("/") + "/"
        http = self.ctx.bound.get("http", self.ctx.config.provisioning.http_listen)
        host = addresses.reachable(http.host, local_ip, self.lan)
        return addresses.server_url("http", host, http.port, 80) + "/"

    async def start(self) -> dict[str, Listen]:
        """Start each enabled method."""
        found = interface_addresses(self.cfg)
        self.lan = [a for a, _ in found]
        bound: dict[str, Listen] = {}
        if self.cfg.pnp:
            bound["pnp"] = await self._start_pnp(self.lan)
        if self.cfg.mdns:
            await self._start_mdns(self.lan)
        if self.cfg.snmp:
            subnets = list(self.cfg.subnets) or connected_subnets(found)
            self._every(self.cfg.snmp_interval, lambda: self.sweep(subnets))
        if self.cfg.neighbors:
            self._every(self.cfg.neighbors_interval, self.scan_neighbors)
        return bound

    async def _start_pnp(self, addresses: list[str]) -> Listen:
        loop = asyncio.get_running_loop()
        sock = pnp.group_socket(addresses)

        def seen(sub: pnp.Subscription, ip: str) -> None:
            self._background(asyncio.to_thread(self.inventory.pnp, sub, ip))

        transport, _ = await loop.create_datagram_endpoint(
            lambda: pnp.PnpResponder(self.base_url, seen), sock=sock)
        self.transport = transport
        log.info("pnp: answering on %s:%d via %s", pnp.GROUP, pnp.PORT, ", ".join(addresses))
        return Listen(pnp.GROUP, pnp.PORT)

    async def _start_mdns(self, lan: list[str]) -> None:
        self.mdns = Mdns(lan)

        def found(service: Found) -> None:
            self._background(asyncio.to_thread(self.inventory.mdns, service))

        self.mdns.browse(self.cfg.mdns_browse, found)
        # The web part starts after this one: announce once it has bound (bounded wait).
        self._background(self._announce(self.mdns, lan))

    async def _announce(self, mdns: Mdns, lan: list[str]) -> None:
        config = self.ctx.config
        deadline = asyncio.get_running_loop().time() + WEB_BIND_WAIT
        while (config.web.enabled and "web" not in self.ctx.bound
               and asyncio.get_running_loop().time() < deadline):
            await asyncio.sleep(0.1)
        services = announcements(self.ctx.bound, lan, self.base_url(lan[0] if lan else ""))
        await mdns.announce(services)
        log.info("mdns: announced %s on %s", ", ".join(f"{a.type_} port {a.port}" for a in
                                                      services) or "nothing",
                 ", ".join(lan) or "no address")

    async def sweep(self, subnets: list[str]) -> int:
        """One SNMP sweep; returns how many phones it recorded."""
        sweeper = Sweeper(credentials(self.cfg.snmp_communities, self.cfg.snmp_v3))
        answers = await sweeper.sweep(subnets)
        table = await asyncio.to_thread(neighbors.read_table)
        recorded = [await asyncio.to_thread(self.inventory.snmp, a, table) for a in answers]
        return sum(1 for phone in recorded if phone is not None)

    async def scan_neighbors(self) -> int:
        """One neighbor-table scan; returns how many phones it recorded."""
        table = await asyncio.to_thread(neighbors.read_table)
        return len(await asyncio.to_thread(self.inventory.neighbors, table))

    def _every(self, interval: float, job: Callable[[], Awaitable[Any]]) -> None:
        async def loop() -> None:
            while True:
                try:
                    await job()
                except Exception:
                    log.exception("discovery job failed; next try in %.0f s", interval)
                await asyncio.sleep(interval)

        self.tasks.append(asyncio.create_task(loop()))

    def _background(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self.tasks.append(task)
        task.add_done_callback(lambda t: self.tasks.remove(t) if t in self.tasks else None)

    async def stop(self) -> None:
        """Cancel the periodic jobs, close the PnP socket, withdraw mDNS."""
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.transport is not None:
            self.transport.close()
        if self.mdns is not None:
            await self.mdns.close()


def create(ctx: ServiceContext) -> DiscoveryService:
    """The discovery part for ``ctx``."""
    return DiscoveryService(ctx)
