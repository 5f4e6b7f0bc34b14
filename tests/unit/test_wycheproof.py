"""Project Wycheproof's JWS vectors through the authorizer's own JWKS parsing and signature step.

Vectors nobody here wrote: 401 tokens in groups, each group under one JWK. Every vector goes
through ``keys.parse_jwks`` (the group's JWK as a one-key set) and ``JwtVerifier`` with every
public-key algorithm of the table allowed (RSA, ECDSA, EdDSA). Wycheproof's payloads are not
claim sets, so a token that passes the signature is still refused, for its payload; which step
refused it is what is checked:

- ``invalid``: refused, whatever the reason;
- ``valid``, with a key we may use for that algorithm: refused only after the signature step
  (payload reasons);
- everything else (HS256, ``none``, keys for encryption): refused at or before the signature
  step. Vectors 346 and 350 are valid for Wycheproof (RFC 7520's PS384 figure), but their JWK
  says ``"alg": "PS256"``, so here they must be refused (``key_alg_mismatch``); 347 and 351
  (RFC 7520's ES512 figure) carry a JWK whose ``alg`` is ``ES521``, which is no JWS algorithm,
  so that key is skipped and they are refused (``unknown_kid``).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from jwt_authorizer.algorithms import ALGORITHMS, PUBLIC_KEY_ALGORITHMS
from jwt_authorizer.keys import JwksError, parse_jwks
from jwt_authorizer.verifier import JwtVerifier, TokenRejected
from tests.support import StaticKeys

VECTORS = Path(__file__).parents[1] / "vectors" / "wycheproof" / "json_web_signature_test.json"
SUITE = json.loads(VECTORS.read_text())
CASES = [(group, test) for group in SUITE["testGroups"] for test in group["tests"]]
JWK_ALG_DISAGREES = {346, 350}
JWK_ALG_UNKNOWN = {347, 351}
# What the verifier checks after the signature: the payload, then the claims.
AFTER_SIGNATURE = {"bad_issuer", "missing_exp", "bad_exp", "expired", "bad_audience"}


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
        keys = parse_jwks({"keys": [jwk]}, PUBLIC_KEY_ALGORITHMS)
    except JwksError:
        keys = {}
    verifier = JwtVerifier(
        issuer="https://issuer.example/", audiences=["aud"], keys=StaticKeys(keys), algorithms=PUBLIC_KEY_ALGORITHMS
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
        and alg in PUBLIC_KEY_ALGORITHMS
        and jwk.get("kty") == ALGORITHMS[alg].kty
        and test["tcId"] not in JWK_ALG_DISAGREES | JWK_ALG_UNKNOWN
    )
    if usable:
        assert passed_signature, f"a valid {alg} signature was refused: {rejected.reason} {rejected.detail}"
    else:
        assert not passed_signature, f"tc{test['tcId']} ({test['comment']}) got past the signature step"
    if test["tcId"] in JWK_ALG_DISAGREES:
        assert rejected.reason == "key_alg_mismatch"
    if test["tcId"] in JWK_ALG_UNKNOWN:
        assert rejected.reason == "unknown_kid"
