"""The local workers time a function as Lambda does: INIT apart from each invocation's Timeout."""

from __future__ import annotations

from pathlib import Path

import pytest

from devloop.lambdas import FunctionError, FunctionPool
from devloop.template import Function

SLOW_IMPORT = """
import time
time.sleep(float(__import__("os").environ["IMPORT_SECONDS"]))

def handler(event, context):
    if event.get("sleep"):
        time.sleep(event["sleep"])
    return {"ok": True}
"""


def pool(tmp_path: Path, import_seconds: float, timeout: float) -> FunctionPool:
    (tmp_path / "app.py").write_text(SLOW_IMPORT)
    function = Function("SlowFunction", tmp_path, "app.handler", {"IMPORT_SECONDS": str(import_seconds)}, timeout, 128)
    return FunctionPool(function)


def test_a_slow_import_does_not_count_against_the_functions_timeout(tmp_path):
    # GIVEN a function whose import takes longer than its whole Timeout
    slow = pool(tmp_path, import_seconds=1.5, timeout=1.0)
    try:
        # THEN the first invocation still has its full second, as in Lambda (INIT is timed apart)
        assert slow.invoke({}) == {"ok": True}
    finally:
        slow.close()


def test_an_invocation_over_its_timeout_still_fails(tmp_path):
    slow = pool(tmp_path, import_seconds=0, timeout=0.5)
    try:
        with pytest.raises(FunctionError, match=r"Task timed out after 0\.50 seconds"):
            slow.invoke({"sleep": 2})
        assert slow.invoke({}) == {"ok": True}  # a fresh worker takes over
    finally:
        slow.close()
