"""``make smoke``: check a deployed stack end to end with a real Auth0 token.

Reads the stack's outputs with boto3, gets a token from Auth0's client-credentials endpoint,
then expects, on both protected routes: 200 with the token, 401 without one, 401 (JWT route)
or 403 (Lambda route) with a tampered signature, and 403 for a token that lacks
``RequiredScope`` when the stack sets one; and 200 on ``/health``.

Environment: ``STACK_NAME`` (or ``AWS_SAM_STACK_NAME``), ``AWS_REGION`` (``make smoke`` sets both
from ``STACK=``/``REGION=`` or samconfig.toml; without a region, the AWS configuration's),
``AUTH0_DOMAIN``, ``AUTH0_CLIENT_ID``, ``AUTH0_CLIENT_SECRET``, ``AUTH0_AUDIENCE``; optionally
``AUTH0_LIMITED_CLIENT_ID`` and ``AUTH0_LIMITED_CLIENT_SECRET`` (an application not granted
``RequiredScope``) for the 403 on the JWT route.

Without the required Auth0 settings it skips, says so, and exits 0 when run by hand. In CI
(``CI=true``, which GitHub Actions and most CI services set, or ``SMOKE_REQUIRED=1``, which the
deploy workflow sets on purpose) it fails instead: a skipped smoke test after a production deploy
would be a green check that tested nothing. AWS credentials and region are checked before the
stack is read, and a stack that does not exist is "nothing deployed", not a botocore message.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any, NamedTuple

from devkit.deploy import aws
from devkit.tokens import TokenError, auth0_token, flip_signature, missing_auth0_settings

# Set (to 1, true or yes), they make missing Auth0 settings an error instead of a skip.
REQUIRED_WHEN = ("CI", "SMOKE_REQUIRED")


class SmokeError(Exception):
    """The smoke test could not run; the message says why in one line."""


class Check(NamedTuple):
    name: str
    url: str
    token: str | None
    expected: int


def stack_settings(cloudformation: Any, stack: str) -> tuple[dict[str, str], dict[str, str]]:
    """The stack's outputs and parameters, by key."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        (description,) = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "ValidationError" and "does not exist" in str(error.get("Message", "")):
            raise SmokeError(aws.nothing_deployed(stack, cloudformation.meta.region_name)) from None
        raise SmokeError(f"cannot read stack {stack}: {error.get('Message', exc)}") from exc
    except BotoCoreError as exc:
        raise SmokeError(f"cannot read stack {stack}: {exc}") from exc
    outputs = {o["OutputKey"]: o["OutputValue"] for o in description.get("Outputs", [])}
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in description.get("Parameters", [])}
    missing = {"JwtTestUrl", "LambdaTestUrl", "HealthUrl"} - set(outputs)
    if missing:
        raise SmokeError(f"stack {stack} has no output {', '.join(sorted(missing))}: is it this project's stack?")
    return outputs, parameters


def plan(
    outputs: Mapping[str, str], token: str, required_scope: str, limited_token: str | None
) -> tuple[list[Check], list[str]]:
    """The requests to make and their expected status, plus the checks that cannot run, with why."""
    jwt_url, lambda_url = outputs["JwtTestUrl"], outputs["LambdaTestUrl"]
    tampered = flip_signature(token)
    checks = [
        Check("health is public", outputs["HealthUrl"], None, 200),
        Check("JWT route, valid token", jwt_url, token, 200),
        Check("Lambda route, valid token", lambda_url, token, 200),
        Check("JWT route, no token", jwt_url, None, 401),
        Check("Lambda route, no token", lambda_url, None, 401),
        Check("JWT route, tampered signature", jwt_url, tampered, 401),
        Check("Lambda route, tampered signature", lambda_url, tampered, 403),
    ]
    skipped = []
    if not required_scope:
        skipped.append("403 for a missing scope: the stack's RequiredScope is empty")
    elif limited_token is None:
        skipped.append("403 for a missing scope: set AUTH0_LIMITED_CLIENT_ID/SECRET (an app without the scope)")
    else:
        checks.append(Check(f"JWT route, token without {required_scope}", jwt_url, limited_token, 403))
        checks.append(Check(f"Lambda route, token without {required_scope}", lambda_url, limited_token, 403))
    return checks, skipped


def status_of(check: Check) -> int:
    if not check.url.startswith(("https://", "http://")):
        raise SmokeError(f"not an http(s) URL: {check.url}")
    request = urllib.request.Request(check.url, method="GET")  # noqa: S310 - scheme checked above
    if check.token is not None:
        request.add_header("Authorization", f"Bearer {check.token}")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310 - scheme checked above
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError) as exc:
        raise SmokeError(f"cannot reach {check.url}: {getattr(exc, 'reason', exc)}") from exc


def run(env: Mapping[str, str], outputs: Mapping[str, str], parameters: Mapping[str, str]) -> int:
    required_scope = parameters.get("RequiredScope", "")
    token = auth0_token(env, required_scope)
    limited = None
    if required_scope and env.get("AUTH0_LIMITED_CLIENT_ID"):
        limited = auth0_token(env, limited=True)
    checks, skipped = plan(outputs, token, required_scope, limited)
    failures = 0
    for check in checks:
        status = status_of(check)
        ok = status == check.expected
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {check.name}: {status} (expected {check.expected})", flush=True)
    for reason in skipped:
        print(f"skip {reason}")
    print(f"smoke: {len(checks) - failures}/{len(checks)} passed" + (f", {len(skipped)} skipped" if skipped else ""))
    return 1 if failures else 0


def _cloudformation(env: Mapping[str, str]) -> Any:
    """A CloudFormation client for the stack's region, once credentials and region are known good."""
    region = env.get("AWS_REGION") or None
    caller = aws.check(region)
    print(caller.line(), flush=True)
    return aws.client(aws.session(region), "cloudformation", str(caller.region))


def required(env: Mapping[str, str]) -> bool:
    """Must the smoke test run (CI), rather than skip when its Auth0 settings are missing (by hand)?"""
    return any(env.get(name, "").strip().lower() in ("1", "true", "yes") for name in REQUIRED_WHEN)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api-endpoint", help="test this API base URL instead of reading the stack's outputs")
    parser.add_argument("--required-scope", help="with --api-endpoint: the stack's RequiredScope")
    args = parser.parse_args(argv)
    env = dict(os.environ)
    stack = env.get("STACK_NAME") or env.get("AWS_SAM_STACK_NAME")
    missing = missing_auth0_settings(env)
    if not args.api_endpoint and not stack:
        missing.insert(0, "STACK_NAME")
    if missing:
        if required(env):
            print(
                f"smoke: error: set {', '.join(missing)}: in CI (CI or SMOKE_REQUIRED set) a smoke test that "
                "cannot run fails rather than pass having tested nothing (see docs/deploy.md, 'Smoke test')",
                file=sys.stderr,
            )
            return 1
        print(f"smoke: skipped, nothing was checked: set {', '.join(missing)} (see docs/deploy.md, 'Smoke test')")
        return 0
    try:
        if args.api_endpoint:
            base = args.api_endpoint.rstrip("/")
            outputs = {"JwtTestUrl": f"{base}/test", "LambdaTestUrl": f"{base}/lambda/test"}
            outputs["HealthUrl"] = f"{base}/health"
            parameters = {"RequiredScope": args.required_scope or ""}
        else:
            outputs, parameters = stack_settings(_cloudformation(env), str(stack))
        return run(env, outputs, parameters)
    except (SmokeError, TokenError, aws.AwsError) as exc:
        print(f"smoke: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
