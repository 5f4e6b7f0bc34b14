"""Wycheproof's ECDSA (P1363) and Ed25519 vectors through our JWK parsing and signature step.

Vectors nobody here wrote, for the three ECDSA curves JWS uses (ES256: P-256/SHA-256, ES384:
P-384/SHA-384, ES512: P-521/SHA-512) in IEEE P1363 form (R || S, RFC 7518 3.4's form) and for
Ed25519 (RFC 8037's EdDSA). Each group's key goes through ``algorithms.jwk_key`` as a JWK (the
group's own ``publicKeyJwk``; for the few groups without one, the JWK of its uncompressed
point), and each signature through the table's verify function for that algorithm. Every
``valid`` is accepted and every ``invalid`` refused; these files hold no ``acceptable`` case,
and a test says so, so that a new version that adds some makes us decide them.

Signatures Wycheproof marks valid include high-S ones ("signature malleability"): RFC 7518
asks for no low-S form, so they are accepted, as OpenSSL and every JOSE library we tried do.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from jwt_authorizer.algorithms import Untrusted, jwk_key, verifiers

VECTORS = Path(__file__).parents[1] / "vectors" / "wycheproof"
FILES = {
    "ecdsa_secp256r1_sha256_p1363_test.json": ("ES256", "P-256", 262),
    "ecdsa_secp384r1_sha384_p1363_test.json": ("ES384", "P-384", 280),
    "ecdsa_secp521r1_sha512_p1363_test.json": ("ES512", "P-521", 318),
    "ed25519_test.json": ("EdDSA", "Ed25519", 151),
}
SUITES = {name: json.loads((VECTORS / name).read_text()) for name in FILES}
CASES = [
    (name, group, test) for name, suite in SUITES.items() for group in suite["testGroups"] for test in group["tests"]
]
VERIFY = verifiers({alg for alg, _, _ in FILES.values()})


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def group_jwk(group: dict[str, Any], crv: str) -> dict[str, Any]:
    """The group's key as a JWK: its own, or the one its uncompressed EC point (04 || x || y) spells."""
    if "publicKeyJwk" in group:
        return dict(group["publicKeyJwk"])
    point = bytes.fromhex(group["publicKey"]["uncompressed"])
    size = (len(point) - 1) // 2
    return {"kty": "EC", "crv": crv, "x": _b64(point[1 : 1 + size]), "y": _b64(point[1 + size :])}


def accepted(name: str, group: dict[str, Any], test: dict[str, Any]) -> bool:
    alg, crv, _ = FILES[name]
    try:
        key = jwk_key(group_jwk(group, crv))
    except Untrusted:
        return False
    return VERIFY[alg](key.key, bytes.fromhex(test["msg"]), bytes.fromhex(test["sig"]))


def test_the_vendored_files_are_whole_and_hold_no_acceptable_case():
    for name, suite in SUITES.items():
        results = Counter(test["result"] for group in suite["testGroups"] for test in group["tests"])
        assert suite["numberOfTests"] == sum(results.values()) == FILES[name][2]
        assert set(results) == {"valid", "invalid"}, f"{name}: decide the acceptable cases"


@pytest.mark.parametrize(
    ("name", "group", "test"), CASES, ids=[f"{name.split('_test')[0]}-tc{test['tcId']}" for name, _, test in CASES]
)
def test_vector(name: str, group: dict[str, Any], test: dict[str, Any]):
    assert accepted(name, group, test) is (test["result"] == "valid"), test["comment"]
