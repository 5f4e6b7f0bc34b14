"""Signature encodings other than the one JWS defines are refused; the one it defines is accepted.

RFC 7518 3.4: an ECDSA signature is R || S, each exactly the curve's coordinate size (64, 96,
132 bytes); RFC 8037: an Ed25519 signature is 64 bytes. Keys are made at test time; every
signature starts valid (signed by cryptography), then hypothesis changes its form.

High S (n - S, the other valid signature of the same message) is accepted on purpose: RFC 7518
has no low-S rule and Wycheproof's P1363 vectors label such signatures valid. It is a different
token string, so it is verified (and cached) on its own; nothing here treats a signature as a
unique name for its claims.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.hashes import SHA256, SHA384, SHA512
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jwt_authorizer.algorithms import VerificationKey, jwk_key, verifiers

CURVES = {
    "ES256": (ec.SECP256R1(), SHA256(), 32),
    "ES384": (ec.SECP384R1(), SHA384(), 48),
    "ES512": (ec.SECP521R1(), SHA512(), 66),
}
PRIVATE = {alg: ec.generate_private_key(curve) for alg, (curve, _, _) in CURVES.items()}
ED_PRIVATE = ed25519.Ed25519PrivateKey.generate()
VERIFY = verifiers([*CURVES, "EdDSA"])
ED25519_ORDER = 2**252 + 27742317777372353535851937790883648493
EXAMPLES = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


def public(alg: str) -> VerificationKey:
    """Our key for ``alg``, through our own JWK parsing, as an issuer would publish it."""
    import base64

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    if alg == "EdDSA":
        raw = ED_PRIVATE.public_key().public_bytes_raw()
        return jwk_key({"kty": "OKP", "crv": "Ed25519", "x": b64(raw)})
    numbers = PRIVATE[alg].public_key().public_numbers()
    size = CURVES[alg][2]
    crv = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}[alg]
    x, y = numbers.x.to_bytes(size, "big"), numbers.y.to_bytes(size, "big")
    return jwk_key({"kty": "EC", "crv": crv, "x": b64(x), "y": b64(y)})


KEYS = {alg: public(alg) for alg in [*CURVES, "EdDSA"]}


def der_and_raw(alg: str, message: bytes) -> tuple[bytes, int, int]:
    sha = CURVES[alg][1]
    der = PRIVATE[alg].sign(message, ec.ECDSA(sha))
    r, s = decode_dss_signature(der)
    return der, r, s


def raw(r: int, s: int, size: int) -> bytes:
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def ok(alg: str, message: bytes, signature: Any) -> bool:
    return VERIFY[alg](KEYS[alg].key, message, signature)


@EXAMPLES
@given(alg=st.sampled_from(sorted(CURVES)), message=st.binary(max_size=200))
def test_r_s_of_exactly_the_coordinate_size_is_accepted_and_so_is_high_s(alg, message):
    _, r, s = der_and_raw(alg, message)
    size, order = CURVES[alg][2], CURVES[alg][0].group_order
    assert ok(alg, message, raw(r, s, size))
    assert ok(alg, message, raw(r, order - s, size))  # high S: valid by RFC 7518 and Wycheproof


@EXAMPLES
@given(
    alg=st.sampled_from(sorted(CURVES)),
    message=st.binary(max_size=200),
    change=st.sampled_from(
        ["der", "truncate", "append", "prepend", "zero-in-s", "swap", "r-zero", "s-zero", "r-order", "s-plus-order"]
    ),
    count=st.integers(1, 3),
)
def test_any_other_form_of_the_same_signature_is_refused(alg, message, change, count):
    der, r, s = der_and_raw(alg, message)
    size, order = CURVES[alg][2], CURVES[alg][0].group_order
    good = raw(r, s, size)
    signature = {
        "der": der,
        "truncate": good[:-count],
        "append": good + b"\0" * count,
        "prepend": b"\0" * count + good,
        # S with a leading zero byte: the same numbers, one byte too long (RFC 7518: exactly 2 x size).
        "zero-in-s": r.to_bytes(size, "big") + b"\0" + s.to_bytes(size, "big"),
        "swap": raw(s, r, size),
        "r-zero": raw(0, s, size),
        "s-zero": raw(r, 0, size),
        "r-order": raw(order, s, size) if order < 256**size else good[:-1],
        "s-plus-order": raw(r, s + order, size) if s + order < 256**size else good[1:],
    }[change]
    assert not ok(alg, message, signature)


@EXAMPLES
@given(message=st.binary(max_size=200), change=st.sampled_from(["truncate", "append", "flip", "s-plus-order"]))
def test_ed25519_takes_64_bytes_with_a_canonical_s_and_nothing_else(message, change):
    signature = ED_PRIVATE.sign(message)
    assert ok("EdDSA", message, signature)
    s = int.from_bytes(signature[32:], "little")
    changed = {
        "truncate": signature[:-1],
        "append": signature + b"\0",
        "flip": bytes([signature[0] ^ 1]) + signature[1:],
        # RFC 8032 5.1.7: S must be below the group order; S + L is the classic malleation.
        "s-plus-order": signature[:32] + (s + ED25519_ORDER).to_bytes(32, "little"),
    }[change]
    assert not ok("EdDSA", message, changed)


def test_no_verify_function_accepts_another_curves_or_familys_key():
    # The verifier never gets this far (a key must fit its alg), but the table's functions refuse too.
    message = b"header.payload"
    signatures = {alg: raw(*der_and_raw(alg, message)[1:], CURVES[alg][2]) for alg in CURVES}
    signatures["EdDSA"] = ED_PRIVATE.sign(message)
    for alg, signature in signatures.items():
        assert ok(alg, message, signature)
        for other in KEYS:
            if other != alg:
                assert not VERIFY[alg](KEYS[other].key, message, signature), (alg, other)
