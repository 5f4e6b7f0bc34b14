"""Every tier folder adds tests to the README's test command; none is silently left out.

pytest skips some folder names by default (``build`` among them): a tier there would be written,
pass review, and never run. Tiers and what each may do: docs/testing.md.
"""

from __future__ import annotations

import subprocess
import sys

from tests.support import ROOT

TIERS = {"unit", "functional", "template", "lint", "tools", "e2e", "docker", "build"}


def test_every_tier_folder_contributes_tests_to_a_plain_pytest_run():
    folders = {path.name for path in (ROOT / "tests").iterdir() if path.is_dir() and any(path.glob("test_*.py"))}
    assert folders == TIERS, "a new tier folder: add it here and to docs/testing.md"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    collected = {line.split("/")[1] for line in done.stdout.splitlines() if line.startswith("tests/") and "::" in line}
    assert collected >= TIERS, f"tiers with no test collected: {sorted(TIERS - collected)}"
