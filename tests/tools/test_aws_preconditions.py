"""AWS preconditions come first: make deploy, make delete and make smoke without credentials or a
region, with credentials AWS refuses, and with a stack that does not exist.

Everything runs for real through make, with the stand-in ``sam`` of tests/tools/fake_sam.py and
the local AWS stand-in of tests/fake_aws.py (``AWS_ENDPOINT_URL``); the user's own AWS
configuration is out of reach (``empty_env``).
"""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.fake_aws import ACCOUNT, ARN, FakeAws, Stack
from tests.support import ROOT
from tests.tools.test_make_targets import AUDIENCE, calls, empty_env, make

CREDENTIALS = "run `aws configure` (or `aws sso login`), or set AWS_PROFILE=<a configured profile>"
REGION = "give REGION=<region> (for example REGION=eu-west-1), or set one for your profile with `aws configure`"
ISSUER_ARGS = ("ISSUER=https://example-tenant.us.auth0.com/", f"AUDIENCE={AUDIENCE}")


def one_error(result: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a failed make target, without make's own trailer."""
    lines = [line for line in result.stderr.splitlines() if not line.startswith("make: ***")]
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def saved_issuer(tmp_path: Path) -> Path:
    """samconfig.toml after a guided deploy: a saved Issuer, no region."""
    config = tmp_path / "samconfig.toml"
    saved = f'parameter_overrides = "Issuer=\\"https://example-tenant.us.auth0.com/\\" Audience=\\"{AUDIENCE}\\""'
    config.write_text((ROOT / "samconfig.toml").read_text().replace("resolve_s3 = true", f"resolve_s3 = true\n{saved}"))
    return config


# ---------------------------------------------------------------- make deploy, without prompts
@pytest.mark.parametrize("path", ["issuer-given", "saved-parameters"])
def test_deploy_without_credentials_stops_first_in_one_line(sam, saved_issuer, path):
    script, log = sam
    args = ISSUER_ARGS if path == "issuer-given" else (f"SAMCONFIG={saved_issuer}",)
    env = empty_env(SAM=str(script), FAKE_SAM_LOG=str(log), BUILD_MODE="container", AWS_DEFAULT_REGION="eu-west-1")
    result = make("deploy", *args, env=env, stdin="y\n")
    assert one_error(result) == f"error: no AWS credentials: {CREDENTIALS}"
    # Nothing after it ran: no issuer check (its line), no build, no sam deploy.
    assert "parameters valid" not in result.stdout and " checked: " not in result.stdout
    assert calls(log) == []


def test_deploy_without_a_region_names_the_make_variable(sam, aws: FakeAws):
    script, log = sam
    env = empty_env(SAM=str(script), FAKE_SAM_LOG=str(log), BUILD_MODE="container", **aws.env(region=None))
    result = make("deploy", *ISSUER_ARGS, env=env)
    assert one_error(result) == f"error: no AWS region: {REGION}"
    assert calls(log) == []


def test_deploy_without_credentials_or_region_says_both_in_one_line(sam):
    script, log = sam
    result = make("deploy", *ISSUER_ARGS, env=empty_env(SAM=str(script), FAKE_SAM_LOG=str(log)))
    assert one_error(result) == f"error: no AWS credentials and no AWS region: {CREDENTIALS}; {REGION}"
    assert calls(log) == []


def test_credentials_aws_refuses_stop_the_deploy_before_the_build(sam, aws: FakeAws):
    script, log = sam
    aws.refuse = ("ExpiredToken", "The security token included in the request is expired")
    try:
        env = empty_env(SAM=str(script), FAKE_SAM_LOG=str(log), BUILD_MODE="container", **aws.env())
        result = make("deploy", *ISSUER_ARGS, env=env)
    finally:
        aws.refuse = None
    assert one_error(result) == (
        f"error: AWS refused these credentials (ExpiredToken: The security token included in the request is "
        f"expired): {CREDENTIALS}"
    )
    assert calls(log) == []


def test_the_region_given_is_the_one_checked_and_the_account_is_named(sam, aws: FakeAws):
    script, log = sam
    aws.calls.clear()
    env = empty_env(SAM=str(script), FAKE_SAM_LOG=str(log), BUILD_MODE="container", SKIP_ISSUER_CHECK="1")
    result = make("deploy", *ISSUER_ARGS, "REGION=ap-south-1", env={**env, **aws.env(region="eu-west-1")})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:1] == [f"AWS account {ACCOUNT} as {ARN}, region ap-south-1"], result.stdout
    assert lines[1:2] and lines[1].startswith("parameters valid"), result.stdout
    assert [(call.action, call.region) for call in aws.calls] == [("GetCallerIdentity", "ap-south-1")]
    assert calls(log)[-1][-2:] == ["--region", "ap-south-1"]


# ---------------------------------------------------------------- make deploy, guided (in a terminal)
def in_a_terminal(*args: str, env: dict[str, str], answers: bytes = b"") -> tuple[int, str]:
    """make with a terminal on stdin, as a person runs it; what it printed there, and its status."""
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            ["make", "--no-print-directory", *args],
            cwd=ROOT,
            env=env,
            stdin=terminal,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        os.write(controller, answers + b"\x04")  # then end of input: whatever asks next is cancelled
        output, _ = process.communicate(timeout=120)
    finally:
        os.close(controller)
        os.close(terminal)
    return process.returncode, output.decode(errors="replace")


def test_a_guided_deploy_without_credentials_asks_nothing(sam):
    script, log = sam
    status, output = in_a_terminal("deploy", env=empty_env(SAM=str(script), FAKE_SAM_LOG=str(log)))
    assert status == 2
    assert f"error: no AWS credentials: {CREDENTIALS}" in output
    assert "Issuer, exactly as" not in output  # the first prompt
    assert calls(log) == []


def test_a_guided_deploy_leaves_the_region_to_sams_own_prompt(sam, aws: FakeAws):
    # No region anywhere: SAM CLI's guided deploy asks for one (default us-east-1), so it is no error.
    script, log = sam
    env = empty_env(SAM=str(script), FAKE_SAM_LOG=str(log), **aws.env(region=None))
    status, output = in_a_terminal("deploy", env=env)
    assert f"AWS account {ACCOUNT} as {ARN}, region: SAM CLI asks below" in output
    assert "Issuer, exactly as" in output
    assert (status, "error: deploy cancelled" in output) == (2, True)
    assert calls(log) == []


# ---------------------------------------------------------------- make delete
def test_delete_says_nothing_deployed_and_asks_nothing_when_there_is_no_stack(sam, aws: FakeAws):
    script, log = sam
    aws.stacks = {}
    result = make("delete", env=empty_env(SAM=str(script), FAKE_SAM_LOG=str(log), **aws.env()))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == (
        "nothing deployed: no stack http-api-jwt-auth in eu-west-1; STACK= and REGION= name another"
    )
    assert calls(log) == []  # sam delete, and its "Are you sure?", never ran


def test_delete_of_an_existing_stack_hands_over_to_sam_delete(sam, aws: FakeAws):
    script, log = sam
    aws.stacks = {"orders-api": Stack(status="UPDATE_COMPLETE")}
    env = empty_env(SAM=str(script), FAKE_SAM_LOG=str(log), **aws.env())
    result = make("delete", "STACK=orders-api", env=env)
    assert result.returncode == 0, result.stderr
    assert "stack orders-api (UPDATE_COMPLETE) in eu-west-1" in result.stdout
    assert calls(log) == [["delete", "--stack-name", "orders-api", "--region", "eu-west-1"]]


def test_delete_with_a_sam_that_cannot_start_is_one_line(aws: FakeAws, tmp_path: Path):
    aws.stacks = {"http-api-jwt-auth": Stack(status="CREATE_COMPLETE")}
    missing = tmp_path / "no-such-sam"
    result = make("delete", env=empty_env(SAM=str(missing), **aws.env()))
    assert one_error(result) == f"error: cannot run {missing}: No such file or directory"


@pytest.mark.parametrize(
    ("aws_env", "expected"),
    [
        ({"AWS_DEFAULT_REGION": "eu-west-1"}, f"error: no AWS credentials: {CREDENTIALS}"),
        ({"AWS_ACCESS_KEY_ID": "AKIAFAKE", "AWS_SECRET_ACCESS_KEY": "x"}, f"error: no AWS region: {REGION}"),
    ],
    ids=["no-credentials", "no-region"],
)
def test_delete_speaks_in_make_variables(sam, aws_env, expected):
    script, log = sam
    result = make("delete", env=empty_env(SAM=str(script), FAKE_SAM_LOG=str(log), **aws_env))
    assert one_error(result) == expected
    assert calls(log) == []


# ---------------------------------------------------------------- make smoke
AUTH0 = {
    "AUTH0_DOMAIN": "example-tenant.us.auth0.com",
    "AUTH0_CLIENT_ID": "id",
    "AUTH0_CLIENT_SECRET": "secret",
    "AUTH0_AUDIENCE": AUDIENCE,
}


def test_smoke_says_nothing_deployed_when_there_is_no_stack(aws: FakeAws):
    aws.stacks = {}
    result = make("smoke", "REGION=eu-west-1", env=empty_env(**AUTH0, **aws.env(region=None)))
    assert one_error(result) == (
        "smoke: error: nothing deployed: no stack http-api-jwt-auth in eu-west-1; STACK= and REGION= name another"
    )


def test_smoke_without_a_region_names_the_make_variable(aws: FakeAws):
    result = make("smoke", env=empty_env(**AUTH0, **aws.env(region=None)))
    assert one_error(result) == f"smoke: error: no AWS region: {REGION}"


def test_smoke_without_credentials_names_aws_configure():
    result = make("smoke", "REGION=eu-west-1", env=empty_env(**AUTH0))
    assert one_error(result) == f"smoke: error: no AWS credentials: {CREDENTIALS}"


# ---------------------------------------------------------------- no vacuous green in CI
def test_by_hand_smoke_without_auth0_settings_skips_and_says_so():
    result = make("smoke", env=empty_env())
    assert result.returncode == 0
    assert result.stdout.startswith("smoke: skipped, nothing was checked: set AUTH0_DOMAIN, AUTH0_CLIENT_ID,")


@pytest.mark.parametrize("setting", [{"CI": "true"}, {"SMOKE_REQUIRED": "1"}], ids=["CI", "SMOKE_REQUIRED"])
def test_in_ci_smoke_without_auth0_settings_fails(setting):
    result = make("smoke", env=empty_env(**setting))
    assert one_error(result).startswith(
        "smoke: error: set AUTH0_DOMAIN, AUTH0_CLIENT_ID, AUTH0_CLIENT_SECRET, AUTH0_AUDIENCE: in CI"
    )


def test_the_deploy_workflows_smoke_step_fails_when_a_secret_is_missing():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "deploy.yml").read_text())
    (step,) = [s for s in workflow["jobs"]["deploy"]["steps"] if s.get("run") == "make smoke"]
    assert step["env"]["SMOKE_REQUIRED"] == "1"
    # The step as GitHub runs it when AUTH0_CLIENT_SECRET was never set: ${{ secrets.* }} is empty.
    env = {name: "" if "${{" in str(value) else str(value) for name, value in step["env"].items()}
    env.update({name: AUTH0[name] for name in AUTH0 if name != "AUTH0_CLIENT_SECRET"})
    result = subprocess.run(
        ["bash", "-c", step["run"]], cwd=ROOT, env=empty_env(**env), capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "smoke: error: set AUTH0_CLIENT_SECRET: in CI" in result.stderr
