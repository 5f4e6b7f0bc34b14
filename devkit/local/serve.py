"""``python -m devkit.local serve``: the dev issuer and the local gateway, in the foreground."""

from __future__ import annotations

import argparse
import errno
import logging
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from wsgiref.util import is_hop_by_hop

from devkit import DEFAULT_AUDIENCE
from devkit.local.functions import Functions
from devkit.local.gateway import Gateway, Request, Response
from devkit.local.issuer import DevIssuer, IssuerServer
from devkit.local.server import IDLE_TIMEOUT, WsgiServer, respond
from devkit.parameters import check_deployable, parse_overrides
from devkit.template import load_api
from jwt_authorizer.algorithms import BUILT_IN_ALGORITHMS
from jwt_authorizer.settings import parse_required_claims

LOGGER = logging.getLogger("devkit.local")


def request_from_environ(environ: dict[str, Any]) -> Request:
    """The gateway's view of a request that waitress has framed (a chunked body arrives decoded)."""
    headers = [(key[5:].replace("_", "-").lower(), value) for key, value in environ.items() if key.startswith("HTTP_")]
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers.append((key.replace("_", "-").lower(), environ[key]))
    return Request(
        method=environ["REQUEST_METHOD"],
        target=environ["REQUEST_URI"],  # as on the request line, not percent-decoded
        headers=headers,
        body=environ["wsgi.input"].read(),
        source_ip=environ.get("REMOTE_ADDR") or "127.0.0.1",
    )


class GatewayApp:
    """WSGI in front of ``Gateway.handle``: environ in, ``Response`` out, nothing else."""

    def __init__(self, gateway: Gateway, verbose: bool = False) -> None:
        self.gateway = gateway
        self.verbose = verbose

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        request = request_from_environ(environ)
        try:
            response = self.gateway.handle(request)
        except Exception:  # the emulator's own bug: answer as API Gateway would, keep serving
            LOGGER.exception("local gateway error")
            response = Response.message(500, "Internal Server Error")
        if self.verbose:
            print(f'{request.source_ip} "{request.method} {request.target}" {response.status}', file=sys.stderr)
        # WSGI servers own framing and hop-by-hop headers; waitress refuses an app that sets them.
        headers = [(k, v) for k, v in response.headers if k.lower() != "content-length" and not is_hop_by_hop(k)]
        return respond(environ, start_response, response.status, headers, response.body)


class ApiServer(WsgiServer):
    def __init__(
        self, gateway: Gateway, host: str, port: int, verbose: bool = False, idle_timeout: int = IDLE_TIMEOUT
    ) -> None:
        super().__init__(
            GatewayApp(gateway, verbose), host, port, name="local-api", idle_timeout=idle_timeout, verbose=verbose
        )
        self.gateway = gateway

    def stop(self) -> None:
        super().stop()
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
        idle_timeout: int = IDLE_TIMEOUT,
        issuers: int = 1,
        algorithm: str = "RS256",
    ) -> None:
        """``idle_timeout``: seconds a keep-alive connection may sit idle before the server closes it.

        ``issuers=2`` adds a second dev issuer (its own keys, at ``/tenant2/``) and makes it the
        Lambda authorizer's ``AdditionalIssuers``; the JWT authorizer keeps the first alone.
        ``algorithm``: what the dev issuers sign with; it is the Lambda authorizer's
        ``AllowedAlgorithms`` too, unless the parameters say otherwise.
        """
        self.dev_issuer = DevIssuer(default_audience=audience, algorithm=algorithm)
        self.second_issuer = self.dev_issuer.add_tenant() if issuers == 2 else None
        try:
            self.issuer_servers: list[IssuerServer] = [
                self.dev_issuer.serve(host, issuer_port, idle_timeout=idle_timeout)
            ]
        except OSError as exc:
            raise _listen_error(exc, host, issuer_port, "ISSUER_PORT") from exc
        port = self.issuer_servers[0].port
        for extra in issuer_also_on:
            # For containers (sam local): they reach the host through the bridge's gateway.
            try:
                self.issuer_servers.append(IssuerServer(self.dev_issuer, extra, port, idle_timeout=idle_timeout))
            except OSError as exc:
                self.close()
                raise _listen_error(exc, extra, port, "ISSUER_PORT") from exc
        try:
            own = {"Issuer": self.dev_issuer.issuer, "Audience": audience, "AllowedAlgorithms": algorithm}
            if self.second_issuer is not None:
                own["AdditionalIssuers"] = self.second_issuer.issuer
            api = load_api(template, {**own, **(parameters or {})})
            gateway = Gateway(api, Functions(api.functions), clock=clock)
            self.api_server = ApiServer(gateway, host, api_port, verbose, idle_timeout)
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


def _user_parameters(args: argparse.Namespace) -> dict[str, str]:
    """``make local PARAMS=...``, checked against the template as a deploy would check it.

    Only what the user gave: the dev issuer's own http:// Issuer is the local loop's, not theirs.
    """
    given = parse_overrides(args.parameters) if (args.parameters or "").strip() else {}
    if getattr(args, "issuers", 1) == 2 and "AdditionalIssuers" in given:
        raise ValueError("give AdditionalIssuers in PARAMS or ISSUERS=2 (the dev issuer's second tenant), not both")
    return check_deployable(Path(args.template), given)


def banner(stack: LocalStack, template: str, parameters: dict[str, str]) -> str:
    """What make local prints: where things are, and curl lines that show each answer.

    The tokens it prints meet the rules the parameters set (a required claim gets its first
    accepted value), so the 200s it promises are 200s.
    """
    issuer = parameters.get("Issuer")
    required = parse_required_claims(parameters.get("RequiredClaims", ""))
    claims = {name: sorted(values)[0] for name, values in required.items()}
    api = stack.api_url
    head = f"local API  {api}  (routes from {template})\n"
    if issuer is not None:
        # Tokens must come from that issuer now; the dev issuer's would all be refused.
        return (
            head + f"issuer     {issuer}  (from PARAMS: send tokens it issued; dev tokens get 401/403)\nCtrl-C stops."
        )
    token = stack.dev_issuer.mint(scopes=["read:test"], extra_claims=claims)
    bad = stack.dev_issuer.mint(variant="bad_signature", extra_claims=claims)
    algorithm = stack.dev_issuer.algorithm
    # The emulation accepts what AWS shows the built-in authorizer accepting (docs/authorizers.md).
    built_in = "200 built-in JWT authorizer" if algorithm in BUILT_IN_ALGORITHMS else f"401 built-in: not {algorithm}"
    return (
        head + f"dev issuer {stack.dev_issuer.issuer}  (signs {algorithm}; keys made at start, in memory only)\n\n"
        f'TOKEN="{token}"\n'
        f'BAD="{bad}"\n\n'
        f'curl -i -H "Authorization: Bearer $TOKEN" {api}/test         # {built_in}\n'
        f'curl -i -H "Authorization: Bearer $TOKEN" {api}/lambda/test  # 200 Lambda authorizer\n'
        f"curl -i {api}/test                                            # 401 no token\n"
        f'curl -i -H "Authorization: Bearer $BAD" {api}/test           # 401 broken signature\n'
        f'curl -i -H "Authorization: Bearer $BAD" {api}/lambda/test    # 403 broken signature\n'
        f"curl -i {api}/health                                          # 200 public\n\n"
        + _second_issuer_lines(stack, claims)
        + "Fresh token: make -s token [SCOPES=... AUDIENCE=... VARIANT=expired|wrong_audience|foreign_key|...]\n"
        "  and PERMISSIONS=... ORG_ID=... GTY=... ISSUER_INDEX=2 (see docs/authorizers.md)\n"
        "Ctrl-C stops."
    )


def _second_issuer_lines(stack: LocalStack, claims: dict[str, Any]) -> str:
    second = stack.second_issuer
    if second is None:
        return ""
    api = stack.api_url
    return (
        f"second issuer {second.issuer}  (AdditionalIssuers; its own keys)\n"
        f'TOKEN2="{second.mint(scopes=["read:test"], extra_claims=claims)}"\n'
        f'curl -i -H "Authorization: Bearer $TOKEN2" {api}/lambda/test  # 200 Lambda authorizer: several issuers\n'
        f'curl -i -H "Authorization: Bearer $TOKEN2" {api}/test         # 401 built-in: its one Issuer only\n\n'
    )


def run(args: argparse.Namespace) -> int:
    from devkit.template import TemplateError

    parameters = _user_parameters(args)
    try:
        stack = LocalStack(
            Path(args.template),
            api_port=args.api_port,
            issuer_port=args.issuer_port,
            issuer_also_on=tuple(args.issuer_also_on or ()),
            audience=args.audience,
            parameters=parameters,
            verbose=args.verbose,
            issuers=args.issuers,
            algorithm=args.algorithm,
        )
    except TemplateError as exc:
        raise ValueError(str(exc)) from exc
    stack.start()
    print(banner(stack, args.template, parameters), flush=True)
    stop = threading.Event()
    try:
        stop.wait()
    except KeyboardInterrupt:
        print("\nstopping", flush=True)
    finally:
        stack.close()
    return 0
