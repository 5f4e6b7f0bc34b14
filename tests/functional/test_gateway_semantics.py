"""The gateway's API Gateway semantics, with the functions replaced by a recording boundary."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from devkit.local.functions import FunctionError
from devkit.local.gateway import DOMAIN, Gateway, Request
from devkit.local.issuer import DevIssuer
from devkit.template import Api, load_api
from tests.cases import Case, build_header_value, load_cases
from tests.support import ROOT, FakeClock, template_variant

CASES = load_cases()


class RecordingFunctions:
    """Stands where Lambda would: records each event, answers what the test scripts."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.answers: dict[str, Any] = {"AuthorizerFunction": {"isAuthorized": True, "context": {"sub": "s"}}}

    def invoke(self, name: str, event: dict[str, Any]) -> Any:
        self.events.append((name, event))
        answer = self.answers.get(name, {"statusCode": 200, "body": "ok"})
        if isinstance(answer, Exception):
            raise answer
        return answer

    def close(self) -> None:
        return


@pytest.fixture(scope="module")
def api(issuer: DevIssuer) -> Api:
    return load_api(ROOT / "template.yaml", {"Issuer": issuer.issuer, "Audience": "https://api.example.com"})


@pytest.fixture
def functions() -> RecordingFunctions:
    return RecordingFunctions()


@pytest.fixture
def gateway(api: Api, functions: RecordingFunctions) -> Gateway:
    return Gateway(api, functions)  # type: ignore[arg-type]


def get(gateway: Gateway, target: str, *headers: tuple[str, str], method: str = "GET", body: bytes = b""):
    return gateway.handle(Request(method, target, list(headers), body))


def test_integration_event_is_payload_2_0(gateway: Gateway, functions: RecordingFunctions):
    get(
        gateway,
        "/health?a=1&b=2&a=3&empty=",
        ("X-Custom", "One"),
        ("x-custom", "Two"),
        ("Cookie", "c1=v1; c2=v2"),
        ("Content-Type", "application/octet-stream"),
        method="GET",
        body=b"\x00\xffbinary",
    )
    ((name, event),) = functions.events
    assert name == "TestRouteFunction"
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /health"
    assert event["rawPath"] == "/health"
    assert event["rawQueryString"] == "a=1&b=2&a=3&empty="
    assert event["queryStringParameters"] == {"a": "1,3", "b": "2", "empty": ""}
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert event["headers"]["x-custom"] == "One,Two"
    assert all(key == key.lower() for key in event["headers"])
    assert "cookie" not in event["headers"]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\x00\xffbinary"
    context = event["requestContext"]
    assert context["stage"] == "$default"
    assert context["http"]["method"] == "GET"
    assert context["timeEpoch"] > 1_700_000_000_000  # milliseconds
    assert "authorizer" not in context


def test_text_bodies_are_passed_as_text(gateway: Gateway, functions: RecordingFunctions):
    get(gateway, "/health", ("Content-Type", "application/json"), body=b'{"k": 1}')
    event = functions.events[0][1]
    assert (event["body"], event["isBase64Encoded"]) == ('{"k": 1}', False)


@pytest.mark.parametrize(
    ("answer", "status", "headers", "body"),
    [
        ({"statusCode": 201, "headers": {"X-A": "b"}, "body": "made"}, 201, {"x-a": "b"}, b"made"),
        (
            {"statusCode": 200, "body": base64.b64encode(b"\x01\x02").decode(), "isBase64Encoded": True},
            200,
            {},
            b"\x01\x02",
        ),
        ({"hello": "world"}, 200, {"content-type": "application/json"}, b'{"hello": "world"}'),
        ("just a string", 200, {"content-type": "application/json"}, b'"just a string"'),
        ({"statusCode": "200"}, 500, {}, b'{"message":"Internal Server Error"}'),
        ({"statusCode": 200, "body": {"not": "a string"}}, 500, {}, b'{"message":"Internal Server Error"}'),
        (FunctionError("ValueError: boom"), 500, {}, b'{"message":"Internal Server Error"}'),
    ],
)
def test_response_mapping(gateway: Gateway, functions: RecordingFunctions, answer, status, headers, body):
    functions.answers["TestRouteFunction"] = answer
    response = get(gateway, "/health")
    assert response.status == status
    assert response.body == body
    assert headers.items() <= dict(response.headers).items()


def test_cookies_in_the_answer_become_set_cookie_headers(gateway: Gateway, functions: RecordingFunctions):
    functions.answers["TestRouteFunction"] = {"statusCode": 200, "cookies": ["a=1", "b=2; Secure"], "body": ""}
    response = get(gateway, "/health")
    assert [v for k, v in response.headers if k == "set-cookie"] == ["a=1", "b=2; Secure"]


def test_lambda_authorizer_gets_the_v2_request_event_without_body(gateway: Gateway, functions: RecordingFunctions):
    response = get(gateway, "/lambda/test?x=1", ("Authorization", "Bearer abc"), ("X-Up", "Case"), body=b"payload")
    assert response.status == 200
    (auth_name, auth_event), (_, route_event) = functions.events
    assert auth_name == "AuthorizerFunction"
    assert auth_event["type"] == "REQUEST"
    assert auth_event["identitySource"] == [
        "Bearer abc",
        "GET /lambda/test",
        auth_event["requestContext"]["domainName"],
    ]
    assert auth_event["routeArn"].endswith(":localapi01/$default/GET/lambda/test")
    assert auth_event["headers"]["x-up"] == "Case"
    assert "body" not in auth_event
    assert route_event["requestContext"]["authorizer"] == {"lambda": {"sub": "s"}}
    assert route_event["body"] == base64.b64encode(b"payload").decode()


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        ({"isAuthorized": False}, 403),
        ({"isAuthorized": "true"}, 500),
        ({"principalId": "x"}, 500),
        (["not", "a", "dict"], 500),
        (FunctionError("Task timed out after 5.00 seconds"), 500),
    ],
)
def test_lambda_authorizer_outcomes(gateway: Gateway, functions: RecordingFunctions, answer, status):
    functions.answers["AuthorizerFunction"] = answer
    response = get(gateway, "/lambda/test", ("Authorization", "Bearer abc"))
    assert response.status == status
    assert [name for name, _ in functions.events] == ["AuthorizerFunction"]


def test_missing_or_empty_identity_source_is_401_without_invoking(gateway: Gateway, functions: RecordingFunctions):
    assert get(gateway, "/lambda/test").status == 401
    assert get(gateway, "/lambda/test", ("Authorization", "")).status == 401
    assert functions.events == []


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_jwt_emulation_gives_the_tables_answer(api: Api, functions: RecordingFunctions, issuer: DevIssuer, case: Case):
    routes = tuple(dataclasses.replace(r, scopes=case.scopes) if r.path == "/test" else r for r in api.routes)
    gateway = Gateway(dataclasses.replace(api, routes=routes), functions)  # type: ignore[arg-type]
    response = get(gateway, "/test", ("Authorization", build_header_value(case, issuer)))
    # The emulation has the built-in authorizer's rules only: the Lambda authorizer's opt-in
    # settings of a row do not apply, and its built-in answer is expected.
    expected = {"allow": 200, "401": 401, "403": 403}[case.builtin_expect]
    assert response.status == expected
    if expected == 200:
        claims = functions.events[0][1]["requestContext"]["authorizer"]["jwt"]["claims"]
        assert claims["sub"] == "case-client@clients"
        assert all(isinstance(value, str) for value in claims.values())
    else:
        assert functions.events == []
        assert json.loads(response.body) == {"message": "Unauthorized" if expected == 401 else "Forbidden"}


# Each spelling of a path, and where it must land: (routeKey the integration sees, authorizer that
# admitted it), or None for 404 {"message":"Not Found"} with no route and no authorizer reached.
JWT, LAMBDA, PUBLIC = "jwt", "lambda", None
PATH_SPELLINGS = [
    ("/test", ("GET /test", JWT)),
    ("/lambda/test", ("GET /lambda/test", LAMBDA)),
    ("/health", ("GET /health", PUBLIC)),
    ("/test?next=//lambda/test", ("GET /test", JWT)),
    ("/lambda/test?", ("GET /lambda/test", LAMBDA)),
    ("/lambda/test?a=1?b=2", ("GET /lambda/test", LAMBDA)),
    ("/%74est", ("GET /test", JWT)),  # an escaped unreserved character is that character
    ("/lambda/te%73t", ("GET /lambda/test", LAMBDA)),
    ("//lambda/test", None),  # urlsplit: host "lambda", path "/test"
    ("//test", None),
    ("//health", None),
    ("///test", None),
    ("/lambda//test", None),
    ("/test/", None),
    ("/lambda/test/", None),
    ("/./test", None),
    ("/../test", None),
    ("/lambda/./test", None),
    ("/lambda/../test", None),
    ("/x/../test", None),
    ("/lambda/test/..", None),
    ("/%2e/test", None),
    ("/%2E%2E/test", None),
    ("/.%2e/test", None),
    ("/lambda/%2e%2e/test", None),
    ("/lambda%2Ftest", None),  # one segment "lambda/test": no route has it
    ("/lambda%2ftest", None),
    ("/test%2F", None),
    ("/test#fragment", None),
    ("/test%", None),
    ("/te%zzst", None),
    ("/test%ff", None),  # not UTF-8
    ("/t\u00e9st", None),
    ("/test\x7f", None),
    ("/TEST", None),
    ("/test;x", None),
    ("/", None),
    ("*", None),
    ("test", None),
    ("", None),
    ("http://127.0.0.1/test", None),
    ("http://127.0.0.1//lambda/test", None),
    ("https://localapi01.execute-api.us-east-1.amazonaws.com/lambda/test", None),
]


def _landing(functions: RecordingFunctions) -> tuple[str, str | None] | None:
    """Where a request went: the routeKey the integration saw and the authorizer that admitted it."""
    integration = [event for name, event in functions.events if name == "TestRouteFunction"]
    if not integration:
        return None
    (event,) = integration
    authorizer = event["requestContext"].get("authorizer") or {}
    kind = next(iter(authorizer), None)
    called_lambda = [name for name, _ in functions.events if name == "AuthorizerFunction"]
    assert (kind == LAMBDA) == bool(called_lambda), functions.events
    return event["routeKey"], kind


@pytest.mark.parametrize(("target", "expected"), PATH_SPELLINGS, ids=[repr(t) for t, _ in PATH_SPELLINGS])
def test_each_spelling_of_a_path_reaches_its_own_route_and_authorizer_or_404(
    gateway: Gateway, functions: RecordingFunctions, issuer: DevIssuer, target: str, expected
):
    token = issuer.mint(scopes=["read:test"])
    response = get(gateway, target, ("Authorization", f"Bearer {token}"))
    assert _landing(functions) == expected
    if expected is None:
        assert (response.status, response.json()) == (404, {"message": "Not Found"})
        assert functions.events == []
    else:
        assert response.status == 200


def test_the_integration_sees_the_path_and_query_as_sent(gateway: Gateway, functions: RecordingFunctions):
    get(gateway, "/he%61lth?next=//x/../y&a=%2F")
    ((_, event),) = functions.events
    assert (event["rawPath"], event["requestContext"]["http"]["path"]) == ("/he%61lth", "/he%61lth")
    assert event["rawQueryString"] == "next=//x/../y&a=%2F"
    assert event["queryStringParameters"] == {"next": "//x/../y", "a": "/"}


def _parameter_routes_template(directory: Path) -> Path:
    """template.yaml with three more public routes on /health's integration: two with {param}, one {proxy+}."""
    text = (ROOT / "template.yaml").read_text()
    health = text[text.index("          /health:\n") : text.index("\n\n", text.index("          /health:\n"))] + "\n"
    extra = "".join(
        health.replace("/health:", path + ":").replace("get:", method + ":")
        for path, method in (
            ("/items/{id}", "get"),
            ("/items/{id}/tags/{tag}", "get"),
            ("/files/{proxy+}", "x-amazon-apigateway-any-method"),
        )
    )
    return template_variant(directory, (health, health + extra))


@pytest.fixture(scope="module")
def parameter_api(issuer: DevIssuer, tmp_path_factory: pytest.TempPathFactory) -> Api:
    template = _parameter_routes_template(tmp_path_factory.mktemp("parameter-routes"))
    return load_api(template, {"Issuer": issuer.issuer, "Audience": "https://api.example.com"})


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/items/42", ("GET /items/{id}", {"id": "42"})),
        ("/items/a%2Fb", ("GET /items/{id}", {"id": "a/b"})),  # %2F stays inside its segment
        ("/items/a%20b%C3%A9", ("GET /items/{id}", {"id": "a b\u00e9"})),  # decoded, as API Gateway does
        ("/items/a%2Fb/tags/c", ("GET /items/{id}/tags/{tag}", {"id": "a/b", "tag": "c"})),
        ("/files/a", ("ANY /files/{proxy+}", {"proxy": "a"})),
        ("/files/a/b%2Fc", ("ANY /files/{proxy+}", {"proxy": "a/b/c"})),
        ("/items/a/b", None),
        ("/items/", None),
        ("/items//tags/c", None),
        ("/items/%2e", None),
        ("/items/%2E%2e", None),
        ("/items/..", None),
        ("/files", None),
        ("/files/", None),
        ("/files/a//b", None),
        ("/files/a/../b", None),
        ("/files/%2e%2e/test", None),
        ("/files/a/b/", None),
    ],
)
def test_path_parameters_are_matched_per_decoded_segment(
    parameter_api: Api, functions: RecordingFunctions, target: str, expected
):
    gateway = Gateway(parameter_api, functions)  # type: ignore[arg-type]
    response = get(gateway, target)
    if expected is None:
        assert (response.status, response.json(), functions.events) == (404, {"message": "Not Found"}, [])
        return
    ((_, event),) = functions.events
    assert (event["routeKey"], event["pathParameters"]) == expected
    assert event["rawPath"] == target


def _lambda_authorizer_ttl(api: Api, ttl: int) -> Api:
    authorizers = {
        name: dataclasses.replace(a, ttl=ttl) if a.kind == "request" else a for name, a in api.authorizers.items()
    }
    return dataclasses.replace(api, authorizers=authorizers)


def _authorizer_calls(functions: RecordingFunctions) -> int:
    return sum(1 for name, _ in functions.events if name == "AuthorizerFunction")


def test_expired_authorizer_answers_are_purged_not_kept_for_good(api: Api, functions: RecordingFunctions):
    # GIVEN 400 distinct 8 KB headers, each answer cached for 1 s
    clock = FakeClock()
    gateway = Gateway(_lambda_authorizer_ttl(api, 1), functions, clock=clock)  # type: ignore[arg-type]
    for n in range(400):
        assert get(gateway, "/lambda/test", ("Authorization", f"Bearer {n}{'x' * 8192}")).status == 200
    held = gateway._cache._entries
    assert len(held) == 400

    # WHEN they have all expired and a sweep is due, and one more answer is cached
    clock.now += 61
    assert get(gateway, "/lambda/test", ("Authorization", "Bearer later")).status == 200

    # THEN only that one is held (3.5 MB were, before)
    assert len(gateway._cache._entries) == 1
    assert list(gateway._cache._entries) == [("LambdaAuthorizer", ("Bearer later", "GET /lambda/test", DOMAIN))]


def test_past_1000_answers_the_oldest_goes_first(api: Api, functions: RecordingFunctions):
    clock = FakeClock()
    gateway = Gateway(_lambda_authorizer_ttl(api, 3600), functions, clock=clock)  # type: ignore[arg-type]
    for n in range(1001):
        assert get(gateway, "/lambda/test", ("Authorization", f"Bearer {n}")).status == 200
    assert _authorizer_calls(functions) == 1001
    assert len(gateway._cache._entries) == 1000
    get(gateway, "/lambda/test", ("Authorization", "Bearer 1"))  # still cached
    assert _authorizer_calls(functions) == 1001
    get(gateway, "/lambda/test", ("Authorization", "Bearer 0"))  # the oldest: gone, so asked again
    assert _authorizer_calls(functions) == 1002
