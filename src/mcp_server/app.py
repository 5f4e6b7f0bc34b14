"""The MCP server function: ``/mcp`` behind the Lambda authorizer, and its RFC 9728 metadata.

Stateless MCP over Streamable HTTP with JSON answers, on the official MCP SDK (why that SDK:
docs/mcp.md). One tool, ``whoami``, answers with the identity the authorizer passed on in
``requestContext.authorizer.lambda``; the token itself is never read. The routes and their
answers are in ``mcp_endpoint/endpoint.py``, the settings (environment variables) in
``mcp_endpoint/settings.py``.

Built once per container (INIT), without the MCP SDK: it is imported on the first ``POST /mcp``,
so the public metadata route stays cheap.
"""

from __future__ import annotations

import os
from typing import Any

from mcp_endpoint.endpoint import Endpoint
from mcp_endpoint.settings import Settings

ENDPOINT = Endpoint(Settings.from_environ(os.environ))


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return ENDPOINT.handle(event)
