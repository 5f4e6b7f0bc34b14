"""May this authenticated token use this route? Scopes per route, and required claims.

The default is the built-in JWT authorizer's rule: ``scope`` and ``scp`` grant scopes, a route
needs at least one of its scopes (none: any valid token), and no claim is required. The Lambda
authorizer adds, each off unless configured: per-route scopes (``ROUTE_SCOPES``), other claims
that grant scopes (Auth0 RBAC's ``permissions``), and required claims (``org_id``, ``gty``, ``azp``).

This module is also the one definition the cfn-lint rule E9103 reads to tell whether a function's
rules differ per route (and so need the route in the authorizer's cache key).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from jwt_authorizer.reasons import Reason
from jwt_authorizer.verifier import VerifiedToken, audience_matches

# What the built-in JWT authorizer reads scopes from.
BUILT_IN_SCOPE_CLAIMS = ("scope", "scp")
# RFC 6749 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ); a scope string is tokens and spaces.
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")
_SCOPE_STRING = re.compile(r"[\x20\x21\x23-\x5B\x5D-\x7E]*")
# API Gateway route keys. "*" and "?" are refused in paths: no API Gateway path holds them, and
# in an execute-api ARN they are IAM wildcards, so a REST policy naming the route would cover others.
ROUTE_KEY = re.compile(r"\$default|(?:ANY|GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) /[^\s*?]*")


def scope_token(value: object) -> bool:
    """Is ``value`` one RFC 6749 3.3 scope-token (what a configured scope must be)?"""
    return isinstance(value, str) and _SCOPE_TOKEN.fullmatch(value) is not None


def token_scopes(claims: Mapping[str, Any], names: Iterable[str] = BUILT_IN_SCOPE_CLAIMS) -> list[str]:
    """Scopes granted by the claims ``names``: a string of space-separated scopes, or an array
    (``scp``, ``permissions``; not ``scope``, which is a string).

    Only RFC 6749 3.3 scope-tokens count (printable ASCII but space, ``"`` and ``\\``). Strings
    split on the space character alone: a tab, NBSP or other Unicode space inside
    ``"write:x\\u00a0read:x"`` makes one invalid token, which grants nothing, never two. An
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
    unique = dict.fromkeys(found)  # first occurrence wins, order kept
    unique.pop("", None)  # what runs of spaces split into
    return list(unique)


def scopes_satisfied(granted: Iterable[str], required: Iterable[str]) -> bool:
    """AWS's route rule: no required scopes, or at least one of them granted."""
    required_set = set(required)
    return not required_set or not required_set.isdisjoint(granted)


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

    @property
    def route_specific(self) -> bool:
        """Does any route need other scopes than the default (so answers differ per route)?"""
        return any(set(scopes) != set(self.default) for scopes in self.routes.values())

    def required(self, route_key: object) -> tuple[str, ...]:
        if isinstance(route_key, str) and route_key in self.routes:
            return self.routes[route_key]
        return self.default


def _literal(key: str) -> bool:
    """One method and one exact path (no ``ANY``, no ``{}``): an IAM policy can name it alone.

    ``{id}`` and ``ANY`` would become ``*`` in an ``execute-api`` ARN, which matches across
    ``/`` and any method too. ``$default`` is an HTTP API route no REST request reaches.
    """
    return key == "$default" or not (key.startswith("ANY ") or "{" in key)


def route_for(method: str, path: str, keys: Iterable[str]) -> str | None:
    """The route key API Gateway would choose for ``method path`` among ``keys``, if any.

    Segment by segment, an exact segment beats ``{param}``, which beats a greedy ``{proxy+}``;
    then a route for the method itself beats ``ANY``. ``$default`` has no path and never
    matches here.
    """
    segments = path.split("/")[1:]
    best: tuple[tuple[int, ...], str] | None = None
    for key in keys:
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


class ClaimRules:
    """Which claims grant scopes, and which claims must hold which values."""

    __slots__ = ("required", "scope_claims")

    def __init__(
        self, scope_claims: Iterable[str] = BUILT_IN_SCOPE_CLAIMS, required: Mapping[str, Iterable[str]] | None = None
    ) -> None:
        self.scope_claims = tuple(scope_claims)
        self.required = {name: frozenset(values) for name, values in (required or {}).items()}

    def check(self, claims: Mapping[str, Any]) -> Reason | None:
        """Why a required claim fails (absent, or holding no accepted value), or None."""
        for name, accepted in self.required.items():
            if name not in claims:
                return Reason.MISSING_CLAIM
            value = claims[name]
            values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
            if not any(isinstance(v, str) and v in accepted for v in values):
                return Reason.CLAIM_MISMATCH
        return None


class Grant(NamedTuple):
    """What a verified token may do, derived once from its claims."""

    scopes: tuple[str, ...]
    # What integrations see as requestContext.authorizer.lambda: who called, what they may do.
    context: dict[str, Any]
    # Why the required claims fail, if they do (the same for every route).
    refused: Reason | None
    # Does it name one of the default audiences (every route without a resource of its own)?
    audience_ok: bool
    claims: Mapping[str, Any]


class Policy:
    """The route rules of one authorizer: ``grant`` once per token, ``refusal`` per request.

    ``audiences``: what a token must name as its audience on every route but the resource routes
    (required, and never empty: no default may quietly check no audience at all);
    ``resources``: route key -> the resource URL (RFC 8707) its tokens must name instead, "" for
    the URL the request came to.
    """

    def __init__(
        self,
        scopes: ScopeRules | None = None,
        claims: ClaimRules | None = None,
        *,
        audiences: frozenset[str],
        resources: Mapping[str, str] | None = None,
    ) -> None:
        if not audiences:
            raise ValueError("at least one audience is required")
        self.scopes = scopes or ScopeRules()
        self.claims = claims or ClaimRules()
        self.audiences = audiences
        self.resources: Mapping[str, str] = resources or {}
        # Passed on to integrations when the configuration reads them (never the token itself).
        self._permissions_in_context = "permissions" in self.claims.scope_claims

    def grant(self, token: VerifiedToken) -> Grant:
        """What ``token`` may do; remembered on the token, which a cache hit returns again."""
        grant = token.derived
        if grant is None:
            grant = token.derived = self._derive(token.claims)
        return grant

    def _derive(self, claims: Mapping[str, Any]) -> Grant:
        scopes = tuple(token_scopes(claims, self.claims.scope_claims))
        sub, client_id = claims.get("sub"), _client_id(claims)
        context: dict[str, Any] = {
            "sub": sub if isinstance(sub, str) else "",
            "scope": " ".join(scopes),
            "clientId": client_id,
        }
        if self._permissions_in_context:
            context["permissions"] = " ".join(token_scopes(claims, ("permissions",)))
        if isinstance(claims.get("org_id"), str):
            context["orgId"] = claims["org_id"]
        aud = claims.get("aud")
        # One string aud, the usual case, is one set lookup; audience_matches has every other rule.
        audience_ok = aud in self.audiences if type(aud) is str else audience_matches(claims, self.audiences)
        return Grant(scopes, context, self.claims.check(claims), audience_ok, claims)

    def refusal(self, grant: Grant, route_key: object = None, resource: str | None = None) -> Reason | None:
        """Why ``grant`` may not use the route ``route_key``, or None if it may.

        In the order the rules were always checked: the audience (the route's resource URL on a
        resource route, where ``resource`` is the URL the request came to; else the default
        audiences), the required claims, the route's scopes.
        """
        if isinstance(route_key, str) and route_key in self.resources:
            url = self.resources[route_key] or resource
            # RFC 8707: the token names this very resource; client_id is no stand-in for aud here.
            if not url or not audience_matches(grant.claims, frozenset({url}), client_id_counts=False):
                return Reason.BAD_AUDIENCE
        elif not grant.audience_ok:
            return Reason.BAD_AUDIENCE
        if grant.refused is not None:
            return grant.refused
        if not scopes_satisfied(grant.scopes, self.scopes.required(route_key)):
            return Reason.INSUFFICIENT_SCOPE
        return None

    def route_for(self, method: str, path: str) -> str | None:
        """The route key among the configured ones (scopes or resources) API Gateway would choose."""
        return route_for(method, path, [*self.scopes.routes, *self.resources])

    @property
    def literal(self) -> bool:
        """Can an IAM policy name each configured route alone, with the same answer for any request?

        Each route key is one method and one exact path, and no resource route takes its URL
        from the request (that answer is for one request's URL only).
        """
        return all(_literal(key) for key in [*self.scopes.routes, *self.resources]) and all(self.resources.values())


def _client_id(claims: Mapping[str, Any]) -> str:
    for name in ("client_id", "azp"):
        value = claims.get(name)
        if isinstance(value, str):
            return value
    return ""
