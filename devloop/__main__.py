"""Command line for the local loop: ``python -m devloop {token,serve} ...``."""

from __future__ import annotations

import argparse
import os
import sys

from devloop import DEFAULT_AUDIENCE
from devloop.client import TokenError, request_token, token_url


def _token(args: argparse.Namespace) -> int:
    url = token_url(args.issuer)
    token = request_token(
        url,
        client_id=args.client_id,
        client_secret=args.client_secret,
        audience=args.audience,
        scope=args.scope,
        variant=args.variant,
    )
    print(token)
    return 0


def _serve(args: argparse.Namespace) -> int:
    # Imported here: the gateway loads the SAM translator, which `token` has no use for.
    from devloop.serve import run

    return run(args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="devloop", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    token = commands.add_parser("token", help="print an access token from a client-credentials endpoint")
    token.add_argument("--issuer", default=os.environ.get("TOKEN_ISSUER", ""), help="issuer URL or Auth0 domain")
    token.add_argument("--client-id", default=os.environ.get("CLIENT_ID", "dev-client"))
    token.add_argument("--client-secret", default=os.environ.get("CLIENT_SECRET", ""))
    token.add_argument("--audience", default=os.environ.get("AUDIENCE", ""))
    token.add_argument("--scope", default="", help="space-separated scopes to request")
    token.add_argument("--variant", default="", help="dev issuer only: expired, wrong_audience, foreign_key, ...")
    token.set_defaults(run=_token)

    serve = commands.add_parser("serve", help="run the dev issuer and the local API (make local)")
    serve.add_argument("--template", default="template.yaml")
    serve.add_argument("--api-port", type=int, default=3000)
    serve.add_argument("--issuer-port", type=int, default=3001)
    serve.add_argument("--issuer-also-on", action="append", help="extra address for the issuer (docker bridge)")
    serve.add_argument("--audience", default=DEFAULT_AUDIENCE)
    serve.add_argument("--parameter", action="append", help="template parameter, Name=value (repeatable)")
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
