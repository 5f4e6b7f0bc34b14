"""The event shapes the authorizer answers, each recognised explicitly, each with its answer.

- HTTP API, payload 2.0 (``version`` "2.0"): the token from the ``authorization`` header, the
  route from ``routeKey``; a simple response (``isAuthorized``, ``context``).
- REST API TOKEN (``type`` "TOKEN" with a ``methodArn``): the token is ``authorizationToken``.
- REST API REQUEST, and HTTP API payload 1.0 (``type`` "REQUEST" with a ``methodArn``, no
  ``version`` or "1.0"): the token from the headers.
  Both REST shapes answer with an IAM policy; the policy's rules live here, with them.

Anything else is none of ours: ``UNSUPPORTED`` answers ``{"isAuthorized": false}`` and the
decision line says ``unsupported_event``. Nothing is guessed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

from jwt_authorizer.policy import Grant, Policy
from jwt_authorizer.reasons import Reason
from jwt_authorizer.verifier import TokenRejected

_BEARER = re.compile(r"(?i)bearer(?:[ \t]+|$)")


def bearer_token(header_value: object) -> str:
    """The token in an Authorization header value: bare, or after a case-insensitive ``Bearer``."""
    # HTTP trims only spaces and tabs around a value (RFC 9110 OWS), not Unicode whitespace.
    value = header_value.strip(" \t") if isinstance(header_value, str) else ""
    if not value:
        raise TokenRejected(Reason.MISSING_TOKEN)
    match = _BEARER.match(value)
    if match:
        value = value[match.end() :]
    elif " " in value or "\t" in value:
        # Another scheme ("Basic ...", "Token ..."): never try to read it as a JWT.
        raise TokenRejected(Reason.UNSUPPORTED_SCHEME)
    if not value:
        raise TokenRejected(Reason.MISSING_TOKEN)
    return value


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


class Decision:
    """An answer and why: what the adapter writes back, and what the decision line logs.

    ``grant`` is set once the token verified (even when a route rule then refused it);
    ``log`` holds the line's fields beyond decision and reason.
    """

    __slots__ = ("grant", "log", "reason")

    def __init__(self, reason: Reason, grant: Grant | None = None, log: dict[str, Any] | None = None) -> None:
        self.reason = reason
        self.grant = grant
        self.log = log if log is not None else {}

    @property
    def allowed(self) -> bool:
        return self.reason is Reason.OK


# (the Authorization value, route key, the URL the request came to) -> the decision for that route.
Decide = Callable[[str | None, object, str | None], Decision]


class EventShape(NamedTuple):
    """One event shape: does an event have it, how is it answered, and its deny when all else fails."""

    name: str
    recognises: Callable[[dict[str, Any]], bool]
    answer: Callable[[dict[str, Any], Decide, Policy], tuple[dict[str, Any], Decision]]
    deny: Callable[[dict[str, Any]], dict[str, Any]]


# ---------------------------------------------------------------------------- HTTP API 2.0
def _http_api(event: dict[str, Any], decide: Decide, policy: Policy) -> tuple[dict[str, Any], Decision]:
    route_key = event.get("routeKey")
    # Only a resource route needs the URL (RFC 8707 audience); no other request pays for it.
    resource = request_url(event, "rawPath") if route_key in policy.resources else None
    decision = decide(header(event.get("headers"), "authorization"), route_key, resource)
    if decision.allowed and decision.grant is not None:
        return {"isAuthorized": True, "context": decision.grant.context}, decision
    return {"isAuthorized": False}, decision


def request_url(event: dict[str, Any], path_field: str) -> str | None:
    """``https://`` + the domain the request came to + its path: what a resource route's tokens name.

    API Gateway serves HTTPS only, and sets ``domainName`` to its own or the custom domain the
    request used. ``path_field``: ``rawPath`` (HTTP API), or ``path`` in the REST request
    context (with the stage, as the client sees it).
    """
    context = event.get("requestContext")
    if not isinstance(context, dict):
        return None
    domain = context.get("domainName")
    path = event.get(path_field) if path_field == "rawPath" else context.get(path_field)
    if not isinstance(domain, str) or not domain or not isinstance(path, str) or not path.startswith("/"):
        return None
    return f"https://{domain}{path}"


def _http_api_deny(event: dict[str, Any]) -> dict[str, Any]:
    return {"isAuthorized": False}


HTTP_API = EventShape("HTTP API payload 2.0", lambda event: event.get("version") == "2.0", _http_api, _http_api_deny)


# ---------------------------------------------------------------------------- REST 1.0
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


def rest_policy(
    grant: Grant, policy: Policy, request: RestRequest, resource: str | None = None
) -> tuple[list[dict[str, Any]], bool]:
    """IAM statements for a verified token, and whether they allow anything at all.

    API Gateway may cache the policy per token and reuse it for other methods and paths, so
    every statement must be right for every request it covers, not only for this one:

    - Route keys that are all one method and one exact path (``Policy.literal``): allow the
      stage when the default rule holds and deny each route whose own rule fails; else allow
      exactly the routes whose own rule holds. Each ARN names one route, so the cached policy
      answers every request as a fresh call would.
    - Any ``{param}``, ``{proxy+}`` or ``ANY`` key, or a resource route whose URL is the
      request's: IAM's ``*`` matches across ``/`` and any method, so no pattern can name such a
      route alone. The answer is for this request's own method and path only (its route chosen
      as API Gateway chooses). A cached copy then covers nothing else: another path gets 403
      until the authorizer is asked for it, which it is when the identity sources include the
      method and path, or with the cache off (docs/security.md).

    ``resource``: the URL this request came to (for a resource route that takes it from there).
    """
    stage_wide = f"{request.stage}/*"
    if grant.refused is not None:  # a required claim fails: no route is open to this token
        return [_statement("Deny", [stage_wide])], False
    if not policy.literal:
        allowed = policy.refusal(grant, policy.route_for(request.method, request.path), resource) is None
        return [_statement("Allow" if allowed else "Deny", [request.arn])], allowed
    passing: list[str] = []
    failing: list[str] = []
    for route_key in dict.fromkeys([*policy.scopes.routes, *policy.resources]):
        method, _, path = route_key.partition(" ")
        if path:  # $default is an HTTP API route: no REST request reaches it
            arn = f"{request.stage}/{method}{path}"
            (passing if policy.refusal(grant, route_key) is None else failing).append(arn)
    if policy.refusal(grant) is None:
        statements = [_statement("Allow", [stage_wide])]
        if failing:
            statements.append(_statement("Deny", failing))
        return statements, True
    if passing:
        return [_statement("Allow", passing)], True
    return [_statement("Deny", [stage_wide])], False


def _statement(effect: str, resources: list[str]) -> dict[str, Any]:
    return {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resources}


def _rest(event: dict[str, Any], decide: Decide, policy: Policy) -> tuple[dict[str, Any], Decision]:
    """The REST answer: an IAM policy, principal and context; and the decision for this request.

    The decision logged is this request's: a policy may allow other routes and not this one.
    """
    if event.get("type") == "TOKEN":
        authorization = event.get("authorizationToken")
    else:
        authorization = header(event.get("headers"), "authorization")
    request = rest_request(event.get("methodArn"))
    # Authenticated only; the policy below says which routes are open.
    decision = decide(authorization, None, None)
    grant = decision.grant
    if grant is None:  # the token itself was refused
        statements, allows = [_statement("Deny", [f"{request.stage}/*" if request else "*"])], False
    elif request is None:
        statements, allows = [_statement("Deny", ["*"])], False
        decision = Decision(Reason.BAD_METHOD_ARN, grant, decision.log)
    else:
        route_key = policy.route_for(request.method, request.path)
        resource = request_url(event, "path") if route_key in policy.resources else None
        statements, allows = rest_policy(grant, policy, request, resource)
        decision = Decision(policy.refusal(grant, route_key, resource) or Reason.OK, grant, decision.log)
    response = {
        "principalId": (grant.context["sub"] if allows and grant is not None else "") or "anonymous",
        "policyDocument": {"Version": "2012-10-17", "Statement": statements},
        # The context goes with any allow: a cached policy may admit other routes with it.
        "context": grant.context if allows and grant is not None else {},
    }
    return response, decision


def _rest_deny(event: dict[str, Any]) -> dict[str, Any]:
    request = rest_request(event.get("methodArn"))
    return {
        "principalId": "anonymous",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [_statement("Deny", [f"{request.stage}/*" if request else "*"])],
        },
        "context": {},
    }


REST_TOKEN = EventShape(
    "REST API TOKEN", lambda event: event.get("type") == "TOKEN" and "methodArn" in event, _rest, _rest_deny
)
REST_REQUEST = EventShape(
    "REST API REQUEST (and HTTP API payload 1.0)",
    lambda event: event.get("type") == "REQUEST" and "methodArn" in event and event.get("version", "1.0") == "1.0",
    _rest,
    _rest_deny,
)
SHAPES = (HTTP_API, REST_TOKEN, REST_REQUEST)


def _unsupported(event: dict[str, Any], decide: Decide, policy: Policy) -> tuple[dict[str, Any], Decision]:
    return {"isAuthorized": False}, Decision(Reason.UNSUPPORTED_EVENT)


# Not an API Gateway shape we know: the simple deny, the one answer that allows nothing anywhere.
UNSUPPORTED = EventShape("unsupported", lambda event: True, _unsupported, _http_api_deny)


def shape_of(event: object) -> EventShape:
    """The shape ``event`` has, or ``UNSUPPORTED``."""
    if isinstance(event, dict):
        for shape in SHAPES:
            if shape.recognises(event):
                return shape
    return UNSUPPORTED
