"""Command line for the local loop: ``python -m devkit.local {token,auth0-token,serve} ...``."""

from __future__ import annotations

import argparse
import os
import re
import sys

from devkit import DEFAULT_AUDIENCE
from devkit.tokens import (
    AUDIENCE_PARAMETERS,
    AUTH0_SETTINGS,
    TokenError,
    auth0_token,
    missing_auth0_settings,
    oidc_token,
    request_token,
    token_url,
)
from jwt_authorizer.algorithms import ALGORITHMS, PUBLIC_KEY_ALGORITHMS

# The dev issuer's tenants by ISSUER_INDEX: make local ISSUERS=2 serves the second at tenant2/.
DEV_TENANTS = {"1": "", "2": "tenant2/"}
# The client make token ISSUER=... authenticates as, from the environment or .env.
OIDC_CLIENT_SETTINGS = ("OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET")
_DEV_ONLY = (("variant", "VARIANT"), ("permissions", "PERMISSIONS"), ("org_id", "ORG_ID"), ("gty", "GTY"))


def _dev_issuer_url(args: argparse.Namespace) -> str:
    if args.issuer:
        return str(args.issuer)
    index = args.issuer_index.strip()
    if index not in DEV_TENANTS:
        raise ValueError(f"ISSUER_INDEX must be 1 or 2 (got {args.issuer_index!r})")
    port = port_number(args.issuer_port, "ISSUER_PORT")
    return f"http://127.0.0.1:{port}/{DEV_TENANTS[index]}"


def variant_name(value: str) -> str:
    """``VARIANT``: empty (a valid token) or one of the dev issuer's deliberately bad tokens."""
    from devkit.local.issuer import VARIANTS

    if value and value not in VARIANTS:
        listed = ", ".join(name for name in VARIANTS if name != "valid")
        raise ValueError(f"VARIANT must be one of {listed}, or empty for a valid token (got {value!r})")
    return value


def _token(args: argparse.Namespace) -> int:
    issuer = _dev_issuer_url(args)
    try:
        token = request_token(
            token_url(issuer),
            client_id=args.client_id,
            client_secret=args.client_secret,
            audience=args.audience,
            scope=args.scope,
            variant=variant_name(args.variant),
            permissions=args.permissions.split() or None,
            org_id=args.org_id,
            gty=args.gty,
        )
    except TokenError as exc:
        if exc.status == 404 and issuer.endswith(DEV_TENANTS["2"]):
            # The running dev issuer has one tenant: the second's endpoint is not there.
            raise ValueError("ISSUER_INDEX=2 needs the second dev issuer: start make local with ISSUERS=2") from exc
        raise
    print(token)
    return 0


def _oidc_token(args: argparse.Namespace) -> int:
    given = [variable for name, variable in _DEV_ONLY if getattr(args, name).strip()]
    if given:
        raise ValueError(
            f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} for the dev issuer only: "
            "with ISSUER=... the token holds what that issuer grants its client"
        )
    if args.audience_param not in AUDIENCE_PARAMETERS:
        listed = ", ".join(AUDIENCE_PARAMETERS)
        raise ValueError(f"AUDIENCE_PARAM must be one of {listed} (got {args.audience_param!r})")
    missing = [name for name in OIDC_CLIENT_SETTINGS if not os.environ.get(name, "").strip()]
    if missing:
        # Checked before any request, as for Auth0: the secret never goes on a command line.
        raise ValueError(f"set {', '.join(missing)} (in the environment or .env) for make token ISSUER=...")
    print(
        oidc_token(
            args.issuer,
            client_id=os.environ["OIDC_CLIENT_ID"].strip(),
            client_secret=os.environ["OIDC_CLIENT_SECRET"].strip(),
            audience=args.audience,
            audience_parameter=args.audience_param,
            scope=args.scope,
            unreachable_hint="check ISSUER and the network",
        )
    )
    return 0


def _auth0_token(args: argparse.Namespace) -> int:
    missing = missing_auth0_settings(os.environ)
    if missing:
        # Checked before any request: a half-configured tenant would otherwise fail on the network.
        raise ValueError(f"set {', '.join(missing)} (in the environment or .env) for make auth0-token")
    print(auth0_token(os.environ, args.scope))
    return 0


def _mcp(args: argparse.Namespace) -> int:
    """``make mcp``: the official MCP client against the MCP server, finding its own way to a token."""
    import json
    from urllib.parse import urlparse

    from devkit.mcp_client import run_whoami

    if urlparse(args.url).scheme not in ("http", "https") or not urlparse(args.url).netloc:
        raise ValueError(
            f"MCP_URL must be the MCP server's http(s) URL, such as https://api.example.com/mcp (got {args.url!r})"
        )
    if args.real_issuer:
        missing = [name for name in OIDC_CLIENT_SETTINGS if not os.environ.get(name, "").strip()]
        if missing:
            raise ValueError(f"set {', '.join(missing)} (in the environment or .env) for make mcp ISSUER=...")
        client_id, client_secret = os.environ["OIDC_CLIENT_ID"].strip(), os.environ["OIDC_CLIENT_SECRET"].strip()
    else:
        client_id, client_secret = "mcp-dev-client", "dev"  # the dev issuer checks no secret
    try:
        session = run_whoami(
            args.url, client_id=client_id, client_secret=client_secret, issuer=args.issuer, scope=args.scope
        )
    except Exception as exc:  # the SDK's errors come in groups and many types: one line each way
        raise ValueError(f"MCP client against {args.url}: {_first_cause(exc)} (is the API up? check MCP_URL)") from exc
    # The way there, as the client found it: the 401, the metadata, the issuer, the token, the calls.
    for method, url, status in session.exchanges:
        print(f"{method:4} {url}  {status}", file=sys.stderr)
    print(f"(MCP revision {session.protocol_version}; tools: {', '.join(session.tools)})", file=sys.stderr)
    print(json.dumps(session.identity))
    return 0


def _first_cause(exc: BaseException) -> str:
    """The innermost error of an exception group (anyio task groups wrap the one that matters)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def port_number(value: str, variable: str) -> int:
    """A port from the command line, named by the make variable that set it; 0 picks a free one."""
    if re.fullmatch(r"[0-9]+", value) and int(value) <= 65535:
        return int(value)
    shown = value if value.strip() else repr(value)
    raise ValueError(f"{variable} must be a port number from 0 to 65535 (got {shown})")


def algorithm_name(value: str) -> str:
    """``ALG``: a public-key algorithm of the authorizer's table, named by the make variable."""
    if value not in PUBLIC_KEY_ALGORITHMS:
        listed = ", ".join(name for name in ALGORITHMS if name in PUBLIC_KEY_ALGORITHMS)
        raise ValueError(f"ALG must be one of {listed} (got {value!r})")
    return value


def issuer_count(value: str) -> int:
    """``ISSUERS``: how many dev issuers make local serves."""
    if value.strip() not in ("1", "2"):
        raise ValueError(f"ISSUERS must be 1 or 2 (got {value!r})")
    return int(value)


def _serve(args: argparse.Namespace) -> int:
    args.api_port = port_number(args.api_port, "API_PORT")
    args.issuer_port = port_number(args.issuer_port, "ISSUER_PORT")
    args.algorithm = algorithm_name(args.algorithm)
    args.issuers = issuer_count(args.issuers)
    # Imported here: the gateway loads the SAM translator, which `token` has no use for.
    from devkit.local.serve import run

    return run(args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devkit.local", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    token = commands.add_parser("token", help="print an access token from the dev issuer (make local)")
    token.add_argument("--issuer", default="", help="the dev issuer's URL (default: from the port and index)")
    token.add_argument("--issuer-port", default="3001")
    token.add_argument("--issuer-index", default="1", help="2: the second dev issuer (make local ISSUERS=2)")
    token.add_argument("--client-id", default="dev-client")
    token.add_argument("--client-secret", default="")
    token.add_argument("--audience", default="", help="default: the audience make local accepts")
    _minting_options(token)
    token.set_defaults(run=_token)

    oidc = commands.add_parser(
        "oidc-token", help="print an access token from any OIDC issuer (client credentials; OIDC_CLIENT_* from env)"
    )
    oidc.add_argument("--issuer", required=True, help="the issuer URL; its discovery document names the endpoint")
    oidc.add_argument("--audience", default="")
    oidc.add_argument(
        "--audience-param", default="audience", help="audience (Auth0), resource (RFC 8707) or none (issuer decides)"
    )
    _minting_options(oidc)
    oidc.set_defaults(run=_oidc_token)

    auth0 = commands.add_parser(
        "auth0-token", help=f"print an Auth0 access token (client credentials; {', '.join(AUTH0_SETTINGS)} from env)"
    )
    auth0.add_argument("--scope", default="", help="space-separated scopes to request")
    auth0.set_defaults(run=_auth0_token)

    mcp = commands.add_parser("mcp", help="call whoami on the MCP server with the official MCP client (make mcp)")
    mcp.add_argument("--url", required=True, help="the MCP server's URL (default in make: make local's /mcp)")
    mcp.add_argument("--issuer", required=True, help="the authorization server the client's credentials are for")
    mcp.add_argument("--real-issuer", action="store_true", help="credentials from OIDC_CLIENT_* (make mcp ISSUER=...)")
    mcp.add_argument("--scope", default="", help="space-separated scopes to ask for (MCP_SCOPE)")
    mcp.set_defaults(run=_mcp)

    serve = commands.add_parser("serve", help="run the dev issuer and the local API (make local)")
    serve.add_argument("--template", default="template.yaml")
    serve.add_argument("--api-port", default="3000", help="0 picks a free port")
    serve.add_argument("--issuer-port", default="3001", help="0 picks a free port")
    serve.add_argument("--issuer-also-on", action="append", help="extra address for the issuer (docker bridge)")
    serve.add_argument("--issuer", default="", help="your issuer instead of the dev issuer (make local ISSUER=...)")
    serve.add_argument("--audience", default="", help=f"default: {DEFAULT_AUDIENCE} (the dev issuer's)")
    serve.add_argument(
        "--parameters", default="", help="template parameters as sam deploy --parameter-overrides takes them"
    )
    serve.add_argument("--issuers", default="1", help="2: a second dev issuer (AdditionalIssuers) at /tenant2/")
    serve.add_argument("--algorithm", default="RS256", help="what the dev issuer signs with (make local ALG=...)")
    serve.add_argument("--verbose", action="store_true", help="log every request")
    serve.set_defaults(run=_serve)

    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
    except (TokenError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


def _minting_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scope", default="", help="space-separated scopes to request")
    parser.add_argument("--variant", default="", help="dev issuer only: expired, wrong_audience, foreign_key, ...")
    parser.add_argument("--permissions", default="", help="dev issuer only: space-separated, as Auth0 RBAC's array")
    parser.add_argument("--org-id", default="", help="dev issuer only: an Auth0 Organizations org_id claim")
    parser.add_argument("--gty", default="", help="dev issuer only: the grant type claim (default client-credentials)")


if __name__ == "__main__":
    sys.exit(main())
