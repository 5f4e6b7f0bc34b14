"""``python -m devloop serve``: the dev issuer and the local gateway, in the foreground."""

from __future__ import annotations

import argparse
import errno
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from devloop import DEFAULT_AUDIENCE
from devloop.gateway import Gateway, Request, Response
from devloop.issuer import DevIssuer, IssuerServer
from devloop.lambdas import Functions
from devloop.template import load_api

LOGGER = logging.getLogger("devloop")


class _ApiHandler(BaseHTTPRequestHandler):
    server: ApiServer
    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes; with Nagle on, a keep-alive client waits for
    # a delayed ACK (40 ms) on every response.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if self.server.verbose:
            super().log_message(format, *args)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        request = Request(
            method=self.command,
            target=self.path,
            headers=list(self.headers.items()),
            body=self.rfile.read(length) if length else b"",
            source_ip=self.client_address[0],
        )
        try:
            response = self.server.gateway.handle(request)
        except Exception:  # the emulator's own bug: answer as API Gateway would, keep serving
            LOGGER.exception("local gateway error")
            response = Response.message(500, "Internal Server Error")
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("content-length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _serve  # noqa: N815


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, gateway: Gateway, host: str, port: int, verbose: bool = False) -> None:
        super().__init__((host, port), _ApiHandler)
        self.gateway = gateway
        self.verbose = verbose
        self._started = False

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> ApiServer:
        threading.Thread(target=self.serve_forever, name="local-api", daemon=True).start()
        self._started = True
        return self

    def stop(self) -> None:
        if self._started:  # shutdown() waits forever on a server that never ran
            self.shutdown()
        self.server_close()
        self.gateway.functions.close()


def _listen_error(exc: OSError, host: str, port: int, variable: str) -> OSError:
    if exc.errno == errno.EADDRINUSE:
        return OSError(f"port {port} on {host} is busy; choose another with {variable}=...")
    return OSError(f"cannot listen on {host}:{port}: {exc.strerror}")


class LocalStack:
    """The dev issuer plus the gateway for a template, started together and stopped together."""

    def __init__(
        self,
        template: Path,
        *,
        host: str = "127.0.0.1",
        api_port: int = 0,
        issuer_port: int = 0,
        issuer_also_on: tuple[str, ...] = (),
        audience: str = DEFAULT_AUDIENCE,
        parameters: dict[str, str] | None = None,
        verbose: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.dev_issuer = DevIssuer(default_audience=audience)
        try:
            self.issuer_servers: list[IssuerServer] = [self.dev_issuer.serve(host, issuer_port)]
        except OSError as exc:
            raise _listen_error(exc, host, issuer_port, "ISSUER_PORT") from exc
        port = self.issuer_servers[0].port
        for extra in issuer_also_on:
            # For containers (sam local): they reach the host through the bridge's gateway.
            try:
                self.issuer_servers.append(IssuerServer(self.dev_issuer, extra, port))
            except OSError as exc:
                self.close()
                raise _listen_error(exc, extra, port, "ISSUER_PORT") from exc
        try:
            api = load_api(template, {"Issuer": self.dev_issuer.issuer, "Audience": audience, **(parameters or {})})
            gateway = Gateway(api, Functions(api.functions), clock=clock)
            self.api_server = ApiServer(gateway, host, api_port, verbose)
        except OSError as exc:
            self.close()
            raise _listen_error(exc, host, api_port, "API_PORT") from exc
        except Exception:
            self.close()
            raise

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_server.port}"

    def start(self) -> LocalStack:
        for server in self.issuer_servers:
            server.start()
        self.api_server.start()
        return self

    def close(self) -> None:
        if hasattr(self, "api_server"):
            self.api_server.stop()
        for server in self.issuer_servers:
            server.stop()


def _parameters(pairs: list[str]) -> dict[str, str]:
    """``Name=value`` template parameter overrides, as ``sam deploy --parameter-overrides`` takes them."""
    parameters = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"parameter {pair!r} is not Name=value")
        parameters[name] = value
    return parameters


def run(args: argparse.Namespace) -> int:
    from devloop.template import TemplateError

    try:
        stack = LocalStack(
            Path(args.template),
            api_port=args.api_port,
            issuer_port=args.issuer_port,
            issuer_also_on=tuple(args.issuer_also_on or ()),
            audience=args.audience,
            parameters=_parameters(args.parameter or []),
            verbose=args.verbose,
        )
    except TemplateError as exc:
        raise ValueError(str(exc)) from exc
    stack.start()
    token = stack.dev_issuer.mint(scopes=["read:test"])
    bad = stack.dev_issuer.mint(variant="bad_signature")
    api = stack.api_url
    print(
        f"local API  {api}  (routes from {args.template})\n"
        f"dev issuer {stack.dev_issuer.issuer}  (key made at start, kept in memory only)\n\n"
        f'TOKEN="{token}"\n'
        f'BAD="{bad}"\n\n'
        f'curl -i -H "Authorization: Bearer $TOKEN" {api}/test         # 200 built-in JWT authorizer\n'
        f'curl -i -H "Authorization: Bearer $TOKEN" {api}/lambda/test  # 200 Lambda authorizer\n'
        f"curl -i {api}/test                                            # 401 no token\n"
        f'curl -i -H "Authorization: Bearer $BAD" {api}/test           # 401 broken signature\n'
        f'curl -i -H "Authorization: Bearer $BAD" {api}/lambda/test    # 403 broken signature\n'
        f"curl -i {api}/health                                          # 200 public\n\n"
        "Fresh token: make -s token [SCOPES=... AUDIENCE=... VARIANT=expired|wrong_audience|foreign_key|...]\n"
        "Ctrl-C stops.",
        flush=True,
    )
    stop = threading.Event()
    try:
        stop.wait()
    except KeyboardInterrupt:
        print("\nstopping", flush=True)
    finally:
        stack.close()
    return 0
