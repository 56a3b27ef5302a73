"""Web users: argon2 hashes, roles, sessions that end, and the failed-login throttle."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from appliance.directory import access, utcnow
from appliance.errors import ConflictError, ValidationError
from appliance.store import Store
from appliance.store.web_tables import admins, web_sessions
from appliance.web.accounts import Accounts, LoginThrottle, source_of, token_digest

CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "correct horse battery"


@pytest.fixture
def now() -> list:
    return [utcnow()]


@pytest.fixture
def accounts(store: Store, now: list) -> Accounts:
    return Accounts(store, clock=lambda: now[0], hasher=CHEAP)


def test_password_is_kept_as_an_argon2_hash(accounts: Accounts, store: Store) -> None:
    accounts.create("boss", PASSWORD, "admin", actor="test")
    with store.read() as conn:
        stored = conn.execute(select(admins.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert accounts.authenticate("BOSS", PASSWORD) is not None
    assert accounts.authenticate("boss", "wrong password") is None
    assert accounts.authenticate("nobody", PASSWORD) is None


def test_rules_for_users(accounts: Accounts) -> None:
    with pytest.raises(ValidationError) as bad_name:
        accounts.create("a b", PASSWORD, "admin", actor="test")
    assert bad_name.value.field == "username"
    with pytest.raises(ValidationError) as short:
        accounts.create("boss", "short", "admin", actor="test")
    assert short.value.field == "password"
    with pytest.raises(ValidationError):
        accounts.create("boss", "boss", "admin", actor="test")
    with pytest.raises(ValidationError):
        accounts.create("boss", PASSWORD, "root", actor="test")
    boss = accounts.create("boss", PASSWORD, "admin", actor="test")
    with pytest.raises(ConflictError):
        accounts.create("Boss", PASSWORD, "viewer", actor="test")
    with pytest.raises(ConflictError):
        accounts.remove(boss.id, actor="test")  # the last admin stays


def test_setup_spends_the_token_once(accounts: Accounts, store: Store) -> None:
    token = access.issue_setup_token(store)
    assert token is not None
    with pytest.raises(ValidationError):  # a bad password does not spend the token
        accounts.setup_first_admin(token, "boss", "short")
    assert not access.setup_done(store)
    assert accounts.setup_first_admin("wrong", "boss", PASSWORD) is None
    admin = accounts.setup_first_admin(token, "boss", PASSWORD, language="vi")
    assert admin is not None and admin.role == "admin" and admin.language == "vi"
    assert access.setup_done(store)
    assert accounts.setup_first_admin(token, "boss2", PASSWORD) is None
    assert access.issue_setup_token(store) is None


def test_sessions_store_only_a_digest_and_end(accounts: Accounts, store: Store,
                                              now: list) -> None:
    boss = accounts.create("boss", PASSWORD, "admin", actor="test")
    token = accounts.open_session(boss)
    with store.read() as conn:
        assert conn.execute(select(web_sessions.c.id)).scalar_one() == token_digest(token)
    idle = timedelta(minutes=30)
    assert accounts.resume(token, idle) == boss
    now[0] += timedelta(minutes=31)
    assert accounts.resume(token, idle) is None
    assert accounts.resume(token, idle) is None  # gone for good
    token = accounts.open_session(boss)
    for _ in range(30):  # kept alive, but never past the absolute limit
        now[0] += timedelta(minutes=25)
        accounts.resume(token, idle)
    assert accounts.resume(token, idle) is None


def test_background_polls_do_not_keep_a_session_alive(accounts: Accounts, now: list) -> None:
    boss = accounts.create("boss", PASSWORD, "admin", actor="test")
    token = accounts.open_session(boss)
    idle = timedelta(minutes=30)
    for _ in range(4):
        now[0] += timedelta(minutes=10)
        assert accounts.resume(token, idle, touch=False) == boss or _ == 3
    assert accounts.resume(token, idle) is None


def test_password_change_and_revoke_end_sessions(accounts: Accounts) -> None:
    boss = accounts.create("boss", PASSWORD, "admin", actor="test")
    one, two = accounts.open_session(boss), accounts.open_session(boss)
    with pytest.raises(ValidationError):
        accounts.change_password(boss.id, "not the password", "a new password!")
    accounts.change_password(boss.id, PASSWORD, "a new password!")
    idle = timedelta(minutes=30)
    assert accounts.resume(one, idle) is None and accounts.resume(two, idle) is None
    three = accounts.open_session(boss)
    assert accounts.revoke_all(boss.id, actor="test") == 1
    assert accounts.resume(three, idle) is None


def test_throttle_grows_and_forgets(now: list) -> None:
    throttle = LoginThrottle(clock=lambda: now[0], free=3, cap=60)
    keys = throttle.login_keys("boss", "127.0.0.1")
    waits = []
    for _ in range(9):
        throttle.failed(keys)
        waits.append(throttle.wait(keys))
    assert waits[:2] == [0.0, 0.0]
    assert waits[2:7] == [2.0, 4.0, 8.0, 16.0, 32.0]
    assert waits[-1] == 60.0
    now[0] += timedelta(seconds=61)
    assert throttle.wait(keys) == 0
    throttle.succeeded(keys)
    throttle.failed(keys)
    assert throttle.wait(keys) == 0


def test_failures_from_one_source_never_delay_another(now: list) -> None:
    throttle = LoginThrottle(clock=lambda: now[0], free=3, cap=300, source_free=10)
    attacker = throttle.login_keys("boss", "127.0.0.1")
    for _ in range(50):
        throttle.failed(attacker)
    assert throttle.wait(attacker) == 300.0
    assert throttle.wait(throttle.login_keys("boss", "127.0.0.2")) == 0  # the admin's desk
    assert throttle.wait(throttle.login_keys(" BOSS ", "127.0.0.2")) == 0
    # the attacking source waits for every username (it has failed 50 times in all)
    assert throttle.wait(throttle.login_keys("eve", "127.0.0.1")) == 300.0


def test_a_source_trying_many_usernames_is_bounded(now: list) -> None:
    throttle = LoginThrottle(clock=lambda: now[0], free=3, cap=300, source_free=10)
    for i in range(9):
        throttle.failed(throttle.login_keys(f"user{i}", "10.0.0.9"))
    assert throttle.wait(throttle.login_keys("user99", "10.0.0.9")) == 0
    throttle.failed(throttle.login_keys("user9", "10.0.0.9"))
    assert throttle.wait(throttle.login_keys("user99", "10.0.0.9")) == 2.0
    assert throttle.wait(throttle.login_keys("user99", "10.0.0.10")) == 0
    now[0] += timedelta(hours=2)  # an hour quiet: the count starts again
    throttle.failed(throttle.login_keys("user0", "10.0.0.9"))
    assert throttle.wait(throttle.login_keys("user99", "10.0.0.9")) == 0


def test_ipv6_sources_count_per_64_and_mapped_ipv4_as_ipv4() -> None:
    assert source_of("2001:db8:1:2::5") == source_of("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64"
    assert source_of("2001:db8:1:3::5") != source_of("2001:db8:1:2::5")
    assert source_of("::ffff:192.0.2.7") == "192.0.2.7"
    assert source_of(None) == "unknown"
    keys = LoginThrottle.login_keys("x" * 70_000, "192.0.2.7")
    assert len(keys[0]) < 100
