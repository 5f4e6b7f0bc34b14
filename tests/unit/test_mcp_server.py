"""The MCP server function, through its handler, with HTTP API 2.0 events.

Every MCP answer here comes from the real SDK (imported by the function on its first POST /mcp);
the only stand-in is a loader that fails the test if the function ever reaches for the SDK when
it must not.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import threading
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from mcp_endpoint.endpoint import Endpoint
from mcp_endpoint.gateway import MAX_BODY_BYTES, Request
from mcp_endpoint.settings import SettingError, Settings
from tests.support import ROOT, load_event, load_function

MCP_SERVER_DIR = ROOT / "src" / "mcp_server"
DOMAIN = "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"
IDENTITY = {"sub": "Xy7Kd0example@clients", "scope": "read:test mcp:use", "clientId": "Xy7Kd0example"}
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzZWNyZXQtc3ViamVjdCJ9.c2lnbmF0dXJl"
SAMPLE_IDENTITY = {"sub": IDENTITY["sub"], "clientId": IDENTITY["clientId"], "scopes": ["read:test", "mcp:use"]}
LEGACY = "2025-11-25"
MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "0"},
    "io.modelcontextprotocol/clientCapabilities": {},
}


def endpoint(**env: str) -> Endpoint:
    return Endpoint(Settings.parse(env))


def mcp_event(message: Any = None, *, version: str | None = LEGACY, authorizer: Any = "default", **overrides: Any):
    """A POST /mcp event as API Gateway sends it (the committed sample, body and context replaced)."""
    event = load_event("mcp-tools-call.json")
    headers = event["headers"]
    for name in ("mcp-method", "mcp-name", "mcp-protocol-version"):
        headers.pop(name)
    if version is not None:
        headers["mcp-protocol-version"] = version
    if message is not None:
        event["body"] = message if isinstance(message, str) else json.dumps(message)
    if authorizer != "default":
        if authorizer is None:
            event["requestContext"].pop("authorizer")
        else:
            event["requestContext"]["authorizer"] = authorizer
    event.update(overrides)
    return event


def request(method: str, params: dict[str, Any] | None = None, request_id: int = 1) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return message


def modern(method: str, params: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """A 2026-07-28 request: its body (with the per-request envelope) and the headers that route it."""
    body = request(method, {**(params or {}), "_meta": MODERN_META})
    headers = {"mcp-protocol-version": "2026-07-28", "mcp-method": method}
    if params and "name" in params:
        headers["mcp-name"] = params["name"]
    return body, headers


def get(path: str, method: str = "GET", domain: str = DOMAIN) -> dict[str, Any]:
    event = load_event("mcp-metadata.json")
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["routeKey"] = event["requestContext"]["routeKey"] = f"{method} {path}"
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["domainName"] = domain
    return event


def body(answer: dict[str, Any]) -> Any:
    assert answer["headers"]["content-type"] == "application/json"
    return json.loads(answer["body"])


def never_load():
    raise AssertionError("the MCP server was loaded")


# ------------------------------------------------------------------------------------ MCP
def test_tools_list_offers_whoami_alone_with_its_schemas():
    answer = endpoint().handle(mcp_event(request("tools/list")))
    assert answer["statusCode"] == 200
    (tool,) = body(answer)["result"]["tools"]
    assert tool["name"] == "whoami"
    assert tool["inputSchema"] == {"type": "object", "properties": {}, "additionalProperties": False}
    assert tool["outputSchema"]["required"] == ["sub", "clientId", "scopes"]
    assert tool["annotations"]["readOnlyHint"] is True


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        (IDENTITY, SAMPLE_IDENTITY),
        (
            {"sub": "auth0|42", "clientId": "spa", "scope": "", "permissions": "read:a  write:b"},
            {"sub": "auth0|42", "clientId": "spa", "scopes": [], "permissions": ["read:a", "write:b"]},
        ),
        ({"sub": "only-sub"}, {"sub": "only-sub", "clientId": "", "scopes": []}),
    ],
)
def test_whoami_answers_exactly_what_the_authorizer_passed_on(context, expected):
    # GIVEN a call whose Authorization header names someone else entirely
    event = mcp_event(request("tools/call", {"name": "whoami", "arguments": {}}), authorizer={"lambda": context})
    event["headers"]["authorization"] = f"Bearer {TOKEN}"

    # WHEN the function answers it
    answer = endpoint().handle(event)

    # THEN the identity is the authorizer's, in the structured result and in the text alike
    assert answer["statusCode"] == 200
    result = body(answer)["result"]
    assert result["isError"] is False
    assert result["structuredContent"] == expected
    assert json.loads(result["content"][0]["text"]) == expected
    assert TOKEN not in answer["body"]


def test_the_sample_tools_call_event_gets_the_samples_identity():
    answer = load_function(MCP_SERVER_DIR).lambda_handler(load_event("mcp-tools-call.json"), None)
    assert answer["statusCode"] == 200
    assert body(answer) == {
        "jsonrpc": "2.0",
        "id": 3,
        "result": {
            "content": [{"type": "text", "text": json.dumps(SAMPLE_IDENTITY)}],
            "isError": False,
            "resultType": "complete",
            "structuredContent": SAMPLE_IDENTITY,
            # 2026-07-28: every result names the server.
            "_meta": {"io.modelcontextprotocol/serverInfo": {"name": "http-api-jwt-auth", "version": "0.1.0"}},
        },
    }


def test_every_protocol_revision_the_sdk_speaks_is_served_statelessly():
    app = endpoint()
    # The handshake era: initialize answers with the client's revision, and no session.
    for revision in ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"):
        params = {"protocolVersion": revision, "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}
        answer = app.handle(mcp_event(request("initialize", params), version=None))
        assert answer["statusCode"] == 200
        assert body(answer)["result"]["protocolVersion"] == revision
        assert "mcp-session-id" not in answer["headers"]
    # The stateless era: server/discover names 2026-07-28, and a call needs no handshake.
    discover, headers = modern("server/discover")
    answer = app.handle(mcp_event(discover, version=None, headers={**mcp_event()["headers"], **headers}))
    assert "2026-07-28" in body(answer)["result"]["supportedVersions"]
    call, headers = modern("tools/call", {"name": "whoami", "arguments": {}})
    answer = app.handle(mcp_event(call, version=None, headers={**mcp_event()["headers"], **headers}))
    assert body(answer)["result"]["structuredContent"]["sub"] == IDENTITY["sub"]


def test_a_notification_is_accepted_with_no_body():
    answer = endpoint().handle(mcp_event({"jsonrpc": "2.0", "method": "notifications/initialized"}))
    assert (answer["statusCode"], answer["body"]) == (202, "")


def test_a_tool_it_does_not_have_is_a_json_rpc_error():
    answer = endpoint().handle(mcp_event(request("tools/call", {"name": "rm -rf", "arguments": {}})))
    assert body(answer)["error"]["code"] == -32602
    assert "Unknown tool" in body(answer)["error"]["message"]


def test_the_sdk_refusals_that_are_not_json_become_json_rpc_errors():
    event = mcp_event(request("tools/list"))
    event["headers"]["content-type"] = "text/plain"
    answer = endpoint().handle(event)
    assert answer["statusCode"] == 400
    assert body(answer)["error"] == {"code": -32600, "message": "Invalid Content-Type header"}


def test_a_warm_container_answers_again_and_leaves_no_thread_behind():
    app = endpoint()
    app.handle(mcp_event(request("tools/list")))
    threads = threading.active_count()
    for _ in range(3):
        assert app.handle(mcp_event(request("tools/call", {"name": "whoami"})))["statusCode"] == 200
    assert threading.active_count() == threads


# ------------------------------------------------------------------- no caller, no tool
@pytest.mark.parametrize(
    "authorizer",
    [None, {}, {"lambda": None}, {"jwt": {"claims": {"sub": "x"}, "scopes": None}}, "not-a-dict"],
)
def test_without_the_lambda_authorizers_context_nothing_runs(authorizer, caplog):
    app = Endpoint(Settings(), load_mcp=never_load)
    with caplog.at_level(logging.INFO, logger="mcp_endpoint"):
        answer = app.handle(mcp_event(request("tools/call", {"name": "whoami"}), authorizer=authorizer))
    assert answer["statusCode"] == 403
    assert body(answer)["error"]["code"] == -32001
    assert [r.msg for r in caplog.records] == [{"status": 403, "error": "no_authorizer_context"}]


def test_a_failing_mcp_server_is_a_500_json_rpc_error_logged_by_class_only(caplog):
    def failing(request, body, caller):
        raise ValueError(f"echoing what the client sent: {body!r}")

    event = mcp_event(request("tools/call", {"name": "whoami", "arguments": {"secret": "s3cr3t"}}))
    with caplog.at_level(logging.INFO, logger="mcp_endpoint"):
        answer = Endpoint(Settings(), load_mcp=lambda: failing).handle(event)
    assert (answer["statusCode"], body(answer)["error"]) == (500, {"code": -32603, "message": "Internal error"})
    (record,) = caplog.records
    assert (record.levelno, record.msg["error"], record.msg["status"]) == (logging.ERROR, "ValueError", 500)
    assert "s3cr3t" not in caplog.text


# ---------------------------------------------------------------------- bad bodies
def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [
        ({"body": "{not json"}, 400, -32700),
        ({"body": ""}, 400, -32700),
        ({"body": None}, 400, -32700),
        ({"body": 42}, 400, -32700),
        ({"body": b'"\\ud800"'.decode("unicode_escape")}, 400, -32700),  # a lone surrogate
        ({"body": "[" * 100_000 + "]" * 100_000}, 400, -32700),  # deeper than the parser goes
        ({"body": "not base64!", "isBase64Encoded": True}, 400, -32700),
        ({"body": b64("{not json"), "isBase64Encoded": True}, 400, -32700),
        ({"body": " " * (MAX_BODY_BYTES + 1)}, 413, -32600),
        ({"body": "é" * (MAX_BODY_BYTES // 2 + 1)}, 413, -32600),  # within the limit in characters only
        ({"body": b64(" " * (MAX_BODY_BYTES + 1)), "isBase64Encoded": True}, 413, -32600),
    ],
)
def test_a_body_that_cannot_be_a_message_is_a_json_rpc_error_without_the_sdk(overrides, status, code):
    app = Endpoint(Settings(), load_mcp=never_load)
    answer = app.handle(mcp_event(**overrides))
    assert answer["statusCode"] == status
    refusal = body(answer)
    assert (refusal["jsonrpc"], refusal["id"], refusal["error"]["code"]) == ("2.0", None, code)
    assert refusal["error"]["message"].startswith(("Parse error: ", "Request body too large: "))


def test_a_base64_body_is_decoded_and_served():
    # API Gateway encodes a body whose media type it does not treat as text.
    message = json.dumps(request("tools/call", {"name": "whoami"}))
    answer = endpoint().handle(mcp_event(b64(message), isBase64Encoded=True))
    assert body(answer)["result"]["structuredContent"]["sub"] == IDENTITY["sub"]


def test_json_that_is_not_one_message_is_the_sdks_to_refuse():
    for message in ([request("tools/list")], {"jsonrpc": "2.0"}, "null", 7):
        answer = endpoint().handle(mcp_event(message if isinstance(message, str) else json.dumps(message)))
        assert 400 <= answer["statusCode"] < 500
        assert "error" in body(answer)


# ------------------------------------------------------------------- the other routes
@pytest.mark.parametrize("method", ["GET", "DELETE", "PUT", "OPTIONS"])
def test_mcp_takes_post_only(method):
    event = mcp_event()
    event["requestContext"]["http"]["method"] = method
    answer = Endpoint(Settings(), load_mcp=never_load).handle(event)
    assert answer["statusCode"] == 405
    assert answer["headers"]["allow"] == "POST"
    assert body(answer) == {"message": "Method Not Allowed"}


@pytest.mark.parametrize("path", ["/", "/mcp/", "/MCP", "/mcp/x", "/.well-known/oauth-protected-resource/other"])
def test_other_paths_are_not_found(path):
    answer = Endpoint(Settings(), load_mcp=never_load).handle(get(path))
    assert (answer["statusCode"], body(answer)) == (404, {"message": "Not Found"})


@pytest.mark.parametrize("event", [None, [], "x", {}, {"version": "1.0", "rawPath": "/mcp"}])
def test_an_event_that_is_not_http_api_2_0_is_a_logged_500(event, caplog):
    with caplog.at_level(logging.INFO, logger="mcp_endpoint"):
        answer = Endpoint(Settings(), load_mcp=never_load).handle(event)
    assert (answer["statusCode"], body(answer)) == (500, {"message": "Internal Server Error"})
    assert [r.msg for r in caplog.records] == [{"error": "unsupported_event"}]


# ------------------------------------------------------------------------- metadata
PATHS = ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"]


@pytest.mark.parametrize("path", PATHS)
def test_metadata_names_this_apis_mcp_url_when_none_is_configured(path):
    answer = Endpoint(Settings(), load_mcp=never_load).handle(get(path, domain="api.example.org"))
    assert answer["statusCode"] == 200
    assert answer["headers"] == {"content-type": "application/json", "cache-control": "max-age=300"}
    assert body(answer) == {
        "resource": "https://api.example.org/mcp",
        # No scope required, said so: a client asks for none rather than all the issuer lists.
        "scopes_supported": [],
        "bearer_methods_supported": ["header"],
        "resource_name": "HTTP API MCP server",
    }


@pytest.mark.parametrize("path", PATHS)
def test_metadata_with_everything_configured(path):
    app = endpoint(
        MCP_RESOURCE_URL="https://mcp.example.com/mcp",
        ISSUER="https://tenant.eu.auth0.com/,,https://second.example/ , ",
        MCP_SCOPES=" read:test,mcp:use  openid",
    )
    assert body(app.handle(get(path))) == {
        "resource": "https://mcp.example.com/mcp",
        "authorization_servers": ["https://tenant.eu.auth0.com/", "https://second.example/"],
        "scopes_supported": ["read:test", "mcp:use", "openid"],
        "bearer_methods_supported": ["header"],
        "resource_name": "HTTP API MCP server",
    }


def test_metadata_takes_get_only_and_needs_a_resource_url():
    app = Endpoint(Settings(), load_mcp=never_load)
    answer = app.handle(get(PATHS[0], method="POST"))
    assert (answer["statusCode"], answer["headers"]["allow"]) == (405, "GET")
    assert app.handle(get(PATHS[0], domain=""))["statusCode"] == 500


def test_the_sample_metadata_event_gets_the_document():
    answer = load_function(MCP_SERVER_DIR).lambda_handler(load_event("mcp-metadata.json"), None)
    assert (answer["statusCode"], body(answer)["resource"]) == (200, f"https://{DOMAIN}/mcp")


@pytest.mark.parametrize(
    "url", ["mcp.example.com/mcp", "https://x.example/mcp#frag", "https://x.example/mcp?a=b", "ftp://x"]
)
def test_a_resource_url_that_cannot_be_right_stops_init(url):
    with pytest.raises(SettingError, match="MCP_RESOURCE_URL"):
        Settings.parse({"MCP_RESOURCE_URL": url})


# --------------------------------------------------------------------------- logging
def test_one_line_per_mcp_request_with_method_tool_and_caller_only(caplog):
    event = mcp_event(request("tools/call", {"name": "whoami", "arguments": {}}))
    event["headers"]["authorization"] = f"Bearer {TOKEN}"
    event["requestContext"]["authorizer"]["lambda"]["orgId"] = "org_123"
    # INFO: what Lambda writes with the template's ApplicationLogLevel (asyncio says more at DEBUG).
    with caplog.at_level(logging.INFO):
        answer = endpoint().handle(event)
    assert answer["statusCode"] == 200
    assert [r.msg for r in caplog.records] == [
        {"method": "tools/call", "tool": "whoami", "sub": IDENTITY["sub"], "clientId": "Xy7Kd0example", "status": 200}
    ]


@pytest.mark.parametrize(
    "event",
    [
        mcp_event(request("tools/call", {"name": "whoami"})),
        mcp_event(request("tools/list")),
        mcp_event("{not json"),
        mcp_event(request("tools/call", {"name": "whoami"}), authorizer=None),
        get(PATHS[0]),
        get("/elsewhere"),
    ],
)
def test_the_token_is_in_no_log_line_and_no_answer(event, caplog):
    event = copy.deepcopy(event)
    event["headers"]["authorization"] = f"Bearer {TOKEN}"
    event["headers"]["cookie"] = f"session={TOKEN}"
    with caplog.at_level(logging.DEBUG):
        answer = endpoint(ISSUER="https://issuer.example/").handle(event)
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert TOKEN not in logged
    assert TOKEN not in json.dumps(answer)
    assert len([r for r in caplog.records if r.levelno >= logging.INFO]) <= 1


def test_the_sdk_is_never_handed_the_authorization_header_or_cookies():
    event = mcp_event()
    event["headers"].update({"Authorization": f"Bearer {TOKEN}", "Cookie": "a=b"})
    headers = Request.from_event(event).headers
    assert "authorization" not in headers and "cookie" not in headers
    assert headers["mcp-protocol-version"] == LEGACY


# ----------------------------------------------------------------------- requirements
def pins(path: Path) -> dict[str, str]:
    lines = (line.strip() for line in path.read_text().splitlines())
    return {
        canonicalize_name(name): version
        for name, _, version in (line.partition("==") for line in lines if line and not line.startswith("#"))
    }


def runtime_tree(name: str) -> set[str]:
    """``name`` and everything it requires, transitively, extras included, as installed here."""
    found: set[str] = set()
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(name, frozenset[str]())]
    while todo:
        dist, extras = todo.pop()
        if (canonicalize_name(dist), extras) in seen:
            continue
        seen.add((canonicalize_name(dist), extras))
        for text in metadata.requires(dist) or ():
            requirement = Requirement(text)
            marker = requirement.marker
            if marker is None or any(marker.evaluate({"extra": extra}) for extra in extras | {""}):
                todo.append((requirement.name, frozenset(requirement.extras)))
        found.add(canonicalize_name(dist))
    return found


def test_the_function_pins_its_whole_runtime_tree_at_the_versions_the_tests_run():
    function = pins(MCP_SERVER_DIR / "requirements.txt")
    assert function["mcp"] == "2.3.0"
    assert set(function) == runtime_tree("mcp")
    development = pins(ROOT / "requirements-dev.txt")
    assert {name: development.get(name) for name in function} == function


def test_behind_a_base_path_mapping_the_route_is_still_mcp():
    # A custom domain mapping "v1" to the API: rawPath holds the mapping's key, the route key not.
    event = mcp_event(request("tools/list"))
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/v1/mcp"
    assert endpoint().handle(event)["statusCode"] == 200
