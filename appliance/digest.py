"""HTTP Digest (RFC 7616, RFC 8760 for SIP), both sides: the one implementation of it.

Sans-I/O and shared by the SIP core (server: ``sip/auth.py``; client: trunk registrations)
and HTTP provisioning. Hashes are MD5 and SHA-256; ``qop=auth`` or, for old HTTP clients, no
qop (RFC 2069 form). Nonces are timestamps signed with a key (``NonceSigner``), so a server
can tell its own nonces, and their age, without keeping them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass

HASHES: dict[str, Callable[[bytes], str]] = {
    "MD5": lambda data: hashlib.md5(data, usedforsecurity=False).hexdigest(),
    "SHA-256": lambda data: hashlib.sha256(data).hexdigest(),
}
_PARAM_RE = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,"]*)\s*(?:,|$)')
_ESCAPED_RE = re.compile(r"\\(.)")


def parse_digest(value: str) -> dict[str, str] | None:
    """The parameters of a ``Digest`` credentials or challenge value (names lower-cased),
    or None when it is not Digest or not well formed (a repeated parameter included)."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    params: dict[str, str] = {}
    pos = 0
    rest = rest.strip()
    while pos < len(rest):
        match = _PARAM_RE.match(rest, pos)
        if match is None or match.end() == pos:
            return None
        name, raw = match.group(1).lower(), match.group(2)
        if name in params:
            return None
        if raw.startswith('"'):
            raw = raw[1:-1]
            if "\\" in raw:
                raw = _ESCAPED_RE.sub(r"\1", raw)
        params[name] = raw
        pos = match.end()
    return params


def algorithm_of(params: dict[str, str]) -> str | None:
    """The parameters' algorithm as a key of ``HASHES`` (MD5 when absent), or None."""
    name = params.get("algorithm", "MD5").upper()
    return name if name in HASHES else None


def ha1(algorithm: str, username: str, realm: str, password: str) -> str:
    """H(username:realm:password), as a Kamailio-style subscriber table would store it."""
    return HASHES[algorithm](f"{username}:{realm}:{password}".encode())


def response(algorithm: str, ha1_hex: str, nonce: str, method: str, uri: str, *,
             nc: str = "", cnonce: str = "", qop: str | None = "auth") -> str:
    """The ``response`` value for ``qop=auth`` (RFC 7616 §3.4.1) or no qop (RFC 2069)."""
    hash_ = HASHES[algorithm]
    ha2 = hash_(f"{method}:{uri}".encode())
    if qop is None:
        return hash_(f"{ha1_hex}:{nonce}:{ha2}".encode())
    return hash_(f"{ha1_hex}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}".encode())


def matches(expected: str, given: str) -> bool:
    """Constant-time comparison of two hex digests (case of ``given`` ignored)."""
    return hmac.compare_digest(expected, given.lower())


class NonceSigner:
    """Nonces ``<stamp>.<salt>.<mac>``: a millisecond timestamp signed with ``key``."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)

    def _sign(self, stamp: str, salt: str) -> str:
        return hmac.new(self._key, f"{stamp}.{salt}".encode(), "sha256").hexdigest()[:32]

    def new(self, now: float) -> str:
        """A fresh nonce issued at ``now`` (seconds)."""
        stamp, salt = f"{int(now * 1000):x}", secrets.token_hex(8)
        return f"{stamp}.{salt}.{self._sign(stamp, salt)}"

    def issued(self, nonce: str) -> float | None:
        """When ``nonce`` was issued (seconds), or None when it is not one of ours."""
        stamp, _, rest = nonce.partition(".")
        salt, _, mac = rest.partition(".")
        if not hmac.compare_digest(self._sign(stamp, salt), mac):
            return None
        try:
            return int(stamp, 16) / 1000
        except ValueError:
            return None


# -- the client side ------------------------------------------------------------------------

@dataclass(frozen=True)
class Challenge:
    """One ``WWW-Authenticate`` / ``Proxy-Authenticate`` Digest challenge."""

    realm: str
    nonce: str
    algorithm: str
    qop: str | None  # "auth", or None when the server offers no qop
    opaque: str | None
    stale: bool


def parse_challenge(value: str) -> Challenge | None:
    """The challenge in ``value``, or None if it is not a Digest challenge we can answer
    (an unknown algorithm, no realm or nonce, or a qop list without ``auth``)."""
    params = parse_digest(value)
    if params is None or "realm" not in params or not params.get("nonce"):
        return None
    algorithm = algorithm_of(params)
    if algorithm is None:
        return None
    qop: str | None = None
    if "qop" in params:
        offered = {q.strip().lower() for q in params["qop"].split(",")}
        if "auth" not in offered:
            return None
        qop = "auth"
    return Challenge(params["realm"], params["nonce"], algorithm, qop, params.get("opaque"),
                     params.get("stale", "").lower() == "true")


def best_challenge(values: Iterable[str]) -> Challenge | None:
    """The strongest answerable challenge among ``values`` (SHA-256 before MD5, RFC 8760)."""
    challenges = [c for c in map(parse_challenge, values) if c is not None]
    challenges.sort(key=lambda c: 0 if c.algorithm == "SHA-256" else 1)
    return challenges[0] if challenges else None


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def authorization(challenge: Challenge, username: str, password: str, method: str, uri: str,
                  *, nc: int = 1, cnonce: str | None = None) -> str:
    """The ``Authorization`` / ``Proxy-Authorization`` value answering ``challenge``."""
    secret = ha1(challenge.algorithm, username, challenge.realm, password)
    parts = [f"username={_quoted(username)}", f"realm={_quoted(challenge.realm)}",
             f"nonce={_quoted(challenge.nonce)}", f"uri={_quoted(uri)}"]
    if challenge.qop is None:
        value = response(challenge.algorithm, secret, challenge.nonce, method, uri, qop=None)
    else:
        count, cnonce = f"{nc:08x}", cnonce or secrets.token_hex(8)
        value = response(challenge.algorithm, secret, challenge.nonce, method, uri,
                         nc=count, cnonce=cnonce, qop=challenge.qop)
        parts += [f"qop={challenge.qop}", f"nc={count}", f"cnonce={_quoted(cnonce)}"]
    parts += [f"response={_quoted(value)}", f"algorithm={challenge.algorithm}"]
    if challenge.opaque is not None:
        parts.append(f"opaque={_quoted(challenge.opaque)}")
    return "Digest " + ", ".join(parts)

