"""The MCP server function under the REAL ``sam local invoke``: built for python3.13 and run in Lambda's image.

Needs a Docker engine (skipped, with the reason, when there is none), as test_sam_local.py does,
whose build fixtures these tests share; and the template's ``McpServerFunction`` (CodeUri
src/mcp_server/, Handler app.lambda_handler), skipped with the reason until it is there.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from tests.docker.test_sam_local import LOCAL_FLAGS, answer, run

# Fixtures: the Docker check and the local build are test_sam_local.py's, done the same way here.
from tests.docker.test_sam_local import docker as docker
from tests.docker.test_sam_local import local_build as local_build
from tests.support import EVENTS, ROOT, SAM, load_event

pytestmark = [pytest.mark.docker, pytest.mark.slow]
FUNCTION = "McpServerFunction"
ISSUER = "https://tenant.example.auth0.com/"


@pytest.fixture(scope="module")
def in_template() -> None:
    if not re.search(rf"^  {FUNCTION}:\s*$", (ROOT / "template.yaml").read_text(), re.MULTILINE):
        pytest.skip(f"template.yaml has no {FUNCTION} yet")


@pytest.fixture(scope="module")
def env_vars(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sam-mcp") / "env.json"
    path.write_text(json.dumps({FUNCTION: {"ISSUER": ISSUER, "MCP_RESOURCE_URL": "", "MCP_SCOPES": "read:test"}}))
    return path


def invoke_event(template: Path, event_file: str, env_vars: Path) -> dict:
    argv: list[str | Path] = [SAM, "local", "invoke", FUNCTION, "-t", template, "-e", EVENTS / event_file]
    argv += ["--env-vars", env_vars]
    reply: dict = answer(run(sys.executable, "-m", "devkit.deploy.invoke", "--", *argv, *LOCAL_FLAGS))
    return reply


def test_sam_local_invoke_answers_whoami_with_the_events_authorizer_context(in_template, local_build, env_vars):
    reply = invoke_event(local_build, "mcp-tools-call.json", env_vars)
    assert reply["statusCode"] == 200
    context = load_event("mcp-tools-call.json")["requestContext"]["authorizer"]["lambda"]
    assert json.loads(reply["body"])["result"]["structuredContent"] == {
        "sub": context["sub"],
        "clientId": context["clientId"],
        "scopes": context["scope"].split(),
    }


def test_sam_local_invoke_answers_the_metadata(in_template, local_build, env_vars):
    reply = invoke_event(local_build, "mcp-metadata.json", env_vars)
    assert (reply["statusCode"], reply["headers"]["cache-control"]) == (200, "max-age=300")
    document = json.loads(reply["body"])
    domain = load_event("mcp-metadata.json")["requestContext"]["domainName"]
    assert document["resource"] == f"https://{domain}/mcp"
    assert (document["authorization_servers"], document["scopes_supported"]) == ([ISSUER], ["read:test"])
