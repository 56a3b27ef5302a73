"""The web part: the Flask app served by waitress in its own thread."""

from __future__ import annotations

import asyncio

from appliance.config import Listen
from appliance.service import ServiceContext
from appliance.web import create_app
from appliance.web.server import WsgiThread


class WebService:
    """Serves the admin web app on ``[web] listen``."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.server: WsgiThread | None = None

    async def start(self) -> dict[str, Listen]:
        """Bind and serve."""
        app = create_app(self.ctx.config, self.ctx.store)
        self.server = WsgiThread(app, self.ctx.config.web.listen, "web")
        self.server.start()
        return {"web": self.server.bound}

    async def stop(self) -> None:
        """Close the server and wait for its thread."""
        if self.server is not None:
            await asyncio.to_thread(self.server.stop)


def create(ctx: ServiceContext) -> WebService:
    """The web part for ``ctx``."""
    return WebService(ctx)
