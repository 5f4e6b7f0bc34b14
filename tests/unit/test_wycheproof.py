"""Project Wycheproof's JWS vectors through the authorizer's own JWKS parsing and signature step.

Vectors nobody here wrote: 401 tokens in groups, each group under one JWK. Every vector goes
through ``jwks.parse_jwks`` (the group's JWK as a one-key set) and ``JwtVerifier`` with all six
RSA algorithms allowed. Wycheproof's payloads are not claim sets, so a token that passes the
signature is still refused, for its payload; which step refused it is what is checked:

- ``invalid``: refused, whatever the reason;
- ``valid``, RS*/PS*, with a key we may use for that algorithm: refused only after the
  signature step (payload reasons);
- everything else (HS256, ES*, ``none``, keys for encryption): refused at or before the
  signature step. Vectors 346 and 350 are valid for Wycheproof (RFC 7520's PS384 figure), but
  their JWK says ``"alg": "PS256"``, so here they must be refused (``key_alg_mismatch``).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from jwt_authorizer.algorithms import ALGORITHMS
from jwt_authorizer.keys import JwksError, parse_jwks
from jwt_authorizer.verifier import JwtVerifier, TokenRejected
from tests.support import StaticKeys

VECTORS = Path(__file__).parents[1] / "vectors" / "wycheproof" / "json_web_signature_test.json"
SUITE = json.loads(VECTORS.read_text())
CASES = [(group, test) for group in SUITE["testGroups"] for test in group["tests"]]
JWK_ALG_DISAGREES = {346, 350}
# What the verifier checks after the signature: the payload, then the claims.
AFTER_SIGNATURE = {"bad_issuer", "missing_exp", "bad_exp", "expired", "bad_audience"}
RSA_ALGORITHMS = frozenset(name for name, algorithm in ALGORITHMS.items() if algorithm.family == "RSA")


def _header(token: str) -> dict[str, Any]:
    head = token.split(".")[0]
    try:
        value = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def verdict(group: dict[str, Any], token: str) -> TokenRejected | None:
    jwk = group.get("public") or group["private"]
    try:
        keys = parse_jwks({"keys": [jwk]}, RSA_ALGORITHMS)
    except JwksError:
        keys = {}
    verifier = JwtVerifier(
        issuer="https://issuer.example/", audiences=["aud"], keys=StaticKeys(keys), algorithms=RSA_ALGORITHMS
    )
    try:
        verifier.verify(token)
    except TokenRejected as rejected:
        return rejected
    return None


def test_the_vendored_suite_is_whole():
    assert SUITE["numberOfTests"] == len(CASES) == 401


@pytest.mark.parametrize(("group", "test"), CASES, ids=[f"tc{test['tcId']}" for _, test in CASES])
def test_vector(group: dict[str, Any], test: dict[str, Any]):
    token = test["jws"]
    rejected = verdict(group, token)
    assert rejected is not None, "a Wycheproof payload is never a valid claim set, so nothing may pass"
    passed_signature = rejected.reason in AFTER_SIGNATURE or (rejected.reason, rejected.detail) == (
        "malformed",
        "payload",
    )
    jwk = group.get("public") or group["private"]
    alg = _header(token).get("alg")
    usable = (
        test["result"] == "valid"
        and alg in RSA_ALGORITHMS
        and jwk.get("kty") == "RSA"
        and test["tcId"] not in JWK_ALG_DISAGREES
    )
    if usable:
        assert passed_signature, f"a valid {alg} signature was refused: {rejected.reason} {rejected.detail}"
    else:
        assert not passed_signature, f"tc{test['tcId']} ({test['comment']}) got past the signature step"
    if test["tcId"] in JWK_ALG_DISAGREES:
        assert rejected.reason == "key_alg_mismatch"
