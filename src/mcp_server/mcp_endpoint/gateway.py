"""HTTP API payload 2.0 in and out: the request fields this function uses, and its answers.

Only the standard library: the metadata route and every refusal are answered from here.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

# JSON-RPC 2.0 error codes (section 5.1) and one of the implementation-defined server errors.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
INTERNAL_ERROR = -32603
FORBIDDEN = -32001

# Larger than any MCP request this function answers (whoami takes no arguments), far below the
# 6 MB Lambda accepts: a big body is refused before it is decoded or parsed.
MAX_BODY_BYTES = 1024 * 1024

# Never passed on to the MCP SDK, so no tool, log line or answer can see them: the caller's
# identity is what the authorizer says, never what the token says.
_WITHHELD_HEADERS = frozenset({"authorization", "cookie"})


class BadBody(ValueError):
    """A body that cannot be an MCP message; the HTTP status and JSON-RPC error to answer with."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class Request:
    """What this function uses of an HTTP API 2.0 event.

    ``headers`` has lower-case names (as API Gateway sends them) and never the Authorization
    header or cookies.
    """

    method: str
    path: str
    query: str
    domain: str
    headers: dict[str, str]
    request_context: dict[str, Any]

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> Request:
        context = event.get("requestContext")
        context = context if isinstance(context, dict) else {}
        http = context.get("http")
        http = http if isinstance(http, dict) else {}
        headers = event.get("headers")
        return cls(
            method=_text(http.get("method")).upper(),
            # The route's own path where there is one: behind a custom domain's base path mapping
            # rawPath carries the mapping's key too, and the route is still /mcp.
            path=_text(event.get("routeKey")).partition(" ")[2]
            or _text(event.get("rawPath"))
            or _text(http.get("path")),
            query=_text(event.get("rawQueryString")),
            domain=_text(context.get("domainName")),
            headers={
                key.lower(): value
                for key, value in (headers.items() if isinstance(headers, dict) else ())
                if isinstance(key, str) and isinstance(value, str) and key.lower() not in _WITHHELD_HEADERS
            },
            request_context=context,
        )


def body_bytes(event: dict[str, Any], limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body as bytes, or ``BadBody``.

    API Gateway, not the client, decides whether a body arrives base64-encoded (it does for
    media types it does not treat as text), so an encoded body is decoded, not refused.
    """
    body = event.get("body")
    if body is None or body == "":
        raise BadBody(400, PARSE_ERROR, "Parse error: the request has no body")
    if not isinstance(body, str):
        raise BadBody(400, PARSE_ERROR, "Parse error: the body is not text")
    encoded = event.get("isBase64Encoded") is True
    # Checked before decoding too: base64 takes 4 characters per 3 bytes, UTF-8 at least 1 byte each.
    longest = (limit + 2) // 3 * 4 if encoded else limit
    if len(body) > longest:
        raise BadBody(413, INVALID_REQUEST, f"Request body too large: at most {limit} bytes")
    if not encoded:
        try:
            raw = body.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: no UTF-8 text, so no JSON either
            raise BadBody(400, PARSE_ERROR, "Parse error: the body is not UTF-8 text") from None
    else:
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise BadBody(400, PARSE_ERROR, "Parse error: the body is marked base64 but is not") from None
    if len(raw) > limit:
        raise BadBody(413, INVALID_REQUEST, f"Request body too large: at most {limit} bytes")
    return raw


def parse_message(raw: bytes) -> Any:
    """The JSON value in ``raw``, or ``BadBody`` (a parse error, as JSON-RPC names it)."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        # ValueError covers bad UTF-8 and JSON; RecursionError, nesting deeper than the parser goes.
        raise BadBody(400, PARSE_ERROR, "Parse error: the body is not JSON") from None


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """An HTTP API 2.0 answer with a JSON body."""
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", **(headers or {})},
        "body": json.dumps(body, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def rpc_error(status: int, code: int, message: str) -> dict[str, Any]:
    """A JSON-RPC error answer for a request refused before its id was read (so ``id`` is null)."""
    return json_response(status, {"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}})


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
