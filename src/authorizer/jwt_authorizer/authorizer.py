"""One authorizer: an event in, an answer out, one decision line logged. It never raises.

The flow goes one way: the event's shape (``adapters``) finds the token and the route; the
verifier says whether the token is authentic; the policy says whether it may use the route; the
shape writes the answer. Anything unexpected is a logged deny in the shape's own format, never a
500 for the caller.

Each decision is one log record whose message is a dict (decision, reason, token fingerprint,
sub, kid), made with ``Logger.makeRecord`` rather than ``Logger.info``: the line is most of what
a cached decision costs, and this skips the caller lookup and the copy of ``extra`` into the
record that nobody reads. Its level is INFO; Lambda's ``LoggingConfig`` decides whether INFO is
written (``ApplicationLogLevel``), as for every other line the function writes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from jwt_authorizer.adapters import Decision, bearer_token, shape_of
from jwt_authorizer.algorithms import Verify
from jwt_authorizer.keys import KeySource
from jwt_authorizer.policy import ClaimRules, Policy, ScopeRules
from jwt_authorizer.reasons import Reason
from jwt_authorizer.settings import Settings
from jwt_authorizer.verifier import JwtVerifier, KeyLookup, TokenRejected, VerifiedCache, fingerprint, token_digest

LOGGER = logging.getLogger("authorizer")


def key_sources(settings: Settings) -> dict[str, KeyLookup]:
    """Where each issuer's keys come from: its own key set, or the one shared secret."""
    if settings.hs256_secret_parameter:
        from jwt_authorizer.secret import SharedSecret  # only in this mode: the default path imports nothing extra

        return {settings.issuers[0]: SharedSecret(settings.hs256_secret_parameter)}
    # Each issuer its own key set, from its own discovery document: a key one issuer publishes
    # never verifies a token that names another.
    return {
        issuer: KeySource(
            issuer=issuer,
            jwks_uri=settings.jwks_uri,
            algorithms=settings.algorithms,
            cooldown=settings.jwks_cooldown,
            max_stale=settings.jwks_max_stale,
        )
        for issuer in settings.issuers
    }


class Authorizer:
    """The Lambda authorizer for one configuration; ``handle`` answers one event.

    ``keys`` (issuer -> key lookup), ``clock`` and ``verify_functions`` replace what the
    settings would build, for tests that serve keys themselves or watch the signature checks.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        keys: Mapping[str, KeyLookup] | None = None,
        clock: Callable[[], float] = time.time,
        verify_functions: Mapping[str, Verify] | None = None,
    ) -> None:
        self.settings = settings
        size = settings.verified_cache_size
        self.verifier = JwtVerifier(
            issuers=keys if keys is not None else key_sources(settings),
            audiences=None,  # judged per route by the policy: resource routes have their own
            algorithms=settings.algorithms,
            clock=clock,
            # Clients reuse a token for its lifetime; verifying it again would only cost time.
            cache=VerifiedCache(size) if size > 0 else None,
            verify_functions=verify_functions,
        )
        self.policy = Policy(
            ScopeRules(settings.required_scopes, settings.route_scopes),
            ClaimRules(settings.scope_claims, settings.required_claims),
            audiences=frozenset(settings.audiences),
            resources=settings.resource_routes,
        )

    def handle(self, event: object) -> dict[str, Any]:
        """The answer to one API Gateway event, in that event's format."""
        shape = shape_of(event)
        try:
            response, decision = shape.answer(event, self.decide, self.policy)  # type: ignore[arg-type]
        except Exception as exc:  # a bug or an outage must still answer "deny", not a 500
            decision = Decision(Reason.INTERNAL_ERROR, log={"error": type(exc).__name__})
            response = shape.deny(event)  # type: ignore[arg-type]
        if LOGGER.isEnabledFor(logging.INFO):
            LOGGER.handle(LOGGER.makeRecord(LOGGER.name, logging.INFO, "app.py", 0, decision_line(decision), (), None))
        return response

    def authenticate(self, authorization: str | None) -> Decision:
        """Is this Authorization header value a valid token? No route rule is applied here."""
        try:
            token = bearer_token(authorization)
        except TokenRejected as rejected:
            return Decision(rejected.reason)
        digest = token_digest(token)
        log: dict[str, Any] = {"token_fp": fingerprint(digest)}
        try:
            verified = self.verifier.verify(token, digest)
        except TokenRejected as rejected:
            if rejected.kid is not None:
                log["kid"] = rejected.kid
            return Decision(rejected.reason, log=log)
        grant = self.policy.grant(verified)
        log["sub"] = grant.context["sub"]
        log["kid"] = verified.header.get("kid")
        return Decision(Reason.OK, grant, log)

    def decide(self, authorization: str | None, route_key: object = None, resource: str | None = None) -> Decision:
        """Allow or deny one Authorization header value on one route (its route key; ``resource``,
        the URL the request came to, for a resource route that takes its audience from there)."""
        decision = self.authenticate(authorization)
        if decision.grant is not None:
            refused = self.policy.refusal(decision.grant, route_key, resource)
            if refused is not None:
                return Decision(refused, decision.grant, decision.log)
        return decision


def decision_line(decision: Decision) -> dict[str, Any]:
    """The one log line per decision, as a dict message: Lambda's JSON log format writes it as
    a nested object (``message.decision``, ``message.reason`` in Logs Insights).

    Five fields at most (decision, reason, and once a token could be read its fingerprint,
    ``sub`` and ``kid``): each costs formatting time on every request. How long the function
    ran is in Lambda's own REPORT line for the invocation.
    """
    return {"decision": "allow" if decision.allowed else "deny", "reason": decision.reason, **decision.log}
