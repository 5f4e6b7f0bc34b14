"""``python -m devkit.local serve``: the dev issuer and the local gateway, in the foreground."""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple
from wsgiref.util import is_hop_by_hop

import jwt

from devkit import DEFAULT_AUDIENCE
from devkit.local.functions import Functions
from devkit.local.gateway import Gateway, Request, Response
from devkit.local.issuer import DevIssuer, IssuerServer
from devkit.local.server import IDLE_TIMEOUT, WsgiServer, respond
from devkit.local.tally import Tally
from devkit.parameters import check_deployable, parse_overrides, template_parameters
from devkit.template import Api, Route, load_api
from devkit.tokens import flip_signature
from jwt_authorizer.algorithms import BUILT_IN_ALGORITHMS
from jwt_authorizer.settings import Settings, parse_algorithms

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

    def __init__(self, verbose: bool = False) -> None:
        self.gateway: Gateway | None = None  # set by ApiServer.use before the server starts
        self.verbose = verbose

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        request = request_from_environ(environ)
        try:
            if self.gateway is None:
                raise RuntimeError("the server started before it had a gateway")
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
    """The local API: bound at construction (so its URL is known), serving the gateway ``use`` gives."""

    def __init__(self, host: str, port: int, verbose: bool = False, idle_timeout: int = IDLE_TIMEOUT) -> None:
        self._app = GatewayApp(verbose)
        super().__init__(self._app, host, port, name="local-api", idle_timeout=idle_timeout, verbose=verbose)

    @property
    def gateway(self) -> Gateway:
        if self._app.gateway is None:
            raise RuntimeError("ApiServer.use(gateway) comes first")
        return self._app.gateway

    def use(self, gateway: Gateway) -> ApiServer:
        self._app.gateway = gateway
        return self

    def stop(self) -> None:
        super().stop()
        if self._app.gateway is not None:
            self._app.gateway.functions.close()


def _listen_error(exc: OSError, host: str, port: int, variable: str) -> OSError:
    if exc.errno == errno.EADDRINUSE:
        return OSError(f"port {port} on {host} is busy; choose another with {variable}=...")
    return OSError(f"cannot listen on {host}:{port}: {exc.strerror}")


class LocalStack:
    """The dev issuer plus the gateway for a template, started together and stopped together.

    With ``issuer`` (``make local ISSUER=...``) there is no dev issuer: both authorizers take that
    issuer's tokens, and fetch its keys as they would on AWS.
    """

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
        issuer: str | None = None,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        """``idle_timeout``: seconds a keep-alive connection may sit idle before the server closes it.

        ``issuers=2`` adds a second dev issuer (its own keys, at ``/tenant2/``) and makes it the
        Lambda authorizer's ``AdditionalIssuers``; the JWT authorizer keeps the first alone.
        ``algorithm``: what the dev issuers sign with; it is the Lambda authorizer's
        ``AllowedAlgorithms`` too, unless the parameters say otherwise. ``audience``: what both
        authorizers accept, and the dev issuer's tokens carry, unless the parameters say otherwise.
        ``environ``: where the function workers' trust store and proxy settings come from.
        """
        # What the session's requests came to, as the dashboard counts it: printed on exit.
        self.tally = Tally()
        self.issuer_servers: list[IssuerServer] = []
        self._dev_issuer: DevIssuer | None = None
        self.second_issuer: DevIssuer | None = None
        own: dict[str, str]
        if issuer is not None:
            if issuers == 2:
                raise ValueError(
                    'ISSUERS=2 adds a second dev issuer; with ISSUER=... name more in PARAMS="AdditionalIssuers=..."'
                )
            own = {"Issuer": issuer, "Audience": audience}
        else:
            # The dev issuer's tokens carry the audience the stack accepts, so make token's do too.
            accepted = (parameters or {}).get("Audience", audience)
            self._dev_issuer = DevIssuer(default_audience=accepted.split(",")[0].strip(), algorithm=algorithm)
            self.second_issuer = self._dev_issuer.add_tenant() if issuers == 2 else None
            self._serve_dev_issuer(host, issuer_port, issuer_also_on, idle_timeout)
            own = {"Issuer": self._dev_issuer.issuer, "Audience": audience, "AllowedAlgorithms": algorithm}
            if self.second_issuer is not None:
                own["AdditionalIssuers"] = self.second_issuer.issuer
        try:
            self.api_server = ApiServer(host, api_port, verbose, idle_timeout)
            if "McpResourceUrl" in template_parameters(template) and "McpResourceUrl" not in (parameters or {}):
                # The MCP server's URL (its tokens' audience, its metadata's resource) is this
                # server's; on AWS it is the API's own https:// URL.
                own["McpResourceUrl"] = f"{self.api_url}/mcp"
            api = load_api(template, {**own, **(parameters or {})})
            functions = Functions(api.functions, environ=environ, on_log=self.tally.log_line)
            self.api_server.use(Gateway(api, functions, clock=clock, tally=self.tally))
        except OSError as exc:
            self.close()
            raise _listen_error(exc, host, api_port, "API_PORT") from exc
        except Exception:
            self.close()
            raise

    def _serve_dev_issuer(self, host: str, port: int, also_on: tuple[str, ...], idle_timeout: int) -> None:
        try:
            self.issuer_servers.append(self.dev_issuer.serve(host, port, idle_timeout=idle_timeout))
        except OSError as exc:
            raise _listen_error(exc, host, port, "ISSUER_PORT") from exc
        port = self.issuer_servers[0].port
        for extra in also_on:
            # For containers (sam local): they reach the host through the bridge's gateway.
            try:
                self.issuer_servers.append(IssuerServer(self.dev_issuer, extra, port, idle_timeout=idle_timeout))
            except OSError as exc:
                self.close()
                raise _listen_error(exc, extra, port, "ISSUER_PORT") from exc

    @property
    def dev_issuer(self) -> DevIssuer:
        if self._dev_issuer is None:
            raise RuntimeError("this stack takes a real issuer's tokens: it runs no dev issuer")
        return self._dev_issuer

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


class LocalSettings(NamedTuple):
    """What ``make local`` was asked for: the template parameters, and whose tokens it takes."""

    parameters: dict[str, str]  # as checked against the template, Issuer and Audience included
    issuer: str | None  # a real issuer (ISSUER=... or PARAMS Issuer=...), or None: the dev issuer
    audience: str  # what both authorizers accept


def local_settings(args: argparse.Namespace) -> LocalSettings:
    """``make local ISSUER=... AUDIENCE=... PARAMS=...``, checked as a deploy would check them.

    ``ISSUER``/``AUDIENCE`` and ``PARAMS="Issuer=... Audience=..."`` are two spellings of one
    thing: either may be used, both only if they agree. The dev issuer's own http:// Issuer is
    the local loop's, never checked against the template's https:// rule.
    """
    given = parse_overrides(args.parameters) if (args.parameters or "").strip() else {}
    if getattr(args, "issuers", 1) == 2 and "AdditionalIssuers" in given:
        raise ValueError("give AdditionalIssuers in PARAMS or ISSUERS=2 (the dev issuer's second tenant), not both")
    for name, variable in (("Issuer", "ISSUER"), ("Audience", "AUDIENCE")):
        value = (getattr(args, name.lower(), "") or "").strip()
        if value and given.get(name, value) != value:
            raise ValueError(f'{variable}={value} and PARAMS="{name}={given[name]}" differ: give it once')
        if value:
            given[name] = value
    checked = check_deployable(Path(args.template), given)
    return LocalSettings(checked, checked.get("Issuer"), checked.get("Audience", DEFAULT_AUDIENCE))


class _Expected(NamedTuple):
    token: str
    jwt_status: str  # the comment of the curl line to /test
    lambda_status: str  # and to /lambda/test


def _route(api: Api, path: str) -> Route | None:
    return next((route for route in api.routes if route.path == path and route.method in ("GET", "ANY")), None)


def _lambda_settings(api: Api, route: Route | None) -> Settings | None:
    if route is None or route.authorizer is None:
        return None
    authorizer = api.authorizers[route.authorizer]
    if authorizer.kind == "jwt" or authorizer.function not in api.functions:
        return None
    return Settings.parse(api.functions[authorizer.function].environment)


def rules_in_effect(api: Api) -> str:
    """The banner's rules lines: what each protected route asks of a token, from the built API."""
    jwt_route, lambda_route = _route(api, "/test"), _route(api, "/lambda/test")
    lines = []
    if jwt_route is not None and jwt_route.authorizer is not None:
        built_in = api.authorizers[jwt_route.authorizer]
        scopes = " or ".join(jwt_route.scopes) or "none"
        lines.append(f"/test         iss {built_in.issuer}; aud {', '.join(built_in.audiences)}; scope {scopes}; RS256")
    settings = _lambda_settings(api, lambda_route)
    if settings is not None and lambda_route is not None:
        scopes = " or ".join(settings.route_scopes.get(f"GET {lambda_route.path}", settings.required_scopes)) or "none"
        lines.append(
            f"/lambda/test  iss {', '.join(settings.issuers)}; aud {', '.join(settings.audiences)}; "
            f"scope {scopes} (from {','.join(settings.scope_claims)}); {','.join(sorted(settings.algorithms))}"
        )
        if settings.required_claims:
            required = {name: sorted(values) for name, values in settings.required_claims.items()}
            lines.append(f"              claims {json.dumps(required)}")
        if settings.hs256_secret_parameter:
            lines.append(f"              HS256 secret from SSM {settings.hs256_secret_parameter}")
    return "".join(("rules      " if n == 0 else " " * 11) + line + "\n" for n, line in enumerate(lines))


def scopes_needed(api: Api) -> list[str]:
    """Scopes a token needs for both protected routes: the first each one requires, if any."""
    jwt_route, lambda_route = _route(api, "/test"), _route(api, "/lambda/test")
    scopes = list(jwt_route.scopes[:1]) if jwt_route is not None else []
    settings = _lambda_settings(api, lambda_route)
    if settings is not None and lambda_route is not None:
        required = settings.route_scopes.get(f"GET {lambda_route.path}", settings.required_scopes)
        scopes += [scope for scope in required[:1] if scope not in scopes]
    return scopes


def _expected(api: Api, issuer: DevIssuer) -> _Expected:
    """A token that meets every rule in effect, and what each protected route will answer to it.

    Its audience is the first the routes accept, its scopes the first each route requires (in
    every claim the Lambda authorizer reads scopes from), and each required claim gets its first
    accepted value: so the 200s promised are 200s, and where a route cannot accept a dev token
    (an algorithm it does not verify, HS256 mode), the banner says so.
    """
    lambda_route = _route(api, "/lambda/test")
    settings = _lambda_settings(api, lambda_route)
    scopes = scopes_needed(api)
    audience = issuer.default_audience
    claims: dict[str, Any] = {}
    lambda_status = "200 Lambda authorizer"
    if settings is not None:
        audience = settings.audiences[0]
        claims = {name: sorted(values)[0] for name, values in settings.required_claims.items()}
        if settings.hs256_secret_parameter:
            lambda_status = "403 Lambda authorizer: HS256 mode reads its secret from SSM, which make local lacks"
        elif issuer.algorithm not in settings.algorithms:
            lambda_status = f"403 Lambda authorizer: AllowedAlgorithms lacks {issuer.algorithm}"
    scopes = scopes or ["read:test"]
    if settings is not None:
        # Auth0 RBAC's permissions and the like are arrays; scope stays the string the built-in reads.
        claims.update({name: scopes for name in settings.scope_claims if name != "scope"} | claims)
    algorithm = issuer.algorithm
    # The emulation accepts what AWS shows the built-in authorizer accepting (docs/authorizers.md).
    jwt_status = "200 built-in JWT authorizer" if algorithm in BUILT_IN_ALGORITHMS else f"401 built-in: not {algorithm}"
    token = issuer.mint(audience=audience, scopes=scopes, extra_claims=claims)
    return _Expected(token, jwt_status, lambda_status)


def banner(stack: LocalStack, template: str, local: LocalSettings, issuer_check: str = "") -> str:
    """What make local prints: where things are, the rules in effect, and curl lines that show
    each answer. The tokens it prints meet those rules, so the 200s it promises are 200s."""
    api = stack.api_url
    built = stack.api_server.gateway.api
    head = f"local API  {api}  (routes from {template})\n"
    if local.issuer is not None:
        return head + _real_issuer_lines(stack, local, issuer_check, built) + "Ctrl-C stops."
    good = _expected(built, stack.dev_issuer)
    bad = flip_signature(good.token)
    algorithm = stack.dev_issuer.algorithm
    scopes = " ".join(_scopes_of(good.token))
    return (
        head
        + f"dev issuer {stack.dev_issuer.issuer}  (signs {algorithm}; keys made at start, in memory only)\n"
        + rules_in_effect(built)
        + f'\nTOKEN="{good.token}"\n'
        f'BAD="{bad}"\n\n'
        f'curl -i -H "Authorization: Bearer $TOKEN" {api}/test         # {good.jwt_status}\n'
        f'curl -i -H "Authorization: Bearer $TOKEN" {api}/lambda/test  # {good.lambda_status}\n'
        f"curl -i {api}/test                                            # 401 no token\n"
        f'curl -i -H "Authorization: Bearer $BAD" {api}/test           # 401 broken signature\n'
        f'curl -i -H "Authorization: Bearer $BAD" {api}/lambda/test    # 403 broken signature\n'
        f"curl -i {api}/health                                          # 200 public\n\n"
        + _second_issuer_lines(stack, built)
        + _mcp_lines(stack, built)
        + f'Fresh token: make -s token [SCOPES="{scopes}" AUDIENCE=... VARIANT=expired|wrong_audience|...]\n'
        "  and PERMISSIONS=... ORG_ID=... GTY=... ISSUER_INDEX=2 (see docs/authorizers.md)\n"
        "Ctrl-C stops."
    )


def _mcp_lines(stack: LocalStack, built: Api) -> str:
    """Where the MCP server is, and how to reach it: its own audience, so a token of its own."""
    if not any(route.path == "/mcp" for route in built.routes):
        return ""
    url = f"{stack.api_url}/mcp"
    return (
        f"MCP server {url}  (tokens for its URL only; metadata at {stack.api_url}"
        "/.well-known/oauth-protected-resource/mcp)\n"
        f"  make mcp, or: make -s token AUDIENCE={url}   (docs/mcp.md)\n\n"
    )


def _scopes_of(token: str) -> list[str]:
    claims = jwt.decode(token, options={"verify_signature": False})
    return str(claims.get("scope", "")).split()


def _real_issuer_lines(stack: LocalStack, local: LocalSettings, issuer_check: str, built: Api) -> str:
    api = stack.api_url
    trust = os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR")
    where = "SSL_CERT_FILE" if os.environ.get("SSL_CERT_FILE") else "SSL_CERT_DIR"
    trusted = (
        f"{where}={trust}" if trust else "the system's CA store (a private CA: SSL_CERT_FILE=ca.pem make local ...)"
    )
    audience = local.audience.split(",")[0]
    # A real issuer grants what is asked for (make token asks for no scope unless told).
    scopes = " ".join(scopes_needed(built))
    asked = f' SCOPES="{scopes}"' if scopes else ""
    # Until the keys can be fetched every token is refused; the promise says so.
    until = " (401 until the warning above is fixed)" if issuer_check.startswith("warning:") else ""
    refused = " (403 until then)" if until else ""
    return (
        f"issuer     {local.issuer}  (yours: both authorizers take its tokens and fetch its keys; no dev issuer)\n"
        f"           {issuer_check}\n"
        f"trust      {trusted}, for the gateway and the function workers alike\n"
        + rules_in_effect(built)
        + f'\nTOKEN="$(make -s token ISSUER={local.issuer} AUDIENCE={audience}{asked})"\n'
        "  (as the client in OIDC_CLIENT_ID/OIDC_CLIENT_SECRET, from .env; AUDIENCE_PARAM=resource for an RFC 8707\n"
        "  issuer; an Auth0 tenant: TOKEN=$(make -s auth0-token))\n"
        f'curl -i -H "Authorization: Bearer $TOKEN" {api}/test         # 200 built-in JWT authorizer{until}\n'
        f'curl -i -H "Authorization: Bearer $TOKEN" {api}/lambda/test  # 200 Lambda authorizer{refused}\n'
        f"curl -i {api}/test                                            # 401 no token\n"
        f"curl -i {api}/health                                          # 200 public\n"
        "A token refused: why is in the Lambda authorizer's decision line below (docs/observability.md)\n\n"
    )


def _second_issuer_lines(stack: LocalStack, api: Api) -> str:
    second = stack.second_issuer
    if second is None:
        return ""
    good = _expected(api, second)
    url = stack.api_url
    return (
        f"second issuer {second.issuer}  (AdditionalIssuers; its own keys)\n"
        f'TOKEN2="{good.token}"\n'
        f'curl -i -H "Authorization: Bearer $TOKEN2" {url}/lambda/test  # {good.lambda_status}: several issuers\n'
        f'curl -i -H "Authorization: Bearer $TOKEN2" {url}/test         # 401 built-in: its one Issuer only\n\n'
    )


def check_real_issuer(local: LocalSettings) -> str:
    """Can this machine read the issuer's discovery document and keys, as both authorizers will?

    The deploy preflight's own check, with this process's trust store (which the function
    workers share). A failure is a warning, not a refusal: an issuer still starting (a Keycloak
    container) is fine by the first request, and until then the denials say why.
    """
    from devkit.deploy.preflight import PreflightError, check_issuer

    algorithms = parse_algorithms(local.parameters.get("AllowedAlgorithms", ""))
    try:
        return check_issuer(str(local.issuer), algorithms)
    except PreflightError as exc:
        return f"warning: {exc}; until this works both routes deny (401/403, logged as keys_unavailable)"


def run(args: argparse.Namespace) -> int:
    from devkit.template import TemplateError

    local = local_settings(args)
    # The stack's own Issuer and Audience come as arguments: the parameters keep the others.
    others = {k: v for k, v in local.parameters.items() if k not in ("Issuer", "Audience")}
    try:
        stack = LocalStack(
            Path(args.template),
            api_port=args.api_port,
            issuer_port=args.issuer_port,
            issuer_also_on=tuple(args.issuer_also_on or ()),
            audience=local.audience,
            parameters=others,
            verbose=args.verbose,
            issuers=args.issuers,
            algorithm=args.algorithm,
            issuer=local.issuer,
        )
    except TemplateError as exc:
        raise ValueError(str(exc)) from exc
    stack.start()
    issuer_check = check_real_issuer(local) if local.issuer is not None else ""
    print(banner(stack, args.template, local, issuer_check), flush=True)
    stopping = False

    def stop_once(signum: int, frame: object) -> None:
        # make passes a SIGTERM it gets on to its children, so a kill of the group arrives here
        # twice (and a user may press Ctrl-C twice): only the first interrupts the wait, so a
        # later one cannot cut the shutdown, and its summary, short. Setting the event from
        # here instead could deadlock: the handler runs in the thread that waits on it.
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt

    # Ctrl-C, and a kill of the process group, stop it the same way. Started in the background
    # by a script, a process inherits SIGINT ignored and Python then installs no handler of its
    # own: set both here, so the server still stops (and says what the session came to).
    signal.signal(signal.SIGINT, stop_once)
    signal.signal(signal.SIGTERM, stop_once)
    try:
        threading.Event().wait()  # until the first stop signal raises KeyboardInterrupt
    except KeyboardInterrupt:
        print("\nstopping", flush=True)
    finally:
        stack.close()
        summary = stack.tally.summary()
        if summary:
            print(summary, flush=True)
    return 0
