"""OAuth 2.0 client-credentials token requests, Auth0-style (also served by the dev issuer).

Standard library only: the deploy tools (make smoke) use it without the local loop's packages.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit


def flip_signature(token: str) -> str:
    """``token`` with one bit of its signature flipped: the same claims, a signature that fails."""
    head, body, sig = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return f"{head}.{body}." + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


class TokenError(Exception):
    """The token endpoint could not be reached or refused the request."""


def token_url(domain_or_issuer: str) -> str:
    """``TENANT.auth0.com``, ``https://TENANT.auth0.com/`` or a dev issuer URL -> its /oauth/token."""
    base = domain_or_issuer.strip()
    if not base:
        raise TokenError("no issuer or Auth0 domain given")
    if "://" not in base:
        base = "https://" + base
    return base.rstrip("/") + "/oauth/token"


DEV_ISSUER_HINT = "is the issuer running? try: make local"
# What a client-credentials token from an Auth0 tenant takes (make auth0-token, make smoke).
AUTH0_SETTINGS = ("AUTH0_DOMAIN", "AUTH0_CLIENT_ID", "AUTH0_CLIENT_SECRET", "AUTH0_AUDIENCE")


def _default_hint(url: str) -> str:
    # Only the dev issuer lives on loopback; `make local` is no advice for a remote tenant.
    host = urlsplit(url).hostname or ""
    return DEV_ISSUER_HINT if host in ("127.0.0.1", "localhost", "::1") else "check the issuer and the network"


def request_token(url: str, *, unreachable_hint: str | None = None, **fields: Any) -> str:
    """POST a client-credentials grant and return the access token.

    ``unreachable_hint`` ends the message when the endpoint cannot be reached; by default it
    suggests ``make local`` for a loopback URL (the dev issuer) only.
    """
    body = {"grant_type": "client_credentials", **{k: v for k, v in fields.items() if v not in (None, "")}}
    if not url.startswith(("https://", "http://")):
        raise TokenError(f"token URL must be http(s): {url}")
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - scheme checked above
            answer = json.loads(response.read(1 << 20))
    except urllib.error.HTTPError as exc:
        detail = exc.read(2048).decode(errors="replace")
        raise TokenError(f"{url} answered HTTP {exc.code}: {_error_text(detail)}") from exc
    except urllib.error.URLError as exc:
        hint = unreachable_hint or _default_hint(url)
        raise TokenError(f"cannot reach {url}: {exc.reason} ({hint})") from exc
    except (OSError, ValueError) as exc:
        raise TokenError(f"bad answer from {url}: {type(exc).__name__}") from exc
    token = answer.get("access_token") if isinstance(answer, dict) else None
    if not isinstance(token, str):
        raise TokenError(f"{url} answered without an access_token")
    return token


def _error_text(body: str) -> str:
    try:
        parsed = json.loads(body)
    except ValueError:
        return body.strip()[:200] or "no details"
    if isinstance(parsed, dict):
        return str(parsed.get("error_description") or parsed.get("error") or parsed)[:200]
    return str(parsed)[:200]


def missing_auth0_settings(env: Mapping[str, str]) -> list[str]:
    """The ``AUTH0_SETTINGS`` that ``env`` lacks (checked before any request is made)."""
    return [name for name in AUTH0_SETTINGS if not env.get(name, "").strip()]


def auth0_token(env: Mapping[str, str], scope: str = "", *, limited: bool = False) -> str:
    """A client-credentials token from the tenant ``env``'s ``AUTH0_*`` settings name.

    ``limited``: from the application in ``AUTH0_LIMITED_CLIENT_ID``/``_SECRET`` instead.
    """
    prefix = "AUTH0_LIMITED_" if limited else "AUTH0_"
    return request_token(
        token_url(env["AUTH0_DOMAIN"].strip()),
        unreachable_hint="check AUTH0_DOMAIN and the network",
        client_id=env.get(f"{prefix}CLIENT_ID", "").strip(),
        client_secret=env.get(f"{prefix}CLIENT_SECRET", "").strip(),
        audience=env["AUTH0_AUDIENCE"].strip(),
        scope=scope,
    )
