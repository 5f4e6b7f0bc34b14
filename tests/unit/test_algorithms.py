"""The algorithm table: which JWKs become which keys, and which key may verify which ``alg``.

Keys are made at test time; tokens are minted with PyJWT (a JOSE library we did not write), and
checked by the verifier over keys parsed from a JWKS document in memory.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519

from devkit.local.issuer import new_rsa_key, public_jwk
from jwt_authorizer.algorithms import ALGORITHMS, PUBLIC_KEY_ALGORITHMS, thumbprint
from jwt_authorizer.keys import parse_jwks
from jwt_authorizer.verifier import JwtVerifier, TokenRejected
from tests.support import StaticKeys

ISSUER, AUDIENCE = "https://issuer.example/", "https://api.example.com"
RSA = new_rsa_key()
EC = {
    crv: ec.generate_private_key(curve)
    for crv, curve in (("P-256", ec.SECP256R1()), ("P-384", ec.SECP384R1()), ("P-521", ec.SECP521R1()))
}
ED = ed25519.Ed25519PrivateKey.generate()
ES_CURVE = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def ec_jwk(crv: str, kid: str, **extra: Any) -> dict[str, Any]:
    numbers = EC[crv].public_key().public_numbers()
    size = {"P-256": 32, "P-384": 48, "P-521": 66}[crv]
    return {
        "kty": "EC",
        "crv": crv,
        "kid": kid,
        "x": b64(numbers.x.to_bytes(size, "big")),
        "y": b64(numbers.y.to_bytes(size, "big")),
        **extra,
    }


def okp_jwk(kid: str, **extra: Any) -> dict[str, Any]:
    return {"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(ED.public_key().public_bytes_raw()), **extra}


# The P-256 key's own y, plus one: a point off the curve, in a well-formed coordinate.
OFF_CURVE_Y = b64(((EC["P-256"].public_key().public_numbers().y + 1) % 2**256).to_bytes(32, "big"))
MIXED = {
    "keys": [
        public_jwk(RSA, "rsa"),
        ec_jwk("P-256", "p256", alg="ES256"),
        ec_jwk("P-384", "p384"),
        ec_jwk("P-521", "p521", use="sig"),
        okp_jwk("ed"),
    ]
}


def signing_key(alg: str) -> Any:
    """The private key a token of ``alg`` is signed with here: its own kind, whatever kid it names."""
    if alg[:2] in ("RS", "PS"):
        return RSA
    if alg in ES_CURVE:
        return EC[ES_CURVE[alg]]
    return ED


def mint(alg: str, kid: str) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "s", "iat": now, "exp": now + 600}
    return jwt.encode(claims, signing_key(alg), algorithm=alg, headers={"kid": kid})


def verifier(algorithms: set[str], document: dict[str, Any] = MIXED) -> JwtVerifier:
    keys = StaticKeys(parse_jwks(document, algorithms))
    return JwtVerifier(issuer=ISSUER, audiences=[AUDIENCE], keys=keys, algorithms=algorithms)


def reason(check: JwtVerifier, token: str) -> str:
    with pytest.raises(TokenRejected) as rejected:
        check.verify(token)
    return rejected.value.reason


def test_a_mixed_key_set_gives_each_kid_its_own_type_and_curve():
    keys = parse_jwks(MIXED, PUBLIC_KEY_ALGORITHMS)
    assert {kid: (key.kty, key.curve, key.alg) for kid, key in keys.items()} == {
        "rsa": ("RSA", None, "RS256"),
        "p256": ("EC", "P-256", "ES256"),
        "p384": ("EC", "P-384", None),
        "p521": ("EC", "P-521", None),
        "ed": ("OKP", "Ed25519", None),
    }


@pytest.mark.parametrize(
    ("alg", "kid"),
    [("RS256", "rsa"), ("PS256", "rsa"), ("ES256", "p256"), ("ES384", "p384"), ("ES512", "p521"), ("EdDSA", "ed")],
)
def test_every_algorithm_verifies_a_token_from_pyjwt_with_its_own_kind_of_key(alg, kid):
    document = {
        "keys": [k for k in MIXED["keys"] if k["kid"] != "rsa"]
        + [public_jwk(RSA, "rsa", alg=alg) if alg[:2] in ("RS", "PS") else public_jwk(RSA, "rsa")]
    }
    assert verifier(set(PUBLIC_KEY_ALGORITHMS), document).verify(mint(alg, kid)).claims["sub"] == "s"


def test_an_rsa_only_configuration_loads_no_ec_or_okp_key_and_the_reverse():
    assert sorted(parse_jwks(MIXED, {"RS256"})) == ["rsa"]
    assert sorted(parse_jwks(MIXED, {"ES256"})) == ["p256", "p384", "p521"]
    assert sorted(parse_jwks(MIXED, {"EdDSA"})) == ["ed"]


@pytest.mark.parametrize(
    ("allowed", "alg", "kid", "expected"),
    [
        ({"RS256"}, "ES256", "p256", "bad_algorithm"),  # EC not allowed: refused before any key
        ({"ES256"}, "RS256", "rsa", "bad_algorithm"),
        ({"RS256", "ES256"}, "ES256", "rsa", "key_alg_mismatch"),  # an RSA key for ES256
        ({"RS256", "ES256"}, "RS256", "p256", "key_alg_mismatch"),  # an EC key for RS256
        ({"ES256", "ES384"}, "ES256", "p384", "key_alg_mismatch"),  # the wrong curve
        ({"ES256", "EdDSA"}, "ES256", "ed", "key_alg_mismatch"),  # an Ed25519 key for ES256
        ({"ES256", "EdDSA"}, "EdDSA", "p256", "key_alg_mismatch"),
        ({"ES384", "ES512"}, "ES512", "p384", "key_alg_mismatch"),
    ],
)
def test_cross_family_confusion_is_refused_in_every_combination(allowed, alg, kid, expected):
    # The token is signed with the key it names where that is possible, else with its alg's own key.
    token = mint(alg, kid)
    assert reason(verifier(allowed), token) == expected


def test_hs256_keyed_with_an_ec_public_key_is_refused():
    pem = (
        EC["P-256"]
        .public_key()
        .public_bytes(
            encoding=__import__("cryptography.hazmat.primitives.serialization", fromlist=["Encoding"]).Encoding.PEM,
            format=__import__(
                "cryptography.hazmat.primitives.serialization", fromlist=["PublicFormat"]
            ).PublicFormat.SubjectPublicKeyInfo,
        )
    )
    header = b64(json.dumps({"alg": "HS256", "kid": "p256"}).encode())
    payload = b64(json.dumps({"iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60}).encode())

    signature = b64(hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    assert reason(verifier(set(PUBLIC_KEY_ALGORITHMS)), f"{header}.{payload}.{signature}") == "bad_algorithm"


@pytest.mark.parametrize(
    ("jwk", "why"),
    [
        (ec_jwk("P-256", "x") | {"y": OFF_CURVE_Y}, "the point is not on P-256"),
        (ec_jwk("P-256", "x") | {"crv": "P-192"}, "crv 'P-192' is not P-256, P-384 or P-521"),
        (ec_jwk("P-256", "x") | {"crv": "secp256k1"}, "crv 'secp256k1' is not P-256, P-384 or P-521"),
        (ec_jwk("P-256", "x") | {"alg": "ES384"}, "alg ES384 needs crv P-384, not P-256"),
        (ec_jwk("P-256", "x") | {"alg": "RS256"}, "alg RS256 is not an EC signature algorithm"),
        (ec_jwk("P-256", "x") | {"x": b64(b"\1" * 31)}, "x is not a base64url 32-byte coordinate"),
        (ec_jwk("P-521", "x") | {"y": ec_jwk("P-521", "x")["y"][:-3]}, "y is not a base64url 66-byte coordinate"),
        (ec_jwk("P-256", "x") | {"use": "enc"}, "use 'enc' is not sig"),
        (ec_jwk("P-256", "x") | {"key_ops": ["deriveKey"]}, "key_ops lacks verify"),
        (
            okp_jwk("x") | {"crv": "Ed448", "x": b64(ed448.Ed448PrivateKey.generate().public_key().public_bytes_raw())},
            "crv 'Ed448' is not supported (EdDSA keys must be Ed25519)",
        ),
        (okp_jwk("x") | {"crv": "X25519"}, "crv 'X25519' is not supported (EdDSA keys must be Ed25519)"),
        (okp_jwk("x") | {"x": b64(b"\1" * 31)}, "x is not a base64url 32-byte coordinate"),
        (okp_jwk("x") | {"alg": "ES256"}, "alg ES256 is not an OKP signature algorithm"),
    ],
)
def test_an_ec_or_okp_key_that_cannot_be_trusted_is_skipped_and_logged_by_kid(jwk, why, caplog):
    document = {"keys": [public_jwk(RSA, "good"), {**jwk, "kid": "odd"}]}
    with caplog.at_level(logging.WARNING, logger="authorizer.jwks"):
        keys = parse_jwks(document, PUBLIC_KEY_ALGORITHMS)
    assert sorted(keys) == ["good"]
    (record,) = [r for r in caplog.records if r.getMessage() == "jwks keys skipped"]
    assert getattr(record, "skipped") == [f"odd: {why}"]  # noqa: B009 - set via extra=


def test_a_kid_listed_twice_is_refused_whatever_the_types():
    document = {"keys": [public_jwk(RSA, "same"), ec_jwk("P-256", "same"), okp_jwk("ok")]}
    assert sorted(parse_jwks(document, PUBLIC_KEY_ALGORITHMS)) == ["ok"]


def test_thumbprints_follow_rfc_7638():
    # RFC 7638 section 3.1's own example key and thumbprint.
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3o"
        "knjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu"
        "6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8aw"
        "apJzKnqDKgw"
    )
    assert thumbprint({"e": "AQAB", "kty": "RSA", "n": n}) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    keys = parse_jwks({"keys": [{"kty": "RSA", "kid": "rfc", "e": "AQAB", "n": n}]})
    assert keys["rfc"].thumbprint == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_the_table_names_what_each_algorithm_needs():
    assert {name: (a.kty, a.curve) for name, a in ALGORITHMS.items() if a.kty in ("EC", "OKP")} == {
        "ES256": ("EC", "P-256"),
        "ES384": ("EC", "P-384"),
        "ES512": ("EC", "P-521"),
        "EdDSA": ("OKP", "Ed25519"),
    }
