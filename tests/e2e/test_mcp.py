"""The MCP route through make local's gateway and Lambda authorizer, driven by the official MCP client.

The client starts with no token: the 401 sends it to the RFC 9728 metadata, the metadata to the
dev issuer, the issuer's token endpoint gives it a token for the MCP server's URL (RFC 8707
``resource``), and ``whoami`` answers with who the authorizer said it is. Tokens for the rest of
the API are refused on /mcp, and MCP tokens everywhere else.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from devkit.local.serve import LocalStack
from devkit.mcp_client import run_whoami
from tests.e2e.conftest import http, start_stack
from tests.support import ROOT

API_AUDIENCE = "https://api.example.com"
INITIALIZE = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).encode()
MCP_HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


@pytest.fixture(scope="module")
def scoped() -> Iterator[LocalStack]:
    """A stack whose protected routes (/mcp too) require a scope."""
    local = start_stack(RequiredScope="mcp:tools")
    yield local
    local.close()


def mcp_url(stack: LocalStack) -> str:
    return f"{stack.api_url}/mcp"


def test_the_official_client_finds_its_own_way_from_a_401_to_whoami(stack: LocalStack):
    session = run_whoami(mcp_url(stack), client_id="mcp-e2e", client_secret="s", issuer=stack.dev_issuer.issuer)

    assert session.protocol_version == "2026-07-28"
    assert session.tools == ["whoami"]
    # Who the authorizer said the caller is: the token's sub and client, and nothing of the token.
    assert session.identity == {"sub": "mcp-e2e@clients", "clientId": "mcp-e2e", "scopes": []}
    issuer = stack.dev_issuer.issuer
    assert session.exchanges[:5] == [
        ("POST", mcp_url(stack), 401),  # no token: API Gateway's 401, no challenge header
        ("GET", f"{stack.api_url}/.well-known/oauth-protected-resource/mcp", 200),
        ("GET", f"{issuer}.well-known/oauth-authorization-server", 404),
        ("GET", f"{issuer}.well-known/openid-configuration", 200),
        ("POST", f"{issuer}oauth/token", 200),
    ]
    assert session.exchanges[5:] == [("POST", mcp_url(stack), 200)] * 3  # discover, tools/list, tools/call


def test_without_a_token_the_answer_is_401_and_the_metadata_names_the_issuer(stack: LocalStack):
    reply = http(mcp_url(stack), method="POST", headers=MCP_HEADERS, body=INITIALIZE)
    assert (reply.status, reply.json()) == (401, {"message": "Unauthorized"})
    for path in ("/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"):
        metadata = http(stack.api_url + path)
        assert metadata.status == 200, path
        assert metadata.json()["resource"] == mcp_url(stack)
        assert metadata.json()["authorization_servers"] == [stack.dev_issuer.issuer]
        assert metadata.json()["bearer_methods_supported"] == ["header"]
        # The route requires none, and says so: a client then asks for none (not every scope the issuer lists).
        assert metadata.json()["scopes_supported"] == []


def test_an_mcp_token_opens_mcp_only_and_an_api_token_everything_but_mcp(stack: LocalStack):
    mcp_token = stack.dev_issuer.mint(audience=mcp_url(stack))
    api_token = stack.dev_issuer.mint(audience=API_AUDIENCE)

    assert http(mcp_url(stack), mcp_token, "POST", MCP_HEADERS, INITIALIZE).status == 200
    # RFC 8707: the MCP server refuses tokens not issued for it; a Lambda authorizer's deny is 403.
    assert http(mcp_url(stack), api_token, "POST", MCP_HEADERS, INITIALIZE).status == 403
    # ... and an MCP token is no key to the rest of the API, on either authorizer.
    assert http(f"{stack.api_url}/lambda/test", mcp_token).status == 403
    assert http(f"{stack.api_url}/test", mcp_token).status == 401
    assert http(f"{stack.api_url}/lambda/test", api_token).status == 200
    assert http(f"{stack.api_url}/test", api_token).status == 200
    # GET and DELETE are the authorizer's too: an API token gets no 405 to learn from.
    assert http(mcp_url(stack), api_token, "GET").status == 403
    reply = http(mcp_url(stack), mcp_token, "GET")
    assert (reply.status, reply.headers["allow"]) == (405, "POST")


def test_a_token_without_the_routes_scope_is_403_and_the_metadata_says_which_to_ask_for(scoped: LocalStack):
    url = mcp_url(scoped)
    metadata = http(f"{scoped.api_url}/.well-known/oauth-protected-resource/mcp").json()
    assert metadata["scopes_supported"] == ["mcp:tools"]
    unscoped = scoped.dev_issuer.mint(audience=url)
    assert http(url, unscoped, "POST", MCP_HEADERS, INITIALIZE).status == 403  # insufficient_scope
    # A client that asks for what the metadata lists gets in.
    session = run_whoami(url, client_id="c", client_secret="s", issuer=scoped.dev_issuer.issuer, scope="mcp:tools")
    assert session.identity["scopes"] == ["mcp:tools"]


def test_make_mcp_is_one_line_when_nothing_answers():
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "devkit.local",
            "mcp",
            "--url",
            "http://127.0.0.1:9/mcp",
            "--issuer",
            "http://127.0.0.1:9/",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: MCP client against http://127.0.0.1:9/mcp: ")
    assert "check MCP_URL" in lines[0]


def test_make_mcp_against_make_local_prints_whoami(stack: LocalStack):
    done = subprocess.run(
        [sys.executable, "-m", "devkit.local", "mcp", "--url", mcp_url(stack), "--issuer", stack.dev_issuer.issuer],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"sub": "mcp-dev-client@clients", "clientId": "mcp-dev-client", "scopes": []}
