"""The official MCP client (the ``mcp`` SDK pinned in requirements-dev) against the MCP function.

The function's handler sits behind a real HTTP server on 127.0.0.1. A small adapter turns each
HTTP request into an HTTP API 2.0 event, as API Gateway would after the Lambda authorizer
allowed it (a fixed ``authorizer.lambda`` context), and the handler's answer back into HTTP: one
event per request, nothing kept between them, no streaming. The gateway and authorizer
themselves are the end-to-end tests' business.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anyio
import httpx2
import pytest
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client

from tests.support import ROOT, load_function

CONTEXT = {"sub": "auth0|5f7c8ec7c33c6c004bbafe82", "clientId": "mcp-inspector", "scope": "read:test mcp:use"}
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzb21lYm9keS1lbHNlIn0.c2lnbmF0dXJl"


@dataclass
class Gateway:
    """The handler behind 127.0.0.1, and every exchange it saw (method, MCP headers, body, status)."""

    url: str
    seen: list[tuple[str, dict[str, str], Any, int]] = field(default_factory=list)


def event_for(handler: BaseHTTPRequestHandler, body: bytes) -> dict[str, Any]:
    path, _, query = handler.path.partition("?")
    host = handler.headers.get("host", "127.0.0.1")
    return {
        "version": "2.0",
        "routeKey": f"{handler.command} {path}",
        "rawPath": path,
        "rawQueryString": query,
        # API Gateway lower-cases header names and joins repeated ones with commas.
        "headers": {name.lower(): ", ".join(handler.headers.get_all(name) or ()) for name in set(handler.headers)},
        "requestContext": {
            "domainName": host,
            "http": {"method": handler.command, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "routeKey": f"{handler.command} {path}",
            "stage": "$default",
            "authorizer": {"lambda": dict(CONTEXT)},
        },
        "body": body.decode() if body else None,
        "isBase64Encoded": False,
    }


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    function = load_function(ROOT / "src" / "mcp_server")
    seen: list[tuple[str, dict[str, str], Any, int]] = []

    class Handler(BaseHTTPRequestHandler):
        def answer(self) -> None:
            size = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(size) if size else b""
            reply = function.lambda_handler(event_for(self, body), None)
            mcp_headers = {k.lower(): v for k, v in self.headers.items() if k.lower().startswith("mcp-")}
            seen.append((self.command, mcp_headers, json.loads(body) if body else None, reply["statusCode"]))
            payload = reply.get("body", "").encode()
            self.send_response(reply["statusCode"])
            for name, value in reply.get("headers", {}).items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self.answer()

        def do_POST(self) -> None:
            self.answer()

        def do_DELETE(self) -> None:
            self.answer()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Quiet: pytest shows what the test asserts."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Gateway(f"http://127.0.0.1:{server.server_port}/mcp", seen)
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


async def whoami_over_http(url: str, mode: str) -> tuple[str, list[str], Any]:
    # The client sends a bearer token, as a real one would: the function must answer with the
    # authorizer's identity, not anything the token says.
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as client,
    ):
        tools = await client.list_tools()
        result = await client.call_tool("whoami", {})
        assert result.is_error is False
        assert json.loads(result.content[0].text) == result.structured_content  # type: ignore[union-attr]
        return client.protocol_version, [tool.name for tool in tools.tools], result.structured_content


def test_the_official_client_in_auto_mode_discovers_the_stateless_revision_and_calls_whoami(gateway):
    version, tools, identity = anyio.run(whoami_over_http, gateway.url, "auto")

    assert version == "2026-07-28"
    assert tools == ["whoami"]
    assert identity == {"sub": CONTEXT["sub"], "clientId": "mcp-inspector", "scopes": ["read:test", "mcp:use"]}
    # One POST per request, each complete in itself: no session, no stream to GET, nothing to DELETE.
    assert [(method, body["method"], status) for method, _, body, status in gateway.seen] == [
        ("POST", "server/discover", 200),
        ("POST", "tools/list", 200),
        ("POST", "tools/call", 200),
    ]
    assert all("mcp-session-id" not in headers for _, headers, _, _ in gateway.seen)


def test_the_official_client_in_legacy_mode_shakes_hands_and_calls_whoami(gateway):
    version, tools, identity = anyio.run(whoami_over_http, gateway.url, "legacy")

    assert version == "2025-11-25"
    assert (tools, identity["sub"]) == (["whoami"], CONTEXT["sub"])
    assert [(method, body["method"], status) for method, _, body, status in gateway.seen] == [
        ("POST", "initialize", 200),
        ("POST", "notifications/initialized", 202),
        ("POST", "tools/list", 200),
        ("POST", "tools/call", 200),
    ]


def test_get_and_delete_on_mcp_are_405_over_http(gateway):
    for method in ("GET", "DELETE"):
        reply = httpx2.request(method, gateway.url, headers={"accept": "text/event-stream"})
        assert (reply.status_code, reply.headers["allow"]) == (405, "POST")


def test_the_metadata_is_served_over_http(gateway):
    reply = httpx2.get(gateway.url.replace("/mcp", "/.well-known/oauth-protected-resource/mcp"))
    assert reply.status_code == 200
    assert reply.json()["resource"] == gateway.url.replace("http://", "https://")
