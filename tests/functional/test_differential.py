"""The authorizer's core against a reference verifier on PyJWT: same verdicts, same claims.

The deployed verifier is a few lines on cryptography (no JWT library in the package); the
reference (tests/oracle.py) leaves parsing and signatures to PyJWT's ``jwt.decode``. Every
row of the case table, and 10,000 hypothesis examples (valid tokens, mutations of them, junk,
every algorithm name, every key the issuer publishes, hostile ones included), go through
both under the default algorithm list and under all six RSA algorithms. Any difference in
accept/refuse, or in the claims and scopes of an accepted token, fails the build.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jwt_authorizer.adapters import bearer_token
from jwt_authorizer.algorithms import ALGORITHMS, DEFAULT_ALGORITHMS
from jwt_authorizer.keys import KeySource
from jwt_authorizer.policy import ClaimRules, Policy
from jwt_authorizer.verifier import JwtVerifier, TokenRejected
from tests import oracle
from tests.cases import AUDIENCE, MCP_URL, REQUEST_DOMAIN, RESIGNABLE, CaseIssuer, build_header_value, load_cases

NOW = float(int(time.time()))
# The request both are asked about unless a row names its own: the sample event's route and URL.
ROUTE = "GET /lambda/test"
URL = f"https://{REQUEST_DOMAIN}/lambda/test"
CASES = load_cases()
RSA_ALGORITHMS = frozenset(name for name, algorithm in ALGORITHMS.items() if algorithm.family == "RSA")
PUBLIC = frozenset(name for name, algorithm in ALGORITHMS.items() if algorithm.kty != "oct")
ALGORITHM_SETS = {
    "default": DEFAULT_ALGORITHMS,
    "all-rsa": RSA_ALGORITHMS,
    "ecdsa": frozenset({"ES256", "ES384", "ES512"}),
    "eddsa": frozenset({"EdDSA"}),
    "every-public": PUBLIC,
}
# What each row is signed with again: the key CaseIssuer publishes for the algorithm.
RESIGNED = ("ES256", "ES384", "ES512", "EdDSA")
EVERY_ALG = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "HS256", "HS512", "ES256", "EdDSA", "none", "rs256"]
_EC_KEY = ec.generate_private_key(ec.SECP256R1())


class Setup:
    """One configuration of the authorizer, as both verifiers are given it (from environment-like settings)."""

    def __init__(self, issuer: CaseIssuer, algorithms: frozenset[str], settings: dict[str, str]) -> None:
        names = [issuer.issuer, issuer.second.issuer] if "ISSUER" in settings else [issuer.issuer]
        self.documents = {name: _issuer_of(issuer, name).jwks() for name in names}
        self.algorithms = algorithms
        self.scope_claims = tuple(settings.get("SCOPE_CLAIMS", "scope,scp").split(","))
        self.required: dict[str, list[str]] = json.loads(settings.get("REQUIRED_CLAIMS") or "{}")
        # Route key -> the audience a resource route wants ("" : the URL the request came to).
        self.resources: dict[str, str] = json.loads(settings.get("RESOURCE_ROUTES") or "{}")
        self.verifier = JwtVerifier(
            issuers={name: KeySource(issuer=name, algorithms=algorithms) for name in names},
            audiences=None,  # as the Lambda authorizer has it: the policy judges the audience
            algorithms=algorithms,
            clock=lambda: NOW,
        )
        self.policy = Policy(
            claims=ClaimRules(self.scope_claims, self.required),
            audiences=frozenset({AUDIENCE}),
            resources=dict(self.resources),
        )

    def ours(self, header_value: object, route: str = ROUTE, url: str = URL) -> tuple[Any, ...]:
        """Our verdict on the request ``route`` (at ``url``): the verifier, then the policy's audience and claims."""
        try:
            verified = self.verifier.verify(bearer_token(header_value))
        except TokenRejected:
            return ("refused",)
        grant = self.policy.grant(verified)
        if self.policy.refusal(grant, route, url) is not None:
            return ("refused",)
        return ("accepted", dict(verified.claims), grant.scopes)

    def theirs(self, header_value: object, route: str = ROUTE, url: str = URL) -> tuple[Any, ...]:
        # A resource route wants its own URL in aud, and nothing else (client_id is no stand-in).
        resource = route in self.resources
        try:
            claims = oracle.verify(
                oracle.token_from_header(header_value),
                issuers=self.documents,
                audiences=[self.resources[route] or url] if resource else [AUDIENCE],
                algorithms=self.algorithms,
                now=NOW,
                scope_claims=self.scope_claims,
                required=self.required,
                client_id_counts=not resource,
            )
        except oracle.Refused:
            return ("refused",)
        return ("accepted", claims, oracle.scopes_of(claims, self.scope_claims))


def _issuer_of(issuer: CaseIssuer, url: str) -> CaseIssuer:
    return issuer if url == issuer.issuer else issuer.second  # type: ignore[return-value]


# Several issuers, permissions granting scopes, a required org_id: every opt-in rule at once.
RULES = {"ISSUER": "both", "SCOPE_CLAIMS": "scope,scp,permissions", "REQUIRED_CLAIMS": '{"org_id": ["org_abc123"]}'}
# A resource route with its own URL, and one taking the URL the request came to.
RESOURCES = {"RESOURCE_ROUTES": json.dumps({"POST /mcp": MCP_URL, "POST /here": ""})}
HERE = f"https://{REQUEST_DOMAIN}/here"


_SETUPS: dict[tuple[frozenset[str], tuple[tuple[str, str], ...]], Setup] = {}


def setup_for(issuer: CaseIssuer, algorithms: frozenset[str], settings: dict[str, str]) -> Setup:
    key = (algorithms, tuple(sorted(settings.items())))
    if key not in _SETUPS:
        _SETUPS[key] = Setup(issuer, algorithms, settings)
    return _SETUPS[key]


@pytest.fixture(scope="module")
def setups(issuer: CaseIssuer) -> dict[str, Setup]:
    built = {name: Setup(issuer, algs, {}) for name, algs in ALGORITHM_SETS.items()}
    built["rules"] = Setup(issuer, RSA_ALGORITHMS, RULES)
    built["resources"] = Setup(issuer, PUBLIC, RESOURCES)
    return built


def _row_algorithms(case, algorithms: str) -> frozenset[str]:
    # A row naming its own ALLOWED_ALGORITHMS is asked under exactly those, as the authorizer would be.
    named = case.authorizer.get("ALLOWED_ALGORITHMS")
    return frozenset(named.split(",")) if named else ALGORITHM_SETS[algorithms]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
@pytest.mark.parametrize("algorithms", sorted(ALGORITHM_SETS))
def test_every_row_of_the_case_table_gets_the_same_verdict(issuer, case, algorithms):
    # Each row with the authorizer settings it names (several issuers, permissions, required claims).
    setup = setup_for(issuer, _row_algorithms(case, algorithms), case.authorizer_env(issuer))
    # Issued at the time both verifiers judge by, however long after collection this runs.
    value = build_header_value(case, issuer, now=int(NOW))
    verdict = setup.ours(value, case.route, case.request_url)
    assert verdict == setup.theirs(value, case.route, case.request_url)
    if case.expect == "allow" and (algorithms == "default" or "ALLOWED_ALGORITHMS" in case.authorizer):
        assert verdict[0] == "accepted"  # so the verdicts compared include the claims of accepted tokens


RESIGNABLE_CASES = [
    case for case in CASES if case.signing in RESIGNABLE and "ALLOWED_ALGORITHMS" not in case.authorizer
]


@pytest.mark.parametrize("case", RESIGNABLE_CASES, ids=[case.id for case in RESIGNABLE_CASES])
@pytest.mark.parametrize("algorithm", RESIGNED)
def test_every_rs256_row_signed_with_each_other_algorithm_gets_the_same_verdict(issuer, case, algorithm):
    # The row's token as an issuer signing with ES256, ES384, ES512 or EdDSA would send it, judged
    # by a stack that allows every public-key algorithm (and, for the opt-in rows, their settings).
    setup = setup_for(issuer, PUBLIC, case.authorizer_env(issuer))
    value = build_header_value(case, issuer, now=int(NOW), algorithm=algorithm)
    verdict = setup.ours(value, case.route, case.request_url)
    assert verdict == setup.theirs(value, case.route, case.request_url)
    # Rows whose answer rests on the RSA key or header alone are not about the signature's family.
    if case.expect == "allow" and case.issuer == "first" and not case.header:
        assert verdict[0] == "accepted", "a row allowed under RS256 is allowed under its re-signing"


# ---------------------------------------------------------------- generated tokens
def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


SECOND = "@second-issuer"  # a signer: the second issuer's own key
NUMBERS = [NOW + 600, NOW - 5, NOW + 0.5, NOW, NOW - 0.5, 253402300800, 253402300799, -1, 10**400, 0, 1.5]
ODD = ["9999999999", True, None, [NOW + 600], {"t": 1}, float("inf")]


def _signing_keys(issuer: CaseIssuer) -> dict[str, Any]:
    keys: dict[str, Any] = {
        issuer.kid: issuer.key,
        issuer.standby_kid: issuer.standby_key,
        "foreign": issuer.foreign_key,
    }
    keys.update({kid: key for kid, key in issuer.hostile.values()})
    keys[issuer.any_alg[0]] = issuer.any_alg[1]
    keys.update({kid: key for kid, key in issuer.by_alg.values()})
    return keys


def _sign(alg: str, signing_input: bytes, key: Any, issuer: CaseIssuer) -> bytes:
    if alg in oracle.RSA:
        try:
            return bytes(jwt.get_algorithm_by_name(alg).sign(signing_input, key))
        except (ValueError, TypeError, AttributeError):
            # PS512 needs more than the 1024-bit hostile key has, and an EC or Ed25519 key signs
            # no RSA algorithm: a signature of junk, as long as an RSA one.
            return hashlib.sha512(signing_input).digest() * 4
    if alg.startswith("HS"):
        public = issuer.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return hmac.new(public, signing_input, hashlib.sha256).digest()
    if alg in issuer.by_alg:
        try:
            return bytes(jwt.get_algorithm_by_name(alg).sign(signing_input, key))
        except (TypeError, ValueError, AttributeError, jwt.exceptions.PyJWTError):
            # Not a key for this alg (a changed alg, say): the published key for alg signs instead.
            return bytes(jwt.get_algorithm_by_name(alg).sign(signing_input, issuer.by_alg[alg][1]))
    return b""


def _perturb(  # noqa: C901 - one branch per kind of change
    draw: st.DrawFn, issuer: CaseIssuer, header: dict[str, Any], claims: dict[str, Any]
) -> str | None:
    """Change one thing of a valid token; return the kid whose key should sign, if that changes."""
    keys = _signing_keys(issuer)
    kinds = ["iss", "aud", "time", "drop", "scope", "extra", "alg", "kid", "header", "signer", "org", "perms", "second"]
    kinds += ["nesting", "surrogate"]
    what = draw(st.sampled_from(kinds))
    if what == "iss":
        claims["iss"] = draw(st.sampled_from([issuer.issuer.rstrip("/"), issuer.issuer.upper(), "https://evil/", 7]))
    elif what == "aud":
        claims.pop("aud", None)
        aud: Any = draw(
            st.sampled_from(
                [
                    *([AUDIENCE], ["https://x", AUDIENCE], [], "https://x", [7, AUDIENCE], {}, None),
                    *(MCP_URL, [AUDIENCE, MCP_URL], MCP_URL + "/", HERE, [HERE, 7], HERE.replace("https", "http")),
                ]
            )
        )
        if aud is not None:
            claims["aud"] = aud
        if draw(st.booleans()):
            claims["client_id"] = draw(st.sampled_from([AUDIENCE, "other", 5, MCP_URL, HERE]))
    elif what == "time":
        claims[draw(st.sampled_from(["exp", "nbf", "iat"]))] = draw(st.sampled_from(NUMBERS + ODD))
    elif what == "drop" and claims:
        claims.pop(draw(st.sampled_from(sorted(claims))))
    elif what == "scope":
        claims["scope"] = draw(st.text(alphabet=' \t\u00a0\u3000abcdr:"\\\u00e9', max_size=20))
        if draw(st.booleans()):
            elements = st.sampled_from(["read:test", "read:test write:test", '"read:test"', "read:test\t", "\u00e9"])
            claims["scp"] = draw(
                st.one_of(st.text(max_size=10), st.lists(st.one_of(st.text(max_size=6), st.integers(), elements)))
            )
    elif what == "extra":
        claims.update(
            draw(st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), st.text(max_size=5)), max_size=2))
        )
    elif what == "alg":
        header["alg"] = draw(st.sampled_from(EVERY_ALG))
    elif what == "kid":
        choice = draw(st.sampled_from([*keys, "unknown", None, 7, ""]))
        header.pop("kid", None)
        if choice is not None:
            header["kid"] = choice
        return choice if isinstance(choice, str) and choice in keys else None
    elif what == "header":
        name, value = draw(
            st.sampled_from([("crit", ["exp"]), ("b64", False), ("b64", "false"), ("jku", "https://e/")])
        )
        header[name] = value
    elif what == "signer":
        return str(draw(st.sampled_from(sorted(keys))))
    elif what == "org":
        claims["org_id"] = draw(st.sampled_from(["org_abc123", "org_zzz", ["x", "org_abc123"], [], {"id": "x"}, 7]))
    elif what == "perms":
        claims["permissions"] = draw(st.sampled_from([["read:test"], "read:test write:test", [], [7, "read:test"], {}]))
    elif what == "nesting":
        # Around the limit of 32 levels of objects and arrays, the token's own object included.
        depth = draw(st.integers(28, 36))
        nested: Any = draw(st.sampled_from([[], {}, "x"]))
        for _ in range(depth):
            nested = [nested] if draw(st.booleans()) else {"k": nested}
        (header if draw(st.booleans()) else claims)["deep"] = nested
    elif what == "surrogate":
        lone = draw(st.sampled_from(["\ud800", "\udfff", "a\udc00", "\ud83d\ude00", "\U0001f600"]))
        where = draw(st.sampled_from(["sub", "key", "nested", "header"]))
        if where == "sub":
            claims["sub"] = lone
        elif where == "key":
            claims[lone] = 1
        elif where == "nested":
            claims["meta"] = {"names": ["ok", lone]}
        else:
            header["typ"] = lone
    elif what == "second":
        # The second issuer's key (its kid is the first's); its iss, or still the first's.
        claims["iss"] = draw(st.sampled_from([issuer.second.issuer, issuer.issuer]))
        return SECOND
    return None


@st.composite
def tokens(draw: st.DrawFn, issuer: CaseIssuer) -> tuple[str, bool]:
    """An Authorization header value, and whether it must be accepted under every public-key algorithm.

    A valid token (RS256 under the issuer's keys, whose JWKs say RS256; PS512 under the key whose
    JWK says PS512; any RSA algorithm under the key whose JWK names none; ES256, ES384, ES512 or
    EdDSA under the key published for it), then up to three single changes to its claims, header
    or signing key, then sometimes damage to the string.
    """
    kid, alg = draw(
        st.one_of(
            st.tuples(st.sampled_from([issuer.kid, issuer.standby_kid]), st.just("RS256")),
            st.tuples(st.just(issuer.hostile["ps512_key"][0]), st.just("PS512")),
            st.tuples(st.just(issuer.any_alg[0]), st.sampled_from(oracle.RSA)),
            st.sampled_from([(kid, alg) for alg, (kid, _) in issuer.by_alg.items()]),
        )
    )
    header: dict[str, Any] = {"alg": alg, "typ": "JWT", "kid": kid}
    claims: dict[str, Any] = {"iss": issuer.issuer, "aud": AUDIENCE, "exp": NOW + draw(st.integers(1, 10**6))}
    if draw(st.booleans()):
        claims["nbf" if draw(st.booleans()) else "iat"] = NOW - draw(st.integers(0, 10**6))
    claims["scope"] = " ".join(draw(st.lists(st.sampled_from(["read:test", "write:test"]), max_size=2)))
    if draw(st.booleans()):
        claims["org_id"] = "org_abc123"  # what the "rules" setup requires
    changes = draw(st.integers(0, 3))
    signer = kid
    for _ in range(changes):
        signer = _perturb(draw, issuer, header, claims) or signer
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    key = issuer.second.key if signer == SECOND else _signing_keys(issuer)[signer]
    signature = _sign(str(header["alg"]), signing_input.encode(), key, issuer)
    token = f"{signing_input}.{_b64(signature)}"
    damage = draw(st.integers(0, 9))
    if damage < 7:
        return f"Bearer {token}", changes == 0
    if damage < 9:
        chars = list(token)
        for _ in range(draw(st.integers(1, 3))):
            chars[draw(st.integers(0, len(chars) - 1))] = draw(st.sampled_from("AaZz09-_.=+/ \x00é"))
        return f"Bearer {''.join(chars)}", False
    return draw(st.one_of(st.text(max_size=40), st.just(token + "."), st.just(f"Basic {token}"))), False


@pytest.mark.slow
@settings(max_examples=10_000, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_generated_tokens_get_the_same_verdict_from_both(issuer, setups, data):
    value, must_accept = data.draw(tokens(issuer))
    for name, setup in setups.items():
        assert setup.ours(value) == setup.theirs(value), (name, value)
    for route, url in (("POST /mcp", URL), ("POST /here", HERE)):
        assert setups["resources"].ours(value, route, url) == setups["resources"].theirs(value, route, url), route
    if must_accept:
        # Both agreeing is not enough: a clean token must also pass (no "both refuse everything").
        assert setups["every-public"].ours(value)[0] == "accepted", value
