"""First-boot access: a one-time setup token, checked against a digest, used once.

Until setup is done the token also sits in ``<data>/run/setup-token`` (mode 0600, beside
the store that holds far greater secrets), so ``appliance init`` and the daemon's log show
the same token however often either runs.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import secrets
from pathlib import Path

from appliance.directory.core import sha256_hex, utcnow
from appliance.store import Store, journal
from appliance.store import settings as kv

TOKEN_KEY = "setup_token_sha256"  # noqa: S105 (a settings key, not a secret)
SETUP_DONE_KEY = "setup_done"


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
        kv.put(conn, TOKEN_KEY, sha256_hex(token))
        journal.record(conn, actor, "setup.token_issued", "setup", {}, utcnow())
    return token


def use_setup_token(store: Store, token: str, actor: str = "web") -> bool:
    """Spend ``token``: True (and setup marked done) only for the current, unused token."""
    with store.write() as conn:
        expected = kv.get(conn, TOKEN_KEY)
        if expected is None or not hmac.compare_digest(expected, sha256_hex(token)):
            return False
        kv.remove(conn, TOKEN_KEY)
        kv.put(conn, SETUP_DONE_KEY, "1")
        journal.record(conn, actor, "setup.token_used", "setup", {}, utcnow())
    return True


def mark_setup_done(store: Store, actor: str) -> None:
    """Spend any outstanding token: setup is done (an admin was made another way)."""
    with store.write() as conn:
        if kv.get(conn, SETUP_DONE_KEY) == "1":
            return
        kv.remove(conn, TOKEN_KEY)
        kv.put(conn, SETUP_DONE_KEY, "1")
        journal.record(conn, actor, "setup.done", "setup", {}, utcnow())


def token_file(data: Path) -> Path:
    """Where the outstanding setup token is kept until setup is done."""
    return data / "run" / "setup-token"


def current_setup_token(store: Store, data: Path, actor: str = "system") -> str | None:
    """The outstanding setup token (issued and saved now if there is none valid), or None
    once setup is done (the saved token is then removed)."""
    path = token_file(data)
    if setup_done(store):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return None
    with contextlib.suppress(OSError, UnicodeDecodeError):
        saved = path.read_text(encoding="ascii").strip()
        with store.read() as conn:
            expected = kv.get(conn, TOKEN_KEY)
        if saved and expected and hmac.compare_digest(expected, sha256_hex(saved)):
            return saved
    token = issue_setup_token(store, actor)
    if token is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(token + "\n")
    return token
