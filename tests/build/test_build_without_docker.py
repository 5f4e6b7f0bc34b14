"""sam build without a container, on any host, makes the arm64 package Lambda runs.

SAM's pip builder asks pip for wheels of the function's platform (manylinux2014_aarch64 for
arm64) rather than the host's, once a Python 3.13 interpreter is on PATH. This runs the real
``sam build`` that way (``BUILD_MODE=local``) and reads the ELF header of every native library
in the package: each must be for AArch64 and CPython 3.13.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT, SAM

pytestmark = pytest.mark.slow
EM_AARCH64 = 183


def _python313() -> str | None:
    path = shutil.which("python3.13")
    if path is None:
        return None
    ok = subprocess.run([path, "-c", "import sys; sys.exit(sys.version_info[:2] != (3, 13))"], capture_output=True)
    return path if ok.returncode == 0 else None


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if _python313() is None:
        pytest.skip("no working python3.13 on PATH: the build without containers needs one")
    out = tmp_path_factory.mktemp("nocontainer")
    env = {**os.environ, "SAM": str(SAM), "BUILD_MODE": "local", "SAM_CLI_TELEMETRY": "0"}
    result = subprocess.run(
        [sys.executable, "-m", "devkit.deploy.build", "--build-dir", str(out), "--cache-dir", str(out / ".cache")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out


def _libraries(function: Path) -> list[Path]:
    libraries = sorted(function.rglob("*.so"))
    for library in libraries:
        header = library.read_bytes()[:20]
        assert header[:4] == b"\x7fELF", library
        assert int.from_bytes(header[18:20], "little") == EM_AARCH64, library
    return libraries


def test_every_native_library_is_aarch64_for_cpython_313(package: Path):
    names = {library.name for library in _libraries(package / "AuthorizerFunction")}
    assert "_rust.abi3.so" in names
    assert any(name.startswith("_cffi_backend.cpython-313-aarch64") for name in names), names


def test_the_mcp_servers_native_libraries_are_aarch64_for_cpython_313_too(package: Path):
    names = {library.name for library in _libraries(package / "McpServerFunction")}
    assert any(name.startswith("_pydantic_core.cpython-313-aarch64") for name in names), names
    assert any(name.startswith("rpds.cpython-313-aarch64") for name in names), names
