"""The JWT case table (jwt_cases.yaml) and the code that turns a row into a header value."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from devloop.issuer import DevIssuer, flip_signature, public_jwk

TABLE = Path(__file__).with_name("jwt_cases.yaml")
AUDIENCE = "https://api.example.com"
_EC_KEY = ec.generate_private_key(ec.SECP256R1())


@dataclass(frozen=True)
class Case:
    id: str
    expect: str
    reason: str = ""
    header: dict[str, Any] = field(default_factory=dict)
    claims: dict[str, Any] = field(default_factory=dict)
    signing: str = "rs256"
    raw: str | None = None
    payload_raw: str | None = None
    scopes: tuple[str, ...] = ()


def load_cases() -> list[Case]:
    rows = yaml.safe_load(TABLE.read_text())
    return [Case(**{**row, "scopes": tuple(row.get("scopes", ()))}) for row in rows]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _resolve(value: Any, issuer: DevIssuer, now: int) -> Any:
    if not isinstance(value, str):
        return value
    if value.startswith("now+"):
        return now + int(value[4:])
    if value.startswith("now-"):
        return now - int(value[4:])
    return {
        "$issuer_no_slash": issuer.issuer.rstrip("/"),
        "$issuer_upper": issuer.issuer.upper(),
        "$kid": issuer.standby_kid,
        "$foreign_jwk": public_jwk(issuer.foreign_key, issuer.kid),
    }.get(value, value)


def _merge(base: dict[str, Any], overrides: dict[str, Any], issuer: DevIssuer, now: int) -> dict[str, Any]:
    merged = dict(base)
    for name, value in overrides.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = _resolve(value, issuer, now)
    return merged


def _sign(case: Case, issuer: DevIssuer, header: dict[str, Any], payload: bytes) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(payload)}"
    if case.signing == "none":
        return signing_input + "."
    if case.signing == "hs256_public":
        pem = issuer.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return signing_input + "." + _b64(hmac.new(pem, signing_input.encode(), hashlib.sha256).digest())
    algorithm, key = {
        "rs256": ("RS256", issuer.key),
        "rs384": ("RS384", issuer.key),
        "ps256": ("PS256", issuer.key),
        "es256": ("ES256", _EC_KEY),
        "foreign": ("RS256", issuer.foreign_key),
        "strip": ("RS256", issuer.key),
        "tamper_sig": ("RS256", issuer.key),
        "tamper_payload": ("RS256", issuer.key),
    }[case.signing]
    signature = jwt.get_algorithm_by_name(algorithm).sign(signing_input.encode(), key)
    token = f"{signing_input}.{_b64(signature)}"
    if case.signing == "strip":
        return signing_input + "."
    if case.signing == "tamper_sig":
        return flip_signature(token)
    if case.signing == "tamper_payload":
        head, body, sig = token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        claims["sub"] = "admin"
        return f"{head}.{_b64(json.dumps(claims).encode())}.{sig}"
    return token


def build_header_value(case: Case, issuer: DevIssuer) -> str:
    """The Authorization header value this row sends."""
    now = int(time.time())
    claims = _merge(
        {
            "iss": issuer.issuer,
            "sub": "case-client@clients",
            "aud": [AUDIENCE],
            "iat": now - 10,
            "exp": now + 600,
            "azp": "case-client",
            "scope": "read:test",
        },
        case.claims,
        issuer,
        now,
    )
    header = _merge({"alg": "RS256", "typ": "JWT", "kid": issuer.kid}, case.header, issuer, now)
    payload = case.payload_raw.encode() if case.payload_raw is not None else json.dumps(claims).encode()
    token = _sign(case, issuer, header, payload)
    if case.raw is None:
        return f"Bearer {token}"
    parts = token.split(".")
    return case.raw.format(
        token=token, p0=parts[0], p1=parts[1], p2=parts[2], huge="A" * 10000, p2_noncanonical=_respell(parts[2])
    )


def _respell(segment: str) -> str:
    """The same bytes, spelled with different spare bits in the last character."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(segment[-1])
    spare = {2: 0b1111, 3: 0b11}[len(segment) % 4]
    return segment[:-1] + alphabet[last ^ 1] if spare & 1 else segment
