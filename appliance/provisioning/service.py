"""The provisioning part of the daemon: TFTP, HTTP and HTTPS over one resolver, the push."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import resource
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from sqlalchemy import insert, select

from appliance.config import Config, Listen
from appliance.directory import Directory
from appliance.events import Event
from appliance.lan.addresses import lan_addresses, server_url, url_host
from appliance.lan.neighbors import NeighborTable
from appliance.provisioning import inventory, phonebook, push
from appliance.provisioning.firmware import Firmware, load_profiles
from appliance.provisioning.guard import Guard
from appliance.provisioning.http import ProvisioningApp
from appliance.provisioning.render import Renderer, Site, split_host_port
from appliance.provisioning.resolver import Peer, Resolver, Result, Urls
from appliance.provisioning.tftp import TftpServer
from appliance.service import ServiceContext
from appliance.store import Store
from appliance.store.provisioning_tables import phone_uploads
from appliance.store.tables import phones
from appliance.web.server import TlsWsgiThread, WsgiThread
from appliance.workers import Workers

log = logging.getLogger(__name__)

OPEN_FILES = 8192
# Resolving a request is a few store reads and a render, mostly Python holding the GIL:
# more threads would only take turns with the event loop that sends the blocks.
RESOLVE_THREADS = 2
FIRMWARE_CACHE_SECONDS = 2.0  # `firmware add` (another process) shows within this time


def make_site(config: Config, bound: Mapping[str, Listen],
              fallbacks: tuple[str, ...] = ()) -> Site:
    """What every file tells a phone: ``provisioning.sip_server`` if set, else what the SIP
    core bound for ``sip_transport`` (a wildcard host: each phone is told the address it
    reached the box on; see ``Site.seen_from``); NTP, zone and language."""
    p = config.provisioning
    listen = (bound.get(f"sip_{p.sip_transport}") or bound.get("sip_udp")
              or config.sip.listen)
    host, port = url_host(listen.host), listen.port or 5060
    if p.sip_server:
        name, given = split_host_port(p.sip_server)
        host, port = url_host(name), given or port
    return Site(host, port, p.sip_transport, p.ntp_server, p.timezone, p.language, fallbacks)


def store_upload(store: Store, mac: str, name: str, data: bytes) -> None:
    """Keep a phone's upload (replacing the previous one of that name)."""
    now = datetime.now(UTC)
    with store.write() as conn:
        if conn.execute(select(phones.c.mac).where(phones.c.mac == mac)).first() is None:
            return
        conn.execute(phone_uploads.delete().where(phone_uploads.c.mac == mac,
                                                  phone_uploads.c.name == name))
        conn.execute(insert(phone_uploads).values(mac=mac, name=name, data=data,
                                                  updated_at=now))


def read_upload(store: Store, mac: str, name: str) -> bytes | None:
    """A phone's stored upload of that name, or None."""
    with store.read() as conn:
        return conn.execute(select(phone_uploads.c.data).where(
            phone_uploads.c.mac == mac, phone_uploads.c.name == name)).scalar()


def _raise_open_files() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = OPEN_FILES if hard == resource.RLIM_INFINITY else min(OPEN_FILES, hard)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def _macs_of(store: Store, event: Event) -> list[str]:
    payload = event.payload
    macs = [str(m) for m in payload.get("phones", [])]
    if payload.get("mac"):
        macs.append(str(payload["mac"]))
    number = payload.get("number") if event.kind.startswith("extension.") else None
    employee = payload.get("employee_id") if event.kind == "employee.updated" else None
    if number or employee:
        from appliance.store.tables import extensions

        with store.read() as conn:
            query = select(phones.c.mac).join(extensions, extensions.c.number == phones.c.extension)
            query = (query.where(extensions.c.number == number) if number
                     else query.where(extensions.c.employee_id == employee))
            macs += list(conn.execute(query).scalars())
    return sorted(set(macs))


def push_targets(store: Store, macs: Iterable[str], port: int) -> list[push.Target]:
    """Where to send the NOTIFY for each of ``macs`` (phones with a known address only)."""
    targets = []
    with store.read() as conn:
        for mac in macs:
            row = conn.execute(select(phones.c.ip, phones.c.vendor, phones.c.extension)
                               .where(phones.c.mac == mac)).first()
            if row is not None:
                target = push.target_for(mac, row.ip, row.vendor, row.extension, port)
                if target is not None:
                    targets.append(target)
    return targets


class ProvisioningService:
    """TFTP and HTTP servers over one Resolver; pushes NOTIFY when a phone's file changes."""

    PUSH_KINDS = ("phone.assigned", "phone.disabled", "phone.resync_requested",
                  "extension.assigned", "extension.freed", "extension.password_changed",
                  "extension.updated", "employee.updated", "employee.dismissed",
                  "phone.credentials_reissued")

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.config = ctx.config
        self.tftp: TftpServer | None = None
        self.http: WsgiThread | None = None
        self.https: TlsWsgiThread | None = None
        self.sightings = inventory.SightingWriter(ctx.store, actor="provisioning")
        self.resolver: Resolver | None = None
        self.workers = Workers("provisioning-resolve", RESOLVE_THREADS)

    def _resolver(self, urls: Urls, fallbacks: tuple[str, ...]) -> Resolver:
        p, store = self.config.provisioning, self.ctx.store
        directory = Directory(store, actor="provisioning")
        return Resolver(
            site=make_site(self.config, self.ctx.bound, fallbacks), urls=urls,
            guard=Guard(p.ban_misses, p.ban_window, p.ban_seconds, p.macs_per_source),
            renderer=Renderer(p.templates),
            firmware=Firmware(store, self.config.paths.data, load_profiles(p.firmware_profiles),
                              cache_seconds=FIRMWARE_CACHE_SECONDS),
            lookup=lambda mac: inventory.phone_view(store, mac),
            note=self.sightings.note,
            enroll=lambda mac: inventory.enroll(store, mac, datetime.now(UTC)),
            password_of=lambda mac: inventory.device_password(store, mac),
            redeem=directory.redeem_enrollment,
            uploaded=lambda mac, name: read_upload(store, mac, name),
            neighbors=NeighborTable(),
            phone_subnets=tuple(ipaddress.ip_network(n) for n in p.phone_subnets),
            neighbor_check=p.neighbor_check, http_auth=p.http_auth,
            phonebook=lambda: phonebook.entries(store))

    async def start(self) -> dict[str, Listen]:
        """Bind TFTP, HTTP (and HTTPS when configured), start the sighting writer,
        subscribe to directory events."""
        p = self.config.provisioning
        _raise_open_files()
        fallbacks = tuple(await asyncio.to_thread(lan_addresses))
        urls = Urls("", "", fallbacks)
        self.resolver = await asyncio.to_thread(self._resolver, urls, fallbacks)
        resolver = self.resolver

        async def resolve(path: str, peer: Peer) -> Result:
            return await self.workers.run(resolver.resolve, path, peer)

        self.sightings.start()
        self.tftp = TftpServer(resolve, p.tftp_listen, max_transfers=p.tftp_transfers,
                               per_source=p.tftp_transfers_per_source)
        tftp_bound = await self.tftp.start()
        app = ProvisioningApp(resolver, lambda m, n, d: store_upload(self.ctx.store, m, n, d))
        self.http = WsgiThread(app, p.http_listen, "provisioning-http", threads=8)
        self.http.start()
        http_bound = self.http.bound
        # A wildcard host stays in: each phone is told the address it reached the box on.
        urls.tftp = server_url("tftp", tftp_bound.host, tftp_bound.port, 69)
        urls.http = p.url or server_url("http", http_bound.host, http_bound.port, 80)
        bound = {"tftp": tftp_bound, "http": http_bound}
        if p.https_listen is not None and p.tls_cert is not None and p.tls_key is not None:
            self.https = await asyncio.to_thread(TlsWsgiThread, app, p.https_listen, p.tls_cert,
                                                 p.tls_key, "provisioning-https", 4)
            self.https.start()
            bound["https"] = self.https.bound
            urls.https = server_url("https", self.https.bound.host, self.https.bound.port, 443)
        for kind in self.PUSH_KINDS:
            self.ctx.bus.subscribe(kind, self._on_event)
        return bound

    async def _on_event(self, event: Event) -> None:
        if event.kind == "phone.assigned" and event.payload.get("mac") is not None:
            # a (re)assigned phone is handed fresh HTTP credentials at its next fetch
            await asyncio.to_thread(inventory.unenroll, self.ctx.store, str(event.payload["mac"]))
        macs = await asyncio.to_thread(_macs_of, self.ctx.store, event)
        targets = await asyncio.to_thread(push_targets, self.ctx.store, macs,
                                          self.config.provisioning.push_port)
        sip = self.ctx.notifier()
        for target in targets:
            await asyncio.to_thread(push.send_notify, target, sip)

    async def stop(self) -> None:
        """Close the servers and write the last sightings."""
        if self.tftp is not None:
            await self.tftp.stop()
        self.workers.close()
        if self.http is not None:
            await asyncio.to_thread(self.http.stop)
        if self.https is not None:
            await asyncio.to_thread(self.https.stop)
        await asyncio.to_thread(self.sightings.stop)


def create(ctx: ServiceContext) -> ProvisioningService:
    """The provisioning part for ``ctx``."""
    return ProvisioningService(ctx)
