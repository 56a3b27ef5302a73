"""Digest (RFC 7616/8760): MD5 and SHA-256, stale nonces, nonce-count replay, unknown users."""

from __future__ import annotations

import pytest

from appliance.digest import ha1, parse_digest, response
from appliance.sip.auth import DigestAuth
from appliance.sip.message import Request, make_request
from tests.unit.sip_fakes import FakeTimers

PASSWORDS = {"101": "s3cret-password-101"}


def lookup(user: str) -> str | None:
    return PASSWORDS.get(user)


def answer(auth: DigestAuth, algorithm: str, user: str, password: str, nc: int = 1,
           nonce: str | None = None, uri: str = "sip:office.test") -> Request:
    challenge = parse_digest(next(v for v in auth.challenge() if algorithm in v))
    assert challenge is not None
    nonce = nonce or challenge["nonce"]
    count = f"{nc:08x}"
    value = response(algorithm, ha1(algorithm, user, auth.realm, password), nonce, "REGISTER",
                     uri, nc=count, cnonce="abc")
    request = make_request("REGISTER", "sip:office.test", via="SIP/2.0/UDP h;branch=z9hG4bK1",
                           from_="<sip:101@office.test>;tag=1", to="<sip:101@office.test>",
                           call_id="c", cseq=1)
    request.headers.add("Authorization", (
        f'Digest username="{user}", realm="{auth.realm}", nonce="{nonce}", uri="{uri}", '
        f'response="{value}", algorithm={algorithm}, qop=auth, nc={count}, cnonce="abc"'))
    return request


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_good_credentials_pass_with_either_algorithm(algorithm: str) -> None:
    auth = DigestAuth("office.test")
    result = auth.verify(answer(auth, algorithm, "101", PASSWORDS["101"]), "authorization",
                         lookup)
    assert result.ok and result.username == "101"


def test_challenges_offer_sha256_first_then_md5() -> None:
    values = DigestAuth("office.test").challenge()
    assert ["algorithm=SHA-256" in values[0], "algorithm=MD5" in values[1]] == [True, True]
    assert all('qop="auth"' in v and "stale" not in v for v in values)
    assert "stale=true" in DigestAuth("office.test").challenge(stale=True)[0]


def test_wrong_password_and_unknown_user_fail_the_same_way() -> None:
    auth = DigestAuth("office.test")
    wrong = auth.verify(answer(auth, "MD5", "101", "nope"), "authorization", lookup)
    unknown = auth.verify(answer(auth, "MD5", "999", "nope"), "authorization", lookup)
    assert (wrong.outcome, unknown.outcome) == ("failed", "failed")


def test_expired_nonce_is_stale_only_when_the_answer_is_right() -> None:
    timers = FakeTimers()
    auth = DigestAuth("office.test", lifetime=60, clock=timers.clock)
    good = answer(auth, "SHA-256", "101", PASSWORDS["101"])
    bad = answer(auth, "SHA-256", "101", "nope")
    timers.advance(61)
    assert auth.verify(good, "authorization", lookup).outcome == "stale"
    assert auth.verify(bad, "authorization", lookup).outcome == "failed"


def test_replayed_nonce_count_is_refused_and_a_higher_one_accepted() -> None:
    auth = DigestAuth("office.test")
    first = answer(auth, "MD5", "101", PASSWORDS["101"])
    nonce = parse_digest(first.headers.get("authorization") or "")["nonce"]  # type: ignore[index]
    assert auth.verify(first, "authorization", lookup).ok
    assert auth.verify(first, "authorization", lookup).outcome == "stale"
    second = answer(auth, "MD5", "101", PASSWORDS["101"], nc=2, nonce=nonce)
    assert auth.verify(second, "authorization", lookup).ok


def test_forged_nonce_missing_credentials_and_other_realms() -> None:
    auth = DigestAuth("office.test")
    forged = answer(auth, "MD5", "101", PASSWORDS["101"], nonce="1.2.3")
    assert auth.verify(forged, "authorization", lookup).outcome == "failed"
    other = DigestAuth("elsewhere")
    foreign = answer(other, "MD5", "101", PASSWORDS["101"])
    assert auth.verify(foreign, "authorization", lookup).outcome == "missing"
    assert auth.verify(foreign, "proxy-authorization", lookup).outcome == "missing"


def test_nonce_table_is_bounded() -> None:
    auth = DigestAuth("office.test", max_nonces=4)
    early = answer(auth, "MD5", "101", PASSWORDS["101"])
    for _ in range(10):
        auth.challenge()
    assert len(auth._nonces) == 4
    assert auth.verify(early, "authorization", lookup).outcome == "stale"


def test_parse_digest_handles_quotes_commas_and_garbage() -> None:
    assert parse_digest('Digest username="a,b", nc=00000001') == {"username": "a,b",
                                                                   "nc": "00000001"}
    assert parse_digest("Basic abc") is None
    assert parse_digest('Digest username="unterminated') is None
