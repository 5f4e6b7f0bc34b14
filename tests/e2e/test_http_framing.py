"""Request framing on the wire: raw bytes to the local gateway and the dev issuer on 127.0.0.1.

Each malformed request must get API Gateway's status with a JSON ``{"message": ...}`` body
(never waitress's text/plain page, never a traceback or a hang), and the server must go on
serving. The expected answers are written out here so that a waitress upgrade that changes
its error path, its parser or its limits fails these tests.
"""

from __future__ import annotations

import contextlib
import json
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from devkit.local.gateway import Request, Response
from devkit.local.serve import LocalStack
from tests.support import ROOT, FakeClock

# API Gateway HTTP API quotas: request line plus headers 10240 bytes, payload 10 MB.
HEAD_LIMIT = 10240
BODY_LIMIT = 10 * 1024 * 1024
WAIT = 10.0  # seconds any single read may block before the test fails instead of hanging


@dataclass
class Reply:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Wire:
    """One TCP connection with a single buffered reader, so pipelined answers stay in order."""

    def __init__(self, port: int, timeout: float = WAIT) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.reader = self.sock.makefile("rb")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self, *, to_head: bool = False) -> Reply:
        status_line = self.reader.readline(65537)
        assert status_line, "the server closed the connection without answering"
        version, code, reason = status_line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        assert version == "HTTP/1.1", status_line
        headers: dict[str, str] = {}
        while True:
            line = self.reader.readline(65537)
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = b"" if to_head else self.reader.read(int(headers.get("content-length", "0")))
        return Reply(int(code), reason, headers, body)

    def closed_by_server(self) -> bool:
        """True once the server ends the connection; a socket timeout (WAIT) fails the test."""
        return self.reader.read(1) == b""

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


@pytest.fixture
def wire(stack: LocalStack) -> Iterator[Wire]:
    connection = Wire(stack.api_server.port)
    yield connection
    connection.close()


def request(method: str, target: str, *headers: str, body: bytes = b"") -> bytes:
    head = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def assert_api_gateway_error(reply: Reply, status: int, message: str) -> None:
    assert (reply.status, reply.headers.get("content-type"), reply.json()) == (
        status,
        "application/json",
        {"message": message},
    ), reply


def assert_still_serving(port: int) -> None:
    fresh = Wire(port)
    try:
        fresh.send(request("GET", "/health"))
        reply = fresh.reply()
        assert reply.status == 200, reply
        assert reply.json()["route"] == "GET /health"
    finally:
        fresh.close()


@pytest.mark.parametrize("value", ["abc", "-1", "+5", "5 5", "0x10"])
def test_a_content_length_that_is_not_digits_is_400(stack: LocalStack, wire: Wire, value: str):
    wire.send(request("POST", "/health", f"Content-Length: {value}", body=b"hello"))
    assert_api_gateway_error(wire.reply(), 400, "Bad Request")
    assert wire.closed_by_server()
    assert_still_serving(stack.api_server.port)


def test_two_different_content_lengths_are_400(stack: LocalStack, wire: Wire):
    # RFC 9112 section 6.3: differing Content-Length values are unrecoverable, never "first wins".
    wire.send(request("POST", "/health", "Content-Length: 5", "Content-Length: 6", body=b"hello!"))
    assert_api_gateway_error(wire.reply(), 400, "Bad Request")
    assert wire.closed_by_server()
    assert_still_serving(stack.api_server.port)


def test_a_chunked_body_is_the_body_of_one_request(stack: LocalStack, wire: Wire, monkeypatch: pytest.MonkeyPatch):
    seen: list[Request] = []
    handle = stack.api_server.gateway.handle

    def spy(incoming: Request) -> Response:
        seen.append(incoming)
        return handle(incoming)

    monkeypatch.setattr(stack.api_server.gateway, "handle", spy)
    # A body that is itself a request: a server that ignores chunking answers it as a second one.
    smuggled = b"GET /test HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(smuggled), smuggled)
    wire.send(request("GET", "/health", "Transfer-Encoding: chunked", "Content-Type: text/plain", body=chunked))
    first = wire.reply()
    assert (first.status, first.json()["route"]) == (200, "GET /health")
    wire.send(request("GET", "/health"))  # the connection stays usable and in step
    second = wire.reply()
    assert (second.status, second.json()["route"]) == (200, "GET /health")
    assert [(r.method, r.target, r.body) for r in seen] == [("GET", "/health", smuggled), ("GET", "/health", b"")]
    assert ("content-length", str(len(smuggled))) in [(k.lower(), v) for k, v in seen[0].headers]
    assert not [k for k, _ in seen[0].headers if k.lower() == "transfer-encoding"]


SMUGGLED = b"GET /test HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


# RFC 9112 section 6.1: such a request "ought to be handled as an error", and the connection
# must close after it whatever the answer: bytes after the chunked body are no second request.
@pytest.mark.parametrize(
    "framing",
    [
        ["Content-Length: 5", "Transfer-Encoding: chunked"],
        ["Transfer-Encoding: chunked", "Content-Length: 5"],
        ["Transfer-Encoding: chunked", "Content-Length: 0"],
    ],
    ids=["cl-te", "te-cl", "te-cl0"],
)
def test_content_length_beside_transfer_encoding_is_400_and_closed(stack: LocalStack, wire: Wire, framing: list[str]):
    wire.send(request("POST", "/health", *framing, body=b"0\r\n\r\n" + SMUGGLED))
    assert_api_gateway_error(wire.reply(), 400, "Bad Request")
    assert wire.closed_by_server()  # and GET /test was never answered
    assert_still_serving(stack.api_server.port)


# RFC 9112 section 6.1: Transfer-Encoding in an HTTP/1.0 message means the framing is faulty.
@pytest.mark.parametrize("length", [[], ["Content-Length: 5"]], ids=["te", "te-cl"])
def test_transfer_encoding_in_http_1_0_is_400_and_closed(stack: LocalStack, wire: Wire, length: list[str]):
    head = ["POST /health HTTP/1.0", "Host: 127.0.0.1", "Connection: keep-alive", "Transfer-Encoding: chunked"]
    wire.send(("\r\n".join([*head, *length]) + "\r\n\r\n").encode() + b"0\r\n\r\n" + SMUGGLED)
    assert_api_gateway_error(wire.reply(), 400, "Bad Request")
    assert wire.closed_by_server()
    assert_still_serving(stack.api_server.port)


# RFC 9112 section 2.2: a bare CR is invalid, and reading a bare LF as a line end is optional.
# waitress ends a head at CRLF CRLF only, so these waited for the idle timeout (120 s).
@pytest.mark.parametrize(
    "head",
    [
        b"GET /health HTTP/1.1\nHost: 127.0.0.1\n\n",
        b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\n\r\n",
        b"GET /health HTTP/1.1\nHost: 127.0.0.1\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: 1\n",
        b"GET /health HTTP/1.1\rHost: 127.0.0.1\r\n",
        b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\r\n",
        b"\nGET /health HTTP/1.1\r\n",
    ],
    ids=["all-lf", "lf-then-crlf", "lf-in-request-line", "lf-unfinished", "cr-unfinished", "cr-cr-lf", "leading-lf"],
)
def test_a_bare_cr_or_lf_in_the_head_is_400_at_once(stack: LocalStack, wire: Wire, head: bytes):
    wire.send(head)
    assert_api_gateway_error(wire.reply(), 400, "Bad Request")
    assert wire.closed_by_server()
    assert_still_serving(stack.api_server.port)


def test_a_bare_lf_at_the_start_of_a_read_is_400(stack: LocalStack, wire: Wire):
    wire.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    wire.send(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1")
    time.sleep(0.2)  # most likely a read of its own; tests/unit/test_http_parser.py tries every split
    wire.send(b"\n\r\n")
    assert_api_gateway_error(wire.reply(), 400, "Bad Request")
    assert wire.closed_by_server()


def test_a_crlf_split_between_two_reads_is_one_line_end(stack: LocalStack, wire: Wire):
    wire.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    wire.send(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r")
    time.sleep(0.2)
    wire.send(b"\n\r")
    time.sleep(0.2)
    wire.send(b"\n")
    assert wire.reply().status == 200
    wire.send(request("GET", "/health"))  # still in step
    assert wire.reply().status == 200


def test_a_chunked_body_framed_with_bare_lfs_is_400_at_once(stack: LocalStack, wire: Wire):
    # RFC 9112 section 7.1: chunk lines end with CRLF; waitress waited for one (the idle timeout).
    wire.send(request("POST", "/health", "Transfer-Encoding: chunked", body=b"5\nhello\n0\n\n"))
    assert_api_gateway_error(wire.reply(), 400, "Bad Request")
    assert wire.closed_by_server()
    assert_still_serving(stack.api_server.port)


def test_a_bare_lf_in_a_body_is_only_data(stack: LocalStack, wire: Wire):
    wire.send(request("GET", "/health", "Content-Length: 5", "Content-Type: text/plain", body=b"a\nb\rc"))
    assert wire.reply().status == 200
    wire.send(request("GET", "/health"))
    assert wire.reply().status == 200


# RFC 9112 section 3.2: an HTTP/1.1 request without exactly one valid Host MUST be a 400.
@pytest.mark.parametrize(
    "head",
    [
        b"GET /health HTTP/1.1\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: 127.0.0.1 evil.example\r\n\r\n",
    ],
    ids=["none", "two", "invalid"],
)
def test_an_http_1_1_request_without_one_valid_host_is_400(stack: LocalStack, wire: Wire, head: bytes):
    wire.send(head)
    assert_api_gateway_error(wire.reply(), 400, "Bad Request")
    assert wire.closed_by_server()
    assert_still_serving(stack.api_server.port)


def test_an_unsupported_transfer_coding_is_501(stack: LocalStack, wire: Wire):
    wire.send(request("POST", "/health", "Transfer-Encoding: gzip", body=b"0\r\n\r\n"))
    assert_api_gateway_error(wire.reply(), 501, "Not Implemented")
    assert wire.closed_by_server()
    assert_still_serving(stack.api_server.port)


def _send_ignoring_resets(connection: Wire, data: bytes) -> threading.Thread:
    """Send in the background: the server may answer and close before it has read it all."""

    def send() -> None:
        with contextlib.suppress(OSError):
            connection.send(data)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    return sender


def test_a_1_mb_header_is_413_json(stack: LocalStack, wire: Wire):
    sender = _send_ignoring_resets(wire, request("GET", "/health", "X-Big: " + "a" * (1 << 20)))
    assert_api_gateway_error(wire.reply(), 413, "Request Entity Too Large")
    sender.join(WAIT)
    assert_still_serving(stack.api_server.port)


def test_a_very_long_url_is_413_json(stack: LocalStack, wire: Wire):
    sender = _send_ignoring_resets(wire, request("GET", "/health?" + "q" * 100_000))
    assert_api_gateway_error(wire.reply(), 413, "Request Entity Too Large")
    sender.join(WAIT)
    assert_still_serving(stack.api_server.port)


def _head_of(size: int) -> bytes:
    """A GET /health whose request line and headers, line ends included, are ``size`` bytes."""
    bare = request("GET", "/health", "X-Pad: ")
    padded = request("GET", "/health", "X-Pad: " + "p" * (size - len(bare)))
    assert len(padded) == size
    return padded


def test_the_request_line_and_headers_may_be_10240_bytes_and_no_more(stack: LocalStack, wire: Wire):
    wire.send(_head_of(HEAD_LIMIT))
    assert wire.reply().status == 200
    wire.send(_head_of(HEAD_LIMIT + 1))
    assert_api_gateway_error(wire.reply(), 413, "Request Entity Too Large")
    assert wire.closed_by_server()
    assert_still_serving(stack.api_server.port)


def test_a_body_over_10_mb_is_413_before_it_is_sent(stack: LocalStack, wire: Wire):
    wire.send(request("POST", "/health", f"Content-Length: {BODY_LIMIT + 1}"))
    assert_api_gateway_error(wire.reply(), 413, "Request Entity Too Large")
    assert wire.closed_by_server()
    assert_still_serving(stack.api_server.port)


def test_the_dev_issuer_answers_framing_errors_the_same_way(stack: LocalStack):
    port = stack.issuer_servers[0].port
    connection = Wire(port)
    try:
        connection.send(request("POST", "/oauth/token", "Content-Length: abc"))
        assert_api_gateway_error(connection.reply(), 400, "Bad Request")
    finally:
        connection.close()
    fresh = Wire(port)
    try:
        fresh.send(request("GET", "/.well-known/jwks.json"))
        reply = fresh.reply()
        assert reply.status == 200 and reply.json()["keys"]
    finally:
        fresh.close()


@pytest.mark.parametrize("server", ["api", "issuer"])
def test_a_head_answer_has_a_length_and_no_body(stack: LocalStack, server: str):
    port = stack.api_server.port if server == "api" else stack.issuer_servers[0].port
    connection = Wire(port)
    try:
        connection.send(request("HEAD", "/health") + request("GET", "/nope"))
        head = connection.reply(to_head=True)
        assert int(head.headers["content-length"]) > 0
        following = connection.reply()  # a body sent after HEAD would be read as this status line
        assert following.status == 404 and following.json() in ({"message": "Not Found"}, {"error": "not_found"})
    finally:
        connection.close()


def test_keep_alive_answers_do_not_wait_for_a_delayed_ack(stack: LocalStack, wire: Wire):
    # Head and body leave in separate writes: with Nagle's algorithm on, once the connection
    # leaves TCP quick-ACK mode, every answer waits for the client's delayed ACK (40 ms).
    took = []
    for _ in range(40):
        started = time.perf_counter()
        wire.send(request("GET", "/health"))
        assert wire.reply().status == 200
        took.append(time.perf_counter() - started)
    assert statistics.median(took) < 0.02, took


def test_an_idle_keep_alive_connection_is_closed_by_the_server():
    local = LocalStack(ROOT / "template.yaml", clock=FakeClock(), idle_timeout=1).start()
    try:
        connection = Wire(local.api_server.port)
        try:
            connection.send(request("GET", "/health"))
            reply = connection.reply()
            assert reply.status == 200 and "connection" not in reply.headers  # kept alive
            idle_since = time.monotonic()
            assert connection.closed_by_server()  # within WAIT, or the read times out and fails
            assert time.monotonic() - idle_since >= 0.9  # closed for idling, not right after answering
        finally:
            connection.close()
        assert_still_serving(local.api_server.port)
    finally:
        local.close()
