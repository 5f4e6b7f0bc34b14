"""REQUEST Lambda authorizer for an HTTP API (payload 2.0, simple responses), REST APIs too.

It applies the same rules as API Gateway's built-in JWT authorizer (see ``jwt_core``), so
``/test`` (built-in) and ``/lambda/test`` (this function) accept and reject the same tokens.

Configuration (environment):
- ``ISSUER``: must equal the token's ``iss`` exactly (Auth0: ``https://TENANT.auth0.com/``).
- ``AUDIENCE``: comma-separated; ``aud`` must contain one (``client_id`` when ``aud`` is absent).
- ``JWKS_URI``: optional; otherwise taken from the issuer's OIDC discovery document.
- ``JWKS_COOLDOWN_SECONDS``: minimum time between refetches caused by an unknown ``kid``.
- ``REQUIRED_SCOPES``: optional; the token needs at least one of them.
- ``ALLOWED_ALGORITHMS``: optional; default ``RS256``.

REST API (payload 1.0) TOKEN and REQUEST events get an IAM policy instead, scoped to the
whole stage so that API Gateway's cached policy is right for every method and resource.

It never raises: anything unexpected is a logged deny, never a 500 for the caller.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jwks import KeySource
from jwt_core import (
    DEFAULT_ALGORITHMS,
    JwtVerifier,
    TokenRejected,
    bearer_token,
    fingerprint,
    parse_list,
    scopes_satisfied,
)

LOGGER = logging.getLogger("authorizer")
LOGGER.setLevel(os.environ.get("LOG_LEVEL", "INFO"))


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise RuntimeError(f"environment variable {name} is required (see template.yaml)")
    return value


ISSUER = _required("ISSUER")
AUDIENCES = parse_list(_required("AUDIENCE"))
REQUIRED_SCOPES = parse_list(os.environ.get("REQUIRED_SCOPES"))
KEYS = KeySource(
    issuer=ISSUER,
    jwks_uri=os.environ.get("JWKS_URI", "").strip() or None,
    cooldown=float(os.environ.get("JWKS_COOLDOWN_SECONDS", "60")),
)
VERIFIER = JwtVerifier(
    issuer=ISSUER,
    audiences=AUDIENCES,
    keys=KEYS,
    algorithms=parse_list(os.environ.get("ALLOWED_ALGORITHMS")) or DEFAULT_ALGORITHMS,
)


@dataclass
class Decision:
    allowed: bool
    reason: str
    context: dict[str, Any] = field(default_factory=dict)
    log: dict[str, Any] = field(default_factory=dict)


def header(headers: object, name: str) -> str | None:
    """A header value by case-insensitive name (API Gateway lowercases; local tools may not)."""
    if not isinstance(headers, Mapping):
        return None
    wanted = name.lower()
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == wanted:
            return value if isinstance(value, str) else None
    return None


def decide(authorization: str | None) -> Decision:
    """Allow or deny one Authorization header value. Pure apart from key lookups."""
    try:
        token = bearer_token(authorization)
    except TokenRejected as rejected:
        return Decision(False, rejected.reason)
    log: dict[str, Any] = {"token_fp": fingerprint(token)}
    try:
        verified = VERIFIER.verify(token)
    except TokenRejected as rejected:
        return Decision(False, rejected.reason, log=log)
    log.update(sub=verified.subject, kid=verified.header.get("kid"))
    if not scopes_satisfied(verified.scopes, REQUIRED_SCOPES):
        return Decision(False, "insufficient_scope", log=log)
    context = {
        "sub": verified.subject,
        "scope": " ".join(verified.scopes),
        "clientId": verified.client_id,
    }
    return Decision(True, "ok", context=context, log=log)


def stage_wide_resource(method_arn: object) -> str | None:
    """``arn:...:API/STAGE/*`` from a REST ``methodArn``, so a cached allow fits every route.

    API Gateway caches a REST authorizer's policy per token and reuses it for other methods and
    resources; a policy naming only the first ``methodArn`` would then deny them (random 403s).
    """
    if not isinstance(method_arn, str) or not method_arn.startswith("arn:"):
        return None
    prefix, _, path = method_arn.partition("/")
    stage = path.split("/", 1)[0]
    if prefix.count(":") != 5 or not stage:
        return None
    return f"{prefix}/{stage}/*"


def policy_response(decision: Decision, method_arn: object) -> dict[str, Any]:
    """The REST (v1) answer: an IAM policy, principal and context."""
    resource = stage_wide_resource(method_arn)
    allowed = decision.allowed and resource is not None
    return {
        "principalId": decision.context.get("sub") or "anonymous",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow" if allowed else "Deny", "Resource": resource or "*"}
            ],
        },
        "context": decision.context if allowed else {},
    }


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    started = time.perf_counter()
    is_mapping = isinstance(event, Mapping)
    # REST APIs send payload 1.0 events (TOKEN, or REQUEST with a methodArn); HTTP APIs send 2.0.
    rest = is_mapping and event.get("version") != "2.0" and "methodArn" in event
    try:
        if rest and event.get("type") == "TOKEN":
            authorization = event.get("authorizationToken")
        else:
            authorization = header(event.get("headers") if is_mapping else None, "authorization")
        decision = decide(authorization)
    except Exception as exc:  # a bug or an outage must still answer "deny", not a 500
        decision = Decision(False, "internal_error", log={"error": type(exc).__name__})
    LOGGER.info(
        "authorization decision",
        extra={
            "decision": "allow" if decision.allowed else "deny",
            "reason": decision.reason,
            "latency_ms": round((time.perf_counter() - started) * 1000, 3),
            **decision.log,
        },
    )
    if rest:
        return policy_response(decision, event.get("methodArn"))
    if decision.allowed:
        return {"isAuthorized": True, "context": decision.context}
    return {"isAuthorized": False}
