"""HTTP Digest for SIP (RFC 3261 §22, RFC 7616, RFC 8760): MD5 and SHA-256, qop=auth.

Sans-I/O: ``DigestAuth`` makes challenges and checks credentials; passwords come from a
lookup function and the clock is injected. Nonces are random, signed with a per-process key
and timestamped; each is valid for ``lifetime`` seconds, after which a correct answer gets
``stale=true`` (RFC 7616 §3.3). The last nonce-count seen per nonce is kept in a bounded table
so that a replayed count is refused. An unknown user is checked against a random password,
so it fails exactly like a wrong password. A failed response is also checked against the
user's retired credentials (HA1s of passwords retired lately, from a lookup function), always
``RETIRED_CHECKS`` of them, padded with random ones, so every failure costs the same work:
a match is a stale device ("retired"), answered exactly like a failure.
"""

from __future__ import annotations

import hmac
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from appliance.digest import HASHES, NonceSigner, ha1, parse_digest, response
from appliance.errors import SipParseError
from appliance.sip.message import Request
from appliance.sip.uri import parse_uri

_NC_RE = re.compile(r"[0-9a-fA-F]{8}")

PasswordLookup = Callable[[str], str | None]
# user -> that user's retired credentials, newest first, each as HA1 hex by algorithm
RetiredLookup = Callable[[str], Sequence[Mapping[str, str]]]
RETIRED_CHECKS = 4  # retired credentials checked per failed response (and kept per user)


@dataclass(frozen=True)
class AuthResult:
    """The outcome: "ok", "missing" (no credentials for our realm), "stale", "failed", or
    "retired" (failed, but with a credential the user had until lately: a stale device)."""

    outcome: str
    username: str | None = None

    @property
    def ok(self) -> bool:
        """True when the credentials are good."""
        return self.outcome == "ok"


class DigestAuth:
    """Challenges and checks digest credentials for one realm."""

    def __init__(self, realm: str, *, lifetime: float = 300.0,
                 algorithms: tuple[str, ...] = ("SHA-256", "MD5"), max_nonces: int = 65536,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """Nonces live ``lifetime`` s; challenges offer ``algorithms`` in order."""
        unknown = [a for a in algorithms if a not in HASHES]
        if unknown or not algorithms:
            raise ValueError(f"unsupported digest algorithms: {unknown}")
        self.realm = realm
        self.lifetime = lifetime
        self.algorithms = algorithms
        self.max_nonces = max_nonces
        self.clock = clock
        self._signer = NonceSigner()
        self._nonces: OrderedDict[str, int] = OrderedDict()  # nonce -> last nonce-count

    def new_nonce(self) -> str:
        """A fresh nonce, remembered (the table is bounded: the oldest are forgotten)."""
        nonce = self._signer.new(self.clock())
        self._nonces[nonce] = 0
        while len(self._nonces) > self.max_nonces:
            self._nonces.popitem(last=False)
        return nonce

    def challenge(self, stale: bool = False, md5_only: bool = False) -> list[str]:
        """WWW-/Proxy-Authenticate values, one per algorithm, preferred first, one nonce;
        ``md5_only`` for clients that fail on any SHA-256 challenge (RFC 8760 §2.4)."""
        nonce = self.new_nonce()
        extra = ", stale=true" if stale else ""
        offered = ["MD5"] if md5_only and "MD5" in self.algorithms else self.algorithms
        return [f'Digest realm="{self.realm}", nonce="{nonce}", algorithm={alg}, '
                f'qop="auth"{extra}' for alg in offered]

    def _nonce_state(self, nonce: str) -> str:
        """ "fresh", "stale" (ours, but expired or forgotten) or "forged"."""
        issued = self._signer.issued(nonce)
        if issued is None:
            return "forged"
        if nonce not in self._nonces or self.clock() - issued > self.lifetime:
            return "stale"
        return "fresh"

    def verify(self, request: Request, header: str, password_of: PasswordLookup,
               retired_of: RetiredLookup | None = None) -> AuthResult:
        """Check ``request``'s credentials in ``header`` (Authorization or
        Proxy-Authorization) for our realm; ``password_of(user)`` is None for unknown users,
        ``retired_of(user)`` their retired credentials."""
        params = None
        for value in request.headers.get_all(header):
            candidate = parse_digest(value)
            if candidate is not None and candidate.get("realm") == self.realm:
                params = candidate
                break
        if params is None:
            return AuthResult("missing")
        username = params.get("username", "")
        algorithm = params.get("algorithm", "MD5").upper()
        algorithm = "SHA-256" if algorithm == "SHA-256" else algorithm
        nonce, nc = params.get("nonce", ""), params.get("nc", "")
        fields_ok = (algorithm in self.algorithms and params.get("qop") == "auth"
                     and _NC_RE.fullmatch(nc) is not None and bool(params.get("cnonce"))
                     and bool(username) and self._uri_matches(params.get("uri", ""), request))
        if not fields_ok:
            return AuthResult("failed", username or None)
        password = password_of(username)
        # An unknown user is checked against a random password: same work, same failure.
        secret = password if password is not None else secrets.token_hex(16)
        expected = response(algorithm, ha1(algorithm, username, self.realm, secret), nonce,
                            request.method, params["uri"], nc=nc, cnonce=params["cnonce"])
        answer = params.get("response", "").lower()
        if not hmac.compare_digest(expected, answer) or password is None:
            old = list(retired_of(username)) if retired_of is not None else []
            stale = self._matches_retired(old, algorithm, answer, params, request)
            return AuthResult("retired" if stale else "failed", username)
        return AuthResult(self._spend(nonce, int(nc, 16)), username)

    def _matches_retired(self, old: list[Mapping[str, str]], algorithm: str, answer: str,
                         params: dict[str, str], request: Request) -> bool:
        """Whether ``answer`` was made with one of ``old`` over a nonce of ours: always
        RETIRED_CHECKS digests, padded with random HA1s (the same work for every user)."""
        size = 16 if algorithm == "MD5" else 32
        nonce = params.get("nonce", "")
        matched = False
        for index in range(RETIRED_CHECKS):
            known = old[index].get(algorithm) if index < len(old) else None
            candidate = known or secrets.token_hex(size)
            expected = response(algorithm, candidate, nonce, request.method, params["uri"],
                                nc=params["nc"], cnonce=params["cnonce"])
            matched |= hmac.compare_digest(expected, answer) and known is not None
        ours = self._nonce_state(nonce) != "forged"
        return matched and ours

    def _spend(self, nonce: str, count: int) -> str:
        """The outcome for a correct answer: "ok" once per nonce-count, else stale/failed."""
        state = self._nonce_state(nonce)
        if state != "fresh":
            return "failed" if state == "forged" else "stale"
        if count <= self._nonces[nonce]:
            return "stale"  # a replayed nonce-count
        self._nonces[nonce] = count
        self._nonces.move_to_end(nonce)
        return "ok"

    @staticmethod
    def _uri_matches(text: str, request: Request) -> bool:
        try:
            uri = parse_uri(text)
        except SipParseError:
            return False
        mine = request.uri
        # The user part is not compared: SIPp, for one, sends the URI without it.
        return (uri.scheme, uri.host.lower(), uri.port) == (
            mine.scheme, mine.host.lower(), mine.port)
