"""``make invoke-*``: ``sam local invoke``, failing when the function fails.

SAM CLI exits 0 when the function raised (it prints Lambda's error JSON) and when it timed out
or never answered (it prints nothing on stdout and a message on stderr), so a script or a CI
step cannot tell success from failure. This runs the command given after ``--``, passes both
streams through, and exits 1 unless the last line on stdout is a JSON answer that is not a
Lambda error.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from typing import IO, Any

FAILURE_MARKERS = ("timed out after", "No response from invoke container", "Error:")


def verdict(stdout: str, stderr: str) -> str | None:
    """Why this invocation failed, or None if the function answered."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    answer: Any = None
    if lines:
        try:
            answer = json.loads(lines[-1])
        except ValueError:
            answer = None
    if isinstance(answer, dict) and "errorType" in answer and "errorMessage" in answer:
        return f"the function failed: {answer['errorType']}: {answer['errorMessage']}"
    if answer is None:
        marker = next((line.strip() for line in stderr.splitlines() if any(m in line for m in FAILURE_MARKERS)), "")
        return f"the function gave no answer{': ' + marker if marker else ''}"
    return None


def _tee(stream: IO[str] | None, seen: list[str]) -> None:
    for line in stream or ():
        seen.append(line)
        sys.stderr.write(line)
        sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        print("usage: python -m devkit.deploy.invoke -- sam local invoke ...", file=sys.stderr)
        return 2
    try:
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except OSError as exc:
        print(f"error: cannot run {args[0]}: {exc.strerror}", file=sys.stderr)
        return 1
    # SAM CLI reports progress on stderr: pass it through as it comes, and keep it for the verdict.
    seen: list[str] = []
    relay = threading.Thread(target=_tee, args=(process.stderr, seen), daemon=True)
    relay.start()
    stdout = process.stdout.read() if process.stdout is not None else ""
    returncode = process.wait()
    relay.join()
    sys.stdout.write(stdout)
    sys.stdout.flush()
    failure = verdict(stdout, "".join(seen)) if returncode == 0 else f"sam exited {returncode}"
    if failure:
        print(f"error: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
