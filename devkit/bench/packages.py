"""The deployment packages as ``sam build`` makes them: zipped and unzipped, now and before.

Each function's code plus pip's install of its requirements.txt, with the arm64 cp313 wheels
Lambda runs, and the authorizer's package as it was while it shipped PyJWT.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from devkit.bench import ROOT
from devkit.bench.report import Row

# What the authorizer shipped before its verifier moved onto cryptography alone.
PREVIOUS_EXTRA = "PyJWT==2.15.1"


def package_sizes() -> list[Row]:
    rows = []
    packages = (
        ("AuthorizerFunction", "authorizer", "", "AuthorizerFunction package"),
        (
            "AuthorizerFunction",
            "authorizer",
            PREVIOUS_EXTRA,
            f"  previous AuthorizerFunction package (+ {PREVIOUS_EXTRA})",
        ),
        ("TestRouteFunction", "test_route", "", "TestRouteFunction package"),
        ("McpServerFunction", "mcp_server", "", "McpServerFunction package"),
    )
    for function, source, extra, label in packages:
        with tempfile.TemporaryDirectory() as scratch:
            # What sam build puts in the artifact: the code plus pip's install of requirements.txt.
            where = Path(scratch) / function
            if not _pip_target(ROOT / "src" / source, where, extra):
                rows.append(Row(f"{label}: n/a (pip could not fetch the wheels)", 0, None, ""))
                continue
            unzipped, zipped = _sizes(where)
        rows.append(Row(f"{label} (arm64, cp313 wheels), zipped", zipped / 1e3, None, "kB"))
        rows.append(Row(f"{label}, unzipped (limit 250 MB)", unzipped / 1e3, None, "kB"))
    return rows


def _pip_target(source: Path, target: Path, extra: str = "") -> bool:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    wanted = (source / "requirements.txt").read_text()
    lines = [line for line in [*wanted.splitlines(), extra] if line.strip() and not line.startswith("#")]
    if not lines:
        return True
    requirements = target.parent / "requirements.txt"
    requirements.write_text("\n".join(lines) + "\n")
    argv = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target), "-r", str(requirements)]
    argv += ["--platform", "manylinux2014_aarch64", "--implementation", "cp", "--python-version", "3.13"]
    argv += ["--only-binary=:all:", "--no-deps"]
    return subprocess.run(argv, capture_output=True, check=False).returncode == 0


def _sizes(directory: Path) -> tuple[int, int]:
    buffer = io.BytesIO()
    unzipped = 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                unzipped += path.stat().st_size
                archive.write(path, path.relative_to(directory))
    return unzipped, len(buffer.getvalue())
