"""Every answer the authorizer gives is one the Lambda runtime can send.

The python3.13 runtime (awslambdaric's ``lambda_runtime_marshaller``) writes a handler's return
value with simplejson and ``ensure_ascii=False``, then encodes it as UTF-8 for the Runtime API.
A string that is not valid Unicode (a lone surrogate, which Python's json parses from
``"\\ud800"`` in a token) passes the handler and fails there, after it has returned: the
invocation fails and API Gateway answers 500. So every answer to every row of the case table,
for both event shapes, goes through that very marshaller, in the bench environment that has it.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from tests.cases import CaseIssuer, build_header_value, load_cases
from tests.support import ROOT

BENCH_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
STAGE = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod"
# The runtime marshals exactly so (its marshaller reads AWS_EXECUTION_ENV when it is built).
MARSHAL = """
import json, os, sys
os.environ["AWS_EXECUTION_ENV"] = "AWS_Lambda_python3.13"
from awslambdaric.lambda_runtime_marshaller import LambdaMarshaller
marshaller = LambdaMarshaller()
failures = []
for name, response in json.loads(sys.stdin.read()):
    try:
        text, _ = marshaller.marshal_response(response)
        text.encode("utf-8")  # what LambdaRuntimeClient.post_invocation_result sends
    except Exception as exc:
        failures.append(f"{name}: {type(exc).__name__}")
print(json.dumps(failures))
"""


def runtime_failures(answers: list[tuple[str, Any]]) -> list[str]:
    # json.dumps escapes surrogates (ensure_ascii), so the child parses back the very strings.
    done = subprocess.run(
        [str(BENCH_PYTHON), "-c", MARSHAL], input=json.dumps(answers), capture_output=True, text=True, check=True
    )
    failures: list[str] = json.loads(done.stdout)
    return failures


@pytest.mark.skipif(not BENCH_PYTHON.exists(), reason=".venv-bench (awslambdaric) is absent: `make bench` creates it")
def test_every_answer_to_every_row_is_sendable_by_the_python313_runtime(
    issuer: CaseIssuer, load_authorizer: Callable[..., ModuleType], lambda_context
):
    answers: list[tuple[str, Any]] = []
    loaded: dict[tuple[tuple[str, str], ...], ModuleType] = {}
    for case in load_cases():
        settings = {"REQUIRED_SCOPES": ",".join(case.scopes), **case.authorizer_env(issuer)}
        key = tuple(sorted(settings.items()))
        app = loaded.get(key) or loaded.setdefault(key, load_authorizer(**settings))
        value = build_header_value(case, issuer)
        http_event = case.http_event(value)
        method, _, path = case.route.partition(" ")
        rest_event = {"type": "TOKEN", "authorizationToken": value, "methodArn": f"{STAGE}/{method}{path}"}
        answers.append((f"{case.id} (HTTP API)", app.handle(http_event)))
        answers.append((f"{case.id} (REST)", app.handle(rest_event)))
    assert runtime_failures(answers) == []


@pytest.mark.skipif(not BENCH_PYTHON.exists(), reason=".venv-bench (awslambdaric) is absent: `make bench` creates it")
def test_the_runtime_really_refuses_a_lone_surrogate():
    # What makes the test above able to fail: the marshaller's own verdict on such answers.
    answers = [("lone", {"isAuthorized": True, "context": {"sub": "\ud800"}}), ("fine", {"sub": "\U0001f600é"})]
    assert runtime_failures(answers) == ["lone: UnicodeEncodeError"]
