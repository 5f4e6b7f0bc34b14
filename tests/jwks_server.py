"""A JWKS server on 127.0.0.1 whose answers a test can switch: for fault injection."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Handler(BaseHTTPRequestHandler):
    server: FaultyJwksServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return

    def do_GET(self) -> None:
        server = self.server
        server.requests.append(self.path)
        mode = server.mode
        if mode == "slow":
            time.sleep(server.slow_seconds)
        if self.path == "/.well-known/openid-configuration":
            body = json.dumps(server.discovery()).encode()
            status = 200
        elif mode == "500":
            status, body = 500, b'{"error":"boom"}'
        elif mode == "garbage":
            status, body = 200, b"<html>not json</html>"
        elif mode == "empty":
            status, body = 200, b'{"keys": []}'
        elif mode == "huge":
            status, body = 200, b'{"keys": [], "pad": "' + b"x" * (300 * 1024) + b'"}'
        else:
            status, body = 200, json.dumps(server.jwks).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class FaultyJwksServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, jwks: dict[str, Any], issuer: str | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.jwks = jwks
        self.mode = "ok"
        self.slow_seconds = 1.0
        self.requests: list[str] = []
        self.issuer = issuer or self.base_url + "/"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def jwks_uri(self) -> str:
        return self.base_url + "/jwks.json"

    def discovery(self) -> dict[str, Any]:
        return {"issuer": self.issuer, "jwks_uri": self.jwks_uri}

    @property
    def jwks_fetches(self) -> int:
        return sum(1 for path in self.requests if path == "/jwks.json")


@contextmanager
def running(server: FaultyJwksServer) -> Iterator[FaultyJwksServer]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
