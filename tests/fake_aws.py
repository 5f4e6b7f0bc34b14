"""A stand-in for the two AWS APIs the tools call themselves, on 127.0.0.1 (``AWS_ENDPOINT_URL``).

STS ``GetCallerIdentity`` and CloudFormation ``DescribeStacks``, in their query protocol (a form
POST in, XML out), as botocore speaks it. Each request is recorded with the region and access
key of its SigV4 signature, so a test sees which region a tool asked and with what credentials.
``refuse`` makes STS answer as it does to a revoked or expired key; ``stacks`` holds the
stacks that exist.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from devkit.jwks_server import running

ACCOUNT = "123456789012"
ARN = f"arn:aws:iam::{ACCOUNT}:user/deployer"
_SIGNATURE = re.compile(r"Credential=([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")


@dataclass
class Call:
    service: str
    action: str
    region: str
    access_key: str
    parameters: dict[str, str]


@dataclass
class Stack:
    status: str = "CREATE_COMPLETE"
    outputs: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)


class FakeAws(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.calls: list[Call] = []
        self.stacks: dict[str, Stack] = {}
        self.refuse: tuple[str, str] | None = None  # (code, message) STS answers instead

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def env(self, region: str | None = "eu-west-1") -> dict[str, str]:
        """What points an AWS SDK here, with credentials; no region unless one is given."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": "AKIAFAKEFORTESTS",
            "AWS_SECRET_ACCESS_KEY": "fake-secret",
            **({"AWS_DEFAULT_REGION": region} if region else {}),
        }

    def actions(self) -> list[str]:
        return [f"{call.service}:{call.action}" for call in self.calls]


class _Handler(BaseHTTPRequestHandler):
    server: FakeAws

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        signed = _SIGNATURE.search(self.headers.get("Authorization", ""))
        key, region, service = signed.groups() if signed else ("", "", "")
        action = form.pop("Action", "")
        self.server.calls.append(Call(service, action, region, key, form))
        if action == "GetCallerIdentity":
            self._sts()
        elif action == "DescribeStacks":
            self._describe(form.get("StackName", ""))
        else:
            self._error(
                400,
                "InvalidAction",
                f"{action} is not faked here",
                "http://cloudformation.amazonaws.com/doc/2010-05-15/",
            )

    def _sts(self) -> None:
        namespace = "https://sts.amazonaws.com/doc/2011-06-15/"
        if self.server.refuse is not None:
            self._error(403, *self.server.refuse, namespace)
            return
        self._answer(
            f'<GetCallerIdentityResponse xmlns="{namespace}"><GetCallerIdentityResult>'
            f"<Arn>{ARN}</Arn><UserId>AIDAFAKE</UserId><Account>{ACCOUNT}</Account>"
            "</GetCallerIdentityResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>"
            "</GetCallerIdentityResponse>"
        )

    def _describe(self, name: str) -> None:
        namespace = "http://cloudformation.amazonaws.com/doc/2010-05-15/"
        stack = self.server.stacks.get(name)
        if stack is None:
            self._error(400, "ValidationError", f"Stack with id {name} does not exist", namespace)
            return
        outputs = "".join(
            f"<member><OutputKey>{escape(k)}</OutputKey><OutputValue>{escape(v)}</OutputValue></member>"
            for k, v in stack.outputs.items()
        )
        parameters = "".join(
            f"<member><ParameterKey>{escape(k)}</ParameterKey><ParameterValue>{escape(v)}</ParameterValue></member>"
            for k, v in stack.parameters.items()
        )
        self._answer(
            f'<DescribeStacksResponse xmlns="{namespace}"><DescribeStacksResult><Stacks><member>'
            f"<StackName>{escape(name)}</StackName>"
            f"<StackId>arn:aws:cloudformation:eu-west-1:{ACCOUNT}:stack/{escape(name)}/1</StackId>"
            f"<CreationTime>2026-01-01T00:00:00Z</CreationTime><StackStatus>{stack.status}</StackStatus>"
            f"<Outputs>{outputs}</Outputs><Parameters>{parameters}</Parameters>"
            "</member></Stacks></DescribeStacksResult><ResponseMetadata><RequestId>1</RequestId>"
            "</ResponseMetadata></DescribeStacksResponse>"
        )

    def _error(self, status: int, code: str, message: str, namespace: str) -> None:
        self._answer(
            f'<ErrorResponse xmlns="{namespace}"><Error><Type>Sender</Type><Code>{code}</Code>'
            f"<Message>{escape(message)}</Message></Error><RequestId>1</RequestId></ErrorResponse>",
            status,
        )

    def _answer(self, xml: str, status: int = 200) -> None:
        body = xml.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def fake_aws() -> Iterator[FakeAws]:
    with running(FakeAws()) as server:
        yield server
