"""The one digest implementation: RFC 7616 vectors, the client against the server's check."""

from __future__ import annotations

import pytest

from appliance import digest

# RFC 7616 §3.9.1
USER, REALM, PASSWORD = "Mufasa", "http-auth@example.org", "Circle of Life"
NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"


@pytest.mark.parametrize(("algorithm", "expected"), [
    ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
    ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
])
def test_rfc7616_vectors(algorithm: str, expected: str) -> None:
    secret = digest.ha1(algorithm, USER, REALM, PASSWORD)
    assert digest.response(algorithm, secret, NONCE, "GET", "/dir/index.html",
                           nc="00000001", cnonce=CNONCE) == expected


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_client_authorization_is_what_the_vector_says(algorithm: str) -> None:
    challenge = digest.parse_challenge(
        f'Digest realm="{REALM}", qop="auth, auth-int", algorithm={algorithm}, '
        f'nonce="{NONCE}", opaque="{OPAQUE}"')
    assert challenge is not None and challenge.qop == "auth"
    value = digest.authorization(challenge, USER, PASSWORD, "GET", "/dir/index.html",
                                 cnonce=CNONCE)
    params = digest.parse_digest(value)
    assert params is not None
    assert params["nc"] == "00000001" and params["opaque"] == OPAQUE
    secret = digest.ha1(algorithm, USER, REALM, PASSWORD)
    assert params["response"] == digest.response(algorithm, secret, NONCE, "GET",
                                                 "/dir/index.html", nc="00000001",
                                                 cnonce=CNONCE)


def test_no_qop_is_rfc2069() -> None:
    challenge = digest.parse_challenge('Digest realm="r", nonce="n"')
    assert challenge is not None and challenge.qop is None and challenge.algorithm == "MD5"
    params = digest.parse_digest(digest.authorization(challenge, "u", "p", "REGISTER",
                                                      "sip:box"))
    assert params is not None and "nc" not in params and "cnonce" not in params
    assert params["response"] == digest.response("MD5", digest.ha1("MD5", "u", "r", "p"), "n",
                                                 "REGISTER", "sip:box", qop=None)


def test_quotes_and_backslashes_survive_a_round_trip() -> None:
    challenge = digest.parse_challenge('Digest realm="a \\"b\\"", nonce="x"')
    assert challenge is not None and challenge.realm == 'a "b"'
    params = digest.parse_digest(digest.authorization(challenge, 'we"ird\\', "p", "GET", "/"))
    assert params is not None and params["username"] == 'we"ird\\'


@pytest.mark.parametrize("value", [
    'Basic realm="r"', 'Digest nonce="n"', 'Digest realm="r"', 'Digest realm="r", nonce="n", '
    'algorithm=SHA-512-256', 'Digest realm="r", nonce="n", qop="auth-int"',
    'Digest realm="r", realm="s", nonce="n"', 'Digest realm="r" nonce',
])
def test_unanswerable_challenges(value: str) -> None:
    assert digest.parse_challenge(value) is None


def test_best_challenge_prefers_sha256() -> None:
    best = digest.best_challenge(['Digest realm="r", nonce="1", algorithm=MD5',
                                  'Digest realm="r", nonce="1", algorithm=SHA-256', "junk"])
    assert best is not None and best.algorithm == "SHA-256"
    assert digest.best_challenge(["junk"]) is None


def test_stale_flag() -> None:
    challenge = digest.parse_challenge('Digest realm="r", nonce="n", stale=TRUE')
    assert challenge is not None and challenge.stale


def test_nonce_signer_knows_its_own() -> None:
    signer = digest.NonceSigner(b"k" * 32)
    nonce = signer.new(1000.5)
    assert signer.issued(nonce) == pytest.approx(1000.5)
    assert digest.NonceSigner(b"j" * 32).issued(nonce) is None
    stamp, salt, mac = nonce.split(".")
    assert signer.issued(f"{stamp}.{salt}x.{mac}") is None
    assert signer.issued("garbage") is None
