"""Command line for the local loop: ``python -m devkit.local {token,auth0-token,serve} ...``."""

from __future__ import annotations

import argparse
import os
import re
import sys

from devkit import DEFAULT_AUDIENCE
from devkit.tokens import AUTH0_SETTINGS, TokenError, auth0_token, missing_auth0_settings, request_token, token_url
from jwt_authorizer.algorithms import ALGORITHMS, PUBLIC_KEY_ALGORITHMS


def _token(args: argparse.Namespace) -> int:
    url = token_url(args.issuer)
    token = request_token(
        url,
        client_id=args.client_id,
        client_secret=args.client_secret,
        audience=args.audience,
        scope=args.scope,
        variant=args.variant,
        permissions=args.permissions.split() or None,
        org_id=args.org_id,
        gty=args.gty,
    )
    print(token)
    return 0


def _auth0_token(args: argparse.Namespace) -> int:
    missing = missing_auth0_settings(os.environ)
    if missing:
        # Checked before any request: a half-configured tenant would otherwise fail on the network.
        raise ValueError(f"set {', '.join(missing)} (in the environment or .env) for make auth0-token")
    print(auth0_token(os.environ, args.scope))
    return 0


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


def _serve(args: argparse.Namespace) -> int:
    args.api_port = port_number(args.api_port, "API_PORT")
    args.issuer_port = port_number(args.issuer_port, "ISSUER_PORT")
    args.algorithm = algorithm_name(args.algorithm)
    # Imported here: the gateway loads the SAM translator, which `token` has no use for.
    from devkit.local.serve import run

    return run(args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devkit.local", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    token = commands.add_parser("token", help="print an access token from a client-credentials endpoint")
    token.add_argument("--issuer", default=os.environ.get("TOKEN_ISSUER", ""), help="issuer URL or Auth0 domain")
    token.add_argument("--client-id", default=os.environ.get("CLIENT_ID", "dev-client"))
    token.add_argument("--client-secret", default=os.environ.get("CLIENT_SECRET", ""))
    token.add_argument("--audience", default=os.environ.get("AUDIENCE", ""))
    token.add_argument("--scope", default="", help="space-separated scopes to request")
    token.add_argument("--variant", default="", help="dev issuer only: expired, wrong_audience, foreign_key, ...")
    token.add_argument("--permissions", default="", help="dev issuer only: space-separated, as Auth0 RBAC's array")
    token.add_argument("--org-id", default="", help="dev issuer only: an Auth0 Organizations org_id claim")
    token.add_argument("--gty", default="", help="dev issuer only: the grant type claim (default client-credentials)")
    token.set_defaults(run=_token)

    auth0 = commands.add_parser(
        "auth0-token", help=f"print an Auth0 access token (client credentials; {', '.join(AUTH0_SETTINGS)} from env)"
    )
    auth0.add_argument("--scope", default="", help="space-separated scopes to request")
    auth0.set_defaults(run=_auth0_token)

    serve = commands.add_parser("serve", help="run the dev issuer and the local API (make local)")
    serve.add_argument("--template", default="template.yaml")
    serve.add_argument("--api-port", default="3000", help="0 picks a free port")
    serve.add_argument("--issuer-port", default="3001", help="0 picks a free port")
    serve.add_argument("--issuer-also-on", action="append", help="extra address for the issuer (docker bridge)")
    serve.add_argument("--audience", default=DEFAULT_AUDIENCE)
    serve.add_argument(
        "--parameters", default="", help="template parameters as sam deploy --parameter-overrides takes them"
    )
    serve.add_argument(
        "--issuers", type=int, choices=(1, 2), default=1, help="2: a second dev issuer (AdditionalIssuers) at /tenant2/"
    )
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


if __name__ == "__main__":
    sys.exit(main())
