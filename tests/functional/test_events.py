"""The sample events carry every field API Gateway sends, checked against SAM CLI's own generator."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support import SAM, load_event


def generated(*kind: str) -> dict[str, Any]:
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    done = subprocess.run([SAM, "local", "generate-event", *kind], capture_output=True, text=True, env=env, check=True)
    event: dict[str, Any] = json.loads(done.stdout)
    return event


# Maps whose keys are the caller's own (header names, query parameters): their values are examples.
FREE_FORM = {"headers", "multiValueHeaders", "queryStringParameters", "pathParameters", "stageVariables"}


def missing_keys(reference: Any, ours: Any, path: str = "") -> list[str]:
    """Keys of ``reference`` (recursively, into objects both have) that ``ours`` lacks."""
    if not isinstance(reference, dict) or not isinstance(ours, dict):
        return []
    gaps = []
    for key, value in reference.items():
        if key not in ours:
            gaps.append(path + key)
        elif isinstance(ours[key], dict) and key not in FREE_FORM:
            gaps += missing_keys(value, ours[key], f"{path}{key}.")
    return gaps


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("authorizer-v1-request.json", ("apigateway", "request-authorizer")),
        ("authorizer-v1-token.json", ("apigateway", "authorizer")),
    ],
)
def test_rest_events_have_every_field_of_sam_clis_generator(name, kind):
    assert missing_keys(generated(*kind), load_event(name)) == []


def test_the_rest_request_event_says_when_it_was_sent_as_api_gateway_does():
    context = load_event("authorizer-v1-request.json")["requestContext"]
    sent = datetime.strptime(context["requestTime"], "%d/%b/%Y:%H:%M:%S %z")
    assert int(sent.timestamp() * 1000) == context["requestTimeEpoch"]
    assert {"domainName", "domainPrefix", "extendedRequestId", "protocol"} <= set(context)
    assert {"sourceIp", "userAgent"} <= set(context["identity"])


@pytest.mark.parametrize("name", ["authorizer-v2-valid.json", "authorizer-v2-malformed.json"])
def test_http_api_events_say_when_they_were_sent(name):
    context = load_event(name)["requestContext"]
    sent = datetime.strptime(context["time"], "%d/%b/%Y:%H:%M:%S %z")
    assert sent.tzinfo is not None and sent.utcoffset() == UTC.utcoffset(None)
    assert int(sent.timestamp() * 1000) == context["timeEpoch"]
