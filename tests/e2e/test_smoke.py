"""make smoke: skips cleanly without settings, passes against a correct stack, fails on a wrong one.

The deployed path needs AWS and Auth0; here the same script runs against the local stack,
whose dev issuer serves an Auth0-shaped client-credentials endpoint, and boto3 is stubbed
only where CloudFormation would answer.
"""

from __future__ import annotations

import os
import subprocess
import sys

import boto3
import pytest
from botocore.stub import Stubber

from devkit import DEFAULT_AUDIENCE
from devkit.deploy.smoke import SmokeError, stack_settings
from tests.e2e.conftest import start_stack
from tests.support import ROOT


def smoke(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # Without CI/SMOKE_REQUIRED from the machine running the tests: each test says which it means.
    unset = ("AUTH0_", "STACK_NAME", "AWS_SAM_STACK", "CI", "SMOKE_REQUIRED")
    base = {k: v for k, v in os.environ.items() if not k.startswith(unset)}
    return subprocess.run(
        [sys.executable, "-m", "devkit.deploy.smoke", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_without_settings_it_skips_with_the_reason_and_succeeds():
    result = smoke()
    assert result.returncode == 0
    assert result.stdout.strip() == (
        "smoke: skipped, nothing was checked: set STACK_NAME, AUTH0_DOMAIN, AUTH0_CLIENT_ID, AUTH0_CLIENT_SECRET, "
        "AUTH0_AUDIENCE (see docs/deploy.md, 'Smoke test')"
    )


@pytest.mark.parametrize("value", ["true", "1", "TRUE"])
def test_in_ci_without_settings_it_fails_in_one_line(value):
    result = smoke(CI=value)
    assert (result.returncode, result.stdout) == (1, "")
    (line,) = result.stderr.splitlines()
    assert line.startswith("smoke: error: set STACK_NAME, AUTH0_DOMAIN, AUTH0_CLIENT_ID, AUTH0_CLIENT_SECRET,")
    assert "rather than pass having tested nothing" in line


def test_ci_false_is_by_hand():
    assert smoke(CI="false").returncode == 0


@pytest.fixture(scope="module")
def scoped_stack():
    local = start_stack(RequiredScope="read:test")
    yield local
    local.close()


def auth0_like(stack) -> dict[str, str]:
    return {
        "AUTH0_DOMAIN": stack.dev_issuer.issuer,
        "AUTH0_CLIENT_ID": "smoke-client",
        "AUTH0_CLIENT_SECRET": "unused-locally",
        "AUTH0_AUDIENCE": DEFAULT_AUDIENCE,
        "AUTH0_LIMITED_CLIENT_ID": "limited-client",
    }


def test_every_check_passes_against_a_correct_stack(scoped_stack):
    result = smoke("--api-endpoint", scoped_stack.api_url, "--required-scope", "read:test", **auth0_like(scoped_stack))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert sum(line.startswith("ok ") for line in lines) == 9
    assert lines[-1] == "smoke: 9/9 passed"


def test_a_stack_that_does_not_enforce_the_scope_fails(scoped_stack):
    # Claim a scope the stack does not require: the "token without it" checks must fail.
    local = start_stack()
    try:
        result = smoke("--api-endpoint", local.api_url, "--required-scope", "admin", **auth0_like(local))
    finally:
        local.close()
    assert result.returncode == 1
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert failed == [
        "FAIL JWT route, token without admin: 200 (expected 403)",
        "FAIL Lambda route, token without admin: 200 (expected 403)",
    ]


def test_an_unreachable_token_endpoint_is_one_error_line(scoped_stack):
    env = {**auth0_like(scoped_stack), "AUTH0_DOMAIN": "http://127.0.0.1:9"}
    result = smoke("--api-endpoint", scoped_stack.api_url, **env)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("smoke: error: cannot reach http://127.0.0.1:9/.well-known/openid-configuration")


def cloudformation() -> tuple[object, Stubber]:
    client = boto3.client("cloudformation", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


def test_stack_outputs_and_parameters_are_read_with_describe_stacks():
    client, stubber = cloudformation()
    stack = {
        "StackName": "jwt-api",
        "CreationTime": "2026-11-23T00:00:00Z",
        "StackStatus": "CREATE_COMPLETE",
        "Outputs": [
            {"OutputKey": "JwtTestUrl", "OutputValue": "https://a.example/test"},
            {"OutputKey": "LambdaTestUrl", "OutputValue": "https://a.example/lambda/test"},
            {"OutputKey": "HealthUrl", "OutputValue": "https://a.example/health"},
        ],
        "Parameters": [{"ParameterKey": "RequiredScope", "ParameterValue": "read:test"}],
    }
    stubber.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": "jwt-api"})
    with stubber:
        outputs, parameters = stack_settings(client, "jwt-api")
    stubber.assert_no_pending_responses()
    assert outputs["LambdaTestUrl"] == "https://a.example/lambda/test"
    assert parameters == {"RequiredScope": "read:test"}


def test_a_missing_stack_is_a_clear_error():
    client, stubber = cloudformation()
    stubber.add_client_error(
        "describe_stacks", "ValidationError", "Stack with id nope does not exist", expected_params={"StackName": "nope"}
    )
    with stubber, pytest.raises(SmokeError) as caught:
        stack_settings(client, "nope")
    assert str(caught.value) == "nothing deployed: no stack nope in us-east-1; STACK= and REGION= name another"


def test_another_cloudformation_error_is_quoted():
    client, stubber = cloudformation()
    stubber.add_client_error("describe_stacks", "AccessDenied", "not allowed", expected_params={"StackName": "x"})
    with stubber, pytest.raises(SmokeError, match=r"^cannot read stack x: not allowed$"):
        stack_settings(client, "x")


def test_another_projects_stack_is_refused():
    client, stubber = cloudformation()
    stack = {"StackName": "other", "CreationTime": "2026-11-23T00:00:00Z", "StackStatus": "CREATE_COMPLETE"}
    stubber.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": "other"})
    with stubber, pytest.raises(SmokeError, match="has no output HealthUrl, JwtTestUrl, LambdaTestUrl"):
        stack_settings(client, "other")
