"""The local workers time a function as Lambda does: INIT apart from each invocation's Timeout."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from devkit.local.functions import FunctionError, FunctionPool, _Worker
from devkit.template import Function

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


ANSWERS = """
def handler(event, context):
    case = event["case"]
    if case == "deep":
        answer = []
        for _ in range(100_000):
            answer = [answer]
        return answer
    return {"surrogate": "\\ud800", "accent": "caf\\u00e9", "nan": float("nan"), "decimal-free": [1, 2.5, None]}[case]
"""


@pytest.fixture
def answers(tmp_path: Path):
    (tmp_path / "app.py").write_text(ANSWERS)
    pool = FunctionPool(Function("AnswersFunction", tmp_path, "app.handler", {}, 5.0, 128))
    yield pool
    pool.close()


@pytest.mark.parametrize(
    ("case", "cause"),
    [
        ("surrogate", r"'utf-8' codec can't encode character '\\ud800' in position 1: surrogates not allowed"),
        ("deep", r"maximum recursion depth exceeded"),
    ],
)
def test_an_answer_the_runtime_cannot_send_is_a_marshal_error_logged_in_one_line(
    answers: FunctionPool, capfd: pytest.CaptureFixture[str], case: str, cause: str
):
    with pytest.raises(FunctionError, match=rf"^Runtime\.MarshalError: Unable to marshal response: {cause}"):
        answers.invoke({"case": case})
    logged = capfd.readouterr().err.splitlines()
    assert len(logged) == 1, logged  # no traceback: the encoder's frames say nothing about the handler
    assert json.loads(logged[0])["errorType"] == "Runtime.MarshalError"
    assert answers.invoke({"case": "accent"}) == "caf\u00e9"  # the worker goes on serving


def test_answers_the_runtime_can_send_arrive_as_they_were(answers: FunctionPool):
    assert answers.invoke({"case": "accent"}) == "caf\u00e9"
    assert answers.invoke({"case": "decimal-free"}) == [1, 2.5, None]
    assert math.isnan(answers.invoke({"case": "nan"}))  # allow_nan=True, as the runtime's encoder


def test_an_answer_line_nested_past_the_parsers_limit_is_a_function_error():
    # A worker line json.loads cannot take (it recurses): an answer that is not JSON it can read.
    script = "import sys; sys.stdin.readline(); print('{\"result\": ' + '[' * 100_000 + ']' * 100_000 + '}')"
    process = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        with pytest.raises(FunctionError, match="not JSON"):
            _Worker(process).call({}, timeout=10)
    finally:
        process.kill()
        process.wait()
