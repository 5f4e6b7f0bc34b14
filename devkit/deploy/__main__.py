"""``make deploy``: check the issuer, build, then ``sam deploy``, in one of three ways.

- ``--issuer`` given (CI, scripts): never prompts. ``sam deploy --no-confirm-changeset
  --no-fail-on-empty-changeset`` with Issuer, Audience and ``--parameters`` (other template
  parameters, written as ``sam deploy --parameter-overrides`` takes them) as parameter
  overrides; stack and region from samconfig.toml, ``--stack-name``/``--region`` or the AWS
  environment.
- samconfig.toml holds the parameters a guided deploy saved: those are checked, then
  ``sam deploy`` (it asks you to confirm the change set, as samconfig.toml says).
- neither (the first deploy, in a terminal): asks for the issuer and audience and checks them,
  then ``sam deploy --guided`` with them as the defaults of its own prompts. Without a
  terminal it stops with one line saying how to deploy without prompts.

Before any of that, the prompts included, come the AWS preconditions (``devkit.deploy.aws``):
credentials that STS accepts, and a region unless SAM CLI's guided prompt is to ask for one.
Then the check (``devkit.deploy.preflight``) runs before anything is built or uploaded, so a
wrong issuer fails in a second, not after CloudFormation has created a stack that answers 401
to every token. ``SKIP_ISSUER_CHECK=1`` skips its network part (offline deploys).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

from devkit.deploy import aws, preflight
from devkit.deploy.samconfig import SamconfigError, deploy_settings
from devkit.parameters import ParameterError, format_override, parse_overrides

PROMPTS = (
    ("Issuer", "Issuer, exactly as your tokens' iss claim (Auth0: https://TENANT.auth0.com/ with the slash): "),
    ("Audience", "Audience (Auth0: the API Identifier, e.g. https://api.example.com; comma-separated): "),
)
FIRST_DEPLOY_WITHOUT_TERMINAL = (
    "no Issuer to deploy with: samconfig.toml holds no saved parameters and there is no terminal to ask in; "
    "run `make deploy ISSUER=https://TENANT.auth0.com/ AUDIENCE=https://api.example.com` (no prompts) "
    "or `make deploy` in a terminal (guided)"
)


class DeployError(Exception):
    """The deploy cannot go on; the message says why in one line."""


def parameter_overrides(parameters: dict[str, str]) -> list[str]:
    """``--parameter-overrides`` as SAM CLI parses it: one ``Name=Value`` argument per parameter."""
    if not parameters:
        return []
    try:
        return ["--parameter-overrides", *(format_override(name, value) for name, value in parameters.items())]
    except ParameterError as exc:
        raise DeployError(str(exc)) from exc


class Inputs(NamedTuple):
    """What the deploy is given before anyone is asked anything."""

    given: dict[str, str]  # PARAMS
    saved: dict[str, str]  # samconfig.toml's parameter_overrides (not read when ISSUER is given)
    region: str | None  # REGION=, else samconfig.toml's; None: the AWS configuration's, or SAM CLI asks

    def guided(self, args: argparse.Namespace) -> bool:
        return args.issuer is None and "Issuer" not in self.saved


def read_inputs(args: argparse.Namespace) -> Inputs:
    try:
        given = parse_overrides(args.parameters) if args.parameters and args.parameters.strip() else {}
        settings = deploy_settings(args.config)
        saved = {}
        if args.issuer is None:
            saved = parse_overrides(settings.parameter_overrides, f"parameter_overrides in {args.config}")
    except (SamconfigError, ParameterError) as exc:
        raise DeployError(str(exc)) from exc
    clash = sorted({"Issuer", "Audience"} & set(given)) if args.issuer is not None else []
    if clash:
        raise DeployError(f"give {' and '.join(clash)} once: as ISSUER/AUDIENCE, not also in PARAMS")
    return Inputs(given, saved, args.region or settings.region or None)


def plan(
    args: argparse.Namespace, ask: Callable[[str], str] | None, inputs: Inputs | None = None
) -> tuple[dict[str, str], list[str]]:
    """The parameters to check and build with, and the ``sam deploy`` arguments after ``deploy``."""
    given, saved, _ = inputs or read_inputs(args)
    target = [
        *(["--stack-name", args.stack_name] if args.stack_name else []),
        *(["--region", args.region] if args.region else []),
    ]
    if args.config.resolve() != Path("samconfig.toml").resolve():
        # sam deploy reads the same file the saved parameters came from, not ./samconfig.toml.
        target += ["--config-file", str(args.config.resolve())]
    if args.issuer is not None:
        parameters = {"Issuer": args.issuer, "Audience": args.audience or "", **given}
        flags = ["--no-confirm-changeset", "--no-fail-on-empty-changeset"]
        return parameters, [*flags, *parameter_overrides(parameters), *target]
    if "Issuer" in saved:
        parameters = {**saved, **given}
        return parameters, [*(parameter_overrides(parameters) if given else []), *target]
    if ask is None:
        raise DeployError(FIRST_DEPLOY_WITHOUT_TERMINAL)
    parameters = {name: ask(question).strip() for name, question in PROMPTS}
    parameters.update(given)
    return parameters, ["--guided", *parameter_overrides(parameters), *target]


def run(argv: Sequence[str], env: dict[str, str]) -> None:
    print("+", shlex.join(argv), flush=True)
    try:
        code = subprocess.run(list(argv), env=env, check=False).returncode
    except OSError as exc:
        raise DeployError(f"cannot run {argv[0]}: {exc.strerror}") from exc
    if code != 0:
        raise DeployError(f"{shlex.join(argv[:4])} ... exited {code}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("samconfig.toml"))
    parser.add_argument("--issuer")
    parser.add_argument("--audience")
    parser.add_argument("--parameters", default="", help="other template parameters: 'Name=Value Name2=Value2'")
    parser.add_argument("--stack-name")
    parser.add_argument("--region")
    args = parser.parse_args(argv)
    env = dict(os.environ)
    sam = shlex.split(env.get("SAM", "sam"))
    try:
        inputs = read_inputs(args)
        guided = inputs.guided(args)
        ask = input if sys.stdin.isatty() else None
        if guided and ask is None:
            raise DeployError(FIRST_DEPLOY_WITHOUT_TERMINAL)
        # Before any prompt, check or build: a deploy that cannot reach AWS stops here, in a second.
        print(aws.check(inputs.region, need_region=not guided).line(), flush=True)
        parameters, deploy_args = plan(args, ask, inputs)
        others = {name: value for name, value in parameters.items() if name not in ("Issuer", "Audience")}
        # In this process, with the very values sam deploy will get: nothing is written and re-read.
        issuer, audience = parameters.get("Issuer", ""), parameters.get("Audience", "")
        for line in preflight.run_checks(Path("template.yaml"), issuer, audience, others):
            print(line, flush=True)
        run([sys.executable, "-m", "devkit.deploy.build"], env)
        run([*sam, "deploy", *deploy_args], env)
    except (DeployError, aws.AwsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (preflight.PreflightError, ParameterError) as exc:
        print(f"preflight: error: {exc}", file=sys.stderr)
        return 1
    except (EOFError, KeyboardInterrupt):
        print("\nerror: deploy cancelled", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
