"""Answers a handler gives, over real HTTP: what the Lambda runtime can send, and what it cannot.

The python3.13 runtime writes an answer as JSON with non-ASCII as UTF-8 (awslambdaric 4.2.2); a
string holding a lone surrogate cannot be UTF-8, so the invocation fails and API Gateway
answers 500. Locally the same must happen, and UTF-8 must come through byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devkit.local.serve import LocalStack
from tests.e2e.conftest import http
from tests.support import FakeClock, template_variant

ANSWERS = """
ANSWERS = {
    "accent": {"statusCode": 200, "headers": {"content-type": "text/plain"}, "body": "caf\\u00e9 \\u20ac"},
    "accent-shortcut": {"word": "caf\\u00e9", "emoji": "\\U0001f600"},
    "surrogate-body": {"statusCode": 200, "body": "\\ud800"},
    "surrogate-shortcut": {"word": "\\ud800"},
    "surrogate-unused-field": {"statusCode": 200, "body": "ok", "note": "x\\udfff"},
    "surrogate-shortcut-list": ["fine", "\\ud83d"],
}


def lambda_handler(event, context):
    return ANSWERS[event["queryStringParameters"]["case"]]
"""


@pytest.fixture(scope="module")
def answers_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    directory: Path = tmp_path_factory.mktemp("answers")
    (directory / "answers").mkdir()
    (directory / "answers" / "app.py").write_text(ANSWERS)
    template = template_variant(directory, ("      CodeUri: src/test_route/\n", "      CodeUri: answers/\n"))
    local = LocalStack(template, clock=FakeClock()).start()
    yield local
    local.close()


@pytest.mark.parametrize(
    "case", ["surrogate-body", "surrogate-shortcut", "surrogate-unused-field", "surrogate-shortcut-list"]
)
def test_an_answer_holding_a_lone_surrogate_is_a_500(answers_stack: LocalStack, case: str):
    reply = http(f"{answers_stack.api_url}/health?case={case}")
    assert (reply.status, reply.json()) == (500, {"message": "Internal Server Error"})


def test_non_ascii_comes_through_byte_for_byte_as_utf_8(answers_stack: LocalStack):
    reply = http(f"{answers_stack.api_url}/health?case=accent")
    assert (reply.status, reply.body) == (200, "caf\u00e9 \u20ac".encode())


def test_a_shortcut_answer_is_the_json_the_runtime_wrote(answers_stack: LocalStack):
    # payload 2.0: an answer without statusCode is the body, as the runtime sent it: UTF-8, no \u escapes.
    reply = http(f"{answers_stack.api_url}/health?case=accent-shortcut")
    assert (reply.status, reply.headers["content-type"]) == (200, "application/json")
    assert reply.body == '{"word": "caf\u00e9", "emoji": "\U0001f600"}'.encode()
