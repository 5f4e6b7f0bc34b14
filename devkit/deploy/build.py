"""``make build``: ``sam build`` in a container when an engine runs, else with a local python3.13.

The authorizer ships cryptography, a native wheel that must match Lambda's Python 3.13 and the
function's architecture. The build image guarantees both. Without Docker or Finch, SAM's pip
builder gets the same wheels for the target platform (``manylinux2014_aarch64`` for arm64)
when a Python 3.13 interpreter is on PATH, whatever the host's CPU. Neither: one line that
names both ways out.

``--local-arch ARCH`` builds for ``sam local`` instead: a copy of the template whose functions
run on ARCH (the host's CPU, so an x86_64 laptop does not emulate arm64, which is slow enough
at start-up to trip SAM CLI's function timeout) goes to ``.aws-sam/local/template.json`` and
is built into ``.aws-sam/local/build``. The deployed template is never touched.

``BUILD_MODE`` (``auto``, ``container``, ``local``) forces a choice; ``SAM`` is the sam
command; other arguments go to ``sam build`` as they are.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from devkit.deploy.run import run_shown

MODES = ("auto", "container", "local")
ARCHITECTURES = ("arm64", "x86_64")
LOCAL_DIR = Path(".aws-sam") / "local"
NEITHER = (
    "make build needs a running container engine (Docker or Finch) for `sam build --use-container`, "
    "or Python 3.13 on PATH (python3.13) for a build without containers: start one or install the other"
)


class BuildError(Exception):
    """No way to build here; the message says what to do, in one line."""


def engine_running(env: Mapping[str, str]) -> bool:
    """Is a Docker or Finch engine answering (what ``sam build --use-container`` needs)?"""
    for client, probe in (("docker", ["info"]), ("finch", ["info"])):
        path = shutil.which(client, path=env.get("PATH"))
        if path is None:
            continue
        try:
            done = subprocess.run([path, *probe], env=dict(env), capture_output=True, timeout=20, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return True
    return False


def python313(env: Mapping[str, str]) -> bool:
    """A working python3.13 on PATH (a pyenv shim for a version not selected does not count)."""
    path = shutil.which("python3.13", path=env.get("PATH"))
    if path is None:
        return False
    probe = "import sys; sys.exit(sys.version_info[:2] != (3, 13))"
    try:
        done = subprocess.run([path, "-c", probe], env=dict(env), capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def emulation_missing(
    architecture: str,
    system: str | None = None,
    machine: str | None = None,
    binfmt: Path = Path("/proc/sys/fs/binfmt_misc"),
) -> bool:
    """Would an ``architecture`` build image fail to start here ("exec format error")?

    Only on Linux on another CPU with no QEMU handler registered for it; Docker Desktop and
    Finch run their engines in a VM that emulates.
    """
    host = (machine or platform.machine()).lower()
    native = {"arm64": ("aarch64", "arm64"), "x86_64": ("x86_64", "amd64")}[architecture]
    if (system or platform.system()) != "Linux" or host in native:
        return False
    return not (binfmt / ("qemu-aarch64" if architecture == "arm64" else "qemu-x86_64")).exists()


def choose(mode: str, env: Mapping[str, str], architecture: str = "arm64") -> str:
    """``container`` or ``local``, for ``mode`` on this machine, building for ``architecture``."""
    if mode not in MODES:
        raise BuildError(f"BUILD_MODE must be one of {', '.join(MODES)} (got {mode!r})")
    if mode != "auto":
        return mode
    engine = engine_running(env)
    if engine and not emulation_missing(architecture):
        return "container"
    if python313(env):
        return "local"
    if engine:
        raise BuildError(
            f"the {architecture} build image cannot run on this {platform.machine()} Linux host without QEMU: register "
            "it (docker run --privileged --rm tonistiigi/binfmt --install arm64) or put python3.13 on PATH"
        )
    raise BuildError(NEITHER)


def template_architecture(template: Path) -> str:
    """The functions' architecture, as the template's Globals give it (arm64 unless it says otherwise)."""
    from samtranslator.yaml_helper import yaml_parse

    function = (yaml_parse(template.read_text()).get("Globals") or {}).get("Function") or {}
    return str((function.get("Architectures") or ["arm64"])[0])


def command(sam: Sequence[str], how: str, extra: Sequence[str]) -> list[str]:
    return [*sam, "build", *(["--use-container"] if how == "container" else []), *extra]


def local_template(template: Path, architecture: str, target: Path) -> Path:
    """``template`` with every function on ``architecture``, as JSON at ``target``.

    SAM resolves ``CodeUri`` against the template's folder, so the copy gets absolute paths.
    """
    from samtranslator.yaml_helper import yaml_parse

    document: dict[str, Any] = yaml_parse(template.read_text())
    function_globals = document.setdefault("Globals", {}).setdefault("Function", {})
    function_globals["Architectures"] = [architecture]
    for resource in document.get("Resources", {}).values():
        properties = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::Serverless::Function":
            properties.pop("Architectures", None)
            if isinstance(properties.get("CodeUri"), str):
                properties["CodeUri"] = str((template.parent / properties["CodeUri"]).resolve())
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(document, indent=1))
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local-arch", choices=ARCHITECTURES, help="build for sam local on this CPU architecture")
    parser.add_argument("--template", type=Path, default=Path("template.yaml"))
    args, extra = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    env = os.environ
    if args.local_arch:
        source = local_template(args.template, args.local_arch, LOCAL_DIR / "template.json")
        extra = ["--template-file", str(source), "--build-dir", str(LOCAL_DIR / "build"), *extra]
    sam = shlex.split(env.get("SAM", "sam"))
    try:
        architecture = args.local_arch or template_architecture(args.template)
        how = choose(env.get("BUILD_MODE", "auto") or "auto", env, architecture)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    argv_ = command(sam, how, [*extra, *shlex.split(env.get("SAM_BUILD_FLAGS", ""))])
    return run_shown(
        f"building {'in the Lambda build image' if how == 'container' else 'with the local python3.13'}:", argv_
    )


if __name__ == "__main__":
    sys.exit(main())
