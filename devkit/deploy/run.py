"""Running a command a make target hands over to, as one line a user can read and re-run."""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections.abc import Sequence


def run_shown(label: str, argv: Sequence[str]) -> int:
    """Print ``label`` and the command on one line, run it, and return its exit status.

    A command that cannot start (no such program, not executable) is one error line and 1,
    never a traceback.
    """
    print(label, shlex.join(argv), flush=True)
    try:
        return subprocess.run(list(argv), check=False).returncode
    except OSError as exc:
        print(f"error: cannot run {argv[0]}: {exc.strerror}", file=sys.stderr)
        return 1
