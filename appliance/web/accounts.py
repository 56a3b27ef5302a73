"""Web users (admins and viewers): argon2 passwords, revocable server-side sessions, throttling.

Errors are the directory's (``ValidationError`` and ``ConflictError`` naming the field), so
the pages show them the same way as every other rule.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, delete, func, insert, select

from appliance.directory import access
from appliance.directory.core import Clock, sha256_hex, utcnow
from appliance.errors import ConflictError, NotFoundError, ValidationError
from appliance.store import Store, journal
from appliance.store.web_tables import admins, web_sessions

ROLES = ("admin", "viewer")
LANGUAGES = ("en", "vi")
MIN_PASSWORD = 10
MAX_PASSWORD = 128
MAX_SESSION_AGE = timedelta(hours=12)
TOUCH_EVERY = timedelta(seconds=30)  # write last_seen at most this often per session
_USERNAME = re.compile(r"[a-z0-9._-]{1,32}")


@dataclass(frozen=True)
class Admin:
    """A user of the admin web page (no password hash here)."""

    id: int
    username: str
    role: str
    language: str
    created_at: datetime
    password_changed_at: datetime

    @property
    def can_change(self) -> bool:
        """True for the ``admin`` role; a ``viewer`` only reads."""
        return self.role == "admin"


def clean_username(value: str) -> str:
    """A username: 1 to 32 lower-case ASCII letters, digits, '.', '_' or '-'."""
    text = value.strip().lower() if isinstance(value, str) else ""
    if not _USERNAME.fullmatch(text):
        raise ValidationError(
            "username: use 1 to 32 ASCII letters, digits, '.', '_' or '-'", "username")
    return text


def check_password(password: str, username: str) -> str:
    """A web password: 10 to 128 characters, not the username."""
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ValidationError(
            f"password: {MIN_PASSWORD} to {MAX_PASSWORD} characters", "password")
    if password.strip().lower() == username.strip().lower():
        raise ValidationError("password: must not be the username", "password")
    return password


def token_digest(token: str) -> str:
    """What the sessions table keeps for a cookie token."""
    return sha256_hex(token)


class Accounts:
    """Web users and their sessions over ``store``; changes are audited as ``actor``."""

    def __init__(self, store: Store, clock: Clock = utcnow,
                 hasher: PasswordHasher | None = None) -> None:
        self.store = store
        self.clock = clock
        # OWASP's argon2id profile (19 MiB, t=2): argon2-cffi's default takes 64 MiB a hash, a
        # spike a 1 GB box pays at each start and sign-in. Older hashes are upgraded at sign-in.
        self.hasher = hasher or PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
        self._dummy = self.hasher.hash(secrets.token_urlsafe(16))

    # -- users -------------------------------------------------------------------------------

    def setup_first_admin(self, token: str, username: str, password: str,
                          language: str = "en") -> Admin | None:
        """Spend the one-time setup token and create the first admin; None for a bad token."""
        name = clean_username(username)
        check_password(password, name)
        if not access.use_setup_token(self.store, token.strip(), actor=f"web:{name}"):
            return None
        return self.create(name, password, "admin", actor=f"web:{name}", language=language)

    def create(self, username: str, password: str, role: str, actor: str,
               language: str = "en") -> Admin:
        """Add a user with ``role``; the username must be free."""
        name = clean_username(username)
        check_password(password, name)
        if role not in ROLES:
            raise ValidationError(f"role: one of {', '.join(ROLES)}, got {role!r}", "role")
        lang = language if language in LANGUAGES else "en"
        now = self.clock()
        digest = self.hasher.hash(password)
        with self.store.write() as conn:
            if conn.execute(select(admins.c.id).where(admins.c.username == name)).first():
                raise ConflictError(f"username: {name!r} is taken", "username")
            result = conn.execute(insert(admins).values(
                username=name, password_hash=digest, role=role, language=lang,
                created_at=now, password_changed_at=now))
            key = result.inserted_primary_key
            assert key is not None
            journal.record(conn, actor, "admin.added", name, {"role": role}, now)
            return self._get(conn, int(key[0]))

    def get(self, admin_id: int) -> Admin:
        """One user."""
        with self.store.read() as conn:
            return self._get(conn, admin_id)

    def all(self) -> list[Admin]:
        """Every user, by name."""
        with self.store.read() as conn:
            rows = conn.execute(select(admins).order_by(admins.c.username))
            return [_admin(row._asdict()) for row in rows]

    def authenticate(self, username: str, password: str) -> Admin | None:
        """The user when the password matches, else None (same work for an unknown name)."""
        name = username.strip().lower() if isinstance(username, str) else ""
        with self.store.read() as conn:
            row = conn.execute(select(admins).where(admins.c.username == name)).first()
        try:
            self.hasher.verify(row.password_hash if row else self._dummy, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        if self.hasher.check_needs_rehash(row.password_hash):
            with self.store.write() as conn:
                conn.execute(admins.update().where(admins.c.id == row.id)
                             .values(password_hash=self.hasher.hash(password)))
        return _admin(row._asdict())

    def change_password(self, admin_id: int, current: str, new: str) -> Admin:
        """The user's own change: the current password must match; other sessions end."""
        user = self.get(admin_id)
        if self.authenticate(user.username, current) is None:
            raise ValidationError("current_password: this is not your current password",
                                  "current_password")
        return self.set_password(admin_id, new, actor=f"web:{user.username}")

    def set_password(self, admin_id: int, new: str, actor: str) -> Admin:
        """Give the user a new password and end every session they have."""
        user = self.get(admin_id)
        check_password(new, user.username)
        digest = self.hasher.hash(new)
        now = self.clock()
        with self.store.write() as conn:
            conn.execute(admins.update().where(admins.c.id == admin_id)
                         .values(password_hash=digest, password_changed_at=now))
            conn.execute(delete(web_sessions).where(web_sessions.c.admin_id == admin_id))
            journal.record(conn, actor, "admin.password_changed", user.username, {}, now)
            return self._get(conn, admin_id)

    def set_language(self, admin_id: int, language: str) -> Admin:
        """Remember the user's language."""
        if language not in LANGUAGES:
            raise ValidationError(f"language: one of {', '.join(LANGUAGES)}", "language")
        with self.store.write() as conn:
            user = self._get(conn, admin_id)
            conn.execute(admins.update().where(admins.c.id == admin_id).values(language=language))
            journal.record(conn, f"web:{user.username}", "admin.language", user.username,
                           {"language": language}, self.clock())
            return self._get(conn, admin_id)

    def remove(self, admin_id: int, actor: str) -> None:
        """Delete a user and their sessions; the last admin cannot be removed."""
        now = self.clock()
        with self.store.write() as conn:
            user = self._get(conn, admin_id)
            if user.role == "admin":
                count = conn.execute(select(func.count()).select_from(admins)
                                     .where(admins.c.role == "admin")).scalar_one()
                if count <= 1:
                    raise ConflictError("username: the last admin cannot be removed", "username")
            conn.execute(delete(web_sessions).where(web_sessions.c.admin_id == admin_id))
            conn.execute(delete(admins).where(admins.c.id == admin_id))
            journal.record(conn, actor, "admin.removed", user.username, {"role": user.role}, now)

    @staticmethod
    def _get(conn: Connection, admin_id: int) -> Admin:
        row = conn.execute(select(admins).where(admins.c.id == admin_id)).first()
        if row is None:
            raise NotFoundError(f"user {admin_id} does not exist", "username")
        return _admin(row._asdict())

    # -- sessions ----------------------------------------------------------------------------

    def open_session(self, admin: Admin) -> str:
        """A new session for ``admin``; return the token for the cookie."""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        with self.store.write() as conn:
            conn.execute(insert(web_sessions).values(
                id=token_digest(token), admin_id=admin.id, created_at=now, last_seen=now))
            journal.record(conn, f"web:{admin.username}", "admin.login", admin.username, {}, now)
        return token

    def resume(self, token: str, idle: timedelta, touch: bool = True) -> Admin | None:
        """The session's user, or None when it is unknown, idle too long or too old."""
        key = token_digest(token)
        now = self.clock()
        with self.store.read() as conn:
            row = conn.execute(select(web_sessions).where(web_sessions.c.id == key)).first()
            if row is None:
                return None
            if now - row.last_seen > idle or now - row.created_at > MAX_SESSION_AGE:
                expired = True
            else:
                expired = False
                user = self._get(conn, row.admin_id)
        if expired:
            self.close_session(token)
            return None
        if touch and now - row.last_seen > TOUCH_EVERY:
            with self.store.write() as conn:
                conn.execute(web_sessions.update().where(web_sessions.c.id == key)
                             .values(last_seen=now))
        return user

    def close_session(self, token: str, who: Admin | None = None) -> None:
        """End one session (logout)."""
        now = self.clock()
        with self.store.write() as conn:
            conn.execute(delete(web_sessions).where(web_sessions.c.id == token_digest(token)))
            if who is not None:
                journal.record(conn, f"web:{who.username}", "admin.logout", who.username, {},
                               now)

    def revoke_all(self, admin_id: int, actor: str) -> int:
        """End every session of a user; return how many."""
        now = self.clock()
        with self.store.write() as conn:
            user = self._get(conn, admin_id)
            count = conn.execute(delete(web_sessions)
                                 .where(web_sessions.c.admin_id == admin_id)).rowcount
            journal.record(conn, actor, "admin.sessions_revoked", user.username,
                           {"sessions": count}, now)
            return int(count)

    def session_counts(self) -> dict[int, int]:
        """Open sessions per user id."""
        with self.store.read() as conn:
            rows = conn.execute(select(web_sessions.c.admin_id, func.count())
                                .group_by(web_sessions.c.admin_id))
            return {int(r[0]): int(r[1]) for r in rows}


def _admin(data: dict[str, Any]) -> Admin:
    data.pop("password_hash", None)
    return Admin(**data)


def source_of(address: str | None) -> str:
    """The client a failure counts against: its IPv4 address, or its IPv6 /64 (one host
    picks freely from its /64, so a bound per address alone would not bound it)."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return str(address or "unknown")
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class LoginThrottle:
    """A growing delay after failed logins (in memory), per (username, source) and per source.

    A pair's first ``free`` failures cost nothing; then each one doubles the wait, up to
    ``cap``. A source also waits once it failed ``source_free`` times over all usernames
    (someone trying many names). Nothing is counted per username alone: failures from one
    address never delay the right password typed at another, so nobody can lock an admin out.
    ``wait``/``failed``/``succeeded`` also take plain keys (the setup page counts per source).
    """

    def __init__(self, clock: Clock = utcnow, free: int = 3, cap: float = 300.0,
                 size: int = 10_000, source_free: int = 10) -> None:
        self.clock = clock
        self.free = free
        self.source_free = source_free
        self.cap = cap
        self.size = size
        self._lock = threading.Lock()
        self._failures: OrderedDict[str, tuple[int, datetime]] = OrderedDict()

    @staticmethod
    def login_keys(username: str, address: str | None) -> tuple[str, str]:
        """The keys a sign-in attempt counts against: its (username, source) and its source."""
        source = source_of(address)
        name = username.strip().lower()[:64]  # the form is free text: keep the keys small
        return (f"pair:{source} {name}", f"source:{source}")

    def delay(self, count: int, free: int | None = None) -> float:
        """Seconds to wait after ``count`` failures, the first ``free`` ones costing nothing."""
        free = self.free if free is None else free
        return 0.0 if count < free else min(self.cap, 2.0 ** (count - free + 1))

    def _free_for(self, key: str) -> int:
        return self.source_free if key.startswith("source:") else self.free

    def wait(self, keys: tuple[str, ...]) -> float:
        """Seconds before another attempt for these keys is allowed (0 when allowed now)."""
        now = self.clock()
        with self._lock:
            waits = [0.0]
            for key in keys:
                if key in self._failures:
                    count, last = self._failures[key]
                    ready = last + timedelta(seconds=self.delay(count, self._free_for(key)))
                    waits.append((ready - now).total_seconds())
            return max(waits)

    def failed(self, keys: tuple[str, ...]) -> None:
        """Count a failed attempt against every key."""
        now = self.clock()
        with self._lock:
            for key in keys:
                count, last = self._failures.pop(key, (0, now))
                if now - last > timedelta(hours=1):
                    count = 0
                self._failures[key] = (count + 1, now)
            while len(self._failures) > self.size:
                self._failures.popitem(last=False)

    def succeeded(self, keys: tuple[str, ...]) -> None:
        """Forget the failures of these keys."""
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)
