"""Several issuers, each with its own keys, and the Lambda authorizer's opt-in claim rules.

Keys come from real JWKS servers on 127.0.0.1, one per issuer, whose kids collide on purpose:
a key set shared between issuers (lmammino/oidc-authorizer#85) would let either issuer's key
verify the other's tokens.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from devkit.jwks_server import JwksServer, running
from devkit.local.issuer import new_rsa_key, public_jwk
from jwt_authorizer.keys import KeySource
from jwt_authorizer.settings import parse_required_claims
from jwt_authorizer.verifier import JwtVerifier, TokenRejected, VerifiedCache
from tests.support import AUTHORIZER_DIR, ROOT, FakeClock, WallClock, decision_lines, load_event

AUDIENCE = "https://api.example.com"
KEY_A, KEY_B = new_rsa_key(), new_rsa_key()
KID = "shared-kid"  # both issuers publish their own key under this kid


@pytest.fixture
def two_issuers() -> Iterator[tuple[JwksServer, JwksServer]]:
    with (
        running(JwksServer({"keys": [public_jwk(KEY_A, KID)]})) as a,
        running(JwksServer({"keys": [public_jwk(KEY_B, KID)]})) as b,
    ):
        yield a, b


def token(iss: object, key: Any = KEY_A, lifetime: int = 600, **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": iss, "aud": AUDIENCE, "sub": "s", "iat": now, "exp": now + lifetime, **claims}
    if iss is None:
        del payload["iss"]
    # The JWS layer signs any payload; PyJWT's JWT layer would refuse to write a non-string iss.
    return jwt.api_jws.encode(json.dumps(payload).encode(), key, algorithm="RS256", headers={"kid": KID})


def verifier(a: JwksServer, b: JwksServer) -> JwtVerifier:
    sources = {server.issuer: KeySource(issuer=server.issuer, cooldown=0, clock=FakeClock()) for server in (a, b)}
    return JwtVerifier(issuers=sources, audiences=[AUDIENCE])


def reason(check: JwtVerifier, value: str) -> str:
    with pytest.raises(TokenRejected) as rejected:
        check.verify(value)
    return rejected.value.reason


def test_each_issuers_token_is_checked_with_that_issuers_keys_only(two_issuers):
    a, b = two_issuers
    check = verifier(a, b)
    assert check.verify(token(a.issuer, KEY_A)).claims["iss"] == a.issuer
    assert check.verify(token(b.issuer, KEY_B)).claims["iss"] == b.issuer
    # Same kid, the other issuer's key: refused, whichever way round.
    assert reason(check, token(a.issuer, KEY_B)) == "bad_signature"
    assert reason(check, token(b.issuer, KEY_A)) == "bad_signature"


def test_an_unknown_issuer_is_refused_without_any_fetch(two_issuers):
    a, b = two_issuers
    check = verifier(a, b)
    for iss in ("https://evil.example.com/", a.issuer.rstrip("/"), 7, [a.issuer], None):
        assert reason(check, token(iss, KEY_A)) == "unknown_issuer"
    assert a.requests == [] and b.requests == []


def test_one_issuer_failing_leaves_the_other_working(two_issuers):
    # GIVEN issuer B's discovery and keys answer 500 from the start
    a, b = two_issuers
    b.mode = "500"
    b.discovery_override = {"error": "down"}
    check = verifier(a, b)

    # THEN A's tokens pass, B's are refused for want of keys (and say so), and A was asked only for its own
    assert check.verify(token(a.issuer, KEY_A)).claims["iss"] == a.issuer
    assert reason(check, token(b.issuer, KEY_B)) == "keys_unavailable"
    assert a.jwks_fetches == 1
    assert check.verify(token(a.issuer, KEY_A)).claims["iss"] == a.issuer
    assert a.jwks_fetches == 1


def test_a_cached_token_is_rechecked_against_its_own_issuers_keys_only(two_issuers):
    # GIVEN A's token verified and cached, then A withdraws its key while B still publishes that kid
    a, b = two_issuers
    clock = WallClock()
    sources = {s.issuer: KeySource(issuer=s.issuer, cooldown=0, max_age=60, clock=clock) for s in (a, b)}
    cache = VerifiedCache(16)
    check = JwtVerifier(issuers=sources, audiences=[AUDIENCE], clock=clock, cache=cache)
    value = token(a.issuer, KEY_A)
    for _ in range(2):  # an entry on the second verification
        assert check.verify(value).claims["iss"] == a.issuer
    assert len(cache) == 1
    assert check.verify(token(b.issuer, KEY_B)).claims["iss"] == b.issuer
    a.jwks = {"keys": [public_jwk(new_rsa_key(), "rotated")]}
    clock.now += 61

    # WHEN the cached token comes again: THEN it is refused, never answered by B's same-kid key
    assert reason(check, value) == "unknown_kid"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "REQUIRED_CLAIMS is not JSON"),
        ('["org_id"]', "REQUIRED_CLAIMS must be a JSON object"),
        ('{"org_id": "org_abc"}', "REQUIRED_CLAIMS['org_id'] must be a non-empty list of strings"),
        ('{"org_id": []}', "REQUIRED_CLAIMS['org_id'] must be a non-empty list of strings"),
        ('{"org_id": [7]}', "REQUIRED_CLAIMS['org_id'] must be a non-empty list of strings"),
    ],
)
def test_required_claims_that_cannot_mean_anything_are_refused_in_one_line(text, message):
    with pytest.raises(ValueError, match=re.escape(message)) as error:
        parse_required_claims(text)
    assert "\n" not in str(error.value)


def start_authorizer(**env: str) -> subprocess.CompletedProcess[str]:
    """Import the authorizer in a fresh interpreter, as Lambda's INIT would."""
    settings = {"ISSUER": "https://a.example/", "AUDIENCE": AUDIENCE, **env}
    return subprocess.run(
        [sys.executable, "-c", "import app"],
        cwd=AUTHORIZER_DIR,
        env={"PATH": "/usr/bin:/bin", **settings},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "last_line"),
    [
        ({"REQUIRED_CLAIMS": "{oops"}, "SettingError: REQUIRED_CLAIMS is not JSON"),
        (
            {"ISSUER": "https://a.example/,https://b.example/", "JWKS_URI": "https://a.example/jwks"},
            "SettingError: JWKS_URI names the keys of one issuer, but ISSUER lists 2: leave JWKS_URI empty",
        ),
    ],
)
def test_a_misconfigured_authorizer_fails_at_start_naming_the_variable(env, last_line):
    result = start_authorizer(**env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(f"jwt_authorizer.settings.{last_line}"), result.stderr
    assert str(ROOT) not in last_line


def test_the_context_carries_permissions_and_org_id_never_the_token(load_authorizer, issuer, lambda_context, caplog):
    app = load_authorizer(SCOPE_CLAIMS="scope,scp,permissions", REQUIRED_CLAIMS='{"org_id": ["org_abc123"]}')
    value = issuer.mint(scopes=["read:test"], extra_claims={"permissions": ["write:test"], "org_id": "org_abc123"})
    event = load_event("authorizer-v2-valid.json", token=value)
    response = app.handle(event)
    assert response == {
        "isAuthorized": True,
        "context": {
            "sub": "dev-client@clients",
            "scope": "read:test write:test",
            "clientId": "dev-client",
            "permissions": "write:test",
            "orgId": "org_abc123",
        },
    }
    assert value not in repr(response) and all(value not in repr(r.__dict__) for r in caplog.records)


def test_rest_policies_apply_the_same_rules(load_authorizer, issuer, lambda_context, caplog):
    app = load_authorizer(REQUIRED_CLAIMS='{"org_id": ["org_abc123"]}')
    good = load_event("authorizer-v1-token.json", token=issuer.mint(extra_claims={"org_id": "org_abc123"}))
    other = load_event("authorizer-v1-token.json", token=issuer.mint(extra_claims={"org_id": "org_other"}))
    assert app.handle(good)["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert app.handle(other)["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert decision_lines(caplog.records)[-1]["reason"] == "claim_mismatch"


def test_a_shared_secret_cannot_serve_several_issuers():
    result = start_authorizer(ISSUER="https://a.example/,https://b.example/", HS256_SECRET_PARAMETER="/jwt/secret")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "jwt_authorizer.settings.SettingError: "
        "HS256_SECRET_PARAMETER gives one key for every issuer, but ISSUER lists 2"
    )
