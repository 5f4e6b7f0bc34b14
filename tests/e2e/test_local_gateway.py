"""The local loop over real HTTP on 127.0.0.1: dev issuer + gateway built from template.yaml."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from devkit.local.serve import LocalStack
from tests.e2e.conftest import http, start_stack
from tests.support import ROOT, FakeClock, template_variant

PROTECTED = ["/test", "/lambda/test"]


@pytest.mark.parametrize("path", PROTECTED)
def test_valid_token_is_admitted_and_the_handler_sees_who_called(stack: LocalStack, path):
    token = stack.dev_issuer.mint(scopes=["read:test"], client_id="cli-1")
    reply = http(stack.api_url + path, token)
    assert reply.status == 200
    body = reply.json()
    assert body["subject"] == "dev-client@clients"
    assert body["scopes"] == ["read:test"]
    assert body["route"] == f"GET {path}"
    if path == "/test":
        assert body["authorizer"] == "jwt"
        assert body["claims"]["iss"] == stack.dev_issuer.issuer
        assert body["claims"]["aud"] == "[https://api.example.com]"
        assert body["claims"]["azp"] == "cli-1"
    else:
        assert body["authorizer"] == "lambda"
        assert body["context"] == {"sub": "dev-client@clients", "scope": "read:test", "clientId": "cli-1"}


@pytest.mark.parametrize("path", PROTECTED)
def test_no_token_is_401_on_both(stack: LocalStack, path):
    reply = http(stack.api_url + path)
    assert (reply.status, reply.json()) == (401, {"message": "Unauthorized"})


@pytest.mark.parametrize("variant", ["bad_signature", "expired", "wrong_audience", "foreign_key", "unknown_kid"])
def test_bad_tokens_are_401_on_the_jwt_route_and_403_on_the_lambda_route(stack: LocalStack, variant):
    token = stack.dev_issuer.mint(variant=variant)
    jwt_reply = http(stack.api_url + "/test", token)
    assert (jwt_reply.status, jwt_reply.json()) == (401, {"message": "Unauthorized"})
    assert 'error="invalid_token"' in jwt_reply.headers["www-authenticate"]
    lambda_reply = http(stack.api_url + "/lambda/test", token)
    assert (lambda_reply.status, lambda_reply.json()) == (403, {"message": "Forbidden"})


def test_health_is_public(stack: LocalStack):
    reply = http(stack.api_url + "/health")
    assert reply.status == 200
    assert reply.json()["authorizer"] is None


@pytest.mark.parametrize(("method", "path"), [("GET", "/nope"), ("POST", "/test"), ("GET", "/test/extra")])
def test_unknown_route_is_404(stack: LocalStack, method, path):
    reply = http(stack.api_url + path, method=method)
    assert (reply.status, reply.json()) == (404, {"message": "Not Found"})


def test_each_request_gets_its_own_request_id(stack: LocalStack):
    ids = {http(stack.api_url + "/health").json()["requestId"] for _ in range(5)}
    assert len(ids) == 5


def test_lambda_authorizer_answers_are_cached_per_token_for_the_templates_ttl(stack: LocalStack, clock: FakeClock):
    pool = stack.api_server.gateway.functions.pools["AuthorizerFunction"]
    token, other = stack.dev_issuer.mint(), stack.dev_issuer.mint(subject="other@clients")
    before = pool.invocations
    for _ in range(3):
        assert http(stack.api_url + "/lambda/test", token).status == 200
    assert pool.invocations == before + 1
    assert http(stack.api_url + "/lambda/test", other).status == 200
    assert pool.invocations == before + 2
    clock.now += 299
    assert http(stack.api_url + "/lambda/test", token).status == 200
    assert pool.invocations == before + 2
    clock.now += 2  # past AuthorizerCacheTtl's default of 300 s
    assert http(stack.api_url + "/lambda/test", token).status == 200
    assert pool.invocations == before + 3


def test_denies_are_cached_too(stack: LocalStack):
    pool = stack.api_server.gateway.functions.pools["AuthorizerFunction"]
    bad = stack.dev_issuer.mint(variant="bad_signature")
    before = pool.invocations
    assert [http(stack.api_url + "/lambda/test", bad).status for _ in range(3)] == [403, 403, 403]
    assert pool.invocations == before + 1


def test_cache_ttl_zero_invokes_every_time():
    local = start_stack(AuthorizerCacheTtl="0")
    try:
        pool = local.api_server.gateway.functions.pools["AuthorizerFunction"]
        token = local.dev_issuer.mint()
        for _ in range(3):
            assert http(local.api_url + "/lambda/test", token).status == 200
        assert pool.invocations == 3
    finally:
        local.close()


def test_required_scope_is_enforced_by_both_authorizers():
    local = start_stack(RequiredScope="read:test")
    try:
        good = local.dev_issuer.mint(scopes=["read:test", "write:test"])
        poor = local.dev_issuer.mint(scopes=["write:test"])
        assert http(local.api_url + "/test", good).status == 200
        assert http(local.api_url + "/lambda/test", good).status == 200
        denied = http(local.api_url + "/test", poor)
        assert (denied.status, denied.json()) == (403, {"message": "Forbidden"})
        assert 'error="insufficient_scope"' in denied.headers["www-authenticate"]
        assert http(local.api_url + "/lambda/test", poor).status == 403
        assert http(local.api_url + "/test", good).json()["scopes"] == ["read:test", "write:test"]
    finally:
        local.close()


def _admin_route() -> tuple[str, str]:
    """A copy of the template's /lambda/test path item, as /lambda/admin, before /health."""
    text = (ROOT / "template.yaml").read_text()
    item = text[text.index("          /lambda/test:\n") : text.index("          /health:\n")]
    return "          /health:\n", item.replace("/lambda/test:", "/lambda/admin:") + "          /health:\n"


ADMIN_ROUTE = _admin_route()
ADMIN_RULE = ('ROUTE_SCOPES: ""', """ROUTE_SCOPES: '{"GET /lambda/admin": ["admin"]}'""")
NO_ROUTE_IN_KEY = ("              Context: [routeKey, domainName]\n", "              Context: [domainName]\n")


@pytest.mark.parametrize("cache_key_has_route", [True, False])
def test_a_cached_allow_for_one_route_opens_another_only_without_the_route_in_the_key(tmp_path, cache_key_has_route):
    # GIVEN a second Lambda-authorized route that needs the "admin" scope
    edits = [ADMIN_ROUTE, ADMIN_RULE] + ([] if cache_key_has_route else [NO_ROUTE_IN_KEY])
    local = LocalStack(template_variant(tmp_path, *edits), clock=FakeClock()).start()
    try:
        token = local.dev_issuer.mint(scopes=["read:test"])
        admin = local.dev_issuer.mint(scopes=["admin"])

        # WHEN a token without "admin" is first allowed on /lambda/test, then tries /lambda/admin
        assert http(local.api_url + "/lambda/test", token).status == 200
        status = http(local.api_url + "/lambda/admin", token).status

        # THEN with the route in the cache key it is refused; without it, the cached allow
        # opens the admin route (the pitfall the template's identity source prevents)
        assert status == (403 if cache_key_has_route else 200)
        assert http(local.api_url + "/lambda/admin", admin).status == 200
    finally:
        local.close()


def test_tokens_over_http_from_the_issuers_client_credentials_endpoint(stack: LocalStack):
    env = dict(os.environ)
    port = stack.issuer_servers[0].port
    result = subprocess.run(
        ["make", "-s", "token", f"ISSUER_PORT={port}", "SCOPES=read:test write:test"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=True,
    )
    token = result.stdout.strip().splitlines()[-1]
    body = http(stack.api_url + "/test", token).json()
    assert body["scopes"] == ["read:test", "write:test"]


def _serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devkit.local", "serve", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def test_busy_port_is_one_clear_line(stack: LocalStack):
    result = _serve("--api-port", "0", "--issuer-port", str(stack.issuer_servers[0].port))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: port {stack.issuer_servers[0].port} on 127.0.0.1 is busy; choose another with ISSUER_PORT=..."
    ]


def test_a_malformed_template_parameter_is_one_clear_line():
    # What make local PARAMS=RequiredScope passes on.
    result = _serve("--api-port", "0", "--issuer-port", "0", "--parameters", "RequiredScope")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: PARAMS: 'RequiredScope' is not a Name=Value pair; "
        "give Name=Value pairs separated by spaces, quoting a value that holds spaces: Name='a b'"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Resources: [unclosed", "is not valid YAML"),
        ("Description: no resources\n", "has no Resources section"),
        (
            "Transform: AWS::Serverless-2016-10-31\nResources:\n  F:\n    Type: AWS::Serverless::Function\n"
            "    Properties: {Handler: app.h, Runtime: python3.13}\n",
            "does not translate",
        ),
    ],
)
def test_broken_template_is_one_clear_line(tmp_path, text, expected):
    broken = tmp_path / "template.yaml"
    broken.write_text(text)
    result = _serve("--template", str(broken), "--api-port", "0", "--issuer-port", "0")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], result.stderr


PREFLIGHT = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"}


@pytest.fixture(scope="module")
def cors_stack() -> Iterator[LocalStack]:
    local = start_stack(CorsAllowedOrigins="https://app.example.com,http://localhost:5173")
    yield local
    local.close()


@pytest.mark.parametrize("path", PROTECTED)
def test_preflight_is_answered_by_the_gateway_without_reaching_an_authorizer(cors_stack: LocalStack, path):
    pool = cors_stack.api_server.gateway.functions.pools["AuthorizerFunction"]
    before = pool.invocations
    reply = http(cors_stack.api_url + path, method="OPTIONS", headers=PREFLIGHT)
    assert reply.status == 204
    assert reply.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "GET" in reply.headers["access-control-allow-methods"].split(",")
    assert "authorization" in reply.headers["access-control-allow-headers"].split(",")
    assert reply.headers["access-control-max-age"] == "600"
    assert pool.invocations == before


def test_a_preflight_from_another_origin_gets_no_cors_headers(cors_stack: LocalStack):
    reply = http(
        cors_stack.api_url + "/test", method="OPTIONS", headers={**PREFLIGHT, "Origin": "https://evil.example"}
    )
    assert reply.status == 204
    assert not [h for h in reply.headers if h.startswith("access-control-")]


@pytest.mark.parametrize("path", PROTECTED)
def test_an_allowed_origin_gets_the_header_on_real_responses_too(cors_stack: LocalStack, path):
    token = cors_stack.dev_issuer.mint()
    reply = http(cors_stack.api_url + path, token, headers={"Origin": "http://localhost:5173"})
    assert (reply.status, reply.headers["access-control-allow-origin"]) == (200, "http://localhost:5173")
    denied = http(cors_stack.api_url + path, headers={"Origin": "http://localhost:5173"})
    assert (denied.status, denied.headers["access-control-allow-origin"]) == (401, "http://localhost:5173")


def test_without_origins_cors_is_off_and_options_is_not_a_route(stack: LocalStack):
    reply = http(stack.api_url + "/lambda/test", method="OPTIONS", headers=PREFLIGHT)
    assert (reply.status, reply.json()) == (404, {"message": "Not Found"})
    ok = http(stack.api_url + "/health", headers={"Origin": "https://app.example.com"})
    assert not [h for h in ok.headers if h.startswith("access-control-")]


def test_an_any_route_with_an_authorizer_swallows_preflights(tmp_path):
    # The pitfall lint rule E9102 exists for: an ANY route takes OPTIONS, so the authorizer sees it.
    lambda_route = "              security:\n                - LambdaAuthorizer: []"
    route = "          /lambda/test:\n"
    edits = [
        (
            f"{route}            get:\n{lambda_route}",
            f"{route}            x-amazon-apigateway-any-method:\n{lambda_route}",
        )
    ]
    local = LocalStack(
        template_variant(tmp_path, *edits),
        clock=FakeClock(),
        parameters={"CorsAllowedOrigins": "https://app.example.com"},
    ).start()
    try:
        reply = http(local.api_url + "/lambda/test", method="OPTIONS", headers=PREFLIGHT)
        assert reply.status == 401
    finally:
        local.close()


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            "Issuer=http://x",
            "error: parameter Issuer: 'http://x' does not match the allowed pattern; must be an https://",
        ),
        (
            "Nope=1",
            "error: unknown parameter 'Nope' (template.yaml has: AdditionalIssuers, AlarmEmail, AlarmTopicArn,",
        ),
        ("AuthorizerCacheTtl=99999", "error: parameter AuthorizerCacheTtl: '99999' does not match the allowed pattern"),
        (
            "AuthorizerCacheTtl=1.5",
            "error: parameter AuthorizerCacheTtl: '1.5' does not match the allowed pattern; must",
        ),
        (
            "RequiredScope=read test",
            "error: PARAMS: 'test' is not a Name=Value pair, and sam deploy would drop it; "
            "quote the whole value: RequiredScope='read test'",
        ),
        (
            "CorsAllowedOrigins='https://a.example/path'",
            "error: parameter CorsAllowedOrigins: 'https://a.example/path'",
        ),
        (
            """RequiredClaims='{"org_id": "org_abc"}'""",
            "error: parameter RequiredClaims: REQUIRED_CLAIMS['org_id'] must be a non-empty list of strings",
        ),
    ],
)
def test_make_local_checks_its_parameters_as_a_deploy_would(params, expected):
    result = _serve("--api-port", "0", "--issuer-port", "0", "--parameters", params)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(expected), line


@pytest.fixture(scope="module")
def rules_stack() -> Iterator[LocalStack]:
    """make local ISSUERS=2 PARAMS='ScopeClaims=... RequiredClaims=... RequiredScope=read:test'."""
    local = LocalStack(
        ROOT / "template.yaml",
        clock=FakeClock(),
        issuers=2,
        parameters={
            "ScopeClaims": "scope,scp,permissions",
            "RequiredClaims": '{"org_id": ["org_abc123"]}',
            "RequiredScope": "read:test",
        },
    ).start()
    yield local
    local.close()


def make_token(local: LocalStack, *args: str) -> str:
    """What a user types: make -s token ..., against the dev issuer's token endpoint."""
    env = dict(os.environ)
    port = local.issuer_servers[0].port
    result = subprocess.run(
        ["make", "-s", "token", f"ISSUER_PORT={port}", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("args", "lambda_status", "jwt_status"),
    [
        (["ORG_ID=org_abc123"], 200, 200),
        (["ORG_ID=org_zzz"], 403, 200),
        ([], 403, 200),
        (["SCOPES=", "PERMISSIONS=read:test", "ORG_ID=org_abc123"], 200, 403),
        (["SCOPES=", "PERMISSIONS=write:test", "ORG_ID=org_abc123"], 403, 403),
        (["ISSUER_INDEX=2", "ORG_ID=org_abc123"], 200, 401),
        (["ISSUER_INDEX=2", "ORG_ID=org_abc123", "VARIANT=foreign_key"], 403, 401),
    ],
    ids=["org", "other-org", "no-org", "permissions", "wrong-permission", "second-issuer", "second-foreign-key"],
)
def test_every_opt_in_rule_with_curl_like_requests(rules_stack: LocalStack, args, lambda_status, jwt_status):
    # The built-in emulation knows none of the rules: one issuer, scope/scp only, no required claims.
    value = make_token(rules_stack, *args)
    assert http(rules_stack.api_url + "/lambda/test", value).status == lambda_status
    assert http(rules_stack.api_url + "/test", value).status == jwt_status


def test_the_second_issuers_context_reaches_the_integration(rules_stack: LocalStack):
    value = make_token(rules_stack, "ISSUER_INDEX=2", "ORG_ID=org_abc123", "PERMISSIONS=read:test write:test")
    context = http(rules_stack.api_url + "/lambda/test", value).json()["context"]
    assert (context["orgId"], context["permissions"]) == ("org_abc123", "read:test write:test")


def test_the_dev_issuer_counts_the_paths_it_serves_and_no_others(stack: LocalStack):
    server = stack.issuer_servers[0]
    before = server.requests["/.well-known/jwks.json"]
    for n in range(50):
        assert http(f"{stack.dev_issuer.issuer}nope/{n}").status == 404
    assert http(stack.dev_issuer.jwks_uri).status == 200
    assert not [path for path in server.requests if "nope" in path]
    assert server.requests["/.well-known/jwks.json"] == before + 1


@pytest.mark.parametrize("body", [b"[" * 60_000, b'{"a":' * 12_000], ids=["arrays", "objects"])
def test_a_token_request_nested_past_the_json_parsers_limit_is_400(stack: LocalStack, body: bytes):
    # The body limit (64 KB) lets through JSON nested far deeper than json.loads recurses.
    reply = http(f"{stack.dev_issuer.issuer}oauth/token", method="POST", body=body)
    assert (reply.status, reply.json()["error"]) == (400, "invalid_request")


def test_a_payload_1_0_route_is_refused_at_start_in_one_line(tmp_path):
    # The gateway builds payload 2.0 events only: it refuses to serve a 1.0 route the wrong shape.
    health = (
        "          /health:\n            get:\n"
        "              # Public on purpose, and said so: lint refuses an operation with no security (E9105).\n"
        "              security: []\n              x-amazon-apigateway-integration:\n"
        '                type: aws_proxy\n                httpMethod: POST\n                payloadFormatVersion: "2.0"'
    )
    template = template_variant(tmp_path, (health, health.replace('"2.0"', '"1.0"')))
    result = _serve("--template", str(template), "--api-port", "0", "--issuer-port", "0")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: GET /health: payloadFormatVersion 1.0 is not emulated by make local (2.0 only); "
        "use 2.0, or sam local start-api for this route"
    ]


def test_issuer_index_2_without_a_second_issuer_is_one_line_saying_to_start_it(stack: LocalStack):
    # The running stack has one dev issuer: its token endpoint for tenant2/ is not there.
    port = stack.issuer_servers[0].port
    result = subprocess.run(
        ["make", "-s", "token", f"ISSUER_PORT={port}", "ISSUER_INDEX=2"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    ours = [line for line in result.stderr.splitlines() if not line.startswith("make: ***")]
    assert (result.returncode != 0, result.stdout) == (True, "")
    assert ours == ["error: ISSUER_INDEX=2 needs the second dev issuer: start make local with ISSUERS=2"]


def test_make_token_mints_for_the_audience_the_running_stack_accepts():
    # PARAMS="Audience=..." changes what the stack accepts; make token without AUDIENCE follows it.
    local = start_stack(Audience="https://orders.example.com")
    try:
        value = make_token(local)
        assert http(local.api_url + "/test", value).status == 200
        assert http(local.api_url + "/lambda/test", value).status == 200
    finally:
        local.close()


def test_the_session_tally_counts_what_the_dashboard_counts(tmp_path):
    # GIVEN a fresh stack, and requests of each kind the dashboard tells apart
    local = LocalStack(ROOT / "template.yaml", clock=FakeClock()).start()
    try:
        good, expired = local.dev_issuer.mint(), local.dev_issuer.mint(lifetime=-60)
        statuses = [
            http(local.api_url + "/lambda/test", good).status,
            http(local.api_url + "/lambda/test", expired).status,
            http(local.api_url + "/test", expired).status,
            http(local.api_url + "/test").status,
            http(local.api_url + "/health").status,
            http(local.api_url + "/nowhere").status,
        ]
        assert statuses == [200, 403, 401, 401, 200, 404]
        # The decision lines come from the worker's output: wait for the two, not for a time.
        deadline = time.monotonic() + 30
        while sum(local.tally.decisions.values()) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        local.close()

    # THEN responses by route and status class, decisions by reason, and the built-in authorizer's
    # refusal of a token it read (not the request without one), as the metric filters count them
    tally = local.tally
    assert tally.responses == {
        ("GET /lambda/test", "2xx"): 1,
        ("GET /lambda/test", "4xx"): 1,
        ("GET /test", "4xx"): 2,
        ("GET /health", "2xx"): 1,
        ("-", "4xx"): 1,
    }
    assert tally.decisions == {("allow", "ok"): 1, ("deny", "expired"): 1}
    assert tally.builtin_refusals == 1
    assert "Lambda authorizer decisions: allow ok 1, deny expired 1" in tally.summary()
