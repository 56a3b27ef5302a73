"""``appliance run``: wire the enabled services in one asyncio process, start and stop them."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import os
import signal
from pathlib import Path

from appliance import systemd
from appliance.config import Config, Listen
from appliance.directory import access
from appliance.errors import ApplianceError
from appliance.events import Event, EventBus, OutboxTail
from appliance.service import PARTS, Service, ServiceContext, enabled
from appliance.store import Store, current_revision, open_store, upgrade

log = logging.getLogger("appliance")


def load_part(part: str, ctx: ServiceContext) -> Service | None:
    """The part's Service, or None when this build has no ``appliance/<part>/service.py``."""
    name = f"appliance.{part}.service"
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
        self.bus = EventBus()
        self.bus.subscribe("", _log_event)
        self.tail = OutboxTail(self.store, self.bus, config.events.consumer)
        self.stop_event = asyncio.Event()
        self.ctx = ServiceContext(config, self.store, self.bus)
        self.bound: dict[str, Listen] = self.ctx.bound
        self.started: list[Service] = []

    def request_stop(self) -> None:
        """Ask the daemon to stop (signal-safe from the loop)."""
        self.stop_event.set()

    async def run(self) -> None:
        """Migrate, start the services, serve until asked to stop, then stop cleanly."""
        await asyncio.to_thread(upgrade, self.store)
        log.info("store %s at revision %s", _safe_url(self.config.store.url),
                 current_revision(self.store))
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
        if "web" in self.bound:
            log.info("admin page: http://%s/", self.bound["web"])
            token = await asyncio.to_thread(access.current_setup_token, self.store,
                                            self.config.paths.data)
            if token is not None:
                log.info("setup not done: open the admin page and use the one-time setup "
                         "token %s", token)
        tasks = [asyncio.create_task(self.tail.run(self.config.events.poll_interval,
                                                   self.stop_event), name="events")]
        interval = systemd.watchdog_interval()
        if interval:
            tasks.append(asyncio.create_task(self._watchdog(interval), name="watchdog"))
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

    async def _start_parts(self) -> None:
        for part in PARTS:
            if not enabled(self.config, part):
                continue
            service = load_part(part, self.ctx)
            if service is None:
                log.info("%s: enabled in the config, not part of this build yet", part)
                continue
            try:
                self.bound.update(await service.start())
            except OSError as exc:  # a port taken, an address not on this host...
                raise ApplianceError(f"{part}: cannot start: {exc.strerror or exc}") from exc
            self.started.append(service)
            self.ctx.services[part] = service

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
