"""Path spellings on the wire: raw request lines to the local gateway, each checked against the
route the integration reports and the authorizer that admitted it (or 404 and no authorizer)."""

from __future__ import annotations

import pytest

from devkit.local.serve import LocalStack
from tests.e2e.test_http_framing import Wire, request

# (request target as sent, (route, authorizer) the test route reports) or None for a 404.
SPELLINGS = [
    ("/test", ("GET /test", "jwt")),
    ("/lambda/test", ("GET /lambda/test", "lambda")),
    ("/health", ("GET /health", None)),
    ("/test?next=//lambda/test", ("GET /test", "jwt")),
    ("/lambda/te%73t", ("GET /lambda/test", "lambda")),
    ("//lambda/test", None),
    ("//test", None),
    ("/lambda//test", None),
    ("/lambda/test/", None),
    ("/./test", None),
    ("/../test", None),
    ("/lambda/./test", None),
    ("/lambda/../test", None),
    ("/%2e/test", None),
    ("/%2E%2E/test", None),
    ("/lambda/%2e%2e/test", None),
    ("/lambda%2Ftest", None),
    ("/test#x", None),
    ("/te%zzst", None),
    ("*", None),
    ("http://127.0.0.1/test", None),
    ("http://127.0.0.1//lambda/test", None),
]


@pytest.mark.parametrize(("target", "expected"), SPELLINGS, ids=[t for t, _ in SPELLINGS])
def test_a_path_as_sent_reaches_its_own_route_and_authorizer_or_404(stack: LocalStack, target: str, expected):
    authorizer = stack.api_server.gateway.functions.pools["AuthorizerFunction"]
    before = authorizer.invocations
    # A token both authorizers accept, minted fresh so that no cached answer stands in for a call.
    token = stack.dev_issuer.mint(scopes=["read:test"])
    wire = Wire(stack.api_server.port)
    try:
        wire.send(request("GET", target, f"Authorization: Bearer {token}"))
        reply = wire.reply()
    finally:
        wire.close()
    if expected is None:
        assert (reply.status, reply.json()) == (404, {"message": "Not Found"})
        assert authorizer.invocations == before
        return
    body = reply.json()
    assert (reply.status, body["route"], body["authorizer"]) == (200, *expected)
    assert authorizer.invocations == before + (expected[1] == "lambda")
