"""Connections that never finish a request head: they neither fill the server nor stay open.

Raw sockets on 127.0.0.1. Waits are bounded by deadlines (a socket timeout), never a sleep
that hopes the server is done; the head timeout is injected short so no test waits 10 s.
"""

from __future__ import annotations

import contextlib
import resource
import select
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from devkit.local.serve import LocalStack
from devkit.local.server import CONNECTION_LIMIT, OTHER_DESCRIPTORS, WsgiServer
from tests.e2e.test_http_framing import WAIT, Wire, request

HALF_SENT = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Never: fini"


def hello(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ["PATH_INFO"] == "/slow":
        time.sleep(2)
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]


@contextlib.contextmanager
def half_sent_heads(port: int, count: int) -> Iterator[list[socket.socket]]:
    sockets = []
    try:
        for _ in range(count):
            connection = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
            connection.sendall(HALF_SENT)
            sockets.append(connection)
        yield sockets
    finally:
        for connection in sockets:
            connection.close()


@pytest.mark.parametrize("server", ["api", "issuer"])
def test_110_half_sent_heads_do_not_keep_a_normal_request_waiting(stack: LocalStack, server: str):
    # GIVEN 120 connections that each sent part of a request head and then nothing more
    port = stack.api_server.port if server == "api" else stack.issuer_servers[0].port
    path = "/health" if server == "api" else "/.well-known/jwks.json"
    with half_sent_heads(port, 120):
        # WHEN a normal request comes after them (the listen queue hands connections out in order)
        fresh = Wire(port, timeout=5)
        try:
            started = time.monotonic()
            fresh.send(request("GET", path))
            # THEN it is answered at once; with waitress's limit of 100 it waited for the idle timeout
            assert fresh.reply().status == 200
            assert time.monotonic() - started < 5
        finally:
            fresh.close()


@pytest.fixture
def quick_server() -> Iterator[WsgiServer]:
    server = WsgiServer(hello, "127.0.0.1", 0, name="head-timeout-test", head_timeout=1).start()
    yield server
    server.stop()


def _closed_after(connection: Wire) -> float:
    """Seconds until the server closes the connection; the socket timeout (WAIT) fails the test."""
    started = time.monotonic()
    assert connection.closed_by_server()
    return time.monotonic() - started


def test_a_head_never_finished_is_closed_after_the_head_timeout(quick_server: WsgiServer):
    connection = Wire(quick_server.port)
    try:
        connection.send(HALF_SENT)
        assert 0.9 <= _closed_after(connection) < WAIT
    finally:
        connection.close()


def test_a_head_sent_a_byte_at_a_time_is_closed_after_the_head_timeout(quick_server: WsgiServer):
    # Each byte restarts the idle timeout; the head timeout counts from the first.
    connection = socket.create_connection(("127.0.0.1", quick_server.port), timeout=WAIT)
    try:
        started = time.monotonic()
        deadline = started + WAIT
        for byte in HALF_SENT:
            closed, _, _ = select.select([connection], [], [], 0.1)
            if closed or time.monotonic() > deadline:
                break
            connection.sendall(bytes([byte]))
        with contextlib.suppress(ConnectionResetError):  # a byte may have crossed the close
            assert connection.recv(1) == b""
        assert 0.9 <= time.monotonic() - started < WAIT
    finally:
        connection.close()


def test_a_connection_that_sends_nothing_is_closed_after_the_head_timeout(quick_server: WsgiServer):
    connection = Wire(quick_server.port)
    try:
        assert 0.9 <= _closed_after(connection) < WAIT
    finally:
        connection.close()


def test_the_head_timeout_spares_kept_alive_connections_and_slow_answers(quick_server: WsgiServer):
    connection = Wire(quick_server.port, timeout=3)
    try:
        connection.send(request("GET", "/slow"))  # the app takes 2 s, past the 1 s head timeout
        assert connection.reply().status == 200
        # Idle between requests past the head timeout: that is the idle timeout's business (120 s).
        closed_or_sent, _, _ = select.select([connection.sock], [], [], 2.5)
        assert not closed_or_sent
        connection.send(request("GET", "/"))
        assert connection.reply().status == 200
    finally:
        connection.close()


def _soft_limit_after_a_server_starts(soft: int, hard: int) -> int:
    """The open-file soft limit of a fresh process that started at (soft, hard) and built two servers."""
    script = textwrap.dedent(
        f"""
        import resource
        resource.setrlimit(resource.RLIMIT_NOFILE, ({soft}, {hard}))
        from devkit.local.server import WsgiServer
        servers = [WsgiServer(None, "127.0.0.1", 0, name="limit") for _ in range(2)]
        print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    return int(result.stdout)


def test_the_open_file_limit_is_raised_to_what_the_servers_may_hold():
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2 * CONNECTION_LIMIT + OTHER_DESCRIPTORS
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"the hard limit on open files ({hard}) is below {wanted}")
    assert _soft_limit_after_a_server_starts(256, hard) >= wanted  # macOS's default soft limit


def test_a_hard_limit_below_that_is_used_as_far_as_it_goes():
    assert _soft_limit_after_a_server_starts(256, 512) == 512
