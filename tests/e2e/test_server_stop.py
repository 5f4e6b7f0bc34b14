"""Stopping a local server: the loop closes its sockets, and nothing is written to a closed pipe."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from devkit.local.server import WsgiServer


def hello(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]


def test_stop_never_writes_to_a_closed_wake_up_pipe():
    # GIVEN a running server whose loop runs stop()'s closing step before stop()'s own write to
    # the wake-up pipe has happened (as when a worker's wake-up is already pending)
    server = WsgiServer(hello, "127.0.0.1", 0, name="stop-test").start()
    port = server.port
    trigger = server._server.trigger
    thunks_ran = threading.Event()
    read, write = trigger.handle_read, trigger._physical_pull
    pipe_closed_at_write: list[bool] = []

    def handle_read() -> None:
        read()
        thunks_ran.set()

    def pull() -> None:
        write()  # the earlier wake-up
        assert thunks_ran.wait(5), "the loop did not run stop()'s closing step"
        pipe_closed_at_write.append(trigger._closed)
        write()  # stop()'s own

    trigger.handle_read = handle_read  # a spy: when the loop has run the pending thunks
    trigger._physical_pull = pull

    # WHEN it stops
    server.stop()

    # THEN its own write found the pipe open, and in the end every socket and the pipe are closed
    assert pipe_closed_at_write == [False]
    assert trigger._closed
    assert server._map == {}
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_stop_closes_open_connections_and_can_be_called_again():
    server = WsgiServer(hello, "127.0.0.1", 0, name="stop-test").start()
    client = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    try:
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while not answer.endswith(b"\r\n\r\nok"):  # head and body may come in separate reads
            chunk = client.recv(1024)
            assert chunk, f"closed before the whole answer: {answer!r}"
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 200")
        server.stop()
        server.stop()
        assert client.recv(1024) == b""  # the server closed the kept-alive connection
    finally:
        client.close()
    assert server._map == {}
