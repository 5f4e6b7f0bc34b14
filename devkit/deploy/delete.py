"""``make delete``: ``sam delete`` for the stack, once it is known to exist.

``sam delete`` asks "Are you sure?" before it looks, and answers a missing region or stack in
its own flags' terms. Here credentials and region are checked first (``devkit.deploy.aws``), the
stack is looked up, and a stack that does not exist is one line, "nothing deployed", exit 0:
there is nothing to delete, which is what was asked. Otherwise ``sam delete`` runs for that
stack and region and asks its question.

Usage: ``python -m devkit.deploy.delete --stack-name NAME [--region REGION]``; ``SAM`` is the sam
command.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

from devkit.deploy import aws
from devkit.deploy.run import run_shown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack-name", required=True)
    parser.add_argument("--region", help="empty: the AWS configuration's")
    args = parser.parse_args(argv)
    sam = shlex.split(os.environ.get("SAM", "sam"))
    try:
        caller = aws.check(args.region or None)
        print(caller.line(), flush=True)
        region = str(caller.region)
        cloudformation = aws.client(aws.session(region), "cloudformation", region)
        status = aws.stack_status(cloudformation, args.stack_name)
    except aws.AwsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if status is None:
        print(aws.nothing_deployed(args.stack_name, region))
        return 0
    command = [*sam, "delete", "--stack-name", args.stack_name, "--region", region]
    return run_shown(f"stack {args.stack_name} ({status}) in {region}:", command)


if __name__ == "__main__":
    sys.exit(main())
