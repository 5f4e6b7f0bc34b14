"""The verified-claims cache: a repeated token skips the RSA work, and nothing else changes.

Keys come from a real JWKS server on 127.0.0.1, so withdrawal is a real key rotation.
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

import jwt
import pytest

from devkit.jwks_server import JwksServer, running
from devkit.local.issuer import new_rsa_key, public_jwk
from jwt_authorizer.algorithms import verifiers
from jwt_authorizer.authorizer import Authorizer
from jwt_authorizer.jose import HeaderCache
from jwt_authorizer.keys import KeySource
from jwt_authorizer.settings import Settings
from jwt_authorizer.verifier import JwtVerifier, TokenRejected, VerifiedCache, token_digest
from tests.support import WallClock

KEY_A, KEY_B = new_rsa_key(), new_rsa_key()
AUDIENCE = "https://api.example.com"


class CountingSignatureCheck:
    """The table's RS256 check, counted: given to the verifier as its verify function."""

    def __init__(self) -> None:
        self.inner = verifiers(["RS256"])["RS256"]
        self.verifications = 0

    def __call__(self, key: Any, message: bytes, signature: bytes) -> bool:
        self.verifications += 1
        return self.inner(key, message, signature)


@pytest.fixture
def server():
    with running(JwksServer({"keys": [public_jwk(KEY_A, "a")]})) as srv:
        yield srv


class Made(NamedTuple):
    verifier: JwtVerifier
    clock: WallClock
    counter: CountingSignatureCheck
    cache: VerifiedCache
    headers: HeaderCache


def make(server, *, max_entries: int = 16) -> Made:
    clock = WallClock()  # iat and exp are wall-clock time
    keys = KeySource(issuer=server.issuer, jwks_uri=server.jwks_uri, cooldown=0, max_age=3600, clock=clock)
    counter, cache, headers = CountingSignatureCheck(), VerifiedCache(max_entries), HeaderCache()
    verifier = JwtVerifier(
        issuer=server.issuer,
        audiences=[AUDIENCE],
        keys=keys,
        clock=clock,
        cache=cache,
        verify_functions={"RS256": counter},
        headers=headers,
    )
    return Made(verifier, clock, counter, cache, headers)


def claims(server, lifetime: int = 600) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": server.issuer, "aud": AUDIENCE, "sub": "s", "iat": now, "exp": now + lifetime}


def mint(server, *, key=KEY_A, kid: str = "a", lifetime: int = 600, **extra) -> str:
    return jwt.encode({**claims(server, lifetime), **extra}, key, algorithm="RS256", headers={"kid": kid})


def test_a_repeated_token_is_verified_twice_then_answered_from_the_cache(server):
    verifier, _, counter, _, _ = make(server)
    token = mint(server, scope="read")
    answers = [verifier.verify(token) for _ in range(100)]
    assert counter.verifications == 2  # the first sighting only notes its digest
    assert {a.claims["sub"] for a in answers} == {"s"}
    assert answers[-1] is answers[2]  # the very object: what the policy derives from it, it derives once


@pytest.mark.parametrize(
    ("lifetime", "jwks", "advance", "reason"),
    [
        (60, None, 61, "expired"),
        # Still unexpired after the key set's max age: only the key check can drop the entry.
        (7200, {"keys": [public_jwk(KEY_B, "b")]}, 3600, "unknown_kid"),
        (7200, {"keys": [public_jwk(KEY_B, "a")]}, 3600, "bad_signature"),
    ],
    ids=["past-exp", "key-withdrawn", "other-key-under-the-same-kid"],
)
def test_a_cached_token_is_judged_again_once_it_expires_or_its_key_changes(server, lifetime, jwks, advance, reason):
    verifier, clock, _, cache, _ = make(server)
    token = mint(server, lifetime=lifetime)
    verifier.verify(token)
    verifier.verify(token)
    assert len(cache) == 1
    if jwks is not None:
        server.jwks = jwks
    clock.now += advance  # past exp, or past the key set's max age (the next lookup refetches)
    with pytest.raises(TokenRejected) as rejected:
        verifier.verify(token)
    assert rejected.value.reason == reason


def test_a_refresh_that_publishes_the_same_keys_keeps_the_cached_tokens(server):
    # GIVEN a cached token
    verifier, clock, counter, _, _ = make(server)
    token = mint(server, lifetime=7200)
    verifier.verify(token)
    verifier.verify(token)
    # WHEN the key set is fetched again and has not changed (a refresh anyone can provoke with
    # an unknown kid, once a second)
    clock.now += 3600
    assert verifier.verify(token).claims["sub"] == "s"
    # THEN the entry still answers: an unchanged key is the same key
    assert server.jwks_fetches == 2
    assert counter.verifications == 2


def test_the_cache_is_bounded_and_keyed_by_digest_not_by_token(server):
    verifier, _, counter, cache, _ = make(server, max_entries=3)
    tokens = [mint(server, jti=str(i)) for i in range(5)]
    for token in tokens * 2:  # each seen twice: admitted
        verifier.verify(token)
    assert len(cache) == 3
    assert [token_digest(t) in cache for t in tokens] == [False, False, True, True, True]
    verifier.verify(tokens[0])  # evicted: checked again
    assert counter.verifications == 11


def test_a_token_seen_once_takes_no_entry(server):
    verifier, _, counter, cache, _ = make(server, max_entries=3)
    for i in range(50):
        verifier.verify(mint(server, jti=str(i)))
    assert len(cache) == 0 and counter.verifications == 50


def test_rejections_are_not_cached(server):
    verifier, _, counter, cache, _ = make(server)
    forged = mint(server, key=KEY_B)
    for _ in range(3):
        with pytest.raises(TokenRejected):
            verifier.verify(forged)
    assert counter.verifications == 3
    assert len(cache) == 0


def test_the_authorizer_applies_route_scopes_on_a_cache_hit(issuer):
    counter = CountingSignatureCheck()
    settings = Settings.parse(
        {"ISSUER": issuer.issuer, "AUDIENCE": AUDIENCE, "ROUTE_SCOPES": '{"GET /admin": ["admin"]}'}
    )
    app = Authorizer(settings, verify_functions={"RS256": counter})
    header = f"Bearer {issuer.mint(scopes=['read:test'])}"
    for _ in range(3):
        assert app.decide(header, "GET /lambda/test").allowed
    assert counter.verifications == 2  # the third was a cache hit
    assert app.decide(header, "GET /admin").reason == "insufficient_scope"
    assert counter.verifications == 2


def test_the_cache_can_be_turned_off(issuer):
    counter = CountingSignatureCheck()
    settings = Settings.parse({"ISSUER": issuer.issuer, "AUDIENCE": AUDIENCE, "VERIFIED_CACHE_SIZE": "0"})
    app = Authorizer(settings, verify_functions={"RS256": counter})
    header = f"Bearer {issuer.mint()}"
    assert all(app.decide(header).allowed for _ in range(5))
    assert counter.verifications == 5


def test_only_headers_of_verified_tokens_are_kept_read_only_and_bounded(server):
    verifier, _, _, _, kept_headers = make(server)
    # Junk first: headers that parse but never verify (unknown kid, other key) take no place.
    for i in range(100):
        with pytest.raises(TokenRejected):
            verifier.verify(mint(server, kid=f"junk-{i}"))
        with pytest.raises(TokenRejected):
            verifier.verify(mint(server, key=KEY_B, kid="a", jti=str(i)))
    assert len(kept_headers) == 0
    # Then real tokens: their headers are kept, read-only, up to the bound, and all still verify.
    headers = [{"kid": "a", "typ": f"JWT{i}"} for i in range(70)]
    tokens = [
        jwt.encode({**claims(server), "n": i}, KEY_A, algorithm="RS256", headers=h) for i, h in enumerate(headers)
    ]
    for value in tokens:
        verifier.verify(value)
    assert len(kept_headers) == 64
    kept = verifier.verify(tokens[0]).header
    with pytest.raises(TypeError):
        kept["alg"] = "none"  # type: ignore[index]
