"""The media part of ``appliance run``: rtpengine supervised, and the MediaPlane over it.

Started before the SIP part, so the call logic finds ``ctx.services["media"].plane``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from appliance.config import Listen, MediaConfig
from appliance.media.ng import NgClient
from appliance.media.plane import MediaPlane, RtpenginePlane
from appliance.media.rtpengine import RtpengineRunner, RtpengineSettings
from appliance.service import ServiceContext

log = logging.getLogger("appliance.media")


def rtpengine_settings(media: MediaConfig, data: Path) -> RtpengineSettings:
    """rtpengine's settings for the ``[media]`` config, its files under ``<data>/media``."""
    return RtpengineSettings(binary=media.rtpengine, ng=media.ng_listen,
                             interface=media.interface, port_min=media.rtp_port_min,
                             port_max=media.rtp_port_max, folder=data / "media")


class MediaService:
    """rtpengine's runner and the plane the call logic uses."""

    def __init__(self, ctx: ServiceContext) -> None:
        media = ctx.config.media
        self.listen = media.ng_listen
        self.runner = RtpengineRunner(rtpengine_settings(media, ctx.config.paths.data))
        self.client = NgClient(media.ng_listen.host, media.ng_listen.port)
        self._plane = RtpenginePlane(self.client, media.max_sessions,
                                     running=lambda: self.runner.running)
        self.runner.on_restart.append(self._plane.forget_all)

    @property
    def plane(self) -> MediaPlane:
        """The media plane for the call logic."""
        return self._plane

    async def start(self) -> dict[str, Listen]:
        """Start rtpengine; return its ng address as ``media_ng``."""
        await self.runner.start()
        log.info("media: up to %d sessions", self._plane.max_sessions)
        return {"media_ng": self.listen}

    async def stop(self) -> None:
        """Stop rtpengine and close the ng socket."""
        self.client.close()
        await self.runner.stop()


def create(ctx: ServiceContext) -> MediaService:
    """The media part for ``ctx``."""
    return MediaService(ctx)
