"""A stand-in for the ``sam`` command: records each call, answers as the test scripts it.

Each call appends its argv (as JSON) to ``$FAKE_SAM_LOG``. ``local invoke`` prints
``$FAKE_SAM_STDOUT`` and ``$FAKE_SAM_STDERR``. ``deploy`` behaves as SAM CLI does without a
terminal: ``--guided``, or a change set to confirm, reads an answer from stdin, finds none and
aborts with SAM's own words, so a test sees exactly when a command line would have prompted.
"""

from __future__ import annotations

import json
import os
import sys


def main() -> int:
    argv = sys.argv[1:]
    with open(os.environ["FAKE_SAM_LOG"], "a") as log:
        log.write(json.dumps(argv) + "\n")
    if argv[:2] == ["local", "invoke"]:
        sys.stdout.write(os.environ.get("FAKE_SAM_STDOUT", ""))
        sys.stderr.write(os.environ.get("FAKE_SAM_STDERR", ""))
        return 0
    if argv[:1] == ["deploy"]:
        prompt = "Stack Name [http-api-jwt-auth]: " if "--guided" in argv else None
        if prompt is None and "--no-confirm-changeset" not in argv:
            prompt = "Deploy this changeset? [y/N]: "
        if prompt is not None:
            sys.stdout.write(prompt)
            if not sys.stdin.readline():
                print("Aborted!", file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
