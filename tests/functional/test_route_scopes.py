"""Route-specific scope rules (ROUTE_SCOPES): one token, different answers per route.

HTTP APIs get the answer for the event's routeKey; REST APIs get one policy that must give
every route the answer a fresh call would, because API Gateway caches it per token.
"""

from __future__ import annotations

import json
import re

import pytest

from devkit.local.issuer import DevIssuer
from jwt_authorizer.policy import ScopeRules
from jwt_authorizer.settings import parse_route_scopes, parse_scopes
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
    answers = {rk: app.handle(http_event(token, rk))["isAuthorized"] for rk in expected}
    assert answers == expected


def test_an_event_without_a_route_key_gets_the_default_rule(load_authorizer, issuer: DevIssuer, lambda_context):
    app = load_authorizer(REQUIRED_SCOPES="read:test", ROUTE_SCOPES=json.dumps(RULES))
    event = http_event(issuer.mint(scopes=["admin"]), "GET /admin")
    del event["routeKey"]
    assert app.handle(event) == {"isAuthorized": False}


def iam_allows(statements: list[dict], resource: str) -> bool:
    """IAM evaluation for execute-api:Invoke: an explicit deny wins, then any allow.

    ``*`` matches any run of characters, ``/`` included, and ``?`` any one character.
    """

    def matches(pattern: str) -> bool:
        regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
        return re.fullmatch(regex, resource, flags=re.DOTALL) is not None

    invoke = [s for s in statements if s["Action"] == "execute-api:Invoke"]
    effects = {s["Effect"] for s in invoke if any(matches(r) for r in s["Resource"])}
    return "Allow" in effects and "Deny" not in effects


# Requests as a REST API receives them: method and path, as the methodArn carries them.
REQUESTS = [
    ("GET", "/lambda/test"),
    ("POST", "/other"),
    ("GET", "/admin"),
    ("GET", "/admin/x"),
    ("DELETE", "/items/42"),
    ("GET", "/items/7"),
    ("GET", "/items/1/secret"),
    ("GET", "/items/1/public"),
    ("GET", "/items/special"),
    ("GET", "/public"),
    ("POST", "/public"),
    ("GET", "/vip/public"),
    ("GET", "/"),
    ("PUT", "/deep/a/b/c"),
]
# Each configuration: REQUIRED_SCOPES, ROUTE_SCOPES, and the route API Gateway picks for each
# request that one of those keys covers, written out by hand (every other request: the default).
ROUTE_CONFIGS: dict[str, tuple[str, dict[str, list[str]], dict[tuple[str, str], str]]] = {
    "literal routes": (
        "read:test",
        {"GET /admin": ["admin"], "GET /items/special": ["items:read"], "POST /public": []},
        {
            ("GET", "/admin"): "GET /admin",
            ("GET", "/items/special"): "GET /items/special",
            ("POST", "/public"): "POST /public",
        },
    ),
    "a parameter (the issue's example)": (
        "premium",
        {"GET /items/{id}": ["read"]},
        {("GET", "/items/7"): "GET /items/{id}", ("GET", "/items/special"): "GET /items/{id}"},
    ),
    "ANY on a path": (
        "premium",
        {"ANY /public": ["read"]},
        {("GET", "/public"): "ANY /public", ("POST", "/public"): "ANY /public"},
    ),
    "greedy path next to an exact one": (
        "premium",
        {"ANY /{proxy+}": ["read"], "GET /admin": ["admin"]},
        {
            **{request: "ANY /{proxy+}" for request in REQUESTS if request[1] != "/"},
            ("GET", "/admin"): "GET /admin",
        },
    ),
    "overlapping keys": (
        "",
        {
            "GET /items/{id}": ["read"],
            "GET /items/{id}/secret": ["secret"],
            "GET /items/special": ["special"],
            "ANY /items/{id}": ["write"],
            "ANY /{proxy+}": ["premium"],
        },
        {
            **{request: "ANY /{proxy+}" for request in REQUESTS if request[1] != "/"},
            ("DELETE", "/items/42"): "ANY /items/{id}",
            ("GET", "/items/7"): "GET /items/{id}",
            ("GET", "/items/1/secret"): "GET /items/{id}/secret",
            ("GET", "/items/special"): "GET /items/special",
        },
    ),
}
TOKEN_SCOPES = [[], ["read"], ["premium"], ["admin"], ["read", "admin"], ["secret"], ["special"], ["write"]]
TOKEN_SCOPES += [["items:read"], ["read:test"], ["read:test", "admin"]]


def rest_event(kind: str, token: str, method: str, path: str) -> dict:
    method_arn = f"{STAGE}/{method}{path}"
    if kind == "TOKEN":
        return {"type": "TOKEN", "authorizationToken": f"Bearer {token}", "methodArn": method_arn}
    event = load_event("authorizer-v1-request.json")
    event.update(methodArn=method_arn, path=path, httpMethod=method)
    event["headers"] = {"Authorization": f"Bearer {token}"}
    return event


@pytest.mark.parametrize("kind", ["TOKEN", "REQUEST"])
@pytest.mark.parametrize("config", sorted(ROUTE_CONFIGS))
def test_rest_policies_never_allow_a_route_the_token_may_not_use(load_authorizer, issuer, lambda_context, config, kind):
    # GIVEN route rules whose keys overlap, and tokens with every mix of the scopes they name
    default, routes, picked = ROUTE_CONFIGS[config]
    app = load_authorizer(REQUIRED_SCOPES=default, ROUTE_SCOPES=json.dumps(routes))
    literal = all(not key.startswith("ANY ") and "{" not in key for key in routes)
    for scopes in TOKEN_SCOPES:
        token = issuer.mint(scopes=scopes)

        def fresh(request: tuple[str, str], scopes=scopes) -> bool:
            required = routes[picked[request]] if request in picked else default.split()
            return not required or bool(set(required) & set(scopes))

        for first in REQUESTS:
            # WHEN API Gateway asks about one request
            answer = app.handle(rest_event(kind, token, *first))
            statements = answer["policyDocument"]["Statement"]
            # THEN the policy is right for that request
            assert iam_allows(statements, f"{STAGE}/{first[0]}{first[1]}") is fresh(first), (scopes, first)
            # AND, reused from the cache for any other request, it never allows what a fresh
            # call would refuse; with exact routes only, it answers every request as a fresh call
            for other in REQUESTS:
                cached = iam_allows(statements, f"{STAGE}/{other[0]}{other[1]}")
                assert not cached or fresh(other), (scopes, first, other, statements)
                if literal:
                    assert cached is fresh(other), (scopes, first, other, statements)


@pytest.mark.parametrize(
    "method_arn",
    [
        f"{STAGE}/GET/items/*",
        f"{STAGE}/GET/a?b",
        f"{STAGE}/*/admin",
        f"{STAGE}/ANY/admin",
        f"{STAGE}/GET",
        STAGE,
        "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5",
        "not-an-arn",
        None,
    ],
)
def test_a_method_arn_that_names_no_single_request_is_denied(load_authorizer, issuer, lambda_context, method_arn):
    # An allow written for an ARN holding an IAM wildcard would cover other requests.
    app = load_authorizer()
    event = {"type": "TOKEN", "authorizationToken": f"Bearer {issuer.mint()}", "methodArn": method_arn}
    answer = app.handle(event)
    assert [s["Effect"] for s in answer["policyDocument"]["Statement"]] == ["Deny"]
    assert answer["context"] == {}


def test_a_rest_deny_for_missing_scopes_is_logged_as_such(
    load_authorizer, issuer: DevIssuer, lambda_context, caplog: pytest.LogCaptureFixture
):
    app = load_authorizer(REQUIRED_SCOPES="read:test")
    token = issuer.mint(scopes=["x"])
    event = {"type": "TOKEN", "authorizationToken": f"Bearer {token}", "methodArn": f"{STAGE}/GET/a"}
    response = app.handle(event)
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


def rules(default: str, routes: str) -> ScopeRules:
    return ScopeRules(parse_scopes(default, "REQUIRED_SCOPES"), parse_route_scopes(routes))


def test_rules_are_route_specific_only_when_some_route_differs_from_the_default():
    assert not rules("a", "").route_specific
    assert not rules("a", '{"GET /x": ["a"]}').route_specific
    assert rules("a", '{"GET /x": "b c"}').route_specific
    assert rules("a", '{"GET /x": "b c"}').required("GET /x") == ("b", "c")
