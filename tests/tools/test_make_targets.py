"""The make targets a user runs, with a stand-in for ``sam`` (tests/tools/fake_sam.py).

What can be run here without AWS is run for real: make, the tools, the issuer check against a
TLS issuer on 127.0.0.1. Only ``sam`` itself is stood in, and it records what it was asked; the
AWS calls the tools make themselves go to a local stand-in (tests/fake_aws.py) through
``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from devkit.deploy.__main__ import FIRST_DEPLOY_WITHOUT_TERMINAL
from devkit.parameters import ParameterError, format_override, parse_overrides
from tests.fake_aws import FakeAws, Stack
from tests.support import ROOT

FAKE_SAM = Path(__file__).with_name("fake_sam.py")
AUDIENCE = "https://api.example.com"


def empty_env(**extra: str) -> dict[str, str]:
    """A user's shell: PATH and HOME, nothing this repository's CI sets, and no AWS configuration."""
    nowhere = str(Path(os.environ.get("HOME", "/root")) / "no-such-dir-for-tests" / "aws")
    aws = {"AWS_CONFIG_FILE": nowhere, "AWS_SHARED_CREDENTIALS_FILE": nowhere, "AWS_EC2_METADATA_DISABLED": "true"}
    return {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), **aws, **extra}


def calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def make(
    *args: str, env: dict[str, str], stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# ---------------------------------------------------------------- defaults are a user's
def test_with_an_empty_environment_no_target_skips_image_pulls():
    dry = make("-n", "build", "deploy", "start-api", "invoke-test-health", env=empty_env())
    assert dry.returncode == 0, dry.stderr
    assert "--skip-pull-image" not in dry.stdout


def test_sam_build_gets_skip_pull_image_only_when_the_environment_asks(sam):
    script, log = sam
    base = empty_env(SAM=str(script), FAKE_SAM_LOG=str(log), BUILD_MODE="container")
    assert make("build", env=base).returncode == 0
    assert make("build", env={**base, "SAM_BUILD_FLAGS": "--skip-pull-image"}).returncode == 0
    user, ci = calls(log)
    assert user == ["build", "--use-container"]
    assert ci == ["build", "--use-container", "--skip-pull-image"]


def test_no_file_a_user_reads_points_outside_the_repository():
    # .ci/run alone may: it sets up this CI machine. A relative path that climbs out of the
    # repository is what a user's clone would not have: from the file's folder for Markdown
    # links, from the repository's root (where make and the tools run) for everything else.
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    outside = []
    for name in tracked.split():
        path = ROOT / name
        if name == ".ci/run" or not path.is_file() or path.suffix == ".json":
            continue
        for match in re.finditer(r"(?<![\w/.])(?:\.\./)+[\w.-]+", path.read_text(errors="replace")):
            base = path.parent if path.suffix == ".md" else ROOT
            if not (base / match.group()).resolve().is_relative_to(ROOT):
                outside.append(f"{name}: {match.group()}")
    assert outside == []


# ---------------------------------------------------------------- make invoke-* fails when the function does
LAMBDA_ERROR = '{"errorMessage": "boom", "errorType": "RuntimeError", "requestId": "1", "stackTrace": []}\n'


@pytest.mark.parametrize(
    ("stdout", "stderr", "status", "said"),
    [
        ('{"statusCode": 200, "body": "{}"}\n', "", 0, ""),
        (LAMBDA_ERROR, "", 2, "the function failed: RuntimeError: boom"),
        ("", "Function 'TestRouteFunction' timed out after 3 seconds\n", 2, "timed out after 3 seconds"),
        ("", "No response from invoke container for TestRouteFunction\n", 2, "No response from invoke container"),
    ],
    ids=["answer", "function-error", "timeout", "no-response"],
)
def test_make_invoke_fails_when_the_function_errors_or_times_out(sam, stdout, stderr, status, said):
    script, log = sam
    env = empty_env(
        SAM=str(script), FAKE_SAM_LOG=str(log), BUILD_MODE="container", FAKE_SAM_STDOUT=stdout, FAKE_SAM_STDERR=stderr
    )
    result = make("invoke-test-health", env=env)
    assert result.returncode == status, result.stderr
    assert said in result.stderr
    build, invoke = calls(log)
    assert build[:1] == ["build"] and "--build-dir" in build
    assert invoke[:3] == ["local", "invoke", "-t"]
    assert "--skip-pull-image" not in invoke


# ---------------------------------------------------------------- delete and smoke act on the saved stack
@pytest.fixture
def saved_samconfig(tmp_path: Path) -> Path:
    """samconfig.toml as `sam deploy --guided` leaves it after a deploy to eu-west-1."""
    path = tmp_path / "samconfig.toml"
    path.write_text(
        (ROOT / "samconfig.toml")
        .read_text()
        .replace(
            'capabilities = "CAPABILITY_IAM"',
            'stack_name = "orders-api"\nregion = "eu-west-1"\ncapabilities = "CAPABILITY_IAM"',
        )
    )
    return path


def test_delete_and_smoke_use_the_stack_and_region_guided_deploy_saved(saved_samconfig: Path, sam, aws: FakeAws):
    script, log = sam
    aws.stacks = {"orders-api": Stack(), "other": Stack()}
    env = empty_env(SAM=str(script), FAKE_SAM_LOG=str(log), **aws.env(region=None))
    aws.calls.clear()
    delete = make("delete", f"SAMCONFIG={saved_samconfig}", env=env, stdin="y\n")
    assert delete.returncode == 0, delete.stderr
    assert calls(log) == [["delete", "--stack-name", "orders-api", "--region", "eu-west-1"]]
    assert {call.region for call in aws.calls} == {"eu-west-1"}
    assert aws.calls[-1].parameters == {"StackName": "orders-api", "Version": "2010-05-15"}
    given = make("delete", f"SAMCONFIG={saved_samconfig}", "STACK=other", "REGION=ap-south-1", env=env)
    assert calls(log)[-1] == ["delete", "--stack-name", "other", "--region", "ap-south-1"], given.stderr
    smoke = make("-n", "smoke", f"SAMCONFIG={saved_samconfig}", env=env).stdout
    assert 'STACK_NAME="orders-api" AWS_REGION="eu-west-1"' in smoke


def test_without_a_saved_region_delete_takes_the_aws_configurations(sam, aws: FakeAws):
    script, log = sam
    aws.stacks = {"http-api-jwt-auth": Stack()}
    result = make("delete", env=empty_env(SAM=str(script), FAKE_SAM_LOG=str(log), **aws.env(region="sa-east-1")))
    assert result.returncode == 0, result.stderr
    assert calls(log) == [["delete", "--stack-name", "http-api-jwt-auth", "--region", "sa-east-1"]]


# ---------------------------------------------------------------- deploy: one command for people, one for CI
def deploy_step() -> dict[str, Any]:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "deploy.yml").read_text())
    (step,) = [s for s in workflow["jobs"]["deploy"]["steps"] if "make deploy" in s.get("run", "")]
    return step


def test_the_deploy_workflow_line_never_prompts(sam, tls_issuer, aws):
    # GIVEN the deploy workflow's own step, its ${{ vars.* }} filled in, no terminal, committed samconfig
    script, log = sam
    issuer, ca = tls_issuer
    step = deploy_step()
    values = {"ISSUER": issuer, "AUDIENCE": AUDIENCE, "DEPLOY_PARAMS": "RequiredScope=read:test"}
    env = empty_env(SAM=str(script), FAKE_SAM_LOG=str(log), BUILD_MODE="container", SSL_CERT_FILE=str(ca.bundle))
    # What aws-actions/configure-aws-credentials leaves for the steps after it.
    env.update({**aws.env(region="eu-west-1"), "AWS_REGION": "eu-west-1"})
    env.update({name: values[name] for name in step["env"]})

    # WHEN it runs
    result = subprocess.run(
        ["bash", "-c", step["run"]],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )

    # THEN the issuer was checked, the build ran, and sam deploy was asked nothing
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Aborted!" not in result.stderr
    build, deploy = calls(log)
    assert build == ["build", "--use-container"]
    assert deploy[0] == "deploy" and "--guided" not in deploy
    assert {"--no-confirm-changeset", "--no-fail-on-empty-changeset"} <= set(deploy)
    overrides = deploy[deploy.index("--parameter-overrides") + 1 :]
    assert parse_overrides(overrides) == {"Issuer": issuer, "Audience": AUDIENCE, "RequiredScope": "read:test"}
    assert f"issuer {issuer}" in result.stdout


def test_a_wrong_issuer_stops_the_deploy_before_anything_is_built(sam, tls_issuer, aws):
    script, log = sam
    issuer, ca = tls_issuer
    env = empty_env(
        SAM=str(script), FAKE_SAM_LOG=str(log), BUILD_MODE="container", SSL_CERT_FILE=str(ca.bundle), **aws.env()
    )
    result = make("deploy", f"ISSUER={issuer.rstrip('/')}", f"AUDIENCE={AUDIENCE}", env=env)
    assert result.returncode == 2
    assert issuer in result.stderr  # the value to use instead, with its trailing slash
    assert calls(log) == []


def test_the_first_deploy_without_a_terminal_says_how_and_builds_nothing(sam):
    script, log = sam
    result = make("deploy", env=empty_env(SAM=str(script), FAKE_SAM_LOG=str(log), BUILD_MODE="container"))
    assert result.returncode == 2
    assert FIRST_DEPLOY_WITHOUT_TERMINAL in result.stderr
    assert calls(log) == []


def test_saved_parameters_are_checked_then_deployed_as_saved(sam, tls_issuer, tmp_path, aws):
    script, log = sam
    issuer, ca = tls_issuer
    config = tmp_path / "samconfig.toml"
    saved = f'parameter_overrides = "Issuer=\\"{issuer}\\" Audience=\\"{AUDIENCE}\\""'
    config.write_text((ROOT / "samconfig.toml").read_text().replace("resolve_s3 = true", f"resolve_s3 = true\n{saved}"))
    env = empty_env(
        SAM=str(script), FAKE_SAM_LOG=str(log), BUILD_MODE="container", SSL_CERT_FILE=str(ca.bundle), **aws.env()
    )
    result = make("deploy", f"SAMCONFIG={config}", env=env, stdin="y\n")
    assert result.returncode == 0, result.stderr[-2000:]
    _, deploy = calls(log)
    # That samconfig.toml supplies the rest, and people confirm the change set.
    assert deploy == ["deploy", "--config-file", str(config.resolve())]


def test_issuer_and_audience_are_given_once(sam):
    script, log = sam
    env = empty_env(SAM=str(script), FAKE_SAM_LOG=str(log), BUILD_MODE="container")
    result = make("deploy", "ISSUER=https://a.example/", "AUDIENCE=x", "PARAMS=Issuer=https://b.example/", env=env)
    assert result.returncode == 2
    assert "give Issuer once: as ISSUER/AUDIENCE, not also in PARAMS" in result.stderr
    assert calls(log) == []


@settings(max_examples=300, deadline=None)
@given(value=st.text(alphabet=st.characters(exclude_categories=["Cs", "Cc"]), max_size=40))
def test_parameter_values_reach_sam_exactly_as_given(value: str):
    # SAM CLI's own parser reads back what devkit.deploy.__main__ writes: spaces, quotes, JSON included.
    # The few values it cannot carry (a backslash before a quote, a space or the end) are refused.
    try:
        argument = format_override("RequiredClaims", value)
    except ParameterError:
        assert re.search(r"\\(?=[ \"']|$)", value)
        return
    assert parse_overrides([argument]) == {"RequiredClaims": value}


# ---------------------------------------------------------------- one parameter check at every door
def test_a_misquoted_params_value_is_refused_in_one_line_before_anything_runs(sam, aws):
    script, log = sam
    aws.calls.clear()
    env = empty_env(SAM=str(script), FAKE_SAM_LOG=str(log), BUILD_MODE="container", **aws.env())
    result = make(
        "deploy", "ISSUER=https://t.example/", f"AUDIENCE={AUDIENCE}", "PARAMS=RequiredScope=read test", env=env
    )
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == (
        "error: PARAMS: 'test' is not a Name=Value pair, and sam deploy would drop it; "
        "quote the whole value: RequiredScope='read test'"
    )
    assert (calls(log), aws.calls) == ([], [])


def test_an_auth0_issuer_without_its_slash_is_refused_offline_too(sam, aws):
    script, log = sam
    env = empty_env(SAM=str(script), FAKE_SAM_LOG=str(log), BUILD_MODE="container", SKIP_ISSUER_CHECK="1", **aws.env())
    result = make("deploy", "ISSUER=https://example-tenant.us.auth0.com", f"AUDIENCE={AUDIENCE}", env=env)
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == (
        "preflight: error: parameter Issuer: issuer 'https://example-tenant.us.auth0.com' lacks the trailing slash "
        "Auth0 puts in iss (use 'https://example-tenant.us.auth0.com/')"
    )
    assert calls(log) == []


# ---------------------------------------------------------------- make alone
def test_make_alone_says_where_to_start_and_lists_the_daily_targets_before_maintenance():
    result = make(env=empty_env())
    assert result.returncode == 0, result.stderr
    text = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)
    start, _, listing = text.partition("\n\n")
    assert start.splitlines()[0] == "Start here:"
    assert [line.split()[1] for line in start.splitlines()[1:]] == ["install", "local", "test", "deploy"]
    targets = [line.split()[0] for line in listing.splitlines() if line.startswith("  ")]
    assert targets.index("install") < targets.index("test") < targets.index("local") < targets.index("lock")
    assert targets[-2:] == ["lock", "lock-checkov"]
