"""Serve a WSGI app with waitress in a thread of its own, on a given address (port 0 allowed)."""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

from waitress.server import create_server

from appliance.config import Listen

log = logging.getLogger(__name__)


class WsgiThread:
    """A waitress server bound at construction; ``start`` serves, ``stop`` closes."""

    def __init__(self, app: Any, listen: Listen, name: str, threads: int = 4) -> None:
        self.name = name
        self._server = create_server(app, host=listen.host, port=listen.port, threads=threads,
                                     ident="appliance", clear_untrusted_proxy_headers=True)
        self.bound = Listen(str(self._server.effective_host), int(self._server.effective_port))
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)

    def _serve(self) -> None:
        with contextlib.suppress(OSError):  # the socket was closed by stop()
            self._server.run()

    def start(self) -> None:
        """Serve in the background."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, close every channel and wait for the thread."""
        self._server.close()
        self._server.task_dispatcher.shutdown()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("%s server thread did not stop within %.0f s", self.name, timeout)
