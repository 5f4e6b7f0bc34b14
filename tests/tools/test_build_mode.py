"""make build picks a way to build that works on this machine, or says in one line why none does."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from devkit.deploy.build import NEITHER, BuildError, choose, emulation_missing, local_template
from tests.support import ROOT


def executable(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def build(path_dirs: list[Path], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    executable(tmp_path, "sam", f'echo "$@" >> {tmp_path}/sam-calls')
    env = {"PATH": os.pathsep.join(str(d) for d in path_dirs), "HOME": str(tmp_path), "SAM": str(tmp_path / "sam")}
    return subprocess.run(
        [sys.executable, "-m", "devkit.deploy.build"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "bin"
    directory.mkdir()
    return directory


def test_a_running_engine_means_the_build_image(bin_dir: Path, tmp_path: Path, monkeypatch):
    executable(bin_dir, "docker", "exit 0")
    executable(bin_dir, "python3.13", "exit 0")
    monkeypatch.setattr("devkit.deploy.build.emulation_missing", lambda architecture: False)
    assert choose("auto", {"PATH": str(bin_dir)}, "arm64") == "container"
    # End to end on this host: a Linux host of another CPU without QEMU cannot start the arm64
    # image, and then the python3.13 on PATH builds instead (see the fallback test below).
    expected = ["build"] if emulation_missing("arm64") else ["build", "--use-container"]
    assert build([bin_dir], tmp_path).returncode == 0
    assert (tmp_path / "sam-calls").read_text().split() == expected


def test_no_engine_but_a_python313_means_a_build_without_containers(bin_dir: Path, tmp_path: Path):
    executable(bin_dir, "docker", "exit 1")  # the client is there, the engine is not
    executable(bin_dir, "python3.13", "exit 0")
    assert build([bin_dir], tmp_path).returncode == 0
    assert (tmp_path / "sam-calls").read_text().split() == ["build"]


def test_neither_is_one_line_naming_both_ways_out(bin_dir: Path, tmp_path: Path):
    executable(bin_dir, "docker", "exit 1")
    # A pyenv shim for a version that is not selected answers, but cannot run Python.
    executable(bin_dir, "python3.13", "echo 'pyenv: python3.13: command not found' >&2; exit 127")
    result = build([bin_dir], tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"error: {NEITHER}"]
    assert not (tmp_path / "sam-calls").exists()


def test_the_local_copy_changes_only_the_architecture_and_where_the_code_is(tmp_path: Path):
    from samtranslator.yaml_helper import yaml_parse

    original = yaml_parse((ROOT / "template.yaml").read_text())
    copy = json.loads(local_template(ROOT / "template.yaml", "x86_64", tmp_path / "t.json").read_text())
    assert copy["Globals"]["Function"]["Architectures"] == ["x86_64"]
    assert original["Globals"]["Function"]["Architectures"] == ["arm64"]
    for name, resource in copy["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            code = Path(resource["Properties"]["CodeUri"])
            assert (
                code.is_absolute() and code == (ROOT / original["Resources"][name]["Properties"]["CodeUri"]).resolve()
            )
            resource["Properties"]["CodeUri"] = original["Resources"][name]["Properties"]["CodeUri"]
    copy["Globals"]["Function"]["Architectures"] = ["arm64"]
    assert copy == json.loads(json.dumps(original))


@pytest.mark.parametrize(
    ("system", "machine", "registered", "missing"),
    [
        ("Linux", "x86_64", False, True),  # Docker Engine on Linux without QEMU: exec format error
        ("Linux", "x86_64", True, False),
        ("Linux", "aarch64", False, False),  # native
        ("Darwin", "x86_64", False, False),  # Docker Desktop and Finch emulate in their VM
        ("Darwin", "arm64", False, False),
    ],
)
def test_an_arm64_build_image_needs_qemu_only_on_a_foreign_linux_host(tmp_path, system, machine, registered, missing):
    if registered:
        (tmp_path / "qemu-aarch64").write_text("enabled\n")
    assert emulation_missing("arm64", system, machine, tmp_path) is missing


def test_an_engine_that_cannot_run_the_arm64_image_falls_back_or_says_how(bin_dir: Path, tmp_path: Path, monkeypatch):
    executable(bin_dir, "docker", "exit 0")
    env = {"PATH": str(bin_dir)}
    monkeypatch.setattr("devkit.deploy.build.emulation_missing", lambda architecture: True)
    with pytest.raises(BuildError, match="without QEMU"):
        choose("auto", env, "arm64")
    executable(bin_dir, "python3.13", "exit 0")
    assert choose("auto", env, "arm64") == "local"
