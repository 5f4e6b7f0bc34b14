"""Both handlers with the sample events from events/, and with events nobody should send."""

from __future__ import annotations

import json
import re

import pytest

from devkit.local.issuer import DevIssuer
from jwt_authorizer.algorithms import VerificationKey
from jwt_authorizer.authorizer import Authorizer
from jwt_authorizer.settings import Settings
from tests.support import EVENTS, TEST_ROUTE_DIR, decision_lines, load_event, load_function

TEST_ROUTE = load_function(TEST_ROUTE_DIR)


def test_valid_event_with_a_fresh_token_is_allowed_with_a_context_that_holds_no_token(
    load_authorizer, issuer: DevIssuer, lambda_context
):
    # GIVEN the sample v2 REQUEST event, carrying a token minted now
    app = load_authorizer()
    token = issuer.mint(scopes=["read:test"], client_id="cli-123")
    event = load_event("authorizer-v2-valid.json", token=token)

    # WHEN the authorizer answers
    response = app.handle(event)

    # THEN it is a simple response carrying what a handler needs, and never the token
    assert response == {
        "isAuthorized": True,
        "context": {"sub": "dev-client@clients", "scope": "read:test", "clientId": "cli-123"},
    }
    assert token not in json.dumps(response)


@pytest.mark.parametrize("name", ["authorizer-v2-missing-header.json", "authorizer-v2-malformed.json"])
def test_bad_sample_events_are_denied(load_authorizer, lambda_context, name):
    assert load_authorizer().handle(load_event(name)) == {"isAuthorized": False}


def test_the_committed_valid_event_holds_a_placeholder_not_a_token(load_authorizer, lambda_context):
    event = load_event("authorizer-v2-valid.json")
    assert event["headers"]["authorization"] == "Bearer __DEV_TOKEN__"
    assert load_authorizer().handle(event) == {"isAuthorized": False}


def test_required_scope_is_enforced(load_authorizer, issuer: DevIssuer, lambda_context):
    app = load_authorizer(REQUIRED_SCOPES="read:test")
    allowed = load_event("authorizer-v2-valid.json", token=issuer.mint(scopes=["read:test"]))
    denied = load_event("authorizer-v2-valid.json", token=issuer.mint(scopes=["write:test"]))
    assert app.handle(allowed)["isAuthorized"] is True
    assert app.handle(denied)["isAuthorized"] is False


@pytest.mark.parametrize(
    "event",
    [
        None,
        [],
        "text",
        {},
        {"headers": None},
        {"headers": []},
        {"headers": {"authorization": 7}},
        {"headers": {"Authorization": ["Bearer", "x"]}},
        {"headers": {1: "Bearer x"}},
    ],
)
def test_hostile_event_shapes_are_denied_not_raised(load_authorizer, lambda_context, event):
    assert load_authorizer().handle(event) == {"isAuthorized": False}


def test_header_name_is_case_insensitive(load_authorizer, issuer: DevIssuer, lambda_context):
    event = load_event("authorizer-v2-valid.json")
    event["headers"] = {"AUTHORIZATION": f"Bearer {issuer.mint()}"}
    assert load_authorizer().handle(event)["isAuthorized"] is True


class ExplodingKeys:
    """A key source that fails in a way no code path expects."""

    algorithms = frozenset({"RS256"})
    requires_kid = True

    def key_for(self, kid: str | None) -> VerificationKey:
        raise MemoryError("simulated")


@pytest.mark.parametrize(
    ("name", "answer"),
    [
        ("authorizer-v2-valid.json", {"isAuthorized": False}),
        (
            "authorizer-v1-token.json",
            {
                "principalId": "anonymous",
                "policyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Action": "execute-api:Invoke",
                            "Effect": "Deny",
                            "Resource": ["arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/*"],
                        }
                    ],
                },
                "context": {},
            },
        ),
    ],
)
def test_an_unexpected_failure_is_a_logged_deny_in_the_events_own_format(issuer: DevIssuer, caplog, name, answer):
    settings = Settings.parse({"ISSUER": issuer.issuer, "AUDIENCE": "https://api.example.com"})
    app = Authorizer(settings, keys={issuer.issuer: ExplodingKeys()})
    response = app.handle(load_event(name, token=issuer.mint()))
    assert response == answer
    assert decision_lines(caplog.records)[-1] == {
        "decision": "deny",
        "reason": "internal_error",
        "error": "MemoryError",
    }


def test_missing_configuration_fails_at_cold_start_with_a_clear_message(load_authorizer):
    with pytest.raises(ValueError, match="ISSUER is required"):
        load_authorizer(ISSUER="")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"JWKS_COOLDOWN_SECONDS": "nan"}, "JWKS_COOLDOWN_SECONDS must be a number of seconds, 0 or more"),
        ({"JWKS_COOLDOWN_SECONDS": "-5"}, "JWKS_COOLDOWN_SECONDS must be a number of seconds, 0 or more"),
        ({"JWKS_COOLDOWN_SECONDS": "inf"}, "JWKS_COOLDOWN_SECONDS must be a number of seconds, 0 or more"),
        ({"VERIFIED_CACHE_SIZE": "1e3"}, "VERIFIED_CACHE_SIZE must be a whole number, 0 or more"),
        ({"ROUTE_SCOPES": '{"GET /a": ["admin"], "GET /a": []}'}, "ROUTE_SCOPES gives 'GET /a' twice"),
        ({"REQUIRED_CLAIMS": '{"org_id": ["a"], "org_id": ["b"]}'}, "REQUIRED_CLAIMS gives 'org_id' twice"),
        ({"ROUTE_SCOPES": '{"GET /a*": ["admin"]}'}, "is not a route key"),
        ({"ROUTE_SCOPES": '{"GET /a": ["r\\u00e9ad"]}'}, "RFC 6749 scope-token"),
        ({"REQUIRED_SCOPES": 'read:"x"'}, "not an RFC 6749 scope-token"),
        # A URL from the request would vary with the path under one route key (the cache key).
        ({"RESOURCE_ROUTES": '{"POST /mcp/{tenant}": ""}'}, "covers more than one path or method"),
        ({"RESOURCE_ROUTES": '{"ANY /mcp": ""}'}, "covers more than one path or method"),
        ({"RESOURCE_ROUTES": '{"POST /mcp": "https://x.example/mcp?a=1"}'}, "without query or fragment"),
        ({"RESOURCE_ROUTES": '{"POST /mcp": "", "POST /mcp": "https://x.example/mcp"}'}, "gives 'POST /mcp' twice"),
        ({"RESOURCE_ROUTES": '{"$default": ""}'}, "is not a route key"),
    ],
)
def test_settings_that_would_weaken_a_rule_fail_at_cold_start(load_authorizer, settings, message):
    # A duplicated route with [] would silently drop the stricter rule above it; a NaN cooldown
    # compares false with everything, so an unknown kid would refetch on every request.
    with pytest.raises((RuntimeError, ValueError), match=re.escape(message)):
        load_authorizer(**settings)


@pytest.mark.parametrize(
    ("name", "authorizer", "subject", "scopes"),
    [
        ("test-route-jwt.json", "jwt", "Xy7Kd0example@clients", ["read:test"]),
        ("test-route-lambda.json", "lambda", "Xy7Kd0example@clients", ["read:test"]),
        ("test-route-health.json", None, None, []),
    ],
)
def test_test_route_echoes_the_caller(name, authorizer, subject, scopes, lambda_context):
    event = load_event(name)
    response = TEST_ROUTE.lambda_handler(event, lambda_context)
    assert response["statusCode"] == 200
    assert response["headers"] == {"content-type": "application/json"}
    body = json.loads(response["body"])
    assert (body["authorizer"], body["subject"], body["scopes"]) == (authorizer, subject, scopes)
    assert body["route"] == event["routeKey"]
    assert body["requestId"] == event["requestContext"]["requestId"]
    if authorizer == "jwt":
        assert body["claims"] == event["requestContext"]["authorizer"]["jwt"]["claims"]
    if authorizer == "lambda":
        assert body["context"] == event["requestContext"]["authorizer"]["lambda"]


def test_test_route_uses_the_scope_claim_when_the_route_has_no_scopes(lambda_context):
    event = load_event("test-route-jwt.json")
    event["requestContext"]["authorizer"]["jwt"]["scopes"] = None
    body = json.loads(TEST_ROUTE.lambda_handler(event, lambda_context)["body"])
    assert body["scopes"] == ["read:test"]


def test_every_event_file_is_covered_by_a_test():
    covered = {
        "authorizer-v2-valid.json",
        "authorizer-v2-missing-header.json",
        "authorizer-v2-malformed.json",
        "authorizer-v1-token.json",
        "authorizer-v1-request.json",
        "test-route-jwt.json",
        "test-route-lambda.json",
        "test-route-health.json",
        "mcp-tools-call.json",  # tests/unit/test_mcp_server.py
        "mcp-metadata.json",  # tests/unit/test_mcp_server.py
        "env.json",
    }
    assert {path.name for path in EVENTS.glob("*.json")} == covered


@pytest.mark.parametrize("name", ["authorizer-v1-token.json", "authorizer-v1-request.json"])
def test_rest_events_get_a_stage_wide_allow_policy(load_authorizer, issuer: DevIssuer, lambda_context, name):
    # GIVEN a REST API (payload 1.0) event with a fresh token
    event = load_event(name, token=issuer.mint(scopes=["read:test"]))

    # WHEN the same function answers it
    response = load_authorizer().handle(event)

    # THEN it is an IAM policy for the whole stage, safe to cache across methods and resources
    assert response == {
        "principalId": "dev-client@clients",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": "Allow",
                    "Resource": ["arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/*"],
                }
            ],
        },
        "context": {"sub": "dev-client@clients", "scope": "read:test", "clientId": "dev-client"},
    }


@pytest.mark.parametrize("name", ["authorizer-v1-token.json", "authorizer-v1-request.json"])
def test_rest_events_with_a_bad_token_get_a_deny_policy(load_authorizer, issuer: DevIssuer, lambda_context, name):
    event = load_event(name, token=issuer.mint(variant="expired"))
    response = load_authorizer().handle(event)
    assert response["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert response["context"] == {}


@pytest.mark.parametrize("method_arn", [None, "", "not-an-arn", "arn:aws:execute-api:us-east-1:1:api", 7])
def test_rest_allow_is_withheld_when_the_method_arn_is_unusable(
    load_authorizer, issuer: DevIssuer, lambda_context, method_arn
):
    event = {"type": "TOKEN", "authorizationToken": f"Bearer {issuer.mint()}", "methodArn": method_arn}
    statement = load_authorizer().handle(event)["policyDocument"]["Statement"][0]
    assert statement == {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": ["*"]}


def test_the_context_cannot_be_read_as_granting_what_the_token_was_not_given(
    load_authorizer, issuer: DevIssuer, lambda_context
):
    # GIVEN scopes whose elements hide another scope behind a tab, a space inside an array
    # element, or a no-break space: none of them is an RFC 6749 scope-token
    app = load_authorizer(SCOPE_CLAIMS="scope,scp,permissions")
    permissions = ["read:test write:admin", "delete:all\u00a0x", "list:items"]
    token = issuer.mint(scopes=["read:test\twrite:admin", "read:test"], extra_claims={"permissions": permissions})
    event = load_event("authorizer-v2-valid.json", token=token)

    # WHEN it is allowed
    context = app.handle(event)["context"]

    # THEN the space-joined values an integration reads hold the valid scopes only
    assert context["scope"].split(" ") == ["read:test", "list:items"]
    assert context["permissions"] == "list:items"
    assert not any("admin" in str(value) or "delete" in str(value) for value in context.values())
