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
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from devkit.local.issuer import DevIssuer, new_key, new_rsa_key, public_jwk
from devkit.tokens import flip_signature
from tests.support import EVENTS

TABLE = Path(__file__).with_name("jwt_cases.yaml")
AUDIENCE = "https://api.example.com"
# Resource routes (RESOURCE_ROUTES): a configured MCP server URL, and the domain the sample
# event came to (events/authorizer-v2-valid.json), whose URL a route with "" takes as its audience.
MCP_URL = "https://mcp.example.com/mcp"
REQUEST_DOMAIN = "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"
_EC_KEY = ec.generate_private_key(ec.SECP256R1())
# Signing modes "es256_key", ..., "eddsa_key": the key CaseIssuer publishes for that algorithm.
_BY_ALG = {"ES256": "ES256", "ES384": "ES384", "ES512": "ES512", "EDDSA": "EdDSA"}


class CaseIssuer(DevIssuer):
    """The dev issuer, also publishing the keys a careful verifier must refuse to use.

    ``hostile`` maps a signing mode of the table to the kid it is published under and the
    private key that signs; ``jwks()`` adds each key's public JWK, as the row's name says.
    """

    def __init__(self, default_audience: str = AUDIENCE) -> None:
        super().__init__(default_audience=default_audience)
        twin_a, twin_b = new_rsa_key(), new_rsa_key()
        # A second issuer on the same server, whose signing key has this issuer's kid: a key set
        # shared between issuers would let one issuer's key verify the other's tokens.
        self.second = self.add_tenant("second/", same_kid=True)
        self.hostile: dict[str, tuple[str, rsa.RSAPrivateKey]] = {
            "weak1024": ("weak-1024", rsa.generate_private_key(public_exponent=65537, key_size=1024)),  # noqa: S505
            "ps512_key": ("jwk-alg-ps512", new_rsa_key()),
            "encrypt_key": ("key-ops-encrypt", new_rsa_key()),
            "dup_kid": ("twice", twin_a),
        }
        # A JWK without "alg": its key may verify any RSA algorithm the verifier allows.
        self.any_alg = ("any-rsa-alg", new_rsa_key())
        any_alg_jwk = public_jwk(self.any_alg[1], self.any_alg[0])
        del any_alg_jwk["alg"]
        # A published key of every other kind, each bound to its algorithm: rows signed "es256_key"
        # and so on use them, and the differential re-signs every RS256 row with each of them.
        self.by_alg: dict[str, tuple[str, Any]] = {
            alg: (f"key-{alg.lower()}", new_key(alg)) for alg in ("ES256", "ES384", "ES512", "EdDSA")
        }
        self._published = [
            *(public_jwk(key, kid, alg=alg) for alg, (kid, key) in self.by_alg.items()),
            any_alg_jwk,
            public_jwk(self.hostile["weak1024"][1], "weak-1024"),
            public_jwk(self.hostile["ps512_key"][1], "jwk-alg-ps512", alg="PS512"),
            public_jwk(self.hostile["encrypt_key"][1], "key-ops-encrypt") | {"key_ops": ["encrypt"]},
            public_jwk(twin_a, "twice"),
            public_jwk(twin_b, "twice"),
        ]

    def jwks(self) -> dict[str, Any]:
        document = super().jwks()
        document["keys"] = [*document["keys"], *self._published]
        return document


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
    # The Lambda authorizer's opt-in settings for this row (environment), and the answer the
    # built-in JWT authorizer gives instead, which knows none of them.
    authorizer: dict[str, str] = field(default_factory=dict)
    expect_builtin: str | None = None
    # "second": the token comes from the second issuer (its iss, its key under a colliding kid).
    issuer: str = "first"
    # The route key the request matched (the sample event's GET /lambda/test unless set).
    route: str = "GET /lambda/test"

    @property
    def request_url(self) -> str:
        """The URL the row's request came to (what a resource route with "" expects as aud)."""
        return f"https://{REQUEST_DOMAIN}{self.route.partition(' ')[2]}"

    def http_event(self, header_value: str) -> dict[str, Any]:
        """The HTTP API 2.0 authorizer event of the row's request, carrying ``header_value``."""
        event: dict[str, Any] = json.loads((EVENTS / "authorizer-v2-valid.json").read_text())
        method, _, path = self.route.partition(" ")
        event["routeKey"] = event["requestContext"]["routeKey"] = self.route
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
        event["requestContext"]["http"]["method"] = method
        event["routeArn"] = event["routeArn"].rsplit("/$default/", 1)[0] + f"/$default/{method}{path}"
        event["headers"]["authorization"] = header_value
        event["identitySource"] = [header_value]
        return event

    @property
    def builtin_expect(self) -> str:
        return self.expect_builtin or self.expect

    def authorizer_env(self, issuer: CaseIssuer) -> dict[str, str]:
        both = f"{issuer.issuer},{issuer.second.issuer}"
        return {
            name: value.replace("$both_issuers", both).replace("$mcp_url", MCP_URL)
            for name, value in self.authorizer.items()
        }


def load_cases() -> list[Case]:
    rows = yaml.safe_load(TABLE.read_text())
    return [Case(**{**row, "scopes": tuple(row.get("scopes", ()))}) for row in rows]


def case_signer(case: Case, issuer: DevIssuer) -> DevIssuer:
    """The issuer whose key signs the row's token (and whose URL is its iss unless overridden)."""
    return issuer.second if case.issuer == "second" and isinstance(issuer, CaseIssuer) else issuer


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class _RawJson(str):
    """A claim value written into the payload as this JSON text (``1e400``), not as a string."""


def _number(text: str) -> int | float:
    return float(text) if "." in text else int(text)


def _resolve(value: Any, issuer: DevIssuer, now: int) -> Any:
    if isinstance(value, list):
        return [_resolve(item, issuer, now) for item in value]
    if not isinstance(value, str):
        return value
    if value.startswith("now+"):
        return now + _number(value[4:])
    if value.startswith("now-"):
        return now - _number(value[4:])
    if value.startswith("$ten_to:"):
        return 10 ** int(value.removeprefix("$ten_to:"))
    if value.startswith("$minus_ten_to:"):
        return -(10 ** int(value.removeprefix("$minus_ten_to:")))
    if value.startswith("$raw:"):
        return _RawJson(value.removeprefix("$raw:"))
    if value.startswith("$nested:"):
        # N arrays, each inside the last: [[[...]]] with N pairs of brackets.
        depth = int(value.removeprefix("$nested:"))
        return _RawJson("[" * depth + "]" * depth)
    return {
        "$issuer_no_slash": issuer.issuer.rstrip("/"),
        "$issuer_upper": issuer.issuer.upper(),
        "$kid": issuer.standby_kid,
        "$foreign_jwk": public_jwk(issuer.foreign_key, issuer.kid),
        # json.dumps writes it as the escape \ud800: valid JSON text, not valid Unicode (RFC 7493 2.1).
        "$lone_surrogate": "JWT\ud800",
        "$first_issuer": issuer.issuer,
        "$second_issuer": issuer.second.issuer if isinstance(issuer, CaseIssuer) else "",
        "$mcp_url": MCP_URL,
        "$request_url": f"https://{REQUEST_DOMAIN}/mcp",
    }.get(value, value)


def _merge(base: dict[str, Any], overrides: dict[str, Any], issuer: DevIssuer, now: int) -> dict[str, Any]:
    merged = dict(base)
    for name, value in overrides.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = _resolve(value, issuer, now)
    return merged


def _payload(claims: dict[str, Any]) -> bytes:
    text = json.dumps(claims)
    for value in claims.values():
        if isinstance(value, _RawJson):
            text = text.replace(json.dumps(value), value, 1)
    return text.encode()


def _signing_kid(case: Case, issuer: DevIssuer) -> str | None:
    """The kid a row's header names by default, when its signing mode uses a key of its own."""
    if not isinstance(issuer, CaseIssuer):
        return None
    if case.signing in issuer.hostile:
        return issuer.hostile[case.signing][0]
    if case.signing.endswith("_key") and case.signing[:-4].upper() in _BY_ALG:
        return issuer.by_alg[_BY_ALG[case.signing[:-4].upper()]][0]
    if case.signing == "es256_der":
        return issuer.by_alg["ES256"][0]
    return None


def _sign(case: Case, issuer: DevIssuer, header: dict[str, Any], payload: bytes) -> str:
    signing_input = f"{_b64(_payload(header))}.{_b64(payload)}"
    if case.signing == "none":
        return signing_input + "."
    if case.signing == "hs256_public":
        pem = issuer.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return signing_input + "." + _b64(hmac.new(pem, signing_input.encode(), hashlib.sha256).digest())
    if isinstance(issuer, CaseIssuer) and case.signing.endswith("_key") and case.signing[:-4].upper() in _BY_ALG:
        alg = _BY_ALG[case.signing[:-4].upper()]
        signature = jwt.get_algorithm_by_name(alg).sign(signing_input.encode(), issuer.by_alg[alg][1])
        return f"{signing_input}.{_b64(signature)}"
    if isinstance(issuer, CaseIssuer) and case.signing == "es256_der":
        der = issuer.by_alg["ES256"][1].sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        return f"{signing_input}.{_b64(der)}"
    if isinstance(issuer, CaseIssuer) and case.signing in issuer.hostile:
        signature = jwt.get_algorithm_by_name("RS256").sign(signing_input.encode(), issuer.hostile[case.signing][1])
        return f"{signing_input}.{_b64(signature)}"
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


# Rows whose token is signed by the issuer's own RS256 key, tampered or not: the differential
# signs them again with each other algorithm's published key (``algorithm``).
RESIGNABLE = frozenset({"rs256", "foreign", "strip", "tamper_sig", "tamper_payload"})


def build_header_value(case: Case, issuer: DevIssuer, now: int | None = None, algorithm: str = "RS256") -> str:
    """The Authorization header value this row sends, issued at ``now`` (default: the wall clock).

    ``algorithm`` other than RS256: a row signed by the issuer's RS256 key is signed instead with
    the key ``CaseIssuer`` publishes for that algorithm (its kid and ``alg`` in the header, unless
    the row sets them), so every such row is asked again of ES256, ES384, ES512 and EdDSA.
    """
    now = int(time.time()) if now is None else now
    if algorithm != "RS256" and isinstance(issuer, CaseIssuer) and case.signing in RESIGNABLE:
        return _build(case, issuer, now, algorithm)
    signer = case_signer(case, issuer)
    claims = _merge(_base_claims(signer.issuer, now), case.claims, issuer, now)
    kid = _signing_kid(case, issuer)
    alg = _BY_ALG.get(case.signing.removesuffix("_key").removesuffix("_der").upper(), "RS256")
    header = _merge({"alg": alg, "typ": "JWT", "kid": kid or issuer.kid}, case.header, issuer, now)
    payload = case.payload_raw.encode() if case.payload_raw is not None else _payload(claims)
    token = _sign(case, signer, header, payload)
    return _header_value(case, token)


def _build(case: Case, issuer: CaseIssuer, now: int, algorithm: str) -> str:
    """``build_header_value`` for a row re-signed with ``algorithm``'s published key."""
    kid, key = issuer.by_alg[algorithm]
    signer = case_signer(case, issuer)
    claims = _merge(_base_claims(signer.issuer, now), case.claims, issuer, now)
    header = _merge({"alg": algorithm, "typ": "JWT", "kid": kid}, case.header, issuer, now)
    payload = case.payload_raw.encode() if case.payload_raw is not None else _payload(claims)
    signing_input = f"{_b64(_payload(header))}.{_b64(payload)}"
    signing_key = new_key(algorithm) if case.signing == "foreign" else key
    token = f"{signing_input}.{_b64(jwt.get_algorithm_by_name(algorithm).sign(signing_input.encode(), signing_key))}"
    if case.signing == "strip":
        token = signing_input + "."
    elif case.signing == "tamper_sig":
        token = flip_signature(token)
    elif case.signing == "tamper_payload":
        head, body, sig = token.split(".")
        changed = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        changed["sub"] = "admin"
        token = f"{head}.{_b64(json.dumps(changed).encode())}.{sig}"
    return _header_value(case, token)


def _header_value(case: Case, token: str) -> str:
    """The row's Authorization value: ``Bearer`` and the token, or its ``raw`` text filled in."""
    if case.raw is None:
        return f"Bearer {token}"
    parts = token.split(".")
    return case.raw.format(
        token=token,
        p0=parts[0],
        p1=parts[1],
        p2=parts[2],
        huge="A" * 10000,
        p2_noncanonical=_respell(parts[2]),
        p2_flipped=flip_signature(token).split(".")[2] if parts[2] else "",
    )


def _base_claims(iss: str, now: int) -> dict[str, Any]:
    return {
        "iss": iss,
        "sub": "case-client@clients",
        "aud": [AUDIENCE],
        "iat": now - 10,
        "exp": now + 600,
        "azp": "case-client",
        "scope": "read:test",
    }


def _respell(segment: str) -> str:
    """The same bytes, spelled with different spare bits in the last character."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(segment[-1])
    spare = {0: 0, 2: 0b1111, 3: 0b11}[len(segment) % 4]  # 0: whole groups, no spare bits (ES384)
    return segment[:-1] + alphabet[last ^ 1] if spare & 1 else segment
