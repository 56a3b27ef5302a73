"""A minimal browser for the admin page over real sockets: one cookie jar, form tokens, and a
chosen source address (any of 127.0.0.0/8, so one test can be several clients)."""

from __future__ import annotations

import http.client
import re
import urllib.parse
from http.cookies import SimpleCookie


class WebClient:
    """Requests to ``address`` (``host:port``) from ``source`` (an address on this host)."""

    def __init__(self, address: str, source: str = "127.0.0.1") -> None:
        host, _, port = address.rpartition(":")
        self.host, self.port, self.source = host.strip("[]"), int(port), source
        self.cookies: dict[str, str] = {}

    def _request(self, method: str, path: str, body: bytes | None = None,
                 content_type: str | None = None) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30,
                                          source_address=(self.source, 0))
        headers = {"Host": f"{self.host}:{self.port}"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if content_type:
            headers["Content-Type"] = content_type
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            for value in response.headers.get_all("Set-Cookie") or []:
                jar: SimpleCookie = SimpleCookie()
                jar.load(value)
                for name, morsel in jar.items():
                    self.cookies[name] = morsel.value
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        finally:
            conn.close()

    def get_raw(self, path: str) -> tuple[int, dict[str, str], bytes]:
        """GET ``path``: status, headers (lower-case names), body."""
        return self._request("GET", path)

    def get(self, path: str) -> tuple[int, str]:
        """GET ``path``: status and text."""
        status, _, body = self._request("GET", path)
        return status, body.decode("utf-8")

    def csrf(self, path: str = "/login") -> str:
        """The session's form token, from a page's meta tag."""
        _, html = self.get(path)
        match = re.search(r'name="csrf-token" content="([^"]+)"', html)
        assert match, html[:300]
        return match.group(1)

    def post(self, path: str, form: dict[str, str], token_from: str = "/settings",
             ) -> tuple[int, dict[str, str], bytes]:
        """POST a form with the session's token: status, headers, body."""
        data = urllib.parse.urlencode({**form, "csrf_token": self.csrf(token_from)}).encode()
        return self._request("POST", path, data, "application/x-www-form-urlencoded")

    def post_multipart(self, path: str, fields: dict[str, str], filename: str, content: bytes,
                       token_from: str = "/transfer") -> tuple[int, dict[str, str], bytes]:
        """POST a form with one file (``file``) and the session's token."""
        boundary = "----appliance-test-boundary"
        parts = []
        for name, value in {**fields, "csrf_token": self.csrf(token_from)}.items():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"'
                         f"\r\n\r\n{value}\r\n".encode())
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                     f'filename="{filename}"\r\nContent-Type: text/csv\r\n\r\n'.encode()
                     + content + b"\r\n")
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        return self._request("POST", path, body, f"multipart/form-data; boundary={boundary}")

    def login(self, username: str, password: str) -> tuple[int, str]:
        """Sign in: the status (302 when signed in) and the page's text."""
        status, _, body = self.post("/login", {"username": username, "password": password},
                                    token_from="/login")
        return status, body.decode("utf-8")
