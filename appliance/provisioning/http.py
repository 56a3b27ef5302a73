"""The provisioning HTTP server: a small WSGI app over ``resolve`` (served by waitress).

GET and HEAD serve files (firmware streamed, with single Range requests); PUT accepts a
phone's own uploads (Polycom) into the store, size-limited. The same app serves HTTPS
(``provisioning.https_listen``, the box's certificate). Enrolled phones prove
themselves by HTTP digest (RFC 7616, MD5, qop=auth; username = MAC). Every refusal is the
same 404.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from appliance import digest
from appliance.lan import addresses
from appliance.provisioning.resolver import UPLOAD_LIMIT, Challenge, File, Peer, Resolver, Upload

log = logging.getLogger(__name__)

REALM = "provisioning"
NONCE_SECONDS = 300
CHUNK = 64 * 1024
NOT_FOUND_BODY = b"Not Found\n"
StartResponse = Callable[..., Any]


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``(first, last)`` of a single ``bytes=`` range within ``size``; None if unusable."""
    m = re.fullmatch(r"bytes=(\d*)-(\d*)", header.strip())
    if m is None or (not m[1] and not m[2]) or size == 0:
        return None
    if not m[1]:
        first, last = max(0, size - int(m[2])), size - 1
    else:
        first = int(m[1])
        last = min(size - 1, int(m[2])) if m[2] else size - 1
    return (first, last) if first <= last < size else None


def local_address(environ: dict[str, Any]) -> str:
    """The box's address this request came in on: the accepted socket's local address
    (waitress puts no such key in the environ, so it is read from its channel's socket),
    else the address the box's routes use toward the client; "" when neither is known."""
    channel = getattr(environ.get("waitress.client_disconnected"), "__self__", None)
    sock = getattr(channel, "socket", None)
    try:
        return str(sock.getsockname()[0]).removeprefix("::ffff:") if sock is not None else (
            addresses.toward(str(environ.get("REMOTE_ADDR", ""))))
    except (OSError, IndexError, TypeError):
        return ""


class ProvisioningApp:
    """The WSGI app; ``store_upload(mac, name, data)`` keeps a phone's uploads."""

    def __init__(self, resolver: Resolver, store_upload: Callable[[str, str, bytes], None],
                 key: bytes | None = None, clock: Callable[[], float] = time.time) -> None:
        self.resolver = resolver
        self.store_upload = store_upload
        self.nonces = digest.NonceSigner(key)
        self.clock = clock

    # -- digest --------------------------------------------------------------------------------

    def nonce(self) -> str:
        """A stateless nonce: the time, signed with this server's key."""
        return self.nonces.new(self.clock())

    def _nonce_ok(self, nonce: str) -> bool:
        issued = self.nonces.issued(nonce)
        return issued is not None and self.clock() - issued <= NONCE_SECONDS

    def authenticated_mac(self, environ: dict[str, Any]) -> str | None:
        """The MAC whose digest credentials this request carries, if they are right."""
        params = digest.parse_digest(str(environ.get("HTTP_AUTHORIZATION", "")))
        if params is None:
            return None
        user, nonce = params.get("username", ""), params.get("nonce", "")
        if not re.fullmatch(r"[0-9a-f]{12}", user) or not self._nonce_ok(nonce):
            return None
        algorithm = digest.algorithm_of(params)
        if algorithm is None:
            return None
        password = self.resolver.device_password(user)
        if password is None:  # no such phone: the same refusal as a wrong password
            return None
        qop = "auth" if params.get("qop") == "auth" else None  # RFC 2069 phones send no qop
        expected = digest.response(algorithm, digest.ha1(algorithm, user, REALM, password),
                                   nonce, str(environ["REQUEST_METHOD"]),
                                   params.get("uri", ""), nc=params.get("nc", ""),
                                   cnonce=params.get("cnonce", ""), qop=qop)
        return user if digest.matches(expected, params.get("response", "")) else None

    # -- WSGI ----------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Answer one request."""
        method = environ.get("REQUEST_METHOD", "GET")
        raw = environ.get("PATH_INFO", "")
        path = raw.encode("latin-1", "replace").decode("utf-8", "replace")
        ip = str(environ.get("REMOTE_ADDR", "")).removeprefix("::ffff:")
        via = "https" if environ.get("wsgi.url_scheme") == "https" else "http"
        peer = Peer(ip, int(environ.get("REMOTE_PORT") or 0), via,
                    str(environ.get("HTTP_USER_AGENT", ""))[:300],
                    self.authenticated_mac(environ), local_address(environ))
        if method in ("GET", "HEAD"):
            result = self.resolver.resolve(path, peer)
            if isinstance(result, Challenge):
                return self._challenge(start_response)
            if isinstance(result, File):
                return self._file(result, environ, start_response, method == "HEAD")
        elif method == "PUT":
            target = self.resolver.upload_target(path, peer)
            if isinstance(target, Challenge):
                return self._challenge(start_response)
            if isinstance(target, Upload):
                return self._upload(target, environ, start_response)
        return self._not_found(start_response)

    def _challenge(self, start_response: StartResponse) -> list[bytes]:
        header = (f'Digest realm="{REALM}", qop="auth", nonce="{self.nonce()}", '
                  f'algorithm=MD5')
        start_response("401 Unauthorized", [("WWW-Authenticate", header),
                                            ("Content-Type", "text/plain"),
                                            ("Content-Length", "13")])
        return [b"Unauthorized\n"]

    @staticmethod
    def _not_found(start_response: StartResponse) -> list[bytes]:
        start_response("404 Not Found", [("Content-Type", "text/plain"),
                                         ("Content-Length", str(len(NOT_FOUND_BODY)))])
        return [NOT_FOUND_BODY]

    def _file(self, file: File, environ: dict[str, Any], start_response: StartResponse,
              head: bool) -> Iterable[bytes]:
        size = file.size
        headers = [("Content-Type", file.content_type), ("Accept-Ranges", "bytes"),
                   ("Cache-Control", "no-store")]
        first, last, status = 0, size - 1, "200 OK"
        wanted = environ.get("HTTP_RANGE")
        if wanted:
            span = parse_range(str(wanted), size)
            if span is None:
                start_response("416 Range Not Satisfiable",
                               [("Content-Range", f"bytes */{size}"), ("Content-Length", "0")])
                return [b""]
            first, last = span
            status = "206 Partial Content"
            headers.append(("Content-Range", f"bytes {first}-{last}/{size}"))
        headers.append(("Content-Length", str(last - first + 1 if size else 0)))
        start_response(status, headers)
        if head or size == 0:
            return [b""]
        if file.path is None:
            return [file.data[first:last + 1]]
        return _stream(file, first, last)

    def _upload(self, target: Upload, environ: dict[str, Any],
                start_response: StartResponse) -> list[bytes]:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= UPLOAD_LIMIT:
            return self._not_found(start_response)
        data = environ["wsgi.input"].read(length)
        self.store_upload(target.mac, target.name, data)
        start_response("204 No Content", [("Content-Length", "0")])
        return [b""]


def _stream(file: File, first: int, last: int) -> Iterator[bytes]:
    assert file.path is not None
    with file.path.open("rb") as stream:
        stream.seek(first)
        left = last - first + 1
        while left > 0:
            chunk = stream.read(min(CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk
