"""First-boot access: a one-time setup token, kept only as a digest, used once."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from appliance.directory.core import utcnow
from appliance.store import Store, journal
from appliance.store import settings as kv

TOKEN_KEY = "setup_token_sha256"  # noqa: S105 (a settings key, not a secret)
SETUP_DONE_KEY = "setup_done"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def setup_done(store: Store) -> bool:
    """True once the first admin exists."""
    with store.read() as conn:
        return kv.get(conn, SETUP_DONE_KEY) == "1"


def issue_setup_token(store: Store, actor: str = "system") -> str | None:
    """A new one-time setup token (replacing any earlier one), or None once setup is done."""
    token = secrets.token_urlsafe(18)
    with store.write() as conn:
        if kv.get(conn, SETUP_DONE_KEY) == "1":
            return None
        kv.put(conn, TOKEN_KEY, _digest(token))
        journal.record(conn, actor, "setup.token_issued", "setup", {}, utcnow())
    return token


def use_setup_token(store: Store, token: str, actor: str = "web") -> bool:
    """Spend ``token``: True (and setup marked done) only for the current, unused token."""
    with store.write() as conn:
        expected = kv.get(conn, TOKEN_KEY)
        if expected is None or not hmac.compare_digest(expected, _digest(token)):
            return False
        kv.remove(conn, TOKEN_KEY)
        kv.put(conn, SETUP_DONE_KEY, "1")
        journal.record(conn, actor, "setup.token_used", "setup", {}, utcnow())
    return True
