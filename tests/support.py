"""Helpers shared by the test tiers: loading a function's module, events and a fake context."""

from __future__ import annotations

import importlib.util
import itertools
import json
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from jwt_authorizer.algorithms import PUBLIC_KEY_ALGORITHMS, VerificationKey
from jwt_authorizer.reasons import Reason
from jwt_authorizer.verifier import TokenRejected

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
AUTHORIZER_DIR = ROOT / "src" / "authorizer"
TEST_ROUTE_DIR = ROOT / "src" / "test_route"
DEV_TOKEN_PLACEHOLDER = "__DEV_TOKEN__"
# The venv's own console scripts, whatever PATH says.
SAM = Path(sys.executable).with_name("sam")
CFN_LINT = Path(sys.executable).with_name("cfn-lint")
_counter = itertools.count()


def load_function(code_dir: Path, module: str = "app") -> ModuleType:
    """Import a function's handler module fresh, as a new Lambda container would.

    Each call runs the module's top level again (config, clients), under a unique name so
    the two functions' ``app`` modules never shadow each other.
    """
    path = code_dir / f"{module}.py"
    name = f"fn_{code_dir.name}_{module}_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[name] = loaded
    spec.loader.exec_module(loaded)
    return loaded


class FakeClock:
    """A clock the test moves by hand (``clock.now += 61``) instead of sleeping."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class WallClock:
    """The real clock, which a test can only move forward (``clock.now += 61``).

    For tokens minted with ``iat = int(time.time())`` while the test runs: a clock frozen at the
    test's start would see an ``iat`` from the next second as issued in the future.
    """

    def __init__(self) -> None:
        self._shift = 0.0

    @property
    def now(self) -> float:
        return time.time() + self._shift

    @now.setter
    def now(self, value: float) -> None:
        self._shift = max(self._shift, value - time.time())

    def __call__(self) -> float:
        return self.now


class StaticKeys:
    """A key lookup (``verifier.KeyLookup``) over keys already parsed: no fetch, no socket."""

    requires_kid = True

    def __init__(self, keys: dict[str, VerificationKey], algorithms: frozenset[str] = PUBLIC_KEY_ALGORITHMS) -> None:
        self.keys = keys
        self.algorithms = algorithms

    def key_for(self, kid: str | None) -> VerificationKey:
        key = self.keys.get(kid) if kid is not None else None
        if key is None:
            raise TokenRejected(Reason.UNKNOWN_KID)
        return key


def free_port() -> int:
    """A loopback port nothing listens on (for "connection refused" and for servers to bind)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def template_variant(directory: Path, *edits: tuple[str, str]) -> Path:
    """A copy of template.yaml with exact text edits, written next to a copy of src/.

    Each edit must apply exactly once, so a fixture can never silently stop meaning anything
    when the template changes.
    """
    text = (ROOT / "template.yaml").read_text()
    for old, new in edits:
        assert text.count(old) == 1, f"edit does not apply exactly once: {old!r}"
        text = text.replace(old, new)
    target = directory / "template.yaml"
    target.write_text(text)
    src = directory / "src"
    if not src.exists():
        src.symlink_to(ROOT / "src", target_is_directory=True)
    return target


def decision_lines(records: list[Any]) -> list[dict[str, Any]]:
    """The authorizer's decision lines among captured log records (their message is a dict)."""
    return [r.msg for r in records if isinstance(r.msg, dict) and "decision" in r.msg]


def load_event(name: str, token: str | None = None) -> dict[str, Any]:
    """A sample event from events/, with a fresh token in place of the placeholder."""
    text = (EVENTS / name).read_text()
    if token is not None:
        text = text.replace(DEV_TOKEN_PLACEHOLDER, token)
    event: dict[str, Any] = json.loads(text)
    return event


@dataclass
class LambdaContext:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 128
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"
