"""Route-specific scope rules (ROUTE_SCOPES): one token, different answers per route.

HTTP APIs get the answer for the event's routeKey; REST APIs get one policy that must give
every route the answer a fresh call would, because API Gateway caches it per token.
"""

from __future__ import annotations

import json
import re

import pytest

from devloop.issuer import DevIssuer
from jwt_core import ScopeRules
from tests.support import decision_lines, load_event

RULES = {"GET /admin": ["admin"], "ANY /items/{id}": ["items:read", "items:write"]}
STAGE = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod"


def http_event(token: str, route_key: str) -> dict:
    event = load_event("authorizer-v2-valid.json", token=token)
    event["routeKey"] = route_key
    return event


@pytest.mark.parametrize(
    ("scopes", "expected"),
    [
        (["read:test"], {"GET /lambda/test": True, "GET /admin": False, "ANY /items/{id}": False}),
        (["admin"], {"GET /lambda/test": False, "GET /admin": True, "ANY /items/{id}": False}),
        (["read:test", "items:write"], {"GET /lambda/test": True, "GET /admin": False, "ANY /items/{id}": True}),
    ],
)
def test_http_api_answers_per_route_key(load_authorizer, issuer: DevIssuer, lambda_context, scopes, expected):
    app = load_authorizer(REQUIRED_SCOPES="read:test", ROUTE_SCOPES=json.dumps(RULES))
    token = issuer.mint(scopes=scopes)
    answers = {rk: app.lambda_handler(http_event(token, rk), lambda_context)["isAuthorized"] for rk in expected}
    assert answers == expected


def test_an_event_without_a_route_key_gets_the_default_rule(load_authorizer, issuer: DevIssuer, lambda_context):
    app = load_authorizer(REQUIRED_SCOPES="read:test", ROUTE_SCOPES=json.dumps(RULES))
    event = http_event(issuer.mint(scopes=["admin"]), "GET /admin")
    del event["routeKey"]
    assert app.lambda_handler(event, lambda_context) == {"isAuthorized": False}


def iam_allows(statements: list[dict], resource: str) -> bool:
    """IAM evaluation for execute-api:Invoke: an explicit deny wins, then any allow."""

    def matches(pattern: str) -> bool:
        return re.fullmatch(".*".join(re.escape(part) for part in pattern.split("*")), resource) is not None

    effects = {s["Effect"] for s in statements if any(matches(r) for r in s["Resource"])}
    return "Allow" in effects and "Deny" not in effects


@pytest.mark.parametrize("scopes", [["read:test"], ["admin"], ["items:read"], ["read:test", "admin"], ["other"], []])
def test_one_cached_rest_policy_answers_every_route_like_a_fresh_call(
    load_authorizer, issuer: DevIssuer, lambda_context, scopes
):
    # GIVEN route rules and a REST TOKEN event for one route (the policy is cached per token)
    app = load_authorizer(REQUIRED_SCOPES="read:test", ROUTE_SCOPES=json.dumps(RULES))
    token = issuer.mint(scopes=scopes)
    event = {"type": "TOKEN", "authorizationToken": f"Bearer {token}", "methodArn": f"{STAGE}/GET/lambda/test"}

    # WHEN the policy comes back
    statements = app.lambda_handler(event, lambda_context)["policyDocument"]["Statement"]

    # THEN for every method and resource it agrees with the HTTP API answer for that route
    cases = {
        f"{STAGE}/GET/lambda/test": "GET /lambda/test",
        f"{STAGE}/POST/other": "POST /other",
        f"{STAGE}/GET/admin": "GET /admin",
        f"{STAGE}/DELETE/items/42": "ANY /items/{id}",
        f"{STAGE}/GET/items/7": "ANY /items/{id}",
    }
    for resource, route_key in cases.items():
        fresh = app.lambda_handler(http_event(token, route_key), lambda_context)["isAuthorized"]
        assert iam_allows(statements, resource) is fresh, (resource, scopes)


def test_a_rest_deny_for_missing_scopes_is_logged_as_such(
    load_authorizer, issuer: DevIssuer, lambda_context, caplog: pytest.LogCaptureFixture
):
    app = load_authorizer(REQUIRED_SCOPES="read:test")
    token = issuer.mint(scopes=["x"])
    event = {"type": "TOKEN", "authorizationToken": f"Bearer {token}", "methodArn": f"{STAGE}/GET/a"}
    response = app.lambda_handler(event, lambda_context)
    assert response["context"] == {}
    assert [line["reason"] for line in decision_lines(caplog.records)] == ["insufficient_scope"]


@pytest.mark.parametrize(
    ("routes_json", "message"),
    [
        ("{not json", "not JSON"),
        ('["GET /a"]', "JSON object"),
        ('{"/a": ["s"]}', "is not a route key"),
        ('{"GET /a": [1]}', "list of scope strings"),
        ('{"GET /a": ["two words"]}', "list of scope strings"),
    ],
)
def test_bad_route_scopes_fail_at_cold_start_with_a_clear_message(load_authorizer, routes_json, message):
    with pytest.raises(ValueError, match=message):
        load_authorizer(ROUTE_SCOPES=routes_json)


def test_rules_are_route_specific_only_when_some_route_differs_from_the_default():
    assert not ScopeRules.from_config("a", "").route_specific
    assert not ScopeRules.from_config("a", '{"GET /x": ["a"]}').route_specific
    assert ScopeRules.from_config("a", '{"GET /x": "b c"}').route_specific
    assert ScopeRules.from_config("a", '{"GET /x": "b c"}').required("GET /x") == ("b", "c")
