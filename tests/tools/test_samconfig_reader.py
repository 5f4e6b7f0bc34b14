"""devkit.deploy.samconfig, which the Makefile asks for the saved stack and region: a value, or one error line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT


def read(config: Path, key: str, *python_flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *python_flags, "-m", "devkit.deploy.samconfig", key, "--config", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_deploy_section_wins_over_the_global_one(tmp_path: Path):
    config = tmp_path / "samconfig.toml"
    config.write_text(
        'version = 0.1\n[default.global.parameters]\nstack_name = "g"\nregion = "us-east-1"\n'
        '[default.deploy.parameters]\nregion = "eu-west-1"\n'
    )
    assert (read(config, "stack_name").stdout, read(config, "region").stdout) == ("g\n", "eu-west-1\n")


def test_no_file_means_nothing_saved(tmp_path: Path):
    answer = read(tmp_path / "absent.toml", "region")
    assert (answer.returncode, answer.stdout, answer.stderr) == (0, "\n", "")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[default.deploy.parameters\n", "Expected ']'"),
        ('default = "x"\n', "default must be a table, not str"),
        ("[default]\ndeploy = 3\n", "deploy must be a table, not int"),
        ('[default.global]\nparameters = ["a"]\n', "parameters must be a table, not list"),
    ],
)
def test_a_broken_file_is_one_error_line(tmp_path: Path, text: str, problem: str):
    config = tmp_path / "samconfig.toml"
    config.write_text(text)
    answer = read(config, "stack_name")
    assert answer.returncode == 1
    assert answer.stdout == ""
    assert answer.stderr.startswith(f"error: cannot read {config}: ")
    assert problem in answer.stderr
    assert answer.stderr.count("\n") == 1


def test_the_stack_and_region_are_read_without_the_venv(tmp_path: Path):
    # The Makefile reads them when it starts, before `make install` may have made .venv: with a
    # bare interpreter (no site-packages, so no SAM CLI) and a guided deploy's saved parameters.
    config = tmp_path / "samconfig.toml"
    config.write_text(
        'version = 0.1\n[default.deploy.parameters]\nstack_name = "saved"\nregion = "eu-west-1"\n'
        'parameter_overrides = \'Issuer="https://t.example/" Audience="x"\'\n'
    )
    answers = [read(config, key, "-S") for key in ("stack_name", "region")]
    assert [(a.returncode, a.stdout, a.stderr) for a in answers] == [(0, "saved\n", ""), (0, "eu-west-1\n", "")]
