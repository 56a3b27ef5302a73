"""The web part: the Flask app on plain HTTP (waitress) and, with a certificate, on HTTPS
(cheroot), each in its own thread; with HTTPS the plain listener only redirects."""

from __future__ import annotations

import asyncio
import ssl

from appliance.config import Listen
from appliance.errors import ConfigError
from appliance.service import ServiceContext
from appliance.web import create_app
from appliance.web.server import TlsWsgiThread, WsgiThread


class WebService:
    """Serves the admin web app on ``[web] listen`` (and ``tls_listen`` with a certificate)."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.server: WsgiThread | None = None
        self.tls: TlsWsgiThread | None = None

    async def start(self) -> dict[str, Listen]:
        """Bind and serve."""
        web = self.ctx.config.web
        app = create_app(self.ctx.config, self.ctx.store)
        bound: dict[str, Listen] = {}
        if web.tls_cert is not None and web.tls_key is not None:
            try:
                self.tls = TlsWsgiThread(app, web.tls_listen, web.tls_cert, web.tls_key, "web-tls")
            except (ssl.SSLError, ValueError) as exc:
                raise ConfigError(f"web.tls_key: cannot serve HTTPS with web.tls_cert "
                                  f"{str(web.tls_cert)!r} and this key: {exc}") from None
            app.config["HTTPS_PORT"] = self.tls.bound.port
            self.tls.start()
            bound["web_tls"] = self.tls.bound
        try:
            self.server = WsgiThread(app, web.listen, "web")
        except BaseException:
            await self.stop()
            raise
        self.server.start()
        return {"web": self.server.bound, **bound}

    async def stop(self) -> None:
        """Close the servers and wait for their threads."""
        for server in (self.server, self.tls):
            if server is not None:
                await asyncio.to_thread(server.stop)


def create(ctx: ServiceContext) -> WebService:
    """The web part for ``ctx``."""
    return WebService(ctx)
