"""The MCP function in processes of its own: what a new container imports, and the sample events
beside SAM CLI's own generator. (Its handler's answers, in process: tests/unit/test_mcp_server.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.functional.test_events import generated, missing_keys
from tests.support import EVENTS
from tests.unit.test_mcp_server import MCP_SERVER_DIR, PATHS, get, mcp_event, request

PROBE = """
import json, os, sys, app
answer = app.lambda_handler(json.loads(os.environ["EVENT"]), None)
loaded = sorted({m.split(".")[0] for m in sys.modules} & {"mcp", "mcp_types", "anyio", "starlette", "pydantic"})
print(json.dumps({"status": answer["statusCode"], "loaded": loaded}))
"""


def served_in_a_new_container(event: dict[str, Any]) -> dict[str, Any]:
    # The function's own directory as the working directory, as Lambda's /var/task.
    env = {"PATH": "/usr/bin:/bin", "EVENT": json.dumps(event), "ISSUER": "https://issuer.example/"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=MCP_SERVER_DIR, env=env, capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize("path", PATHS)
def test_the_metadata_route_never_imports_the_mcp_sdk(path):
    assert served_in_a_new_container(get(path)) == {"status": 200, "loaded": []}


def test_the_probe_sees_the_sdk_once_mcp_is_served():
    # The same probe, after a POST /mcp: the check above can see the SDK when it is there.
    result = served_in_a_new_container(mcp_event(request("tools/list")))
    assert result == {"status": 200, "loaded": ["anyio", "mcp", "mcp_types", "pydantic", "starlette"]}


def test_the_sample_events_have_every_field_of_sam_clis_http_api_generator():
    reference = generated("apigateway", "http-api-proxy")
    for name in ("mcp-tools-call.json", "mcp-metadata.json"):
        # What API Gateway leaves out here: fields with nothing to hold (no cookies, query, path or
        # stage variables, no mTLS), the JWT authorizer's block (the Lambda authorizer's instead),
        # and on the public metadata route the authorizer and body.
        gaps = set(missing_keys(reference, json.loads((EVENTS / name).read_text())))
        assert gaps <= {
            "cookies",
            "queryStringParameters",
            "pathParameters",
            "stageVariables",
            "requestContext.authentication",
            "requestContext.authorizer.jwt",
            "requestContext.authorizer",
            "body",
        }
        assert ("body" in gaps, "requestContext.authorizer" in gaps) == (name == "mcp-metadata.json",) * 2
