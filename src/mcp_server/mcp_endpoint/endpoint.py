"""One event in, one answer out: the routes, the refusals, and the one log line per MCP request.

Routes (HTTP API payload 2.0: the path of ``routeKey``, else ``rawPath``, and
``requestContext.http.method``):

- ``POST /mcp``: MCP Streamable HTTP, stateless, JSON answers (``sdk.py``, loaded on first use),
  for a caller the Lambda authorizer vouched for; a request without one is refused (403).
- ``GET``/``DELETE /mcp`` (any other method too): 405 ``Allow: POST``. A stateless server holds
  no SSE stream to GET and no session to DELETE, and API Gateway HTTP APIs do not stream; the
  MCP transport spec answers a GET without a stream, and a DELETE without sessions, with 405.
- ``GET /.well-known/oauth-protected-resource[/mcp]``: RFC 9728 metadata (``metadata.py``).
- anything else: 404, in API Gateway's own ``{"message": ...}`` shape.

Nothing here raises on a request, however malformed: each refusal is a JSON answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from mcp_endpoint.caller import Caller
from mcp_endpoint.gateway import (
    FORBIDDEN,
    INTERNAL_ERROR,
    BadBody,
    Request,
    body_bytes,
    json_response,
    parse_message,
    rpc_error,
)
from mcp_endpoint.metadata import CACHE_CONTROL, MCP_PATH, METADATA_PATHS, protected_resource_metadata, resource_url
from mcp_endpoint.settings import Settings

LOGGER = logging.getLogger("mcp_endpoint")
# A client names the method and tool: the log keeps at most this much of each.
_LOGGED_NAME_CHARS = 100

# (request, its body, the caller) -> the answer: the MCP server behind POST /mcp.
McpServer = Callable[[Request, bytes, Caller], dict[str, Any]]


def _sdk_server() -> McpServer:
    # Imported here, on the first POST /mcp of a container: the MCP SDK is most of this
    # function's cold start, and no other route needs it.
    from mcp_endpoint import sdk

    return sdk.answer


class Endpoint:
    """The function's answers; ``load_mcp`` gives the MCP server when it is first needed."""

    def __init__(self, settings: Settings, load_mcp: Callable[[], McpServer] = _sdk_server) -> None:
        self.settings = settings
        self._load_mcp = load_mcp
        self._mcp: McpServer | None = None

    def handle(self, event: object) -> dict[str, Any]:
        if not isinstance(event, dict) or event.get("version") != "2.0":
            # Wired to something other than an HTTP API with payload format 2.0.
            LOGGER.error({"error": "unsupported_event"})
            return json_response(500, {"message": "Internal Server Error"})
        request = Request.from_event(event)
        if request.path == MCP_PATH:
            if request.method == "POST":
                return self._mcp_request(event, request)
            return json_response(405, {"message": "Method Not Allowed"}, {"allow": "POST"})
        if request.path in METADATA_PATHS:
            if request.method != "GET":
                return json_response(405, {"message": "Method Not Allowed"}, {"allow": "GET"})
            return self._metadata(request)
        return json_response(404, {"message": "Not Found"})

    def _metadata(self, request: Request) -> dict[str, Any]:
        resource = resource_url(self.settings, request.domain)
        if resource is None:
            LOGGER.error({"error": "no_resource_url"})
            return json_response(500, {"message": "Internal Server Error"})
        document = protected_resource_metadata(resource, self.settings)
        return json_response(200, document, {"cache-control": CACHE_CONTROL})

    def _mcp_request(self, event: dict[str, Any], request: Request) -> dict[str, Any]:
        caller = Caller.from_request_context(request.request_context)
        if caller is None:
            # The route was deployed without the Lambda authorizer: nobody checked a token.
            LOGGER.error({"status": 403, "error": "no_authorizer_context"})
            return rpc_error(403, FORBIDDEN, "Forbidden: the request carries no verified caller")
        line: dict[str, Any] = {"method": None, "tool": None, "sub": caller.sub, "clientId": caller.client_id}
        try:
            body = body_bytes(event)
            line["method"], line["tool"] = _names(parse_message(body))
            answer = self._mcp_server()(request, body, caller)
        except BadBody as bad:
            answer = rpc_error(bad.status, bad.code, str(bad))
            line["error"] = "bad_body"
        except Exception as exc:
            # Only the exception's class: its text could hold what the client sent.
            answer = rpc_error(500, INTERNAL_ERROR, "Internal error")
            line["error"] = type(exc).__name__
        line["status"] = answer["statusCode"]
        LOGGER.log(logging.ERROR if line["status"] >= 500 else logging.INFO, line)
        return answer

    def _mcp_server(self) -> McpServer:
        if self._mcp is None:
            self._mcp = self._load_mcp()
        return self._mcp


def _names(message: object) -> tuple[str | None, str | None]:
    """The JSON-RPC method of ``message`` and, for ``tools/call``, the tool's name (for the log)."""
    if not isinstance(message, dict):
        return None, None
    method = message.get("method")
    if not isinstance(method, str):
        return None, None
    params = message.get("params")
    tool = params.get("name") if method == "tools/call" and isinstance(params, dict) else None
    return method[:_LOGGED_NAME_CHARS], tool[:_LOGGED_NAME_CHARS] if isinstance(tool, str) else None
