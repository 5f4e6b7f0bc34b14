"""Optional shared-secret (HS256) mode: the HMAC key, read once from an SSM SecureString.

Off unless ``HS256_SECRET_PARAMETER`` names a parameter. In this mode the verifier accepts
HS256 only, never an RSA algorithm, so no token can pick the other family (the classic
algorithm-confusion attack). boto3 is imported on the first read, never at import time, so
the default RS256 path does not pay for it: boto3 alone takes several times as long to import
as the whole authorizer (about 200 ms against 50-60 ms on the development machine).

A failed read denies the request (reason ``key_unavailable``) and is retried at most once per
cooldown, so an SSM outage or a missing permission cannot turn into a flood of SSM calls.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from jwt_authorizer.algorithms import SHARED_SECRET_ALGORITHMS, VerificationKey
from jwt_authorizer.reasons import Reason
from jwt_authorizer.verifier import TokenRejected

LOGGER = logging.getLogger("authorizer.secret")

# RFC 7518 section 3.2: an HS256 key must be at least as long as the hash output.
MIN_SECRET_BYTES = 32


def _ssm_client() -> Any:
    import boto3  # here, not at the top: see the module docstring

    return boto3.client("ssm")


class SharedSecret:
    """The one HS256 key, whatever the token's ``kid``: a ``verifier.KeyLookup``."""

    algorithms = SHARED_SECRET_ALGORITHMS
    requires_kid = False

    def __init__(
        self,
        parameter: str,
        *,
        client_factory: Callable[[], Any] = _ssm_client,
        cooldown: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.parameter = parameter
        self.client_factory = client_factory
        self._cooldown = cooldown
        self._clock = clock
        self._secret: VerificationKey | None = None
        self._attempted_at: float | None = None
        self._lock = threading.Lock()

    def key_for(self, kid: str | None) -> VerificationKey:
        if self._secret is not None:
            return self._secret
        with self._lock:
            if self._secret is None and self._may_read():
                self._read()
        if self._secret is None:
            raise TokenRejected(Reason.KEY_UNAVAILABLE)
        return self._secret

    def _may_read(self) -> bool:
        return self._attempted_at is None or self._clock() - self._attempted_at >= self._cooldown

    def _read(self) -> None:
        self._attempted_at = self._clock()
        try:
            answer = self.client_factory().get_parameter(Name=self.parameter, WithDecryption=True)
            value = answer["Parameter"]["Value"]
        except Exception as exc:  # botocore's errors, a missing key, no credentials: all "no secret"
            LOGGER.error("shared secret unavailable", extra={"parameter": self.parameter, "error": type(exc).__name__})
            return
        secret = value.encode("utf-8") if isinstance(value, str) else b""
        if len(secret) < MIN_SECRET_BYTES:
            # Never log the value, not even its length class beyond "too short".
            LOGGER.error("shared secret too short", extra={"parameter": self.parameter, "minimum": MIN_SECRET_BYTES})
            return
        # One secret for the container's life: its "thumbprint" need only tell it from nothing.
        self._secret = VerificationKey(secret, "HS256", "oct", "shared-secret")
        LOGGER.info("shared secret loaded", extra={"parameter": self.parameter})
