"""Command line for the local loop: ``python -m devloop {token,serve} ...``."""

from __future__ import annotations

import argparse
import os
import sys

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
