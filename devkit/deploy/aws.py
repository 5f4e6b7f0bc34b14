"""AWS preconditions, checked before anything slow or interactive: credentials that work, a region.

Without them, ``make deploy`` used to check the issuer, build, and walk through the guided
prompts before SAM CLI said "Unable to locate credentials"; without a region SAM CLI asks for a
``--region`` flag the make targets do not take. ``check`` answers in a second, with one line that
names what to do in make's and the AWS CLI's terms (``aws configure``, ``AWS_PROFILE``,
``REGION=``), and says which account and region the command is about to act on.

The region is resolved as SAM CLI resolves it: the one given (``REGION=``, or samconfig.toml's),
else the AWS configuration's (``AWS_DEFAULT_REGION``, or the profile's ``region``). The
credentials are asked of STS (``GetCallerIdentity``, which needs no permission), so expired or
revoked ones fail here too, not only missing ones. ``AWS_ENDPOINT_URL`` is honoured, as by any
AWS SDK.
"""

from __future__ import annotations

from typing import Any, NamedTuple

CREDENTIALS_HINT = "run `aws configure` (or `aws sso login`), or set AWS_PROFILE=<a configured profile>"
REGION_HINT = "give REGION=<region> (for example REGION=eu-west-1), or set one for your profile with `aws configure`"
# A deploy that has no region yet: SAM CLI's guided prompt offers this one, and STS answers
# GetCallerIdentity for any account from any region.
GUIDED_DEFAULT_REGION = "us-east-1"


class AwsError(Exception):
    """An AWS precondition that does not hold; the message says what to do, in one line."""


class Caller(NamedTuple):
    account: str
    arn: str
    region: str | None  # None: not known yet (a guided deploy asks for it)

    def line(self) -> str:
        where = f"region {self.region}" if self.region else "region: SAM CLI asks below"
        return f"AWS account {self.account} as {self.arn}, {where}"


def session(region: str | None) -> Any:
    """A boto3 session for ``region`` (None: the AWS configuration's), or ``AwsError``."""
    import boto3  # only here: nothing else in make local or the preflight pays for it
    from botocore.exceptions import BotoCoreError, ProfileNotFound

    try:
        return boto3.Session(region_name=region or None)
    except ProfileNotFound as exc:
        raise AwsError(f"AWS_PROFILE names no configured profile ({exc}): {CREDENTIALS_HINT}") from None
    except BotoCoreError as exc:
        raise AwsError(f"cannot read the AWS configuration ({exc}): {CREDENTIALS_HINT}") from None


def client(aws: Any, service: str, region: str) -> Any:
    """A client that fails in seconds, not after botocore's default retries and minute-long timeouts."""
    from botocore.config import Config

    config = Config(connect_timeout=5, read_timeout=15, retries={"max_attempts": 2, "mode": "standard"})
    return aws.client(service, region_name=region, config=config)


def check(region: str | None, *, need_region: bool = True) -> Caller:
    """Who the credentials belong to, and the region, or ``AwsError`` naming what is missing.

    ``need_region=False`` for a guided deploy, whose own prompt asks for the region.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    aws = session(region)
    resolved = aws.region_name or None
    try:
        credentials = aws.get_credentials()
    except BotoCoreError as exc:  # an expired SSO token, a broken credential_process, ...
        raise AwsError(f"cannot load AWS credentials ({exc}): {CREDENTIALS_HINT}") from None
    missing = [
        *(["AWS credentials"] if credentials is None else []),
        *(["AWS region"] if need_region and not resolved else []),
    ]
    if missing:
        hints = [CREDENTIALS_HINT] if credentials is None else []
        hints += [REGION_HINT] if need_region and not resolved else []
        raise AwsError(f"no {' and no '.join(missing)}: {'; '.join(hints)}")
    sts = client(aws, "sts", resolved or GUIDED_DEFAULT_REGION)
    try:
        identity = sts.get_caller_identity()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        why = f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
        raise AwsError(f"AWS refused these credentials ({why}): {CREDENTIALS_HINT}") from None
    except BotoCoreError as exc:
        raise AwsError(f"cannot reach AWS to check the credentials ({exc}); check the network") from None
    return Caller(str(identity["Account"]), str(identity["Arn"]), resolved)


def stack_status(cloudformation: Any, stack: str) -> str | None:
    """The stack's status, or None when no stack of that name exists (in that account and region)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        (description,) = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "ValidationError" and "does not exist" in str(error.get("Message", "")):
            return None
        raise AwsError(f"cannot read stack {stack}: {error.get('Message', exc)}") from None
    except BotoCoreError as exc:
        raise AwsError(f"cannot read stack {stack}: {exc}") from None
    return str(description.get("StackStatus", ""))


def nothing_deployed(stack: str, region: str) -> str:
    return f"nothing deployed: no stack {stack} in {region}; STACK= and REGION= name another"
