"""Serve a WSGI app in a thread of its own, on a given address (port 0 allowed): plain HTTP
with waitress, HTTPS with cheroot (waitress cannot terminate TLS)."""

from __future__ import annotations

import contextlib
import logging
import threading
from pathlib import Path
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


class TlsWsgiThread:
    """A cheroot HTTPS server (its builtin ``ssl`` adapter) bound at construction."""

    def __init__(self, app: Any, listen: Listen, cert: Path, key: Path, name: str,
                 threads: int = 4) -> None:
        from cheroot.ssl.builtin import BuiltinSSLAdapter
        from cheroot.wsgi import Server

        self.name = name
        adapter = BuiltinSSLAdapter(str(cert), str(key))  # TLS 1.2+, the ssl module's defaults
        self._server = Server((listen.host, listen.port), app, numthreads=threads,
                              server_name="appliance")
        self._server.ssl_adapter = adapter
        self._server.error_log = self._error_log  # type: ignore[method-assign]
        self._server.prepare()  # binds and listens
        host, port = self._server.bind_addr[:2]
        self.bound = Listen(str(host), int(port))
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)

    def _error_log(self, msg: str = "", level: int = logging.INFO, traceback: bool = False) -> None:
        # Failed handshakes (port scans, plain HTTP on this port) are routine: debug only.
        log.log(logging.DEBUG if level < logging.ERROR else level, "%s: %s", self.name, msg,
                exc_info=traceback)

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            self._server.serve()

    def start(self) -> None:
        """Serve in the background."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, close every connection and wait for the thread."""
        self._server.stop()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("%s server thread did not stop within %.0f s", self.name, timeout)
