"""REQUEST Lambda authorizer for an HTTP API (payload 2.0, simple responses), REST APIs too.

It applies the same rules as API Gateway's built-in JWT authorizer (see ``jwt_core``), so
``/test`` (built-in) and ``/lambda/test`` (this function) accept and reject the same tokens.

Configuration (environment):
- ``ISSUER``: must equal the token's ``iss`` exactly (Auth0: ``https://TENANT.auth0.com/``).
  Comma-separated for several issuers, each verified with its own keys only.
- ``AUDIENCE``: comma-separated; ``aud`` must contain one (``client_id`` when ``aud`` is absent).
- ``JWKS_URI``: optional, one issuer only; otherwise taken from each issuer's discovery document.
- ``SCOPE_CLAIMS``: optional, claims that grant scopes; default ``scope,scp`` (Auth0 RBAC:
  ``scope,scp,permissions``; the context then carries ``permissions``).
- ``REQUIRED_CLAIMS``: optional JSON, claim -> accepted values (``{"org_id": ["org_abc"]}``).
- ``JWKS_COOLDOWN_SECONDS``: minimum time between key fetches: after an unknown ``kid``, and
  after a failed refresh (a first fetch that fails denies every token until the next try).
- ``REQUIRED_SCOPES``: optional; the token needs at least one of them.
- ``ROUTE_SCOPES``: optional JSON object, route key to scopes (``{"GET /admin": ["admin"]}``),
  overriding ``REQUIRED_SCOPES`` for those routes. The authorizer's identity source must then
  include ``$context.routeKey`` so that API Gateway caches answers per route.
- ``ALLOWED_ALGORITHMS``: optional; default ``RS256``.
- ``HS256_SECRET_PARAMETER``: optional, off by default. An SSM SecureString parameter name:
  tokens are then HS256 with that shared secret, and only HS256 (see ``secret.py``); one
  issuer only, since a shared secret cannot tell issuers apart.

REST API (payload 1.0) TOKEN and REQUEST events get an IAM policy instead, written for the
whole stage (with explicit denies for routes whose scopes the token lacks) so that API
Gateway's cached policy is right for every method and resource.

It never raises: anything unexpected is a logged deny, never a 500 for the caller. Each
decision is one log record whose message is a dict (decision, reason, token fingerprint,
sub, kid), made with ``Logger.makeRecord`` rather than ``Logger.info``: the line is most of
what a cached decision costs, and this skips the caller lookup and the copy of ``extra`` into
the record that nobody reads.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from jwks import KeySource
from jwt_core import (
    DEFAULT_ALGORITHMS,
    HMAC_ALGORITHMS,
    ClaimRules,
    JwtVerifier,
    KeyLookup,
    ScopeRules,
    TokenRejected,
    VerifiedCache,
    VerifiedToken,
    bearer_token,
    fingerprint,
    parse_list,
    scopes_satisfied,
    token_digest,
    token_scopes,
)

LOGGER = logging.getLogger("authorizer")
LOGGER.setLevel(os.environ.get("LOG_LEVEL", "INFO"))


def _seconds(name: str, default: str) -> float:
    """A duration setting: a plain decimal number of seconds, 0 or more (no nan, inf or sign games)."""
    text = os.environ.get(name, "").strip() or default
    if not re.fullmatch(r"[0-9]+(?:\.[0-9]+)?", text):
        raise RuntimeError(f"environment variable {name} must be a number of seconds, 0 or more (got {text!r})")
    return float(text)


def _whole(name: str, default: str) -> int:
    text = os.environ.get(name, "").strip() or default
    if not re.fullmatch(r"[0-9]+", text):
        raise RuntimeError(f"environment variable {name} must be a whole number, 0 or more (got {text!r})")
    return int(text)


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise RuntimeError(f"environment variable {name} is required (see template.yaml)")
    return value


ISSUERS = parse_list(_required("ISSUER"))
AUDIENCES = parse_list(_required("AUDIENCE"))
SCOPE_RULES = ScopeRules.from_config(os.environ.get("REQUIRED_SCOPES"), os.environ.get("ROUTE_SCOPES"))
CLAIM_RULES = ClaimRules.from_config(os.environ.get("SCOPE_CLAIMS"), os.environ.get("REQUIRED_CLAIMS"))
SECRET_PARAMETER = os.environ.get("HS256_SECRET_PARAMETER", "").strip()
JWKS_URI = os.environ.get("JWKS_URI", "").strip() or None
if JWKS_URI and len(ISSUERS) > 1:
    raise RuntimeError(f"JWKS_URI names the keys of one issuer, but ISSUER lists {len(ISSUERS)}: leave JWKS_URI empty")
KEYS: dict[str, KeyLookup]
if SECRET_PARAMETER and len(ISSUERS) > 1:
    raise RuntimeError(f"HS256_SECRET_PARAMETER gives one key for every issuer, but ISSUER lists {len(ISSUERS)}")
if SECRET_PARAMETER:
    from secret import SharedSecret  # only in this mode: the default path imports nothing extra

    shared = SharedSecret(SECRET_PARAMETER)
    KEYS = dict.fromkeys(ISSUERS, shared)
    ALGORITHMS = HMAC_ALGORITHMS
else:
    # Each issuer its own key set, from its own discovery document: a key one issuer publishes
    # never verifies a token that names another.
    cooldown = _seconds("JWKS_COOLDOWN_SECONDS", "60")
    KEYS = {issuer: KeySource(issuer=issuer, jwks_uri=JWKS_URI, cooldown=cooldown) for issuer in ISSUERS}
    ALGORITHMS = frozenset(parse_list(os.environ.get("ALLOWED_ALGORITHMS"))) or DEFAULT_ALGORITHMS
CACHE_SIZE = _whole("VERIFIED_CACHE_SIZE", "1024")
VERIFIER = JwtVerifier(
    issuers=KEYS,
    audiences=AUDIENCES,
    algorithms=ALGORITHMS,
    claim_rules=CLAIM_RULES,
    # Clients reuse a token for its lifetime; verifying it again would only cost time.
    cache=VerifiedCache(CACHE_SIZE) if CACHE_SIZE > 0 else None,
)
# Passed on to integrations when the configuration reads them (never the token itself).
PERMISSIONS_IN_CONTEXT = "permissions" in CLAIM_RULES.scope_claims


class Decision:
    """An answer, the scopes behind it, the context for the integration and the log fields."""

    __slots__ = ("allowed", "context", "log", "reason", "scopes")

    def __init__(
        self,
        allowed: bool,
        reason: str,
        scopes: tuple[str, ...] = (),
        context: dict[str, Any] | None = None,
        log: dict[str, Any] | None = None,
    ) -> None:
        self.allowed = allowed
        self.reason = reason
        self.scopes = scopes
        self.context = context or {}
        self.log = log or {}


def header(headers: object, name: str) -> str | None:
    """A header value by case-insensitive name (API Gateway lowercases; local tools may not)."""
    # dict, not Mapping: events are decoded JSON, and an ABC check costs more than the lookup.
    if not isinstance(headers, dict):
        return None
    wanted = name.lower()
    value = headers.get(wanted)  # HTTP APIs send lower-case names: the common case, first
    if isinstance(value, str):
        return value
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == wanted:
            return value if isinstance(value, str) else None
    return None


def authenticate(authorization: str | None) -> Decision:
    """Is this Authorization header value a valid token? Scope rules are not applied here."""
    try:
        token = bearer_token(authorization)
    except TokenRejected as rejected:
        return Decision(False, rejected.reason)
    digest = token_digest(token)
    log: dict[str, Any] = {"token_fp": fingerprint(token, digest)}
    try:
        verified = VERIFIER.verify(token, digest)
    except TokenRejected as rejected:
        return Decision(False, rejected.reason, log=log)
    context = integration_context(verified)
    log["sub"] = context["sub"]
    log["kid"] = verified.header.get("kid")
    return Decision(True, "ok", scopes=verified.scopes, context=context, log=log)


def integration_context(verified: VerifiedToken) -> dict[str, Any]:
    """What integrations see as ``requestContext.authorizer.lambda``: who called, what they may do."""
    claims = verified.claims
    context: dict[str, Any] = {
        "sub": verified.subject,
        "scope": " ".join(verified.scopes),
        "clientId": verified.client_id,
    }
    if PERMISSIONS_IN_CONTEXT:
        context["permissions"] = " ".join(token_scopes(claims, ("permissions",)))
    if isinstance(claims.get("org_id"), str):
        context["orgId"] = claims["org_id"]
    return context


def decide(authorization: str | None, route_key: object = None) -> Decision:
    """Allow or deny one Authorization header value on one route (HTTP API, payload 2.0)."""
    decision = authenticate(authorization)
    if decision.allowed and not scopes_satisfied(decision.scopes, SCOPE_RULES.required(route_key)):
        return Decision(False, "insufficient_scope", decision.scopes, log=decision.log)
    return decision


class RestRequest(NamedTuple):
    """A REST ``methodArn`` taken apart: ``arn:...:API_ID/STAGE`` and the request's method and path."""

    stage: str
    method: str
    path: str

    @property
    def arn(self) -> str:
        return f"{self.stage}/{self.method}{self.path}"


_REST_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def rest_request(method_arn: object) -> RestRequest | None:
    """The request a REST ``methodArn`` names, or None for anything else.

    ``arn:PARTITION:execute-api:REGION:ACCOUNT:API_ID/STAGE/METHOD/PATH``, PATH as requested.
    An ARN holding ``*`` or ``?`` is refused: in a policy they are IAM wildcards, so an answer
    written for it would cover other requests.
    """
    if not isinstance(method_arn, str) or not method_arn.startswith("arn:") or "*" in method_arn or "?" in method_arn:
        return None
    prefix, _, rest = method_arn.partition("/")
    stage, _, rest = rest.partition("/")
    method, slash, path = rest.partition("/")
    if prefix.count(":") != 5 or not stage or method not in _REST_METHODS or not slash:
        return None
    return RestRequest(f"{prefix}/{stage}", method, "/" + path)


def rest_policy(decision: Decision, request: RestRequest) -> tuple[list[dict[str, Any]], bool]:
    """IAM statements for a verified token, and whether they allow anything at all.

    API Gateway may cache the policy per token and reuse it for other methods and paths, so
    every statement must be right for every request it covers, not only for this one:

    - Route keys that are all one method and one exact path (``SCOPE_RULES.literal``): allow
      the stage when the default rule holds and deny each route whose own rule fails; else
      allow exactly the routes whose own rule holds. Each ARN names one route, so the cached
      policy answers every request as a fresh call would.
    - Any ``{param}``, ``{proxy+}`` or ``ANY`` key: IAM's ``*`` matches across ``/`` and any
      method, so no pattern can name such a route alone. The answer is for this request's own
      method and path only (its route chosen as API Gateway chooses). A cached copy then covers
      nothing else: another path gets 403 until the authorizer is asked for it, which it is when
      the identity sources include the method and path, or with the cache off (docs/security.md).
    """
    stage_wide = f"{request.stage}/*"
    if not decision.allowed:
        return [_statement("Deny", [stage_wide])], False
    if not SCOPE_RULES.literal:
        allowed = scopes_satisfied(decision.scopes, rest_required(request))
        return [_statement("Allow" if allowed else "Deny", [request.arn])], allowed
    passing: list[str] = []
    failing: list[str] = []
    for route_key, required in SCOPE_RULES.routes.items():
        method, _, path = route_key.partition(" ")
        if path:  # $default is an HTTP API route: no REST request reaches it
            arn = f"{request.stage}/{method}{path}"
            (passing if scopes_satisfied(decision.scopes, required) else failing).append(arn)
    if scopes_satisfied(decision.scopes, SCOPE_RULES.default):
        statements = [_statement("Allow", [stage_wide])]
        if failing:
            statements.append(_statement("Deny", failing))
        return statements, True
    if passing:
        return [_statement("Allow", passing)], True
    return [_statement("Deny", [stage_wide])], False


def rest_required(request: RestRequest) -> tuple[str, ...]:
    """The scopes this REST request's route needs: its ``ROUTE_SCOPES`` entry, else the default."""
    return SCOPE_RULES.required(SCOPE_RULES.route_for(request.method, request.path))


def _statement(effect: str, resources: list[str]) -> dict[str, Any]:
    return {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resources}


def policy_response(decision: Decision, method_arn: object) -> tuple[dict[str, Any], Decision]:
    """The REST (v1) answer: an IAM policy, principal and context; and the decision logged.

    The decision logged is this request's: a policy may allow other routes and not this one.
    """
    request = rest_request(method_arn)
    logged = decision
    if request is None:
        statements, allows = [_statement("Deny", ["*"])], False
        if decision.allowed:
            logged = Decision(False, "bad_method_arn", decision.scopes, log=decision.log)
    else:
        statements, allows = rest_policy(decision, request)
        if decision.allowed and not scopes_satisfied(decision.scopes, rest_required(request)):
            logged = Decision(False, "insufficient_scope", decision.scopes, log=decision.log)
    response = {
        "principalId": (decision.context.get("sub") if allows else None) or "anonymous",
        "policyDocument": {"Version": "2012-10-17", "Statement": statements},
        # The context goes with any allow: a cached policy may admit other routes with it.
        "context": decision.context if allows else {},
    }
    return response, logged


def _answer_rest(event: Mapping[str, Any]) -> tuple[dict[str, Any], Decision]:
    if event.get("type") == "TOKEN":
        authorization = event.get("authorizationToken")
    else:
        authorization = header(event.get("headers"), "authorization")
    return policy_response(authenticate(authorization), event.get("methodArn"))


def _answer_http(event: object) -> tuple[dict[str, Any], Decision]:
    fields: Mapping[str, Any] = event if isinstance(event, dict) else {}
    decision = decide(header(fields.get("headers"), "authorization"), fields.get("routeKey"))
    if decision.allowed:
        return {"isAuthorized": True, "context": decision.context}, decision
    return {"isAuthorized": False}, decision


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # REST APIs send payload 1.0 events (TOKEN, or REQUEST with a methodArn); HTTP APIs send 2.0.
    rest = isinstance(event, dict) and event.get("version") != "2.0" and "methodArn" in event
    try:
        response, decision = _answer_rest(event) if rest else _answer_http(event)
    except Exception as exc:  # a bug or an outage must still answer "deny", not a 500
        decision = Decision(False, "internal_error", log={"error": type(exc).__name__})
        response = policy_response(decision, event.get("methodArn"))[0] if rest else {"isAuthorized": False}
    if LOGGER.isEnabledFor(logging.INFO):
        LOGGER.handle(LOGGER.makeRecord(LOGGER.name, logging.INFO, "app.py", 0, decision_line(decision), (), None))
    return response


def decision_line(decision: Decision) -> dict[str, Any]:
    """The one log line per decision, as a dict message: Lambda's JSON log format writes it as
    a nested object (``message.decision``, ``message.reason`` in Logs Insights).

    Five fields at most (decision, reason, and once a token could be read its fingerprint,
    ``sub`` and ``kid``): each costs formatting time on every request. How long the function
    ran is in Lambda's own REPORT line for the invocation.
    """
    return {"decision": "allow" if decision.allowed else "deny", "reason": decision.reason, **decision.log}
