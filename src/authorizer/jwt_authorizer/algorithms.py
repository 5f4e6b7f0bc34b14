"""The algorithm table: JWS ``alg`` -> the key type that verifies it, JWK -> key, and verify.

Everything that knows about an algorithm reads this table: the verifier (which key may check
which ``alg``, and how), the key set (which JWKs become which keys, with our hygiene rules), the
settings (which names ``ALLOWED_ALGORITHMS`` may hold), the deploy preflight and the bench.
Adding an algorithm is an entry in ``ALGORITHMS`` (and, for a new key type, in ``KEY_TYPES``),
its tests and its docs row.

Only what a configuration allows is ever loaded: each entry builds its verify function on
demand (``verifiers``), and each key type its keys, so an RS256-only authorizer imports no
module another family would need.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.padding import MGF1, PSS, AsymmetricPadding, PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers
from cryptography.hazmat.primitives.hashes import SHA256, SHA384, SHA512, HashAlgorithm

from jwt_authorizer.jose import MalformedSegment, b64url_decode

# (public key, signing input, signature) -> does it verify?
Verify = Callable[[Any, bytes, bytes], bool]

# RFC 7518 3.3: an RSA key for these algorithms must be at least 2048 bits.
MIN_RSA_BITS = 2048
DEFAULT_ALGORITHMS = frozenset({"RS256"})


class Algorithm(NamedTuple):
    """One JWS ``alg``: the JWK ``kty`` (and curve) of its keys, and how to verify with one."""

    name: str
    kty: str
    curve: str | None
    make_verify: Callable[[], Verify]  # imports what it needs only when a configuration allows it
    family: str  # what the docs and the preflight call it ("RSA", "HMAC", ...)
    # Does API Gateway's built-in HTTP API JWT authorizer verify it? AWS documents "only
    # RSA-based algorithms" and shows RS256: "yes" (RS256), "undocumented" (the other RSA
    # algorithms: RSA-based, never named), "no". make local's emulation accepts "yes" only.
    built_in: str


class VerificationKey:
    """A public key (or a shared secret) that may verify signatures.

    ``alg`` is the algorithm its JWK restricts it to (RFC 7517 4.4), if any; ``kty`` and
    ``curve`` say which algorithms it can serve at all; ``thumbprint`` (RFC 7638) names the key
    itself, so a cached verification can tell whether the key that made it is still published.
    """

    __slots__ = ("alg", "curve", "key", "kty", "thumbprint")

    def __init__(self, key: Any, alg: str | None, kty: str, thumbprint: str, curve: str | None = None) -> None:
        self.key = key
        self.alg = alg
        self.kty = kty
        self.curve = curve
        self.thumbprint = thumbprint


class Untrusted(Exception):
    """Why a JWK is not used; the message is logged with its kid."""


# ---------------------------------------------------------------------------- verify functions
def _rsa(padding: AsymmetricPadding, sha: HashAlgorithm) -> Callable[[], Verify]:
    """RFC 7518 3.3 (PKCS#1 v1.5) or 3.5 (PSS), done by cryptography."""

    def make() -> Verify:
        def verify(key: Any, signing_input: bytes, signature: bytes) -> bool:
            try:
                key.verify(signature, signing_input, padding, sha)
            except (InvalidSignature, ValueError, TypeError):
                return False
            return True

        return verify

    return make


def _hs256() -> Verify:
    import hmac  # shared-secret mode only; no other configuration loads it

    def verify(key: Any, signing_input: bytes, signature: bytes) -> bool:
        return hmac.compare_digest(hmac.new(key, signing_input, hashlib.sha256).digest(), signature)

    return verify


def _ecdsa(curve: str, sha: HashAlgorithm) -> Callable[[], Verify]:
    """RFC 7518 3.4: R and S as two big-endian numbers of exactly the curve's coordinate size.

    The signature is refused before any curve arithmetic unless it is exactly twice that size
    and R and S are both from 1 to the group order less one: a DER signature, a truncated or
    padded one, zero or out-of-range numbers never reach OpenSSL. A high S (the other valid
    signature of the same message, n - S) is accepted: RFC 7518 has no low-S rule, Wycheproof's
    P1363 vectors call such signatures valid, and every issuer we know signs without one.
    """

    def make() -> Verify:
        from cryptography.hazmat.primitives.asymmetric.ec import ECDSA
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

        size, order = _CURVES[curve][1], _CURVES[curve][2]
        scheme = ECDSA(sha)

        def verify(key: Any, signing_input: bytes, signature: bytes) -> bool:
            if len(signature) != 2 * size:
                return False
            r, s = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
            if not (0 < r < order and 0 < s < order):
                return False
            try:
                key.verify(encode_dss_signature(r, s), signing_input, scheme)
            except (InvalidSignature, ValueError, TypeError):
                return False
            return True

        return verify

    return make


def _ed25519() -> Verify:
    """RFC 8037 3.1: a 64-byte Ed25519 signature over the signing input."""

    def verify(key: Any, signing_input: bytes, signature: bytes) -> bool:
        if len(signature) != 64:
            return False
        try:
            key.verify(signature, signing_input)
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True

    return verify


def _pss(sha: HashAlgorithm) -> AsymmetricPadding:
    # RFC 7518 3.5: MGF1 over the same hash, and a salt as long as the hash.
    return PSS(mgf=MGF1(sha), salt_length=sha.digest_size)


_SHA = {"256": SHA256(), "384": SHA384(), "512": SHA512()}
# JWK crv -> (cryptography's curve name, coordinate bytes, group order). The orders are the
# curves' published constants (SEC 2 / FIPS 186-4), so no EC module loads to know them.
_CURVES: dict[str, tuple[str, int, int]] = {
    "P-256": ("SECP256R1", 32, 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551),
    "P-384": (
        "SECP384R1",
        48,
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973,
    ),
    "P-521": (
        "SECP521R1",
        66,
        0x01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFA51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409,
    ),
}

ALGORITHMS: dict[str, Algorithm] = {
    "RS256": Algorithm("RS256", "RSA", None, _rsa(PKCS1v15(), _SHA["256"]), "RSA", "yes"),
    "RS384": Algorithm("RS384", "RSA", None, _rsa(PKCS1v15(), _SHA["384"]), "RSA", "undocumented"),
    "RS512": Algorithm("RS512", "RSA", None, _rsa(PKCS1v15(), _SHA["512"]), "RSA", "undocumented"),
    "PS256": Algorithm("PS256", "RSA", None, _rsa(_pss(_SHA["256"]), _SHA["256"]), "RSA", "undocumented"),
    "PS384": Algorithm("PS384", "RSA", None, _rsa(_pss(_SHA["384"]), _SHA["384"]), "RSA", "undocumented"),
    "PS512": Algorithm("PS512", "RSA", None, _rsa(_pss(_SHA["512"]), _SHA["512"]), "RSA", "undocumented"),
    "ES256": Algorithm("ES256", "EC", "P-256", _ecdsa("P-256", SHA256()), "ECDSA", "no"),
    "ES384": Algorithm("ES384", "EC", "P-384", _ecdsa("P-384", SHA384()), "ECDSA", "no"),
    "ES512": Algorithm("ES512", "EC", "P-521", _ecdsa("P-521", SHA512()), "ECDSA", "no"),
    # RFC 8037's one name for both Edwards curves; only Ed25519 keys are loaded (see _okp_key).
    "EdDSA": Algorithm("EdDSA", "OKP", "Ed25519", _ed25519, "EdDSA", "no"),
    # Only with a shared secret (secret.py), and then alone: never next to a public-key family.
    "HS256": Algorithm("HS256", "oct", None, _hs256, "HMAC", "no"),
}
PUBLIC_KEY_ALGORITHMS = frozenset(name for name, algorithm in ALGORITHMS.items() if algorithm.kty != "oct")
SHARED_SECRET_ALGORITHMS = frozenset(name for name, algorithm in ALGORITHMS.items() if algorithm.kty == "oct")
# What make local's emulation of the built-in JWT authorizer accepts: what AWS shows it accepts.
BUILT_IN_ALGORITHMS = frozenset(name for name, algorithm in ALGORITHMS.items() if algorithm.built_in == "yes")


def verifiers(names: Iterable[str]) -> dict[str, Verify]:
    """The verify function of each allowed algorithm, built now (and its modules imported)."""
    return {name: ALGORITHMS[name].make_verify() for name in names}


# ---------------------------------------------------------------------------- JWK -> key
def uint(value: object, name: str) -> int:
    """A JWK's base64url unsigned integer (RFC 7518 6.3.1), decoded as strictly as a token segment."""
    if not isinstance(value, str) or not value:
        raise Untrusted(f"{name} is not a base64url integer")
    try:
        return int.from_bytes(b64url_decode(value), "big")
    except MalformedSegment:
        raise Untrusted(f"{name} is not a base64url integer") from None


def thumbprint(members: Mapping[str, str]) -> str:
    """RFC 7638: SHA-256 of the required members as JSON, sorted, without whitespace."""
    canonical = json.dumps(dict(sorted(members.items())), separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def _b64uint(number: int) -> str:
    return _b64(number.to_bytes(max(1, (number.bit_length() + 7) // 8), "big"))


def _rsa_key(jwk: Mapping[str, Any], alg: str | None) -> VerificationKey:
    n, e = uint(jwk.get("n"), "n"), uint(jwk.get("e"), "e")
    # An RSA modulus is a product of two odd primes, and its exponent is odd (RFC 8017 3.1).
    if n % 2 == 0 or e % 2 == 0:
        raise Untrusted("modulus or exponent is even")
    try:
        # Only the public members: a JWKS that leaks "d" must not make us hold a private key.
        public = RSAPublicNumbers(e, n).public_key()
    except ValueError as exc:
        raise Untrusted(f"not an RSA public key ({exc})") from None
    if public.key_size < MIN_RSA_BITS:
        raise Untrusted(f"key under {MIN_RSA_BITS} bits")
    return VerificationKey(public, alg, "RSA", thumbprint({"e": _b64uint(e), "kty": "RSA", "n": _b64uint(n)}))


def _coordinate(jwk: Mapping[str, Any], name: str, size: int) -> bytes:
    value = jwk.get(name)
    try:
        raw = b64url_decode(value) if isinstance(value, str) else b""
    except MalformedSegment:
        raw = b""
    # RFC 7518 6.2.1.2 and RFC 8037 2: the full size of a coordinate, no more and no less.
    if len(raw) != size:
        raise Untrusted(f"{name} is not a base64url {size}-byte coordinate")
    return raw


def _ec_key(jwk: Mapping[str, Any], alg: str | None) -> VerificationKey:
    crv = jwk.get("crv")
    if not isinstance(crv, str) or crv not in _CURVES:
        raise Untrusted(f"crv {crv!r} is not P-256, P-384 or P-521")
    if alg is not None and ALGORITHMS[alg].curve != crv:
        raise Untrusted(f"alg {alg} needs crv {ALGORITHMS[alg].curve}, not {crv}")
    from cryptography.hazmat.primitives.asymmetric import ec  # EC configurations only

    name, size, _ = _CURVES[crv]
    x, y = _coordinate(jwk, "x", size), _coordinate(jwk, "y", size)
    try:
        numbers = ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"), int.from_bytes(y, "big"), getattr(ec, name)())
        public = numbers.public_key()
    except ValueError:
        raise Untrusted(f"the point is not on {crv}") from None
    members = {"crv": crv, "kty": "EC", "x": _b64(x), "y": _b64(y)}
    return VerificationKey(public, alg, "EC", thumbprint(members), curve=crv)


def _okp_key(jwk: Mapping[str, Any], alg: str | None) -> VerificationKey:
    crv = jwk.get("crv")
    if crv != "Ed25519":
        # Ed448 is refused, not guessed at: no issuer we know signs with it, and no published
        # vectors here could prove its verification (Ed25519 has Wycheproof's).
        raise Untrusted(f"crv {crv!r} is not supported (EdDSA keys must be Ed25519)")
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey  # EdDSA configurations only

    x = _coordinate(jwk, "x", 32)
    try:
        public = Ed25519PublicKey.from_public_bytes(x)
    except ValueError:
        raise Untrusted("x is not an Ed25519 public key") from None
    return VerificationKey(public, alg, "OKP", thumbprint({"crv": crv, "kty": "OKP", "x": _b64(x)}), curve=crv)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# JWK kty -> the function that makes a key of one (its own checks included).
KEY_TYPES: dict[str, Callable[[Mapping[str, Any], str | None], VerificationKey]] = {
    "RSA": _rsa_key,
    "EC": _ec_key,
    "OKP": _okp_key,
}


def key_types(algorithms: Iterable[str]) -> frozenset[str]:
    """The JWK key types that can verify any of ``algorithms``: the only ones worth loading."""
    return frozenset(ALGORITHMS[name].kty for name in algorithms if name in ALGORITHMS)


def jwk_key(jwk: Mapping[str, Any]) -> VerificationKey:
    """The key one JWK describes, or ``Untrusted`` with why not. Each key is judged alone.

    What any key must meet: ``use`` absent or ``sig``, ``key_ops`` absent or holding ``verify``,
    ``alg`` absent or a signature algorithm of the table for this key type; then its type's own
    rules (RSA: 2048 bits or more, odd modulus and exponent; EC: a listed curve, full-size
    coordinates of a point on it, and the curve ``alg`` needs; OKP: Ed25519).
    """
    kty = jwk.get("kty")
    make = KEY_TYPES.get(kty) if isinstance(kty, str) else None
    if make is None:
        raise Untrusted(f"kty {kty!r} is not a key type we verify with")
    use = jwk.get("use", "sig")
    if use != "sig":
        raise Untrusted(f"use {use!r} is not sig")
    key_ops = jwk.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        raise Untrusted("key_ops lacks verify")
    alg = jwk.get("alg")
    if alg is not None:
        algorithm = ALGORITHMS.get(alg) if isinstance(alg, str) else None
        if algorithm is None or algorithm.kty != kty:
            shown = alg if isinstance(alg, str) else repr(alg)
            raise Untrusted(f"alg {shown} is not an {kty} signature algorithm")
    return make(jwk, alg)


def fits(algorithm: Algorithm, key: VerificationKey) -> bool:
    """May ``key`` verify ``algorithm`` at all (its type and curve; its JWK's own ``alg`` aside)?"""
    return key.kty == algorithm.kty and (algorithm.curve is None or key.curve == algorithm.curve)
