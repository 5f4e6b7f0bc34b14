"""The verified-claims cache: a repeated token skips the RSA work, and nothing else changes.

Keys come from a real JWKS server on 127.0.0.1, so withdrawal is a real key rotation.
"""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from devloop.issuer import new_rsa_key, public_jwk
from jwks import KeySource
from jwt_core import JwtVerifier, TokenRejected, VerifiedCache, token_digest
from tests.jwks_server import FaultyJwksServer, running
from tests.support import WallClock

KEY_A, KEY_B = new_rsa_key(), new_rsa_key()
AUDIENCE = "https://api.example.com"


class CountingSignatureCheck:
    """Wraps the verifier's signature check so a test can see whether a signature was checked."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.verifications = 0

    def __call__(self, alg: str, message: bytes, key: Any, signature: bytes) -> bool:
        self.verifications += 1
        return bool(self.inner(alg, message, key, signature))


@pytest.fixture
def server():
    with running(FaultyJwksServer({"keys": [public_jwk(KEY_A, "a")]})) as srv:
        yield srv


def make(server, *, max_entries: int = 16):
    clock = WallClock()  # iat and exp are wall-clock time
    keys = KeySource(issuer=server.issuer, jwks_uri=server.jwks_uri, cooldown=0, max_age=3600, clock=clock)
    verifier = JwtVerifier(
        issuer=server.issuer, audiences=[AUDIENCE], keys=keys, clock=clock, cache=VerifiedCache(max_entries)
    )
    counter = CountingSignatureCheck(verifier._check_signature)
    verifier._check_signature = counter  # type: ignore[assignment]  # a spy around the real check
    return verifier, clock, counter


def claims(server, lifetime: int = 600) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": server.issuer, "aud": AUDIENCE, "sub": "s", "iat": now, "exp": now + lifetime}


def mint(server, *, key=KEY_A, kid: str = "a", lifetime: int = 600, **extra) -> str:
    return jwt.encode({**claims(server, lifetime), **extra}, key, algorithm="RS256", headers={"kid": kid})


def test_a_repeated_token_is_verified_twice_then_answered_from_the_cache(server):
    verifier, _, counter = make(server)
    token = mint(server, scope="read")
    answers = [verifier.verify(token) for _ in range(100)]
    assert counter.verifications == 2  # the first sighting only notes its digest
    assert {a.claims["sub"] for a in answers} == {"s"}
    assert answers[-1].scopes == ("read",)


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
    verifier, clock, _ = make(server)
    token = mint(server, lifetime=lifetime)
    verifier.verify(token)
    verifier.verify(token)
    assert len(verifier._cache) == 1
    if jwks is not None:
        server.jwks = jwks
    clock.now += advance  # past exp, or past the key set's max age (the next lookup refetches)
    with pytest.raises(TokenRejected) as rejected:
        verifier.verify(token)
    assert rejected.value.reason == reason


def test_a_refresh_that_publishes_the_same_keys_keeps_the_cached_tokens(server):
    # GIVEN a cached token
    verifier, clock, counter = make(server)
    token = mint(server, lifetime=7200)
    verifier.verify(token)
    verifier.verify(token)
    # WHEN the key set is fetched again and has not changed (a refresh anyone can provoke with
    # an unknown kid, once per cooldown)
    clock.now += 3600
    assert verifier.verify(token).claims["sub"] == "s"
    # THEN the entry still answers: an unchanged key is the same key
    assert server.jwks_fetches == 2
    assert counter.verifications == 2


def test_the_cache_is_bounded_and_keyed_by_digest_not_by_token(server):
    verifier, _, counter = make(server, max_entries=3)
    tokens = [mint(server, jti=str(i)) for i in range(5)]
    for token in tokens * 2:  # each seen twice: admitted
        verifier.verify(token)
    entries = verifier._cache._entries
    assert len(entries) == 3
    assert set(entries) == {token_digest(t) for t in tokens[2:]}
    verifier.verify(tokens[0])  # evicted: checked again
    assert counter.verifications == 11


def test_a_token_seen_once_takes_no_entry(server):
    verifier, _, counter = make(server, max_entries=3)
    for i in range(50):
        verifier.verify(mint(server, jti=str(i)))
    assert len(verifier._cache) == 0 and counter.verifications == 50


def test_rejections_are_not_cached(server):
    verifier, _, counter = make(server)
    forged = mint(server, key=KEY_B)
    for _ in range(3):
        with pytest.raises(TokenRejected):
            verifier.verify(forged)
    assert counter.verifications == 3
    assert len(verifier._cache) == 0


def test_the_authorizer_applies_route_scopes_on_a_cache_hit(load_authorizer, issuer, lambda_context):
    app = load_authorizer(ROUTE_SCOPES='{"GET /admin": ["admin"]}')
    header = f"Bearer {issuer.mint(scopes=['read:test'])}"
    assert app.decide(header, "GET /lambda/test").allowed
    assert app.decide(header, "GET /lambda/test").allowed
    assert len(app.VERIFIER._cache) == 1
    assert app.decide(header, "GET /admin").reason == "insufficient_scope"


def test_the_cache_can_be_turned_off(load_authorizer, issuer):
    app = load_authorizer(VERIFIED_CACHE_SIZE="0")
    assert app.VERIFIER._cache is None
    assert app.decide(f"Bearer {issuer.mint()}").allowed


def test_only_headers_of_verified_tokens_are_kept_read_only_and_bounded(server):
    verifier, _, _ = make(server)
    # Junk first: headers that parse but never verify (unknown kid, other key) take no place.
    for i in range(100):
        with pytest.raises(TokenRejected):
            verifier.verify(mint(server, kid=f"junk-{i}"))
        with pytest.raises(TokenRejected):
            verifier.verify(mint(server, key=KEY_B, kid="a", jti=str(i)))
    assert len(verifier._headers) == 0
    # Then real tokens: their headers are kept, read-only, up to the bound, and all still verify.
    headers = [{"kid": "a", "typ": f"JWT{i}"} for i in range(70)]
    tokens = [
        jwt.encode({**claims(server), "n": i}, KEY_A, algorithm="RS256", headers=h) for i, h in enumerate(headers)
    ]
    for value in tokens:
        verifier.verify(value)
    assert len(verifier._headers) == 64
    kept = verifier.verify(tokens[0]).header
    with pytest.raises(TypeError):
        kept["alg"] = "none"
