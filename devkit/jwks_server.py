"""An issuer's discovery document and key set on 127.0.0.1, whose answers can be switched to faults.

The tests inject faults with it; ``make bench`` serves a dev issuer's documents with it over
TLS, to the authorizer's cold starts and to Powertools'. With a ``LocalCA`` it speaks HTTPS, as
real issuers do. It answers ``DISCOVERY_PATH`` from ``discovery()`` and every other path with
the key set, or with the fault of ``mode``:
``ok``, ``500``, ``garbage``, ``empty``, ``huge``, ``slow`` (sleeps, then answers),
``drip`` (the key set in ``drip_pieces`` pieces, ``drip_seconds`` apart), ``nested``
(``[`` x 100000), ``redirect`` (302 to ``redirect_to``).

Each request's path and ``User-Agent`` are logged: ``requests`` lists the paths in order, and
``clients(path)`` counts who fetched one (the bench tells its three clients apart that way).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

from devkit.tls import LocalCA

DISCOVERY_PATH = "/.well-known/openid-configuration"
# Mode -> the status and body served for the key set instead of it.
_FAULTS: dict[str, tuple[int, bytes]] = {
    "500": (500, b'{"error":"boom"}'),
    "garbage": (200, b"<html>not json</html>"),
    "empty": (200, b'{"keys": []}'),
    "huge": (200, b'{"keys": [], "pad": "' + b"x" * (300 * 1024) + b'"}'),
    "nested": (200, b"[" * 100_000),
}


class _Handler(BaseHTTPRequestHandler):
    server: JwksServer
    # Real issuers keep connections alive; a client that reuses one (urllib3) may, as in production.
    protocol_version = "HTTP/1.1"
    timeout = 30
    # Head and body in one write, sent at once: written apart, Nagle's algorithm holds the body
    # back for the client's delayed ACK (40 ms a fetch), a stall no real issuer has.
    wbufsize = -1
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return

    def do_GET(self) -> None:
        server = self.server
        server.note(self.path, self.headers.get("User-Agent", ""))
        if server.mode == "slow":
            time.sleep(server.slow_seconds)
        status, headers, body = server.answer(self.path)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if server.mode == "drip" and self.path != DISCOVERY_PATH:
            step = max(1, len(body) // server.drip_pieces + 1)
            for start in range(0, len(body), step):
                self.wfile.write(body[start : start + step])
                self.wfile.flush()
                time.sleep(server.drip_seconds)
            return
        self.wfile.write(body)


class JwksServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        jwks: dict[str, Any],
        issuer: str | None = None,
        tls: LocalCA | None = None,
        *,
        jwks_path: str = "/jwks.json",
    ) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        if tls is not None:
            self.socket = tls.server_context().wrap_socket(self.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self.jwks_path = jwks_path
        self.jwks = jwks
        self.mode = "ok"
        self.slow_seconds = 1.0
        self.drip_pieces = 20
        self.drip_seconds = 0.35
        self.redirect_to = ""
        self.discovery_override: dict[str, Any] | None = None
        self.issuer = issuer or self.base_url + "/"
        self._log: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hang up on a kept-alive connection, or mid-answer when they cap what they read
        # or time out: that is what the faults are for, not a server error to print.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    @property
    def jwks(self) -> dict[str, Any]:
        return self._jwks

    @jwks.setter
    def jwks(self, value: dict[str, Any]) -> None:
        # Encoded once: serving the key set then costs the same on every fetch of a bench run.
        self._jwks = value
        self._jwks_body = json.dumps(value).encode()

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server_address[1]}"

    @property
    def jwks_uri(self) -> str:
        return self.base_url + self.jwks_path

    def discovery(self) -> dict[str, Any]:
        if self.discovery_override is not None:
            return self.discovery_override
        return {"issuer": self.issuer, "jwks_uri": self.jwks_uri}

    def answer(self, path: str) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body for a GET of ``path`` in the current mode."""
        headers = {"Content-Type": "application/json"}
        if path == DISCOVERY_PATH:
            return 200, headers, json.dumps(self.discovery()).encode()
        if self.mode == "redirect":
            return 302, {**headers, "Location": self.redirect_to}, b""
        status, body = _FAULTS.get(self.mode, (200, self._jwks_body))
        return status, headers, body

    def note(self, path: str, user_agent: str) -> None:
        with self._lock:
            self._log.append((path, user_agent))

    @property
    def requests(self) -> list[str]:
        """The paths requested, in order."""
        with self._lock:
            return [path for path, _ in self._log]

    def clients(self, path: str) -> Counter[str]:
        """How many times each ``User-Agent`` requested ``path``."""
        with self._lock:
            return Counter(agent for where, agent in self._log if where == path)

    @property
    def jwks_fetches(self) -> int:
        return sum(1 for path in self.requests if path == self.jwks_path)


_ServerT = TypeVar("_ServerT", bound=ThreadingHTTPServer)


@contextmanager
def running(server: _ServerT) -> Iterator[_ServerT]:
    """Serve on a thread of its own for the ``with`` block, then stop and close the socket."""
    thread = threading.Thread(target=server.serve_forever, name=type(server).__name__, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
