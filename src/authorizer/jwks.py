"""The issuer's signing keys: found by OIDC discovery, fetched rarely, kept through outages.

- Keys are fetched lazily on first use, then reused for the life of the container.
- An unknown ``kid`` triggers a refetch at most once per cooldown, so a flood of forged
  ``kid`` values cannot turn into a flood of requests to the identity provider.
- After ``max_age`` the next lookup refreshes, so keys the issuer has withdrawn stop working.
- A failed refresh (error status, timeout, garbage, refused connection, an empty key set)
  keeps the last good key set: a JWKS outage never breaks requests whose keys are known.
- Responses are read with short timeouts and a size cap.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.algorithms import RSAAlgorithm
from jwt.exceptions import InvalidKeyError

from jwt_core import KeyLookup

LOGGER = logging.getLogger("authorizer.jwks")

MAX_DOCUMENT_BYTES = 256 * 1024
# Applies to the connect and to every read; the authorizer's function timeout is 5 s.
DEFAULT_TIMEOUT = 1.5


class JwksError(Exception):
    """The key set could not be fetched or understood."""


def discovery_url(issuer: str) -> str:
    """OIDC Discovery 1.0 section 4: the issuer with ``/.well-known/openid-configuration`` appended."""
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def _check_url(url: str, issuer: str) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        return
    # Plain HTTP is for a local development issuer only (make local, sam local).
    if parts.scheme == "http" and urllib.parse.urlsplit(issuer).scheme == "http":
        return
    raise JwksError(f"refusing a non-https key URL: {parts.scheme}://{parts.hostname}")


def fetch_json(url: str, timeout: float = DEFAULT_TIMEOUT) -> Any:
    """GET a JSON document with a socket timeout and a size cap."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - see _check_url
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - see _check_url
            if response.status != 200:
                raise JwksError(f"HTTP {response.status} from {url}")
            body = response.read(MAX_DOCUMENT_BYTES + 1)
    except JwksError:
        raise
    except Exception as exc:  # urllib raises a zoo of types; all mean "no document"
        raise JwksError(f"{type(exc).__name__} fetching {url}") from exc
    if len(body) > MAX_DOCUMENT_BYTES:
        raise JwksError(f"document over {MAX_DOCUMENT_BYTES} bytes at {url}")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise JwksError(f"invalid JSON at {url}") from exc


def parse_jwks(document: Any) -> dict[str, RSAPublicKey]:
    """RSA signing keys by ``kid``. Keys we cannot use are skipped, never trusted."""
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise JwksError("not a JWKS document")
    keys: dict[str, RSAPublicKey] = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, Mapping) or jwk.get("kty") != "RSA":
            continue
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not kid or jwk.get("use", "sig") != "sig":
            continue
        try:
            # Only the public members: a JWKS that leaks "d" must not make us hold a private key.
            key = RSAAlgorithm.from_jwk({"kty": "RSA", "n": jwk.get("n"), "e": jwk.get("e")})
        except (InvalidKeyError, ValueError, TypeError, KeyError):
            continue
        if isinstance(key, RSAPublicKey):
            keys[kid] = key
    if not keys:
        raise JwksError("no usable RSA signing keys")
    return keys


class KeySource(KeyLookup):
    """Keys for one issuer, from ``jwks_uri`` or from the issuer's discovery document."""

    def __init__(
        self,
        *,
        issuer: str,
        jwks_uri: str | None = None,
        cooldown: float = 60.0,
        max_age: float = 3600.0,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer
        self._jwks_uri = jwks_uri or None
        self._cooldown = cooldown
        self._max_age = max_age
        self._timeout = timeout
        self._clock = clock
        self._keys: dict[str, RSAPublicKey] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = threading.Lock()
        self.fetch_count = 0

    def key_for(self, kid: str | None) -> RSAPublicKey | None:
        if kid is None:
            return None
        key = self._keys.get(kid)
        if key is not None and not self._stale():
            return key
        with self._lock:
            if self._may_fetch(unknown_kid=key is None):
                self._refresh()
            return self._keys.get(kid)

    def _stale(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= self._max_age

    def _may_fetch(self, *, unknown_kid: bool) -> bool:
        if self._attempted_at is None:
            return True
        since_attempt = self._clock() - self._attempted_at
        if since_attempt < self._cooldown:
            return False
        return unknown_kid or self._stale()

    def _refresh(self) -> None:
        self._attempted_at = self._clock()
        self.fetch_count += 1
        try:
            url = self._resolve_jwks_uri()
            keys = parse_jwks(fetch_json(url, self._timeout))
        except JwksError as exc:
            LOGGER.warning(
                "jwks refresh failed; keeping last good key set",
                extra={"error": str(exc), "known_kids": sorted(self._keys)},
            )
            return
        self._keys = keys
        self._fetched_at = self._clock()
        LOGGER.info("jwks refreshed", extra={"known_kids": sorted(keys)})

    def _resolve_jwks_uri(self) -> str:
        if self._jwks_uri is None:
            url = discovery_url(self.issuer)
            _check_url(url, self.issuer)
            document = fetch_json(url, self._timeout)
            if not isinstance(document, Mapping):
                raise JwksError("discovery document is not a JSON object")
            if document.get("issuer") != self.issuer:
                # OIDC Discovery 4.3: a mismatch means the configured issuer is wrong.
                raise JwksError("discovery issuer does not match the configured issuer")
            jwks_uri = document.get("jwks_uri")
            if not isinstance(jwks_uri, str):
                raise JwksError("discovery document has no jwks_uri")
            self._jwks_uri = jwks_uri
        _check_url(self._jwks_uri, self.issuer)
        return self._jwks_uri
