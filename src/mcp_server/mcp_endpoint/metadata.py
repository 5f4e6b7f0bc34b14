"""RFC 9728 OAuth 2.0 Protected Resource Metadata for the MCP endpoint.

MCP clients (authorization spec, 2025-06-18 on) find the authorization server from this
document: they ask for it at the path-inserted well-known URL of the endpoint
(``/.well-known/oauth-protected-resource/mcp``), and many also at the root form
(``/.well-known/oauth-protected-resource``). Both are answered, from the settings and the
request's domain alone: no MCP SDK, no I/O.
"""

from __future__ import annotations

from typing import Any

from mcp_endpoint.settings import Settings

WELL_KNOWN = "/.well-known/oauth-protected-resource"
MCP_PATH = "/mcp"
# The path-inserted form (RFC 9728 section 3.1) for /mcp, and the root form.
METADATA_PATHS = frozenset({WELL_KNOWN + MCP_PATH, WELL_KNOWN})
RESOURCE_NAME = "HTTP API MCP server"
# Five minutes: a client re-reads a changed issuer list soon enough, and a burst of client
# starts is answered from caches. The document holds nothing private.
CACHE_CONTROL = "max-age=300"


def resource_url(settings: Settings, domain: str) -> str | None:
    """The MCP endpoint's resource identifier: configured, else this API's own URL for /mcp.

    RFC 9728 section 3.3 asks that ``resource`` equal the URL the metadata was requested for,
    less the well-known part: ``https://{domain}/mcp`` for the path-inserted form. The root
    form names /mcp too: /mcp is the API's only protected resource with metadata, and a client
    that starts from the root form is looking for it. (API Gateway serves HTTPS only; the
    $default stage adds no path.) None: neither configured nor a domain to derive it from.
    """
    if settings.resource_url:
        return settings.resource_url
    return f"https://{domain}{MCP_PATH}" if domain else None


def protected_resource_metadata(resource: str, settings: Settings) -> dict[str, Any]:
    """The metadata document for ``resource``.

    ``scopes_supported`` is there even when empty: a client with nothing to go on (the official
    SDK among them) otherwise asks for every scope the authorization server lists, ``openid``
    included, and a standards issuer refuses that for client credentials (``invalid_scope``).
    An empty list says what is true: the route needs no scope, so ask for none.
    """
    document: dict[str, Any] = {"resource": resource}
    if settings.issuers:
        document["authorization_servers"] = list(settings.issuers)
    document["scopes_supported"] = list(settings.scopes)
    document["bearer_methods_supported"] = ["header"]
    document["resource_name"] = RESOURCE_NAME
    return document
