"""The issuer's signing keys: found by OIDC discovery, fetched rarely, kept through outages.

- Keys are fetched lazily on first use, then reused for the life of the container.
- A ``kid`` not in the cached set triggers a fetch at once, as API Gateway's own JWT authorizer
  fetches again on an unseen key: a key published a second before its first token is accepted
  on that token. Two limits keep forged ``kid`` values from becoming requests to the issuer
  (aws-jwt-verify's penalty box is the model): no fetch within ``min_interval`` (1 s) of the
  last, so a storm of made-up kids costs one fetch a second at most; and a kid that was looked
  up in a fresh fetch and not found waits out ``cooldown`` before it can cause another.
- After a failed refresh nothing is fetched for ``cooldown``: an issuer in trouble is not
  hammered, and unknown kids do not each wait out a deadline against it.
- After ``max_age`` the next lookup refreshes (discovery, then keys), so keys the issuer has
  withdrawn stop working. Lookups of known keys never wait for a refresh in progress.
- A refresh has one deadline for everything it does (discovery and keys together), follows
  no redirects (a key fetch never leaves https), and caps what it reads.
- A failed refresh (error status, redirect, timeout, garbage, refused connection, an empty key
  set, a malformed discovery document) is logged and changes nothing: the last good key set
  stays (discovery is read afresh at each refresh, so no bad key URL can stick), and a JWKS
  outage never breaks requests whose keys are known, for ``max_stale`` seconds past
  ``max_age``. After that the keys are no longer trusted (``keys_stale``) until a refresh works.
- Only the key types the allowed algorithms need are loaded; each JWK is judged alone by the
  algorithm table (``algorithms.jwk_key``), and a key it refuses is skipped and logged by ``kid``,
  as is a ``kid`` listed twice.
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
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import SplitResult, urlsplit

from jwt_authorizer.algorithms import (
    DEFAULT_ALGORITHMS,
    PUBLIC_KEY_ALGORITHMS,
    Untrusted,
    VerificationKey,
    jwk_key,
    key_types,
)
from jwt_authorizer.reasons import Reason
from jwt_authorizer.verifier import TokenRejected

LOGGER = logging.getLogger("authorizer.jwks")

MAX_DOCUMENT_BYTES = 256 * 1024
# Discovery and keys together; the function's timeout is 5 s and must leave room to answer.
REFRESH_TIMEOUT = 2.0
# The least time between two fetches that unknown kids cause: a storm of made-up kids costs
# one fetch a second at most, and a key published a second before its first token still works.
MIN_FETCH_INTERVAL = 1.0
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
    except ssl.SSLCertVerificationError as exc:
        # Why the certificate failed is what tells a missing CA (SSL_CERT_FILE) from a wrong host.
        raise JwksError(f"{type(exc).__name__} ({exc.verify_message}) fetching {url}") from exc
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


def parse_jwks(document: Any, algorithms: Iterable[str] = DEFAULT_ALGORITHMS) -> dict[str, VerificationKey]:
    """Usable signing keys by ``kid``, of the key types ``algorithms`` need; others are skipped.

    Each key is judged alone: whatever is wrong with one (a member of the wrong type, a bad
    number) skips that key, logged by its kid, and never the whole set. Keys of a type no
    allowed algorithm uses are left out without a word: a mixed key set is normal.
    """
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise JwksError("not a JWKS document")
    wanted = key_types(algorithms)
    candidates = [
        jwk
        for jwk in document["keys"]
        if isinstance(jwk, Mapping) and jwk.get("kty") in wanted and isinstance(jwk.get("kid"), str) and jwk["kid"]
    ]
    listed = Counter(jwk["kid"] for jwk in candidates)
    keys: dict[str, VerificationKey] = {}
    skipped: dict[str, str] = {}
    for jwk in candidates:
        kid = jwk["kid"]
        try:
            if listed[kid] > 1:
                # Which of two keys a kid means is not ours to guess: use neither.
                raise Untrusted("kid appears more than once")
            keys[kid] = jwk_key(jwk)
        except Untrusted as untrusted:
            skipped[kid] = str(untrusted)
        except Exception as exc:  # anything a hostile key provokes costs that key only
            skipped[kid] = f"unreadable ({type(exc).__name__})"
    if skipped:
        LOGGER.warning("jwks keys skipped", extra={"skipped": [f"{kid}: {why}" for kid, why in skipped.items()]})
    if not keys:
        raise JwksError(f"no usable {'/'.join(sorted(wanted))} signing keys")
    return keys


class KeySource:
    """Keys for one issuer, from ``jwks_uri`` or from the issuer's discovery document.

    ``algorithms``: what the verifier allows, so that only the key types they need are loaded.
    """

    requires_kid = True

    def __init__(
        self,
        *,
        issuer: str,
        jwks_uri: str | None = None,
        algorithms: Iterable[str] = DEFAULT_ALGORITHMS,
        cooldown: float = 60.0,
        min_interval: float = MIN_FETCH_INTERVAL,
        max_age: float = 3600.0,
        max_stale: float = 3600.0,
        timeout: float = REFRESH_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """``timeout`` is for a whole refresh; ``clock`` paces refreshes (tests move it by hand).

        ``cooldown``: how long a kid that a fresh fetch did not hold is refused without another
        fetch, and how long after a failed refresh nothing is fetched. ``min_interval``: the
        least time between two fetches that unknown kids cause.
        ``max_stale``: how long past ``max_age`` the last good keys still serve while refreshes
        fail; after ``max_age + max_stale`` from the last good fetch, lookups are refused
        (``keys_stale``) until a refresh works.
        """
        self.issuer = issuer
        self.algorithms = PUBLIC_KEY_ALGORITHMS
        self._wanted = frozenset(algorithms)
        self._jwks_uri = jwks_uri or None
        self._cooldown = cooldown
        self._min_interval = min_interval
        self._max_age = max_age
        self._trusted_for = max_age + max_stale
        self._timeout = timeout
        self._clock = clock
        self._ssl_context = ssl_context
        self._keys: dict[str, VerificationKey] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._failed_at: float | None = None
        # kid -> when it was last looked up in a fresh fetch and not found. Only kids that caused
        # a fetch enter, so it holds at most one per min_interval within a cooldown.
        self._penalised: dict[str, float] = {}
        self._lock = threading.Lock()

    def key_for(self, kid: str | None) -> VerificationKey:
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is not None and self._clock() - self._fetched_at < self._max_age:  # type: ignore[operator]
            return key
        # A known key answers at once while another request refreshes; only a kid we have not
        # seen waits for the refresh (bounded by its deadline).
        if self._lock.acquire(blocking=key is None):
            try:
                # Another request may have fetched while this one waited for the lock.
                key = self._keys.get(kid) if isinstance(kid, str) else None
                if self._may_fetch(kid, known=key is not None) and self._refresh():
                    key = self._keys.get(kid) if isinstance(kid, str) else None
                    if key is None and isinstance(kid, str):
                        self._penalise(kid)
            finally:
                self._lock.release()
        return self._trusted(key)

    def _trusted(self, key: VerificationKey | None) -> VerificationKey:
        if self._fetched_at is None:
            raise TokenRejected(Reason.KEYS_UNAVAILABLE)
        if self._clock() - self._fetched_at >= self._trusted_for:
            raise TokenRejected(Reason.KEYS_STALE)
        if key is None:
            raise TokenRejected(Reason.UNKNOWN_KID)
        return key

    def _stale(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= self._max_age

    def _may_fetch(self, kid: object, *, known: bool) -> bool:
        now = self._clock()
        if self._attempted_at is None:
            return True
        if self._failed_at is not None and now - self._failed_at < self._cooldown:
            return False
        if known:
            return self._stale()
        if now - self._attempted_at < self._min_interval or not isinstance(kid, str):
            # A kid that is not a string can never be in a key set: it fetches nothing.
            return False
        penalised_at = self._penalised.get(kid)
        return penalised_at is None or now - penalised_at >= self._cooldown

    def _penalise(self, kid: str) -> None:
        now = self._clock()
        self._penalised = {k: at for k, at in self._penalised.items() if now - at < self._cooldown}
        self._penalised[kid] = now

    def _refresh(self) -> bool:
        """Fetch the key set; False (logged, nothing changed) when that fails."""
        self._attempted_at = self._clock()
        deadline = time.monotonic() + self._timeout
        try:
            context = self._ssl_context or (ssl.create_default_context() if self.issuer.startswith("https") else None)
            url = self._jwks_uri or self._discover(deadline, context)
            keys = parse_jwks(fetch_json(url, issuer=self.issuer, deadline=deadline, context=context), self._wanted)
        except Exception as exc:  # JwksError, or anything a hostile answer provokes: never raise
            self._failed_at = self._attempted_at
            LOGGER.warning(
                "jwks refresh failed; keeping last good key set"
                if self._keys
                else "jwks refresh failed; no keys yet, so every token is denied (keys_unavailable)",
                extra={
                    "error": str(exc) if isinstance(exc, JwksError) else type(exc).__name__,
                    "known_kids": sorted(self._keys),
                    "issuer": self.issuer,
                    "retry_after_seconds": self._cooldown,
                },
            )
            return False
        self._keys = keys
        self._fetched_at = self._clock()
        self._failed_at = None
        LOGGER.info("jwks refreshed", extra={"known_kids": sorted(keys)})
        return True

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
