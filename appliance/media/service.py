"""The media part of ``appliance run``: rtpengine supervised, and the MediaPlane over it.

Started before the SIP part, so the call logic finds ``ctx.services["media"].plane``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from appliance.config import Listen, MediaConfig
from appliance.config.model import AUTO_INTERFACE
from appliance.errors import ConfigError, PromptError
from appliance.lan.addresses import lan_addresses
from appliance.media import hold
from appliance.media.dtmf import DtmfListener
from appliance.media.ng import NgClient
from appliance.media.plane import MediaPlane, RtpenginePlane
from appliance.media.prompts import LANGUAGES, PromptFiles, folder_of
from appliance.media.rtpengine import RtpengineRunner, RtpengineSettings
from appliance.service import ServiceContext

log = logging.getLogger("appliance.media")


def rtp_address(media: MediaConfig, lan: Callable[[], list[str]] = lan_addresses) -> str:
    """The address RTP is bound to: the configured one, or for ``auto`` the box's first LAN
    address (IPv4 first, the one phones are given); ConfigError when the box has none."""
    if media.interface != AUTO_INTERFACE:
        return media.interface
    found = lan()
    if not found:
        raise ConfigError("media.interface: \"auto\" found no LAN address on this box; set "
                          "the address RTP is bound to")
    return found[0]


def rtpengine_settings(media: MediaConfig, data: Path,
                       dtmf: Listen | None = None) -> RtpengineSettings:
    """rtpengine's settings for the ``[media]`` config, its files under ``<data>/media``,
    its DTMF reports to ``dtmf``."""
    return RtpengineSettings(binary=media.rtpengine, ng=media.ng_listen,
                             interface=rtp_address(media), port_min=media.rtp_port_min,
                             port_max=media.rtp_port_max, folder=data / "media",
                             dtmf_dest=dtmf)


class MediaService:
    """rtpengine's runner and the plane the call logic uses."""

    def __init__(self, ctx: ServiceContext) -> None:
        media = ctx.config.media
        self.listen = media.ng_listen
        self.client = NgClient(media.ng_listen.host, media.ng_listen.port)
        settings = rtpengine_settings(media, ctx.config.paths.data)
        self._plane = RtpenginePlane(self.client, media.max_sessions,
                                     running=lambda: self.runner.running,
                                     recording_dir=settings.recording_dir)
        self.dtmf = DtmfListener(self._plane.dtmf_received, media.ng_listen.host)
        self.runner = RtpengineRunner(replace(settings, dtmf_dest=Listen(self.dtmf.host,
                                                                         self.dtmf.port)))
        self.runner.on_restart.append(self._plane.forget_all)
        self.prompts = PromptFiles(folder_of(ctx.config.paths.data),
                                   language=ctx.config.provisioning.language)
        self._warm: asyncio.Task[None] | None = None

    @property
    def plane(self) -> MediaPlane:
        """The media plane for the call logic."""
        return self._plane

    async def start(self) -> dict[str, Listen]:
        """Start rtpengine; return its ng address as ``media_ng``."""
        await self.dtmf.start()
        await self.runner.start()
        self._warm = asyncio.get_running_loop().create_task(self._make_prompts())
        log.info("media: up to %d sessions", self._plane.max_sessions)
        return {"media_ng": self.listen}

    async def _make_prompts(self) -> None:
        """The built-in greetings and hold music made once, in the background, before a
        call wants them."""
        for language in LANGUAGES:
            try:
                await self.prompts.greeting(language)
            except PromptError as exc:
                log.warning("media: the built-in %s greeting cannot be made: %s", language, exc)
        try:
            await asyncio.to_thread(hold.builtin, self.prompts.folder, self.prompts.language)
        except PromptError as exc:
            log.warning("media: the built-in hold music cannot be made: %s", exc)

    async def stop(self) -> None:
        """Stop rtpengine and close the ng socket."""
        if self._warm is not None:
            self._warm.cancel()
        self.client.close()
        await self.runner.stop()
        self.dtmf.close()


def create(ctx: ServiceContext) -> MediaService:
    """The media part for ``ctx``."""
    return MediaService(ctx)
