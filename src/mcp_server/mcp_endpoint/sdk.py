"""The MCP server, on the official SDK, and one request through it: stateless, JSON answers.

Loaded by ``endpoint.py`` on the first ``POST /mcp`` of a container, never before: the SDK's
import is most of this function's cold start (docs/mcp.md), and the public metadata route does
not need it.

One API Gateway event is one ASGI request handed to the SDK's ``StreamableHTTPSessionManager``
in stateless, JSON-response mode: no ``Mcp-Session-Id``, no SSE stream, each POST complete in
itself, in every protocol revision the SDK speaks (the ``initialize`` handshake of 2024-11-05 to
2025-11-25, and 2026-07-28's ``server/discover`` and per-request envelope). No ASGI server:
``anyio.run`` drives the request on a new event loop and closes it before returning, so nothing
runs between invocations. The server object (tools, handlers) is built once and reused warm.
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import anyio
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError
from starlette.types import Message, Scope

from mcp_endpoint.caller import WHOAMI_OUTPUT_SCHEMA, Caller
from mcp_endpoint.gateway import INVALID_REQUEST, Request, rpc_error

# The SDK logs three INFO lines for every stateless request (manager started, session
# terminated, manager stopped): this function logs one line per request, its own.
logging.getLogger("mcp").setLevel(logging.WARNING)

SERVER_NAME = "http-api-jwt-auth"
SERVER_VERSION = "0.1.0"
# Where the ASGI scope carries the caller to the tool (Starlette's per-request ``state``).
CALLER_STATE = "caller"

WHOAMI = types.Tool(
    name="whoami",
    title="Who am I",
    description=(
        "The caller's identity as this API's authorizer verified it: subject (sub), client id, "
        "scopes, and permissions when the authorizer passes them on."
    ),
    input_schema={"type": "object", "properties": {}, "additionalProperties": False},
    output_schema=WHOAMI_OUTPUT_SCHEMA,
    annotations=types.ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True),
)


async def list_tools(
    ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
) -> types.ListToolsResult:
    return types.ListToolsResult(tools=[WHOAMI])


async def call_tool(ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> types.CallToolResult:
    if params.name != WHOAMI.name:
        # The MCP spec's answer to a tool it does not have: a protocol error, invalid params.
        raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name}")
    caller = ctx.request.scope["state"][CALLER_STATE] if ctx.request is not None else None
    if not isinstance(caller, Caller):
        # endpoint.py refuses a request without a caller before it gets here; this is the backstop.
        raise MCPError(types.INTERNAL_ERROR, "No caller identity")
    identity = caller.as_json()
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=json.dumps(identity))], structured_content=identity
    )


SERVER: Server[Any] = Server(SERVER_NAME, version=SERVER_VERSION, on_list_tools=list_tools, on_call_tool=call_tool)


def answer(request: Request, body: bytes, caller: Caller) -> dict[str, Any]:
    """The HTTP API 2.0 answer of the MCP server to one POST."""
    status, headers, content = anyio.run(_exchange, SERVER, asgi_scope(request, caller), body)
    if status >= 400 and not headers.get("content-type", "").startswith("application/json"):
        # A few SDK refusals (content type, Accept) are plain text or empty: every error
        # from /mcp is a JSON-RPC error.
        return rpc_error(status, INVALID_REQUEST, content.decode("utf-8", "replace") or "Request refused")
    headers.pop("content-length", None)  # API Gateway sets it for the body it sends
    try:
        text, encoded = content.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(content).decode("ascii"), True
    return {"statusCode": status, "headers": headers, "body": text, "isBase64Encoded": encoded}


def asgi_scope(request: Request, caller: Caller) -> Scope:
    """The ASGI HTTP scope of ``request``, with the caller in its state (never a token)."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": "https",
        "path": request.path,
        "raw_path": request.path.encode("utf-8"),
        "query_string": request.query.encode("utf-8"),
        "root_path": "",
        # Header values are opaque bytes to ASGI; MCP's own headers are ASCII.
        "headers": [
            (name.encode("latin-1", "replace"), value.encode("latin-1", "replace"))
            for name, value in request.headers.items()
        ],
        "server": (request.domain or "localhost", 443),
        "client": None,
        "state": {CALLER_STATE: caller},
    }


async def _exchange(server: Server[Any], scope: Scope, body: bytes) -> tuple[int, dict[str, str], bytes]:
    """Run one request through a new stateless session manager; its status, headers and body."""
    status = 0
    headers: dict[str, str] = {}
    content = bytearray()
    delivered = False

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        # The client stays connected until the answer is sent; the task waiting here is
        # cancelled with the manager's task group.
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
            for name, value in message.get("headers", ()):
                key = name.decode("latin-1").lower()
                headers[key] = (
                    f"{headers[key]}, {value.decode('latin-1')}" if key in headers else value.decode("latin-1")
                )
        elif message["type"] == "http.response.body":
            content.extend(message.get("body", b""))

    # A manager runs once (its run() cannot be entered again): one per request, which is cheap.
    manager = StreamableHTTPSessionManager(server, json_response=True, stateless=True)
    async with manager.run():
        await manager.handle_request(scope, receive, send)
    if not status:
        raise RuntimeError("the MCP SDK sent no answer")
    return status, headers, bytes(content)
