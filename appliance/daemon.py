"""``appliance run``: wire the enabled services in one asyncio process, start and stop them.

The config is the file's with the admin page's settings from the store laid over it; on a
``settings.changed`` event the daemon stops every part but the web in reverse order and starts
them again with the new config (the web reads the settings at each request).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import json
import logging
import os
import signal
from collections.abc import Collection
from pathlib import Path
from typing import Any

from appliance import systemd
from appliance.backup import upgrade_in_child
from appliance.config import OVERRIDABLE, Config, Listen, with_overrides
from appliance.directory import access
from appliance.errors import ApplianceError, ConfigError
from appliance.events import Event, EventBus, OutboxTail
from appliance.nightly import nightly
from appliance.service import MODULES, PARTS, Service, ServiceContext, enabled
from appliance.store import Store, current_revision, open_store
from appliance.store import settings as kv

log = logging.getLogger("appliance")
GC_YOUNG_THRESHOLD = 20_000  # allocations between young-generation passes (Python: 700)


def load_part(part: str, ctx: ServiceContext) -> Service | None:
    """The part's Service, or None when this build has no module for it (``MODULES``)."""
    name = MODULES.get(part, f"appliance.{part}.service")
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        return None
    service: Service = module.create(ctx)
    return service


def _log_event(event: Event) -> None:
    """Log each directory change the daemon receives (payloads never hold secrets)."""
    log.info("event %d %s %s", event.id, event.kind, json.dumps(event.payload, sort_keys=True))


def stored_overrides(store: Store) -> dict[str, Any]:
    """The admin page's settings kept in the store."""
    with store.read() as conn:
        return kv.get_overrides(conn)


def describe_changes(old: Config, new: Config) -> str:
    """``key=value`` for each overridable key that differs (SNMP communities hidden)."""
    changes = []
    for section, keys in OVERRIDABLE.items():
        for key in keys:
            value = getattr(getattr(new, section), key)
            if getattr(getattr(old, section), key) != value:
                shown = "(hidden)" if key == "snmp_communities" else repr(value)
                changes.append(f"{section}.{key}={shown}")
    return ", ".join(changes) or "none"


def ports_file(config: Config) -> Path:
    """Where the daemon writes the addresses it bound."""
    return config.run_dir / "ports.json"


def write_ports(config: Config, bound: dict[str, Listen]) -> None:
    """Write ``{"pid": ..., "<service>": "host:port"}`` atomically for tests and scripts."""
    config.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = ports_file(config)
    tmp = target.with_suffix(".tmp")
    data = {"pid": os.getpid(), **{name: str(addr) for name, addr in bound.items()}}
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(target)


class Daemon:
    """The appliance's services over one store, in one event loop."""

    def __init__(self, config: Config, store: Store | None = None) -> None:
        self.config = config
        self.store = store or open_store(config.store.url)
        self.bus = EventBus()  # the outbox's; each start of the parts gets a bus of its own
        self.bus.subscribe("", _log_event)
        self.bus.subscribe("settings.changed", self._settings_changed)
        self.bus.subscribe("", self._forward)
        self.tail = OutboxTail(self.store, self.bus, config.events.consumer)
        self.stop_event = asyncio.Event()
        self.ctx = ServiceContext(config, self.store, EventBus())
        self.bound: dict[str, Listen] = self.ctx.bound
        self.started: list[Service] = []
        self.addresses: dict[str, dict[str, Listen]] = {}  # what each part bound

    def _use(self, config: Config) -> None:
        """Run the parts started from now on with ``config``, over a fresh bus."""
        self.config = config
        self.ctx = ServiceContext(config, self.store, EventBus())
        self.bound = self.ctx.bound

    async def _forward(self, event: Event) -> None:
        await self.ctx.bus.deliver(event)

    async def _with_settings(self) -> Config:
        """The config with the stored settings (the file's alone if they no longer fit)."""
        overrides = await asyncio.to_thread(stored_overrides, self.store)
        if not overrides and not self.config.overrides:
            return self.config
        try:
            return with_overrides(self.config, overrides)
        except ConfigError as exc:
            log.error("settings from the admin page not applied, the config file's are: %s", exc)
            return with_overrides(self.config, {})

    def request_stop(self) -> None:
        """Ask the daemon to stop (signal-safe from the loop)."""
        self.stop_event.set()

    async def run(self) -> None:
        """Migrate, start the services, serve until asked to stop, then stop cleanly."""
        upgrade_in_child(self.config)  # nothing else runs yet: the loop may wait for it
        log.info("store %s at revision %s", _safe_url(self.config.store.url),
                 current_revision(self.store))
        config = await self._with_settings()
        if config.overrides:
            log.info("settings from the admin page: %s",
                     describe_changes(await asyncio.to_thread(with_overrides, config, {}), config))
        self._use(config)
        cursor = await asyncio.to_thread(self.tail.start)
        log.info("events: tailing the outbox after id %d", cursor)
        try:
            await self._start_parts()
        except BaseException:
            await self._stop_parts()
            raise
        write_ports(self.config, self.bound)
        for name, addr in self.bound.items():
            log.info("%s listening on %s", name, addr)
        if "web_tls" in self.bound:
            log.info("admin page: https://%s/ (http://%s/ redirects there)",
                     self.bound["web_tls"], self.bound["web"])
        elif "web" in self.bound:
            log.info("admin page: http://%s/", self.bound["web"])
            token = await asyncio.to_thread(access.current_setup_token, self.store,
                                            self.config.paths.data)
            if token is not None:
                log.info("setup not done: open the admin page and use the one-time setup "
                         "token %s", token)
        tasks = [asyncio.create_task(self.tail.run(self.config.events.poll_interval,
                                                   self.stop_event), name="events")]
        if self.config.backup.nightly:
            tasks.append(asyncio.create_task(nightly(self.config, self.store, self.stop_event),
                                             name="backup"))
        interval = systemd.watchdog_interval()
        if interval:
            tasks.append(asyncio.create_task(self._watchdog(interval), name="watchdog"))
        _settle_garbage_collector()
        systemd.notify("READY=1")
        log.info("appliance ready")
        try:
            await self.stop_event.wait()
        finally:
            systemd.notify("STOPPING=1")
            log.info("appliance stopping")
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._stop_parts()
            with contextlib.suppress(FileNotFoundError):
                ports_file(self.config).unlink()
            self.store.dispose()
            log.info("appliance stopped")

    async def _start_parts(self, skip: Collection[str] = ()) -> None:
        for part in PARTS:
            if part in skip or not enabled(self.config, part):
                continue
            service = load_part(part, self.ctx)
            if service is None:
                log.info("%s: enabled in the config, not part of this build yet", part)
                continue
            try:
                self.addresses[part] = await service.start()
            except OSError as exc:  # a port taken, an address not on this host...
                raise ApplianceError(f"{part}: cannot start: {exc.strerror or exc}") from exc
            self.bound.update(self.addresses[part])
            self.started.append(service)
            self.ctx.services[part] = service

    async def _settings_changed(self, event: Event) -> None:
        """Restart every part but the web with the config and the new settings."""
        config = await self._with_settings()
        if config == self.config:
            log.info("settings: nothing changed for the services")
            return
        keep = {name: s for name, s in self.ctx.services.items() if name == "web"}
        log.info("settings changed (%s): restarting %s", describe_changes(self.config, config),
                 ", ".join(p for p in PARTS if p not in keep and (
                     p in self.ctx.services or enabled(config, p))) or "nothing")
        kept = [s for s in self.started if s in keep.values()]
        self.started = [s for s in self.started if s not in kept]
        await self._stop_parts()
        addresses = {name: self.addresses.pop(name, {}) for name in keep}
        self.addresses.clear()
        self._use(config)
        self.ctx.services.update(keep)
        self.addresses.update(addresses)
        for bound in addresses.values():
            self.bound.update(bound)
        try:
            await self._start_parts(skip=keep)
        except Exception:
            log.exception("starting the services with the new settings failed")
        self.started.extend(kept)
        write_ports(self.config, self.bound)
        log.info("services restarted with the new settings: %s",
                 ", ".join(f"{name} {addr}" for name, addr in self.bound.items()))

    async def _stop_parts(self) -> None:
        while self.started:
            service = self.started.pop()
            try:
                await service.stop()
            except Exception:
                log.exception("stopping %r failed", service)

    async def _watchdog(self, interval: float) -> None:
        # Pinged from the loop itself, so a stuck loop stops the pings and systemd restarts us.
        while True:
            systemd.notify("WATCHDOG=1")
            await asyncio.sleep(interval)


def _settle_garbage_collector() -> None:
    """Move everything made at start-up out of the collector's sight, and collect the young
    generation less often: the SIP core holds each transaction 32 s (RFC 3261 Timer J), and
    frequent passes over that live state, not the work itself, capped its message rate."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def run(config: Config) -> None:
    """Run the daemon until SIGTERM or SIGINT."""

    async def main() -> None:
        daemon = Daemon(config)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, daemon.request_stop)
        await daemon.run()

    asyncio.run(main())
