"""A JWKS server on 127.0.0.1 whose answers a test can switch: for fault injection.

Modes for the key set (discovery is always answered, from ``discovery()``):
``ok``, ``500``, ``garbage``, ``empty``, ``huge``, ``slow`` (sleeps, then answers),
``drip`` (the key set in ``drip_pieces`` pieces, ``drip_seconds`` apart), ``nested``
(``[`` x 100000), ``redirect`` (302 to ``redirect_to``). With a ``LocalCA`` it speaks HTTPS.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from devkit.tls import LocalCA


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
        headers = {"Content-Type": "application/json"}
        if self.path == "/.well-known/openid-configuration":
            status, body = 200, json.dumps(server.discovery()).encode()
        elif mode == "500":
            status, body = 500, b'{"error":"boom"}'
        elif mode == "garbage":
            status, body = 200, b"<html>not json</html>"
        elif mode == "empty":
            status, body = 200, b'{"keys": []}'
        elif mode == "huge":
            status, body = 200, b'{"keys": [], "pad": "' + b"x" * (300 * 1024) + b'"}'
        elif mode == "nested":
            status, body = 200, b"[" * 100_000
        elif mode == "redirect":
            status, body = 302, b""
            headers["Location"] = server.redirect_to
        else:
            status, body = 200, json.dumps(server.jwks).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode == "drip" and self.path != "/.well-known/openid-configuration":
            step = max(1, len(body) // server.drip_pieces + 1)
            for start in range(0, len(body), step):
                self.wfile.write(body[start : start + step])
                self.wfile.flush()
                time.sleep(server.drip_seconds)
            return
        self.wfile.write(body)


class FaultyJwksServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, jwks: dict[str, Any], issuer: str | None = None, tls: LocalCA | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        if tls is not None:
            self.socket = tls.server_context().wrap_socket(self.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self.jwks = jwks
        self.mode = "ok"
        self.slow_seconds = 1.0
        self.drip_pieces = 20
        self.drip_seconds = 0.35
        self.redirect_to = ""
        self.discovery_override: dict[str, Any] | None = None
        self.requests: list[str] = []
        self.issuer = issuer or self.base_url + "/"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server_address[1]}"

    @property
    def jwks_uri(self) -> str:
        return self.base_url + "/jwks.json"

    def discovery(self) -> dict[str, Any]:
        if self.discovery_override is not None:
            return self.discovery_override
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
