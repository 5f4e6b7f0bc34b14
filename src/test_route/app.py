"""Test route: echoes who API Gateway says the caller is.

Works behind the built-in JWT authorizer (``requestContext.authorizer.jwt``), behind the
Lambda authorizer (``requestContext.authorizer.lambda``) and on the public route (no
authorizer block at all), so one function shows what each path hands to an integration.
"""

from __future__ import annotations

import json
from typing import Any


def describe_caller(request_context: dict[str, Any]) -> dict[str, Any]:
    """Which authorizer admitted the request, and what it said about the caller."""
    authorizer = request_context.get("authorizer") or {}
    jwt = authorizer.get("jwt")
    if isinstance(jwt, dict):
        claims = jwt.get("claims") or {}
        scopes = jwt.get("scopes")
        if not scopes:
            scopes = str(claims.get("scope", "")).split()
        return {"authorizer": "jwt", "subject": claims.get("sub"), "scopes": scopes, "claims": claims}
    lambda_context = authorizer.get("lambda")
    if isinstance(lambda_context, dict):
        return {
            "authorizer": "lambda",
            "subject": lambda_context.get("sub"),
            "scopes": str(lambda_context.get("scope", "")).split(),
            "context": lambda_context,
        }
    return {"authorizer": None, "subject": None, "scopes": []}


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request_context = event.get("requestContext") or {}
    body = {
        **describe_caller(request_context),
        "route": event.get("routeKey") or request_context.get("routeKey"),
        "requestId": request_context.get("requestId"),
    }
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body),
    }
