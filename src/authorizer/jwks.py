"""The issuer's signing keys: found by OIDC discovery, fetched rarely, kept through outages.

- Keys are fetched lazily on first use, then reused for the life of the container.
- An unknown ``kid`` triggers a refetch at most once per cooldown, so a flood of forged
  ``kid`` values cannot turn into a flood of requests to the identity provider.
- After ``max_age`` the next lookup refreshes (discovery, then keys), so keys the issuer has
  withdrawn stop working. Lookups of known keys never wait for a refresh in progress.
- A refresh has one deadline for everything it does (discovery and keys together), follows
  no redirects (a key fetch never leaves https), and caps what it reads.
- A failed refresh (error status, redirect, timeout, garbage, refused connection, an empty key
  set, a malformed discovery document) is logged and changes nothing: the last good key set
  stays (discovery is read afresh at each refresh, so no bad key URL can stick), and a JWKS
  outage never breaks requests whose keys are known.
- Keys that must not be trusted are skipped when a key set is loaded (logged, by ``kid``):
  RSA under 2048 bits (RFC 7518 3.3), a ``use`` other than ``sig``, ``key_ops`` without
  ``verify``, an ``alg`` that is not an RSA signature algorithm, and a ``kid`` listed twice.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import json
import logging
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import SplitResult, urlsplit

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers

from jwt_core import RSA_ALGORITHMS, KeyLookup, VerificationKey, b64url_decode

LOGGER = logging.getLogger("authorizer.jwks")

MAX_DOCUMENT_BYTES = 256 * 1024
# Discovery and keys together; the function's timeout is 5 s and must leave room to answer.
REFRESH_TIMEOUT = 2.0
MIN_RSA_BITS = 2048
_JSON = json.JSONDecoder()


class JwksError(Exception):
    """The key set could not be fetched or understood."""


def discovery_url(issuer: str) -> str:
    """OIDC Discovery 1.0 section 4: the issuer with ``/.well-known/openid-configuration`` appended."""
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def check_url(url: object, issuer: str) -> SplitResult:
    """A key URL we may fetch: https, or plain http only for a local ``http://`` dev issuer."""
    if not isinstance(url, str):
        raise JwksError("key URL is not a string")
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port
    except ValueError:
        raise JwksError("key URL is not a valid URL") from None
    if not host:
        raise JwksError("key URL has no host")
    if parts.scheme == "https" or (parts.scheme == "http" and issuer.startswith("http://")):
        return parts
    raise JwksError(f"refusing a non-https key URL: {parts.scheme}://{host}")


def shown_url(parts: SplitResult) -> str:
    """A URL as logs and errors may show it: no userinfo, query or fragment, which can hold secrets."""
    host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
    port = f":{parts.port}" if parts.port is not None else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def fetch_json(url: str, *, issuer: str, deadline: float, context: ssl.SSLContext | None = None) -> Any:
    """GET a JSON document by ``deadline`` (``time.monotonic()``), size-capped, redirects not followed.

    Errors name the URL without its userinfo and query (``shown_url``): a ``JWKS_URI`` may
    carry a token there, and the errors are logged.
    """
    parts = check_url(url, issuer)
    url = shown_url(parts)
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise JwksError(f"no time left to fetch {url}")
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(
            parts.hostname or "", parts.port, timeout=remaining, context=context or ssl.create_default_context()
        )
    else:
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=remaining)
    # http.client would try each of the host's addresses with the whole timeout; each gets what is left.
    connection._create_connection = functools.partial(_connect_by, deadline)  # type: ignore[attr-defined]
    watchdog: threading.Timer | None = None
    try:
        connection.connect()
        # Socket timeouts bound each read, not the whole answer: a server can drip bytes for as
        # long as it likes. At the deadline the socket is shut, which ends any read in progress.
        watchdog = threading.Timer(deadline - time.monotonic(), _abort, (connection.sock,))
        watchdog.daemon = True
        watchdog.start()
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request("GET", target, headers={"Accept": "application/json"})
        response = connection.getresponse()
        if response.status != 200:
            # 3xx included: http.client follows no redirects, and neither do we.
            raise JwksError(f"HTTP {response.status} from {url}")
        body = response.read(MAX_DOCUMENT_BYTES + 1)
    except JwksError:
        raise
    except Exception as exc:  # OSError, ssl and http.client errors: all mean "no document"
        raise JwksError(f"{type(exc).__name__} fetching {url}") from exc
    finally:
        if watchdog is not None:
            watchdog.cancel()
        connection.close()
    if time.monotonic() > deadline:
        raise JwksError(f"deadline passed fetching {url}")
    if len(body) > MAX_DOCUMENT_BYTES:
        raise JwksError(f"document over {MAX_DOCUMENT_BYTES} bytes at {url}")
    try:
        return _JSON.decode(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise JwksError(f"invalid JSON at {url}") from None


def _connect_by(
    deadline: float, address: tuple[str, int], timeout: float = 0.0, source_address: Any = None
) -> socket.socket:
    """``socket.create_connection``, every address attempt bounded by what is left before ``deadline``."""
    host, port = address
    error: OSError = OSError(f"no address for {host}")
    # DNS itself cannot be bounded from here; in Lambda the resolver is local to the host.
    for family, kind, proto, _, target in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"deadline passed connecting to {host}")
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(remaining)
            sock.connect(target)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        return sock
    raise error


def _abort(sock: socket.socket | None) -> None:
    if sock is not None:
        with contextlib.suppress(OSError):
            # The plain socket's shutdown, so a TLS read blocked in another thread returns at once.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _uint(value: object, name: str) -> int:
    """A JWK's base64url unsigned integer (RFC 7518 6.3.1), decoded as strictly as a token segment."""
    if not isinstance(value, str) or not value:
        raise _Untrusted(f"{name} is not a base64url integer")
    try:
        return int.from_bytes(b64url_decode(value), "big")
    except ValueError:
        raise _Untrusted(f"{name} is not a base64url integer") from None


class _Untrusted(Exception):
    """Why one key of a set is not used (the message is logged with its kid)."""


def _rsa_key(jwk: Mapping[str, Any]) -> VerificationKey:
    """The key one JWK describes, or ``_Untrusted`` with why not: each key is judged alone."""
    use = jwk.get("use", "sig")
    if use != "sig":
        raise _Untrusted(f"use {use!r} is not sig")
    key_ops = jwk.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        raise _Untrusted("key_ops lacks verify")
    alg = jwk.get("alg")
    if alg is not None and not (isinstance(alg, str) and alg in RSA_ALGORITHMS):
        raise _Untrusted(f"alg {alg if isinstance(alg, str) else repr(alg)} is not an RSA signature algorithm")
    n, e = _uint(jwk.get("n"), "n"), _uint(jwk.get("e"), "e")
    # An RSA modulus is a product of two odd primes, and its exponent is odd (RFC 8017 3.1).
    if n % 2 == 0 or e % 2 == 0:
        raise _Untrusted("modulus or exponent is even")
    try:
        # Only the public members: a JWKS that leaks "d" must not make us hold a private key.
        public = RSAPublicNumbers(e, n).public_key()
    except ValueError as exc:
        raise _Untrusted(f"not an RSA public key ({exc})") from None
    if public.key_size < MIN_RSA_BITS:
        raise _Untrusted(f"key under {MIN_RSA_BITS} bits")
    return VerificationKey(public, alg)


def _unchanged(old: VerificationKey | None, new: VerificationKey) -> VerificationKey:
    """``old`` when ``new`` is the same public key for the same algorithm, else ``new``."""
    if old is not None and old.alg == new.alg and old.key.public_numbers() == new.key.public_numbers():
        return old
    return new


def parse_jwks(document: Any) -> dict[str, VerificationKey]:
    """Usable RSA signing keys by ``kid``. Keys we cannot use or must not trust are skipped.

    Each key is judged alone: whatever is wrong with one (a member of the wrong type, a bad
    number) skips that key, logged by its kid, and never the whole set.
    """
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise JwksError("not a JWKS document")
    candidates = [
        jwk
        for jwk in document["keys"]
        if isinstance(jwk, Mapping) and jwk.get("kty") == "RSA" and isinstance(jwk.get("kid"), str) and jwk["kid"]
    ]
    listed = Counter(jwk["kid"] for jwk in candidates)
    keys: dict[str, VerificationKey] = {}
    skipped: dict[str, str] = {}
    for jwk in candidates:
        kid = jwk["kid"]
        try:
            if listed[kid] > 1:
                # Which of two keys a kid means is not ours to guess: use neither.
                raise _Untrusted("kid appears more than once")
            keys[kid] = _rsa_key(jwk)
        except _Untrusted as untrusted:
            skipped[kid] = str(untrusted)
        except Exception as exc:  # anything a hostile key provokes costs that key only
            skipped[kid] = f"unreadable ({type(exc).__name__})"
    if skipped:
        LOGGER.warning("jwks keys skipped", extra={"skipped": [f"{kid}: {why}" for kid, why in skipped.items()]})
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
        timeout: float = REFRESH_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """``timeout`` is for a whole refresh; ``clock`` paces refreshes (tests move it by hand)."""
        self.issuer = issuer
        self._jwks_uri = jwks_uri or None
        self._cooldown = cooldown
        self._max_age = max_age
        self._timeout = timeout
        self._clock = clock
        self._ssl_context = ssl_context
        self._keys: dict[str, VerificationKey] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = threading.Lock()

    def key_for(self, kid: str | None) -> VerificationKey | None:
        if kid is None:
            return None
        key = self._keys.get(kid)
        if key is not None and not self._stale():
            return key
        # A known key answers at once while another request refreshes; only a kid we have not
        # seen waits for the refresh (bounded by its deadline).
        if not self._lock.acquire(blocking=key is None):
            return key
        try:
            if self._may_fetch(unknown_kid=key is None):
                self._refresh()
            return self._keys.get(kid)
        finally:
            self._lock.release()

    def _stale(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= self._max_age

    def _may_fetch(self, *, unknown_kid: bool) -> bool:
        if self._attempted_at is None:
            return True
        if self._clock() - self._attempted_at < self._cooldown:
            return False
        return unknown_kid or self._stale()

    def _refresh(self) -> None:
        self._attempted_at = self._clock()
        deadline = time.monotonic() + self._timeout
        try:
            context = self._ssl_context or (ssl.create_default_context() if self.issuer.startswith("https") else None)
            url = self._jwks_uri or self._discover(deadline, context)
            keys = parse_jwks(fetch_json(url, issuer=self.issuer, deadline=deadline, context=context))
        except Exception as exc:  # JwksError, or anything a hostile answer provokes: never raise
            LOGGER.warning(
                "jwks refresh failed; keeping last good key set",
                extra={
                    "error": str(exc) if isinstance(exc, JwksError) else type(exc).__name__,
                    "known_kids": sorted(self._keys),
                },
            )
            return
        # An unchanged key keeps its object: a verified-claims cache entry lasts only while the
        # key that verified it is the one published, and a refresh is not a rotation.
        self._keys = {kid: _unchanged(self._keys.get(kid), key) for kid, key in keys.items()}
        self._fetched_at = self._clock()
        LOGGER.info("jwks refreshed", extra={"known_kids": sorted(keys)})

    def _discover(self, deadline: float, context: ssl.SSLContext | None) -> str:
        url = discovery_url(self.issuer)
        document = fetch_json(url, issuer=self.issuer, deadline=deadline, context=context)
        if not isinstance(document, Mapping):
            raise JwksError("discovery document is not a JSON object")
        if document.get("issuer") != self.issuer:
            # OIDC Discovery 4.3: a mismatch means the configured issuer is wrong.
            raise JwksError("discovery issuer does not match the configured issuer")
        jwks_uri = document.get("jwks_uri")
        check_url(jwks_uri, self.issuer)
        return str(jwks_uri)
