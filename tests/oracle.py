"""A reference verifier on PyJWT, written from the security model, for differential tests.

The authorizer verifies tokens with a few lines of its own on cryptography (``jwt_core``), so
that the deployed function does not import a JWT library. This module is the second opinion:
parsing, base64url, JSON and the signature check are PyJWT's (``jwt.decode`` with the key
PyJWT builds from the JWK), and the rules PyJWT does not apply, or applies differently, are
written here again from the security model (docs/security.md), deliberately without calling
``jwt_core`` (a shared helper would hide a shared bug). The differential test requires both
to accept and refuse the same tokens, and to return the same claims.

Where PyJWT is looser than the model it is tightened first (no ``=`` padding, UTF-8 only, no
NaN/Infinity, ``b64`` only true); where it is stricter about something the model does not
check (the type of ``sub`` and ``jti``), that check is switched off.
"""

from __future__ import annotations

import base64
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, cast

import jwt
from jwt.exceptions import PyJWTError
from jwt.types import Options

RSA = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
# Written here from RFC 7518 3.4 and RFC 8037, not taken from the authorizer: alg -> (kty, crv).
CURVE_OF = {"ES256": ("EC", "P-256"), "ES384": ("EC", "P-384"), "ES512": ("EC", "P-521"), "EdDSA": ("OKP", "Ed25519")}
COORDINATE_BYTES = {"P-256": 32, "P-384": 48, "P-521": 66, "Ed25519": 32}
MAX_DATE = 253402300799  # 9999-12-31T23:59:59Z
MAX_TOKEN = 8192
MAX_DEPTH = 32  # objects and arrays inside each other, the outermost object included
_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")
_SCHEME = re.compile(r"(?i)bearer(?:[ \t]+|$)")
PYJWT_OPTIONS: Options = {
    "verify_signature": True,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": False,
    "verify_iss": False,
    "verify_sub": False,
    "verify_jti": False,
    "require": [],
}


class Refused(Exception):
    """The reference refuses the token (the reason is for humans; only refusal is compared)."""


def token_from_header(value: object) -> str:
    """Authorization header value -> token: bare, or after ``Bearer`` in any case."""
    text = value.strip(" \t") if isinstance(value, str) else ""
    match = _SCHEME.match(text)
    if match:
        text = text[match.end() :]
    elif " " in text or "\t" in text:
        raise Refused("another scheme")
    if not text:
        raise Refused("no token")
    return text


def trusted_keys(jwks: Mapping[str, Any]) -> dict[str, jwt.PyJWK]:
    """The JWKS's keys the model lets us use, built by PyJWT, by kid."""
    entries = [k for k in jwks.get("keys", []) if isinstance(k, Mapping)]
    listed = Counter(k.get("kid") for k in entries)
    keys: dict[str, jwt.PyJWK] = {}
    for entry in entries:
        kid = entry.get("kid")
        if entry.get("kty") not in ("RSA", "EC", "OKP") or not isinstance(kid, str) or not kid or listed[kid] > 1:
            continue
        if entry.get("use", "sig") != "sig":
            continue
        ops = entry.get("key_ops")
        if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
            continue
        if not _alg_fits_key(entry.get("alg"), entry) or not _coordinates_full_size(entry):
            continue
        public = {name: entry[name] for name in ("kty", "n", "e", "crv", "x", "y") if name in entry}
        try:
            key = jwt.PyJWK(public, algorithm=_pyjwt_algorithm(entry))
        except (PyJWTError, ValueError, TypeError):
            continue
        if entry["kty"] == "RSA" and (key.key.key_size < 2048 or key.key.public_numbers().n % 2 == 0):
            continue
        keys[kid] = key
    return keys


def _alg_fits_key(alg: object, entry: Mapping[str, Any]) -> bool:
    """A JWK's alg, when it has one, must be a signature algorithm for its own kty (and curve)."""
    if alg is None:
        return True
    if alg in RSA:
        return entry.get("kty") == "RSA"
    return isinstance(alg, str) and CURVE_OF.get(alg) == (entry.get("kty"), entry.get("crv"))


def _coordinates_full_size(entry: Mapping[str, Any]) -> bool:
    """EC and OKP coordinates are exactly the curve's size (RFC 7518 6.2.1.2, RFC 8037 2)."""
    if entry.get("kty") == "RSA":
        return True
    size = COORDINATE_BYTES.get(entry.get("crv"))  # type: ignore[arg-type]
    names = ("x", "y") if entry.get("kty") == "EC" else ("x",)
    for name in names:
        value = entry.get(name)
        if size is None or not isinstance(value, str) or not _SEGMENT.fullmatch(value):
            return False
        if len(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))) != size:
            return False
    return True


def _pyjwt_algorithm(entry: Mapping[str, Any]) -> str:
    """The algorithm PyJWT builds the key for: it needs one to pick the key type's class."""
    if entry["kty"] == "RSA":
        return "RS256"
    if entry["kty"] == "OKP":
        return "EdDSA"
    return {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}.get(entry.get("crv"), "ES256")  # type: ignore[arg-type]


def _strict_json(segment: str) -> Any:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        value = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
        # I-JSON (RFC 7493 2.1): every string valid Unicode, which a lone surrogate is not.
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (ValueError, RecursionError) as exc:  # binascii.Error and Unicode errors are ValueErrors
        raise Refused(f"not strict JSON: {exc}") from None
    try:
        too_deep = _depth(value) > MAX_DEPTH
    except RecursionError:
        too_deep = True
    if too_deep:
        raise Refused("nested too deep")
    return value


def _depth(value: Any) -> int:
    """Levels of objects and arrays: {} is 1, {"a": []} is 2 (JSON that parsed is < 1000 deep)."""
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def _date(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= MAX_DATE


def _is_scope_token(text: str) -> bool:
    """RFC 6749 3.3 scope-token: one or more of %x21 / %x23-5B / %x5D-7E."""
    return bool(text) and all(0x21 <= ord(c) <= 0x7E and c not in '"\\' for c in text)


def scopes_of(claims: Mapping[str, Any], names: Iterable[str] = ("scope", "scp")) -> tuple[str, ...]:
    found: list[str] = []
    for name in names:
        value = claims.get(name)
        if isinstance(value, str):
            found += [s for s in value.split(" ") if _is_scope_token(s)]
        elif isinstance(value, list) and name != "scope":
            found += [s for s in value if isinstance(s, str) and _is_scope_token(s)]
    return tuple(dict.fromkeys(found))


def verify(
    token: str,
    *,
    issuers: Mapping[str, Mapping[str, Any]],
    audiences: Iterable[str],
    algorithms: Iterable[str],
    now: float,
    scope_claims: Iterable[str] = ("scope", "scp"),
    required: Mapping[str, Iterable[str]] | None = None,
    client_id_counts: bool = True,
) -> dict[str, Any]:
    """The claims of a token the model accepts; ``Refused`` otherwise.

    ``client_id_counts``: may a token without ``aud`` name its audience in ``client_id`` (API
    Gateway's rule)? Not for a resource URL (RFC 8707), which must be in ``aud``.

    ``issuers``: each accepted issuer and its JWKS document. With one, its keys answer every
    token (iss is checked later, as the built-in authorizer does); with several, the token's
    unverified iss picks whose keys, and an iss not listed is refused outright.
    """
    if len(issuers) == 1:
        ((issuer, jwks),) = issuers.items()
    else:
        issuer = _unverified_iss(token)
        if issuer not in issuers:
            raise Refused("unknown issuer")
        jwks = issuers[issuer]
    alg, key = _header_and_key(token, jwks, set(algorithms))
    try:
        claims: dict[str, Any] = jwt.decode(token, key.key, algorithms=[alg], options=PYJWT_OPTIONS)
    except PyJWTError as exc:
        raise Refused(f"PyJWT: {exc}") from None
    if _strict_json(token.split(".")[1]) != claims:
        raise Refused("payload differs from strict parse")
    _check_claims(claims, issuer, set(audiences), now, client_id_counts)
    for name, accepted in (required or {}).items():
        value = claims.get(name)
        values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        if name not in claims or not any(isinstance(v, str) and v in set(accepted) for v in values):
            raise Refused(f"required claim {name}")
    return claims


def _unverified_iss(token: str) -> str:
    try:
        iss = jwt.decode(token, options={"verify_signature": False}).get("iss")
    except PyJWTError:
        raise Refused("payload unreadable") from None
    if not isinstance(iss, str):
        raise Refused("no iss")
    return iss


def _header_and_key(token: str, jwks: Mapping[str, Any], allowed: set[str]) -> tuple[str, jwt.PyJWK]:
    if len(token) > MAX_TOKEN:
        raise Refused("too long")
    parts = token.split(".")
    if len(parts) != 3 or not all(_SEGMENT.fullmatch(p) for p in parts):
        raise Refused("not three unpadded base64url segments")
    header = _strict_json(parts[0])
    try:
        if jwt.get_unverified_header(token) != header:
            raise Refused("header differs from strict parse")
    except PyJWTError as exc:
        raise Refused(f"PyJWT: {exc}") from None
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in allowed:
        raise Refused("algorithm not allowed")
    if "crit" in header or header.get("b64", True) is not True:
        raise Refused("extensions")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise Refused("no kid")
    key = trusted_keys(jwks).get(kid)
    if key is None:
        raise Refused("unknown kid")
    jwk_alg = _jwk_alg(jwks, kid)
    if jwk_alg is not None and jwk_alg != alg:
        raise Refused("the JWK is for another alg")
    kty, crv = ("RSA", None) if alg in RSA else CURVE_OF.get(alg, (None, None))
    if key.key_type != kty or (crv is not None and _jwk_field(jwks, kid, "crv") != crv):
        raise Refused("the key is of another type or curve than alg needs")
    return alg, key


def _check_claims(claims: Mapping[str, Any], issuer: str, wanted: set[str], now: float, client_id_counts: bool) -> None:
    if claims.get("iss") != issuer:
        raise Refused("issuer")
    exp = claims.get("exp")
    if not _date(exp) or now >= cast(float, exp):
        raise Refused("exp")
    for name in ("nbf", "iat"):
        if name in claims and (not _date(claims[name]) or claims[name] > now):
            raise Refused(name)
    if "aud" in claims:
        aud = claims["aud"]
        values = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else None
        if values is None or not all(isinstance(v, str) for v in values) or wanted.isdisjoint(values):
            raise Refused("aud")
    elif not (client_id_counts and isinstance(claims.get("client_id"), str) and claims["client_id"] in wanted):
        raise Refused("client_id")


def _jwk_field(jwks: Mapping[str, Any], kid: str, name: str) -> object:
    for entry in jwks.get("keys", []):
        if isinstance(entry, Mapping) and entry.get("kid") == kid:
            return entry.get(name)
    return None


def _jwk_alg(jwks: Mapping[str, Any], kid: str) -> str | None:
    for entry in jwks.get("keys", []):
        if isinstance(entry, Mapping) and entry.get("kid") == kid:
            alg = entry.get("alg")
            return alg if isinstance(alg, str) else None
    return None
