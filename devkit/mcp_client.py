"""Call ``whoami`` on an MCP server the way an MCP client would, with the official MCP SDK.

No token is given: the client is sent away with a 401, finds the protected-resource metadata
(RFC 9728: the path form, then the root form), reads the authorization server from it, fetches
that server's metadata, asks its token endpoint for a token bound to the MCP server's URL
(client credentials with RFC 8707 ``resource``), and tries again with it. ``make mcp`` runs this
against ``make local`` (the dev issuer) or your deployed stack and issuer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken


@dataclass
class MemoryTokens:
    """The SDK's token storage, for one run: nothing is written anywhere."""

    tokens: OAuthToken | None = None
    client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


@dataclass
class Session:
    """What one run saw: the negotiated revision, the tools, whoami's answer, every HTTP exchange."""

    protocol_version: str | None = None
    tools: list[str] = field(default_factory=list)
    identity: Any = None
    exchanges: list[tuple[str, str, int]] = field(default_factory=list)  # method, URL, status


async def whoami(
    url: str,
    *,
    client_id: str,
    client_secret: str,
    issuer: str | None = None,
    scope: str | None = None,
    timeout: float = 30.0,
) -> Session:
    """Connect to the MCP server at ``url``, list its tools and call ``whoami``.

    ``issuer``: the authorization server the client's credentials belong to; the flow stops if the
    server's metadata leads elsewhere. ``scope``: what to ask for (the metadata's
    ``scopes_supported``, for a route that requires one).
    """
    session = Session()

    async def record(response: httpx2.Response) -> None:
        session.exchanges.append((response.request.method, str(response.request.url), response.status_code))

    provider = ClientCredentialsOAuthProvider(
        server_url=url,
        storage=MemoryTokens(),
        client_id=client_id,
        client_secret=client_secret,
        scope=scope or None,
        issuer=issuer,
    )
    async with (
        httpx2.AsyncClient(auth=provider, timeout=timeout, event_hooks={"response": [record]}) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        session.protocol_version = client.protocol_version
        session.tools = [tool.name for tool in (await client.list_tools()).tools]
        result = await client.call_tool("whoami", {})
        if result.is_error:
            raise RuntimeError(f"whoami failed: {result.content}")
        session.identity = result.structured_content
    return session


def run_whoami(url: str, **options: Any) -> Session:
    """``whoami`` from synchronous code (the command line, the tests)."""
    return anyio.run(lambda: whoami(url, **options))
