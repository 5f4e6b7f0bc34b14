"""Is this token authentic? API Gateway's built-in JWT authorizer's rules, in code.

Used by the Lambda authorizer and by the local gateway's emulation of the built-in JWT
authorizer, so both protected routes accept and reject exactly the same tokens. Which routes a
token may use is the policy's business (``policy``), not this module's.

Rules (API Gateway developer guide, "Control access to HTTP APIs with JWT authorizers",
plus RFC 8725), in the order they run, cheap and structural first, nothing from the payload
trusted before the signature has verified:

- at most 8 KiB; three canonical base64url segments of I-JSON objects (``jose``);
- ``alg`` on an explicit allow-list, from the algorithm table (``algorithms``); HS256 only in
  the shared-secret mode and then alone; ``crit`` and ``b64`` other than true are refused;
  ``jwk``/``jku``/``x5u``/``x5c`` header parameters are never used to find a key;
- ``kid`` names a key of the issuer's key set (not needed with a shared secret); that key must
  be of the type and curve ``alg`` needs, and when its JWK names an ``alg``, the token's;
- the signature verifies;
- ``iss`` equals the issuer exactly; ``exp`` is required and in the future; ``nbf`` and ``iat``,
  when present, are not in the future; all three are numbers from 0 to 253402300799 (year 9999),
  so no value can overflow a comparison;
- ``aud`` (a string, or a list of strings only) holds a configured audience; only a token with
  no ``aud`` may match through ``client_id`` instead. The Lambda authorizer leaves this rule to its
  policy, which applies it per route (``RESOURCE_ROUTES`` bind a route to its own audience).

Several issuers (the Lambda authorizer only): each with its own key set; the token's unverified
``iss`` only chooses whose keys may verify it (an unknown ``iss`` is refused without a fetch), and
``iss`` is then checked after the signature as always.

With a ``VerifiedCache``, a token that passed every rule is answered from the cache until its
``exp``, and only while its issuer still publishes the key (by RFC 7638 thumbprint) that verified it.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple, Protocol

from jwt_authorizer.algorithms import ALGORITHMS, DEFAULT_ALGORITHMS, VerificationKey, Verify, fits, verifiers
from jwt_authorizer.jose import HeaderCache, MalformedSegment, b64url_decode, json_object
from jwt_authorizer.reasons import Reason

# API Gateway rejects request headers over 10 KiB; anything near that is not a real token.
MAX_TOKEN_LENGTH = 8192
# RFC 7519 NumericDate values we accept: seconds from 1970 to the end of year 9999.
MAX_NUMERIC_DATE = 253402300799


class TokenRejected(Exception):
    """A token failed a rule. ``reason`` is a member of ``Reason``: stable, safe to log and count.

    ``kid`` is the header's key id when the failure is about the key (unknown, of another type,
    a signature that does not verify), so that a deny line can say which key is failing.
    """

    def __init__(self, reason: Reason, detail: str = "", kid: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail
        self.kid = kid


class KeyLookup(Protocol):
    """Where the verifier finds a verification key: ``keys.KeySource`` or ``secret.SharedSecret``.

    ``key_for`` returns the key or raises ``TokenRejected`` with why there is none (an unknown
    kid, keys that could not be fetched or are too old, a secret that could not be read).
    ``algorithms`` bounds what a verifier may accept with this source, so an RSA key set can
    never be asked to check an HMAC and a shared secret never an RSA signature.
    """

    algorithms: frozenset[str]
    requires_kid: bool

    def key_for(self, kid: str | None) -> VerificationKey: ...


class VerifiedToken:
    """A token that passed every rule: its header and claims, and facts the policy derived once.

    ``derived`` is the policy's memo (its scopes, its context): a cached token is the same
    object on every hit, so what is derived from its claims is derived once.
    """

    # Plain classes, not dataclasses: generating dataclass methods costs cold-start time.
    __slots__ = ("claims", "derived", "header")

    def __init__(self, header: Mapping[str, Any], claims: Mapping[str, Any]) -> None:
        self.header = header
        self.claims = claims
        self.derived: Any = None


def token_digest(token: str) -> bytes:
    """SHA-256 of a token: the verified-claims cache key, and the source of its fingerprint."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def fingerprint(digest: bytes) -> str:
    """A short, non-reversible handle for a token (from its digest), safe to log."""
    return digest[:6].hex()


class _Verified(NamedTuple):
    token: VerifiedToken
    keys: KeyLookup  # the issuer's own key set: an entry is only ever re-checked against it
    thumbprint: str  # RFC 7638: the key that verified it, by what it is, not by which object
    expires_at: float


class VerifiedCache:
    """Tokens that passed every check, by SHA-256 of the token (the token itself is not kept).

    An entry is used only until the token's ``exp`` and only while the issuer still publishes
    the key that verified it (the same RFC 7638 thumbprint under the same kid), and its key set
    is still trusted (not stale). It holds verified claims, not decisions: route rules run on
    every request after it. Oldest entries go first once ``max_entries`` is reached.

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

    def __contains__(self, digest: object) -> bool:
        return digest in self._entries

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


_NUMBER_TYPES = (int, float)


def _number(value: object) -> bool:
    return type(value) in _NUMBER_TYPES  # bool is an int subclass, and not a number here


def _numeric_date(value: object) -> bool:
    """A NumericDate we can compare: a number, finite, from 1970 to year 9999 (no bignum, no inf)."""
    return type(value) in _NUMBER_TYPES and 0 <= value <= MAX_NUMERIC_DATE  # type: ignore[operator]


class JwtVerifier:
    """Verifies a JWT against its issuer's key set and the audiences.

    One issuer (``issuer``/``keys``), as the built-in JWT authorizer has; or several
    (``issuers``: issuer -> its own key set), which only the Lambda authorizer offers.
    ``verify_functions`` defaults to the table's own (``algorithms.verifiers``), ``headers`` to
    a new ``HeaderCache``; pass others to watch the signature checks or the kept headers.
    """

    def __init__(
        self,
        *,
        audiences: Iterable[str] | None,
        issuer: str | None = None,
        keys: KeyLookup | None = None,
        issuers: Mapping[str, KeyLookup] | None = None,
        algorithms: Iterable[str] = DEFAULT_ALGORITHMS,
        leeway: float = 0.0,
        clock: Callable[[], float] = time.time,
        cache: VerifiedCache | None = None,
        verify_functions: Mapping[str, Verify] | None = None,
        headers: HeaderCache | None = None,
    ) -> None:
        if issuers is None:
            issuers = {issuer: keys} if issuer and keys is not None else {}
        elif issuer is not None or keys is not None:
            raise ValueError("give issuer and keys, or issuers, not both")
        self.issuers = dict(issuers)
        # None: the audience is the policy's to judge, route by route (policy.Policy.refusal).
        self.audiences = frozenset(audiences) if audiences is not None else None
        if not self.issuers or not all(self.issuers) or self.audiences == frozenset():
            raise ValueError("an issuer with its keys and at least one audience (or None) are required")
        allowed = frozenset(algorithms)
        usable = frozenset.intersection(*(source.algorithms for source in self.issuers.values()))
        if not allowed or not allowed <= usable:
            raise ValueError(f"algorithms must be a non-empty subset of {sorted(usable)}")
        self._verify_functions = dict(verify_functions) if verify_functions is not None else verifiers(allowed)
        self._algorithms = {name: ALGORITHMS[name] for name in allowed}
        # One issuer: its keys answer every token, and iss is checked after the signature, as
        # the built-in authorizer does. Several: the unverified iss only chooses whose keys.
        self._only = next(iter(self.issuers.values())) if len(self.issuers) == 1 else None
        self._requires_kid = any(source.requires_kid for source in self.issuers.values())
        self._headers = headers if headers is not None else HeaderCache()
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
            if self._clock() < hit.expires_at and self._still_published(hit):
                return hit.token
            self._cache.discard(digest)
        verified, keys, key = self._verify(token)
        if self._cache.admits(digest):
            self._cache.put(digest, _Verified(verified, keys, key.thumbprint, verified.claims["exp"] + self._leeway))
        return verified

    @staticmethod
    def _still_published(hit: _Verified) -> bool:
        try:
            return hit.keys.key_for(hit.token.header.get("kid")).thumbprint == hit.thumbprint
        except TokenRejected:  # withdrawn, or the key set is no longer trusted: verify afresh
            return False

    def _verify(self, token: str) -> tuple[VerifiedToken, KeyLookup, VerificationKey]:
        if len(token) > MAX_TOKEN_LENGTH:
            raise TokenRejected(Reason.MALFORMED, "token too long")
        parts = token.split(".")
        if len(parts) != 3:
            raise TokenRejected(Reason.MALFORMED, f"{len(parts)} segments")
        try:
            header = self._headers.parse(parts[0])
            payload = b64url_decode(parts[1])
            signature = b64url_decode(parts[2])
        except MalformedSegment as exc:
            raise TokenRejected(Reason.MALFORMED, str(exc)) from None
        alg = self._check_header(header)
        keys = self._only
        claims = None
        if keys is None:
            claims = _payload(payload)
            iss = claims.get("iss")
            keys = self.issuers.get(iss) if isinstance(iss, str) else None
            if keys is None:
                raise TokenRejected(Reason.UNKNOWN_ISSUER)
        kid = header.get("kid")
        try:
            key = keys.key_for(kid)
        except TokenRejected as rejected:
            raise TokenRejected(rejected.reason, rejected.detail, _shown_kid(kid)) from None
        if (key.alg is not None and key.alg != alg) or not fits(self._algorithms[alg], key):
            # The JWK says what its key is for (RFC 7517 4.4); a key for PS512 verifies nothing
            # else, and a key of one type never verifies another type's algorithm.
            raise TokenRejected(Reason.KEY_ALG_MISMATCH, kid=_shown_kid(kid))
        # The token's first two segments as sent: ASCII, since both decoded as base64url.
        signing_input = token[: len(token) - len(parts[2]) - 1].encode("ascii")
        if not self._verify_functions[alg](key.key, signing_input, signature):
            raise TokenRejected(Reason.BAD_SIGNATURE, kid=_shown_kid(kid))
        self._headers.keep(parts[0], header)
        if claims is None:
            claims = _payload(payload)
        self._check_claims(claims, keys)
        return VerifiedToken(header, claims), keys, key

    def _check_header(self, header: Mapping[str, Any]) -> str:
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise TokenRejected(Reason.BAD_ALGORITHM)
        if "crit" in header:
            # RFC 7515 4.1.11: extensions we do not understand make the token invalid.
            raise TokenRejected(Reason.UNSUPPORTED_CRIT)
        if header.get("b64", True) is not True:
            # RFC 7797: an unencoded payload changes what is signed; it must be in crit, so never ours.
            raise TokenRejected(Reason.UNSUPPORTED_B64)
        kid = header.get("kid")
        if self._requires_kid and (not isinstance(kid, str) or not kid):
            raise TokenRejected(Reason.MISSING_KID)
        return alg

    def _check_claims(self, claims: Mapping[str, Any], keys: KeyLookup) -> None:
        now = self._clock()
        iss = claims.get("iss")
        if not isinstance(iss, str) or self.issuers.get(iss) is not keys:
            raise TokenRejected(Reason.BAD_ISSUER)
        exp = claims.get("exp")
        if not _number(exp):
            raise TokenRejected(Reason.MISSING_EXP)
        if not _numeric_date(exp):
            raise TokenRejected(Reason.BAD_EXP)
        if now >= exp + self._leeway:  # type: ignore[operator]
            raise TokenRejected(Reason.EXPIRED)
        if "nbf" in claims:
            nbf = claims["nbf"]
            if not _numeric_date(nbf):
                raise TokenRejected(Reason.BAD_NBF)
            if nbf > now + self._leeway:
                raise TokenRejected(Reason.NOT_YET_VALID)
        if "iat" in claims:
            iat = claims["iat"]
            if not _numeric_date(iat):
                raise TokenRejected(Reason.BAD_IAT)
            if iat > now + self._leeway:
                raise TokenRejected(Reason.ISSUED_IN_FUTURE)
        if self.audiences is not None and not audience_matches(claims, self.audiences):
            raise TokenRejected(Reason.BAD_AUDIENCE)


def audience_matches(claims: Mapping[str, Any], wanted: frozenset[str], *, client_id_counts: bool = True) -> bool:
    """Does the token name one of ``wanted`` as its audience (API Gateway's rule)?

    ``aud`` (a string, or an array of strings only: RFC 7519 4.1.3) must hold one of them; a
    token with no ``aud`` at all may match through ``client_id`` instead, where
    ``client_id_counts`` (what the built-in authorizer does; a resource URL's audience, RFC 8707,
    must be ``aud``).
    """
    if "aud" in claims:
        aud = claims["aud"]
        values = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        return all(isinstance(v, str) for v in values) and not wanted.isdisjoint(values)
    client_id = claims.get("client_id")
    return client_id_counts and isinstance(client_id, str) and client_id in wanted


def _shown_kid(kid: object) -> str | None:
    """A header's kid as a log line may carry it: a string, cut to a length no real kid reaches."""
    return kid[:128] if isinstance(kid, str) else None


def _payload(raw: bytes) -> dict[str, Any]:
    try:
        return json_object(raw, "payload")
    except MalformedSegment as exc:
        raise TokenRejected(Reason.MALFORMED, str(exc)) from None
