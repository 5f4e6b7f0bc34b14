"""What ``sam deploy --guided`` saved in samconfig.toml: the stack, its region, its parameters.

``make delete``, ``make smoke`` and ``make deploy`` act on the stack a user deployed, so they
read it from here rather than assuming defaults. ``python -m devkit.deploy.samconfig KEY`` prints one
value (empty when unset) for the Makefile.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path
from typing import Any, NamedTuple


class SamconfigError(Exception):
    """samconfig.toml cannot be read; the message says why in one line."""


class DeploySettings(NamedTuple):
    stack_name: str
    region: str
    # As written (a string or a list of strings): parsing it takes SAM CLI's parser, which only
    # the venv has, and the Makefile reads the stack and region before `make install` has run.
    parameter_overrides: object


def deploy_settings(path: Path, environment: str = "default") -> DeploySettings:
    """The deploy command's view: its own section first, then the global one (as SAM CLI reads them)."""
    try:
        document: dict[str, Any] = tomllib.loads(path.read_text())
    except FileNotFoundError:
        document = {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SamconfigError(f"cannot read {path}: {exc}") from exc
    merged: dict[str, Any] = {}
    for command in ("global", "deploy"):
        parameters = _table(_table(_table(document, environment, path), command, path), "parameters", path)
        merged.update(parameters)
    return DeploySettings(
        stack_name=str(merged.get("stack_name") or ""),
        region=str(merged.get("region") or ""),
        parameter_overrides=merged.get("parameter_overrides") or "",
    )


def _table(parent: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    """``parent[key]`` as a TOML table (empty when absent); any other value is a broken file."""
    value = parent.get(key, {})
    if not isinstance(value, dict):
        raise SamconfigError(f"cannot read {path}: {key} must be a table, not {type(value).__name__}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("key", choices=["stack_name", "region"])
    parser.add_argument("--config", default="samconfig.toml", type=Path)
    parser.add_argument("--config-env", default="default")
    args = parser.parse_args(argv)
    try:
        settings = deploy_settings(args.config, args.config_env)
    except SamconfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(getattr(settings, args.key))
    return 0


if __name__ == "__main__":
    sys.exit(main())
