"""The one JWT-validation core: API Gateway's built-in JWT authorizer rules, in code.

Used by the Lambda authorizer (``app.py``) and by the local gateway's emulation of the
built-in JWT authorizer, so both protected routes accept and reject exactly the same tokens.

Rules (API Gateway developer guide, "Control access to HTTP APIs with JWT authorizers",
plus RFC 8725):
- the token is parsed once; header and payload must be base64url JSON objects;
- ``alg`` must be on an explicit allow-list of RSA algorithms (HS256 alone in the optional
  shared-secret mode, never both families); ``crit`` and ``b64`` other than true are refused;
  ``jwk``/``jku``/``x5u``/``x5c`` header parameters are never used to find a key;
- ``kid`` must name a key of the issuer's JWKS (not needed with a shared secret); when that
  key's JWK names an ``alg``, it must be the token's; and that key must verify the signature;
- ``iss`` equals the configured issuer exactly; ``exp`` is required and in the future;
  ``nbf`` and ``iat``, when present, are not in the future; all three are finite numbers
  between 0 and 253402300799 (year 9999), so no value can overflow a comparison;
- ``aud`` (a string, or a list of strings only) holds a configured audience; only a token
  with no ``aud`` may match through ``client_id`` instead;
- route scopes: at least one of the route's scopes in ``scope`` or ``scp`` (strings split on
  U+0020 only, as RFC 6749 3.3 says; ``scp`` may also be a list).

What only the Lambda authorizer adds, each off unless configured (``ClaimRules``, and several
issuers), so that by default both authorizers stay alike:
- several issuers, each with its own key set: the token's ``iss`` picks the one whose keys may
  verify it (an unknown ``iss`` is refused without any fetch), and ``iss`` is then checked
  after the signature as always;
- other claims that grant scopes (Auth0 RBAC's ``permissions`` array);
- required claims: a claim that must hold one of a list of values (``org_id``, ``gty``, ``azp``).

With a ``VerifiedCache``, a token that passed every rule is answered from the cache until its
``exp``, and only while the key that verified it is still the one in use.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.padding import MGF1, PSS, AsymmetricPadding, PKCS1v15
from cryptography.hazmat.primitives.hashes import SHA256, SHA384, SHA512, HashAlgorithm

# RFC 7518 RSA algorithms only: API Gateway's JWT authorizer accepts nothing else, and an
# allow-list keeps "none" and HMAC-with-a-public-key out by construction.
RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
DEFAULT_ALGORITHMS = frozenset({"RS256"})
# Only with a shared secret (secret.py), and then exclusively: never next to RSA.
HMAC_ALGORITHMS = frozenset({"HS256"})
# What the built-in JWT authorizer reads scopes from.
BUILT_IN_SCOPE_CLAIMS = ("scope", "scp")

# The signature schemes of RFC 7518 3.3 and 3.5, done by cryptography: PKCS#1 v1.5, and PSS
# with MGF1 over the same hash and a salt as long as the hash (what 3.5 requires).
_SHA = {"256": SHA256(), "384": SHA384(), "512": SHA512()}
_RSA_SCHEMES: dict[str, tuple[AsymmetricPadding, HashAlgorithm]] = {
    **{f"RS{bits}": (PKCS1v15(), sha) for bits, sha in _SHA.items()},
    **{f"PS{bits}": (PSS(mgf=MGF1(sha), salt_length=sha.digest_size), sha) for bits, sha in _SHA.items()},
}

# API Gateway rejects request headers over 10 KiB; anything near that is not a real token.
MAX_TOKEN_LENGTH = 8192
# RFC 7519 NumericDate values we accept: seconds from 1970 to the end of year 9999.
MAX_NUMERIC_DATE = 253402300799
_BEARER = re.compile(r"(?i)bearer(?:[ \t]+|$)")
# RFC 6749 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ); a scope string is tokens and spaces.
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")
_SCOPE_STRING = re.compile(r"[\x20\x21\x23-\x5B\x5D-\x7E]*")
# Claims and headers deeper than this are refused (``malformed``): real tokens nest three or
# four levels (Keycloak's resource_access.CLIENT.roles), and nothing downstream, such as the
# built-in authorizer's claim flattening, then has to walk an attacker's 600-level array.
MAX_JSON_DEPTH = 32
# A \u escape of a UTF-16 surrogate: the only way a lone surrogate gets into a parsed string.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class TokenRejected(Exception):
    """A token failed a rule. ``reason`` is a short stable code, safe to log and to count."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


class VerificationKey:
    """A key that may verify signatures, and the ``alg`` its JWK restricts it to (if any)."""

    __slots__ = ("alg", "key")

    def __init__(self, key: Any, alg: str | None = None) -> None:
        self.key = key
        self.alg = alg


class KeyLookup:
    """Where the verifier finds the verification key: ``jwks.KeySource`` or ``secret.SharedSecret``.

    ``family`` bounds the algorithms a verifier may accept with this kind of key, so an RSA
    key set can never be asked to check an HMAC and a shared secret never an RSA signature.
    """

    family: frozenset[str] = RSA_ALGORITHMS
    requires_kid = True
    missing_reason = "unknown_kid"

    def key_for(self, kid: str | None) -> VerificationKey | None:  # pragma: no cover - interface
        raise NotImplementedError


class ClaimRules:
    """Which claims grant scopes, and which claims must hold which values.

    The default is the built-in JWT authorizer's rule: ``scope`` and ``scp`` grant scopes, and
    nothing else is required.
    """

    __slots__ = ("required", "scope_claims")

    def __init__(
        self, scope_claims: Iterable[str] = BUILT_IN_SCOPE_CLAIMS, required: Mapping[str, Iterable[str]] | None = None
    ) -> None:
        self.scope_claims = tuple(scope_claims)
        self.required = {name: frozenset(values) for name, values in (required or {}).items()}

    @classmethod
    def from_config(cls, scope_claims: str | None, required_json: str | None) -> ClaimRules:
        """``SCOPE_CLAIMS`` (comma-separated names) and ``REQUIRED_CLAIMS`` (JSON: name -> values)."""
        names = parse_list(scope_claims) or BUILT_IN_SCOPE_CLAIMS
        raw = json_setting("REQUIRED_CLAIMS", required_json, 'claim name to accepted values, e.g. {"gty": ["x"]}')
        for name, values in raw.items():
            if not name or not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
                raise ValueError(f"REQUIRED_CLAIMS[{name!r}] must be a non-empty list of strings")
        return cls(names, raw)

    def check(self, claims: Mapping[str, Any]) -> None:
        """Each required claim is present and holds an accepted value (a string, or one of an array's)."""
        for name, accepted in self.required.items():
            if name not in claims:
                raise TokenRejected("missing_claim", name)
            value = claims[name]
            values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
            if not any(isinstance(v, str) and v in accepted for v in values):
                raise TokenRejected("claim_mismatch", name)


class VerifiedToken:
    """A token that passed every rule: its header, claims and granted scopes."""

    # Plain classes, not dataclasses: generating dataclass methods costs cold-start time.
    __slots__ = ("claims", "header", "scopes")

    def __init__(
        self, header: Mapping[str, Any], claims: Mapping[str, Any], scope_claims: Iterable[str] = BUILT_IN_SCOPE_CLAIMS
    ) -> None:
        self.header = header
        self.claims = claims
        self.scopes = tuple(token_scopes(claims, scope_claims))

    @property
    def subject(self) -> str:
        sub = self.claims.get("sub")
        return sub if isinstance(sub, str) else ""

    @property
    def client_id(self) -> str:
        for name in ("client_id", "azp"):
            value = self.claims.get(name)
            if isinstance(value, str):
                return value
        return ""


def token_digest(token: str) -> bytes:
    """SHA-256 of a token: the verified-claims cache key, and the source of its fingerprint."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def fingerprint(token: str, digest: bytes | None = None) -> str:
    """A short, non-reversible handle for a token, safe to log."""
    return (digest or token_digest(token))[:6].hex()


def bearer_token(header_value: object) -> str:
    """The token in an Authorization header value: bare, or after a case-insensitive ``Bearer``."""
    # HTTP trims only spaces and tabs around a value (RFC 9110 OWS), not Unicode whitespace.
    value = header_value.strip(" \t") if isinstance(header_value, str) else ""
    if not value:
        raise TokenRejected("missing_token")
    match = _BEARER.match(value)
    if match:
        value = value[match.end() :]
    elif " " in value or "\t" in value:
        # Another scheme ("Basic ...", "Token ..."): never try to read it as a JWT.
        raise TokenRejected("unsupported_scheme")
    if not value:
        raise TokenRejected("missing_token")
    return value


def token_scopes(claims: Mapping[str, Any], names: Iterable[str] = BUILT_IN_SCOPE_CLAIMS) -> list[str]:
    """Scopes granted by the claims ``names``: a string of space-separated scopes, or an array
    (``scp``, ``permissions``; not ``scope``, which is a string).

    Only RFC 6749 3.3 scope-tokens count (printable ASCII but space, ``"`` and ``\\``). Strings
    split on the space character alone: a tab, NBSP or other Unicode space inside
    ``"write:x\u00a0read:x"`` makes one invalid token, which grants nothing, never two. An
    array element is one scope-token or nothing: ``"read:x write:y"`` in ``permissions`` grants
    neither, so the space-joined scopes an integration receives can never be read as granting
    what the token was not given. A claim of any other type grants nothing.
    """
    found: list[str] = []
    for name in names:
        value = claims.get(name)
        if isinstance(value, str):
            if _SCOPE_STRING.fullmatch(value):  # the usual case: only scope-tokens and spaces
                found += value.split(" ")
            else:
                found += [s for s in value.split(" ") if _SCOPE_TOKEN.fullmatch(s)]
        elif isinstance(value, list) and name != "scope":  # RFC 6749's scope is a string, always
            found += [s for s in value if isinstance(s, str) and _SCOPE_TOKEN.fullmatch(s)]
    return [s for s in dict.fromkeys(found) if s]


def scope_token(value: object) -> bool:
    """Is ``value`` one RFC 6749 3.3 scope-token (what a configured scope must be)?"""
    return isinstance(value, str) and _SCOPE_TOKEN.fullmatch(value) is not None


def scopes_satisfied(granted: Iterable[str], required: Iterable[str]) -> bool:
    """AWS's route rule: no required scopes, or at least one of them granted."""
    required_set = set(required)
    return not required_set or not required_set.isdisjoint(granted)


# API Gateway route keys. "*" and "?" are refused in paths: no API Gateway path holds them, and
# in an execute-api ARN they are IAM wildcards, so a REST policy naming the route would cover others.
_ROUTE_KEY = re.compile(r"\$default|(?:ANY|GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) /[^\s*?]*")


class ScopeRules:
    """Which scopes a route needs: ``default`` unless the route key has its own entry.

    Route keys are API Gateway's (``"GET /lambda/test"``, ``"ANY /items/{id}"``,
    ``"$default"``). With route-specific entries the same token can be allowed on one route
    and denied on another, so an authorizer's cached answer must be keyed by route too.
    """

    __slots__ = ("default", "routes")

    def __init__(self, default: tuple[str, ...] = (), routes: Mapping[str, tuple[str, ...]] | None = None) -> None:
        self.default = default
        self.routes: Mapping[str, tuple[str, ...]] = routes or {}

    @classmethod
    def from_config(cls, default: str | None, routes_json: str | None) -> ScopeRules:
        """``REQUIRED_SCOPES`` and ``ROUTE_SCOPES`` (a JSON object of route key to scopes)."""
        raw = json_setting("ROUTE_SCOPES", routes_json, "route key to scopes")
        routes: dict[str, tuple[str, ...]] = {}
        for route_key, scopes in raw.items():
            if not _ROUTE_KEY.fullmatch(route_key):
                raise ValueError(f'ROUTE_SCOPES key {route_key!r} is not a route key like "GET /path"')
            listed = parse_list(scopes) if isinstance(scopes, str) else scopes
            if not isinstance(listed, (list, tuple)) or not all(scope_token(s) for s in listed):
                raise ValueError(
                    f"ROUTE_SCOPES[{route_key!r}] must be a list of scope strings, each an RFC 6749 scope-token"
                )
            routes[route_key] = tuple(listed)
        default_scopes = parse_list(default)
        bad = [s for s in default_scopes if not scope_token(s)]
        if bad:
            raise ValueError(f"REQUIRED_SCOPES holds {bad[0]!r}, which is not an RFC 6749 scope-token")
        return cls(default_scopes, routes)

    @property
    def route_specific(self) -> bool:
        return any(scopes != self.default for scopes in self.routes.values())

    def required(self, route_key: object) -> tuple[str, ...]:
        if isinstance(route_key, str) and route_key in self.routes:
            return self.routes[route_key]
        return self.default

    @property
    def literal(self) -> bool:
        """Is every REST-relevant route key one method and one exact path (no ``ANY``, no ``{}``)?

        Only then can an IAM policy name each route without covering another: ``{id}`` and
        ``ANY`` would become ``*``, which in an ``execute-api`` ARN matches across ``/`` too.
        """
        return all(key == "$default" or not (key.startswith("ANY ") or "{" in key) for key in self.routes)

    def route_for(self, method: str, path: str) -> str | None:
        """The route key API Gateway would choose for ``method path`` among ours, if any.

        Segment by segment, an exact segment beats ``{param}``, which beats a greedy
        ``{proxy+}``; then a route for the method itself beats ``ANY``. ``$default`` has no
        path and never matches here.
        """
        segments = path.split("/")[1:]
        best: tuple[tuple[int, ...], str] | None = None
        for key in self.routes:
            route_method, _, route_path = key.partition(" ")
            if route_method not in (method, "ANY") or not route_path:
                continue
            rank = _path_rank(route_path.split("/")[1:], segments)
            if rank is not None:
                candidate = ((*rank, route_method == "ANY"), key)
                if best is None or candidate[0] < best[0]:
                    best = candidate
        return best[1] if best is not None else None


def _path_rank(pattern: list[str], segments: list[str]) -> tuple[int, ...] | None:
    """How specifically ``pattern`` matches ``segments`` (lower is more specific), or None."""
    rank: list[int] = []
    for index, piece in enumerate(pattern):
        if piece.startswith("{") and piece.endswith("+}"):
            # Greedy: one or more of the remaining segments, only as the last piece.
            return (*rank, 2) if index == len(pattern) - 1 and "".join(segments[index:]) else None
        if index >= len(segments):
            return None
        if piece.startswith("{") and piece.endswith("}"):
            if not segments[index]:
                return None
            rank.append(1)
        elif piece == segments[index]:
            rank.append(0)
        else:
            return None
    return tuple(rank) if len(pattern) == len(segments) else None


def json_setting(name: str, text: str | None, shape: str) -> dict[str, Any]:
    """A setting that holds a JSON object (empty: none), or ValueError in one line naming it.

    A name given twice is refused: JSON would keep the last silently, and a duplicated route
    with ``[]`` would drop the stricter rule written above it.
    """
    text = (text or "").strip()
    try:
        value = json.loads(text, object_pairs_hook=_unique_names) if text else {}
    except _GivenTwice as exc:
        raise ValueError(f"{name} gives {exc} twice: keep one") from None
    except ValueError as exc:
        raise ValueError(f"{name} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a JSON object of {shape}")
    return value


class _GivenTwice(ValueError):
    """A JSON object names a member twice (the message is the name, quoted)."""


def _unique_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for name, _ in pairs:
        if name in seen:
            raise _GivenTwice(repr(name))
        seen.add(name)
    return dict(pairs)


def parse_list(value: str | None) -> tuple[str, ...]:
    """Comma- or space-separated configuration values, blanks dropped."""
    return tuple(part for part in re.split(r"[,\s]+", value or "") if part)


def signature_valid(alg: str, signing_input: bytes, key: Any, signature: bytes) -> bool:
    """Does ``signature`` over ``signing_input`` verify under ``key`` with JWS algorithm ``alg``?"""
    if alg in HMAC_ALGORITHMS:
        import hmac  # shared-secret mode only; the RSA path never loads it

        expected = hmac.new(key, signing_input, hashlib.sha256).digest()
        return hmac.compare_digest(expected, signature)
    padding, sha = _RSA_SCHEMES[alg]
    try:
        key.verify(signature, signing_input, padding, sha)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


# base64url without padding (RFC 7515 2), decoded by a2b_base64 in strict mode once the URL-safe
# alphabet is mapped onto the standard one, and "+", "/", "=" (not base64url) onto "!", which
# strict mode refuses like any other character outside the alphabet.
_TO_STANDARD = bytes.maketrans(b"-_+/=", b"+/!!!")
_PADDING = (b"", b"", b"==", b"=")
_VALUE = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")}
# The bits of the last character that encode nothing, by segment length mod 4.
_SPARE_BITS = (0, 0, 0b1111, 0b11)


def _b64decode(segment: str) -> bytes:
    tail = len(segment) % 4
    if tail == 1:
        raise TokenRejected("malformed")
    try:
        raw = binascii.a2b_base64(segment.encode("ascii").translate(_TO_STANDARD) + _PADDING[tail], strict_mode=True)
    except ValueError:  # binascii.Error, and UnicodeEncodeError for a non-ASCII character
        raise TokenRejected("malformed") from None
    # Canonical encodings only: spare bits in the last character would otherwise let many
    # different token strings carry the same signature and pass as "the same" token.
    if tail and _VALUE[segment[-1]] & _SPARE_BITS[tail]:
        raise TokenRejected("malformed")
    return raw


def b64url_decode(segment: str) -> bytes:
    """Canonical unpadded base64url, as strictly as token segments are read (ValueError if not).

    For the key set's numbers; the token path calls ``_b64decode`` itself, which answers with
    the verdict at once.
    """
    try:
        return _b64decode(segment)
    except TokenRejected:
        raise ValueError("not canonical unpadded base64url") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


# One decoder for every token: json.loads with an option builds a new decoder per call.
_JSON = json.JSONDecoder(parse_constant=_reject_constant)


def _json_object(raw: bytes, part: str) -> dict[str, Any]:
    try:
        # RFC 7519: the segments are UTF-8 JSON (json.loads would also guess UTF-16 and -32).
        value = _JSON.decode(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise TokenRejected("malformed", part) from exc
    if not isinstance(value, dict):
        raise TokenRejected("malformed", part)
    # Two cheap byte scans spare almost every token the walk: fewer brackets than the limit
    # cannot nest deeper than it, and no \u escape of a surrogate cannot leave a lone one.
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH or (b"\\u" in raw and _SURROGATE_ESCAPE.search(raw)):
        _check_i_json(value, part)
    return value


def _check_i_json(document: dict[str, Any], part: str) -> None:
    """No nesting deeper than ``MAX_JSON_DEPTH`` and no lone surrogate, walked without recursion.

    RFC 7493 (I-JSON) 2.1: strings must be valid Unicode. Python's json accepts ``"\\ud800"``;
    a claim holding one would reach an answer (``sub``, the context) that the Lambda runtime
    cannot encode as UTF-8, and API Gateway would answer 500.
    """
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if _LONE_SURROGATE.search(value):
                raise TokenRejected("malformed", f"{part}: lone surrogate")
            continue
        if depth > MAX_JSON_DEPTH:
            raise TokenRejected("malformed", f"{part}: nested deeper than {MAX_JSON_DEPTH}")
        if isinstance(value, dict):
            stack += [(key, depth) for key in value]
            stack += [(item, depth + 1) for item in value.values() if isinstance(item, (str, dict, list))]
        elif isinstance(value, list):
            stack += [(item, depth + 1) for item in value if isinstance(item, (str, dict, list))]


class _Headers:
    """Parsed headers by their encoded segment: an issuer's tokens all share one header.

    Parsing is deterministic, so a kept parse is the parse. Only headers of tokens whose
    signature verified are kept (junk cannot take the few places), read-only, and at most
    ``max_entries`` of them.
    """

    def __init__(self, max_entries: int = 64) -> None:
        self._max = max_entries
        self._kept: dict[str, Mapping[str, Any]] = {}

    def parse(self, segment: str) -> Mapping[str, Any]:
        header = self._kept.get(segment)
        if header is None:
            try:
                raw = _b64decode(segment)
            except TokenRejected:
                raise TokenRejected("malformed", "header") from None
            header = _json_object(raw, "header")
        return header

    def keep(self, segment: str, header: Mapping[str, Any]) -> None:
        if segment not in self._kept and len(self._kept) < self._max:
            self._kept[segment] = MappingProxyType(dict(header))

    def __len__(self) -> int:
        return len(self._kept)


_NUMBER_TYPES = (int, float)


def _number(value: object) -> bool:
    return type(value) in _NUMBER_TYPES  # bool is an int subclass, and not a number here


def _numeric_date(value: object) -> bool:
    """A NumericDate we can compare: a number, finite, from 1970 to year 9999 (no bignum, no inf)."""
    return type(value) in _NUMBER_TYPES and 0 <= value <= MAX_NUMERIC_DATE  # type: ignore[operator]


class _Verified(NamedTuple):
    token: VerifiedToken
    keys: KeyLookup  # the issuer's own key set: an entry is only ever re-checked against it
    key: VerificationKey
    expires_at: float


class VerifiedCache:
    """Tokens that passed every check, by SHA-256 of the token (the token itself is not kept).

    An entry is used only until the token's ``exp`` and only while the issuer still publishes
    the key that verified it. It holds verified claims, not decisions: route scope rules run
    on every request after it. Oldest entries go first once ``max_entries`` is reached.

    A token gets an entry the second time it verifies, not the first: most tokens that arrive
    once never arrive again, and keeping and evicting their entries cost every request time
    (here about a fifth of a decision). Only their digests are remembered, in a set that is
    emptied when it fills.
    """

    def __init__(self, max_entries: int = 1024) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        # Ordered, so the oldest entry goes in O(1); a dict's first key gets slower to find as
        # entries are popped from its front.
        self._entries: OrderedDict[bytes, _Verified] = OrderedDict()
        self._seen: set[bytes] = set()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, digest: bytes) -> _Verified | None:
        return self._entries.get(digest)

    def admits(self, digest: bytes) -> bool:
        """Has this token verified before (so it is worth an entry)? Remembers it if not."""
        with self._lock:
            if digest in self._seen:
                self._seen.discard(digest)
                return True
            if len(self._seen) >= 4 * self.max_entries:
                self._seen.clear()
            self._seen.add(digest)
            return False

    def put(self, digest: bytes, entry: _Verified) -> None:
        with self._lock:
            if digest not in self._entries and len(self._entries) >= self.max_entries:
                self._entries.popitem(last=False)
            self._entries[digest] = entry

    def discard(self, digest: bytes) -> None:
        with self._lock:
            self._entries.pop(digest, None)


class JwtVerifier:
    """Verifies a JWT against its issuer's key set, the audiences and the claim rules.

    One issuer (``issuer``/``keys``), as the built-in JWT authorizer has; or several
    (``issuers``: issuer -> its own key set), which only the Lambda authorizer offers.
    """

    def __init__(
        self,
        *,
        audiences: Iterable[str],
        issuer: str | None = None,
        keys: KeyLookup | None = None,
        issuers: Mapping[str, KeyLookup] | None = None,
        algorithms: Iterable[str] = DEFAULT_ALGORITHMS,
        claim_rules: ClaimRules | None = None,
        leeway: float = 0.0,
        clock: Callable[[], float] = time.time,
        cache: VerifiedCache | None = None,
    ) -> None:
        if issuers is None:
            issuers = {issuer: keys} if issuer and keys is not None else {}
        elif issuer is not None or keys is not None:
            raise ValueError("give issuer and keys, or issuers, not both")
        self.issuers = dict(issuers)
        self.audiences = frozenset(audiences)
        if not self.issuers or not all(self.issuers) or not self.audiences:
            raise ValueError("an issuer with its keys and at least one audience are required")
        allowed = frozenset(algorithms)
        families = {source.family for source in self.issuers.values()}
        if not allowed or any(allowed - family for family in families):
            raise ValueError(f"algorithms must be a non-empty subset of {sorted(set().union(*families))}")
        self._algorithms = allowed
        self._check_signature = signature_valid
        # One issuer: its keys answer every token, and iss is checked after the signature, as
        # the built-in authorizer does. Several: the unverified iss only chooses whose keys.
        self._only = next(iter(self.issuers.values())) if len(self.issuers) == 1 else None
        self._requires_kid = any(source.requires_kid for source in self.issuers.values())
        self._rules = claim_rules or ClaimRules()
        self._headers = _Headers()
        self._leeway = leeway
        self._clock = clock
        self._cache = cache

    def verify(self, token: str, digest: bytes | None = None) -> VerifiedToken:
        """Every rule, or a cached result for this exact token; ``digest`` saves rehashing it."""
        if self._cache is None:
            return self._verify(token)[0]
        digest = digest or token_digest(token)
        hit = self._cache.get(digest)
        if hit is not None:
            if self._clock() < hit.expires_at and hit.keys.key_for(hit.token.header.get("kid")) is hit.key:
                return hit.token
            self._cache.discard(digest)
        verified, keys, key = self._verify(token)
        if self._cache.admits(digest):
            self._cache.put(digest, _Verified(verified, keys, key, verified.claims["exp"] + self._leeway))
        return verified

    def _verify(self, token: str) -> tuple[VerifiedToken, KeyLookup, VerificationKey]:
        if len(token) > MAX_TOKEN_LENGTH:
            raise TokenRejected("malformed", "token too long")
        parts = token.split(".")
        if len(parts) != 3:
            raise TokenRejected("malformed", f"{len(parts)} segments")
        header = self._headers.parse(parts[0])
        payload = _b64decode(parts[1])
        signature = _b64decode(parts[2])
        self._check_header(header)
        keys = self._only
        claims = None
        if keys is None:
            claims = _json_object(payload, "payload")
            iss = claims.get("iss")
            keys = self.issuers.get(iss) if isinstance(iss, str) else None
            if keys is None:
                raise TokenRejected("unknown_issuer")
        key = keys.key_for(header.get("kid"))
        if key is None:
            raise TokenRejected(keys.missing_reason)
        if key.alg is not None and key.alg != header["alg"]:
            # The JWK says what its key is for (RFC 7517 4.4); a key for PS512 verifies nothing else.
            raise TokenRejected("key_alg_mismatch")
        # The token's first two segments as sent: ASCII, since both decoded as base64url.
        signing_input = token[: len(token) - len(parts[2]) - 1].encode("ascii")
        if not self._check_signature(header["alg"], signing_input, key.key, signature):
            raise TokenRejected("bad_signature")
        self._headers.keep(parts[0], header)
        if claims is None:
            claims = _json_object(payload, "payload")
        self._check_claims(claims, keys)
        return VerifiedToken(header, claims, self._rules.scope_claims), keys, key

    def _check_header(self, header: Mapping[str, Any]) -> None:
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise TokenRejected("bad_algorithm")
        if "crit" in header:
            # RFC 7515 4.1.11: extensions we do not understand make the token invalid.
            raise TokenRejected("unsupported_crit")
        if header.get("b64", True) is not True:
            # RFC 7797: an unencoded payload changes what is signed; it must be in crit, so never ours.
            raise TokenRejected("unsupported_b64")
        kid = header.get("kid")
        if self._requires_kid and (not isinstance(kid, str) or not kid):
            raise TokenRejected("missing_kid")

    def _check_claims(self, claims: Mapping[str, Any], keys: KeyLookup) -> None:
        now = self._clock()
        iss = claims.get("iss")
        if not isinstance(iss, str) or self.issuers.get(iss) is not keys:
            raise TokenRejected("bad_issuer")
        exp = claims.get("exp")
        if not _number(exp):
            raise TokenRejected("missing_exp")
        if not _numeric_date(exp):
            raise TokenRejected("bad_exp")
        if now >= exp + self._leeway:  # type: ignore[operator]
            raise TokenRejected("expired")
        for name in ("nbf", "iat"):
            if name not in claims:
                continue
            value = claims[name]
            if not _numeric_date(value):
                raise TokenRejected(f"bad_{name}")
            if value > now + self._leeway:
                raise TokenRejected("not_yet_valid" if name == "nbf" else "issued_in_future")
        self._check_audience(claims)
        self._rules.check(claims)

    def _check_audience(self, claims: Mapping[str, Any]) -> None:
        if "aud" in claims:
            aud = claims["aud"]
            values = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
            # RFC 7519 4.1.3: a string or an array of strings; anything else is not an audience.
            if not all(isinstance(v, str) for v in values) or self.audiences.isdisjoint(values):
                raise TokenRejected("bad_audience")
            return
        client_id = claims.get("client_id")
        if not (isinstance(client_id, str) and client_id in self.audiences):
            raise TokenRejected("bad_audience")
