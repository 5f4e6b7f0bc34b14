"""OAuth 2.0 client-credentials tokens from any OIDC issuer; Auth0 and the dev issuer are cases of it.

``oidc_token`` finds the token endpoint in the issuer's discovery document (OIDC Discovery 1.0,
RFC 8414), authenticates as RFC 6749 section 2.3.1 prefers (HTTP Basic unless the issuer
lists only ``client_secret_post``, or the caller asks for it), and names the API either as
Auth0 does (``audience``) or as RFC 8707 does (``resource``). ``make auth0-token`` and
``make smoke`` are the Auth0 case; ``make token ISSUER=...`` the general one.

Standard library only: the deploy tools (make smoke) use it without the local loop's packages.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote_plus, urlencode, urlsplit


def flip_signature(token: str) -> str:
    """``token`` with one bit of its signature flipped: the same claims, a signature that fails."""
    head, body, sig = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return f"{head}.{body}." + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


class TokenError(Exception):
    """The token endpoint could not be reached or refused the request (``status``: its HTTP status)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def issuer_url(domain_or_issuer: str) -> str:
    """``TENANT.auth0.com``, ``https://TENANT.auth0.com/`` or any issuer URL -> the issuer URL."""
    base = domain_or_issuer.strip()
    if not base:
        raise TokenError("no issuer or Auth0 domain given")
    return base if "://" in base else f"https://{base}/"


def token_url(domain_or_issuer: str) -> str:
    """The dev issuer's (and Auth0's) token endpoint: the issuer's ``/oauth/token``."""
    return issuer_url(domain_or_issuer).rstrip("/") + "/oauth/token"


DEV_ISSUER_HINT = "is the issuer running? try: make local"
# What a client-credentials token from an Auth0 tenant takes (make auth0-token, make smoke).
AUTH0_SETTINGS = ("AUTH0_DOMAIN", "AUTH0_CLIENT_ID", "AUTH0_CLIENT_SECRET", "AUTH0_AUDIENCE")
# How the token request names the API the token is for.
AUDIENCE_PARAMETERS = ("audience", "resource", "none")
AUTH_METHODS = ("client_secret_basic", "client_secret_post")
TIMEOUT = 10.0


def _default_hint(url: str) -> str:
    # Only the dev issuer lives on loopback; `make local` is no advice for a remote tenant.
    host = urlsplit(url).hostname or ""
    return DEV_ISSUER_HINT if host in ("127.0.0.1", "localhost", "::1") else "check the issuer and the network"


def _reason(exc: urllib.error.URLError) -> str:
    reason = exc.reason
    if isinstance(reason, ssl.SSLCertVerificationError):
        # The usual cause on a laptop: a private CA (mkcert, TLS inspection) Python does not trust.
        return f"TLS certificate not trusted ({reason.verify_message}; trust its CA with SSL_CERT_FILE=...)"
    return str(reason)


def _send(request: urllib.request.Request, url: str, unreachable_hint: str | None) -> Any:
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310 - scheme checked
            return json.loads(response.read(1 << 20))
    except urllib.error.HTTPError as exc:
        detail = exc.read(2048).decode(errors="replace")
        raise TokenError(f"{url} answered HTTP {exc.code}: {_error_text(detail)}", exc.code) from exc
    except urllib.error.URLError as exc:
        hint = unreachable_hint or _default_hint(url)
        raise TokenError(f"cannot reach {url}: {_reason(exc)} ({hint})") from exc
    except (OSError, ValueError) as exc:
        raise TokenError(f"bad answer from {url}: {type(exc).__name__}") from exc


def _checked(url: str) -> str:
    if not url.startswith(("https://", "http://")):
        raise TokenError(f"token URL must be http(s): {url}")
    return url


def _access_token(answer: Any, url: str) -> str:
    token = answer.get("access_token") if isinstance(answer, dict) else None
    if not isinstance(token, str):
        raise TokenError(f"{url} answered without an access_token")
    return token


def request_token(url: str, *, unreachable_hint: str | None = None, **fields: Any) -> str:
    """POST a client-credentials grant as JSON, the dev issuer's way, and return the access token.

    The dev issuer takes fields no real issuer does (``variant``, ``permissions``, ...).
    ``unreachable_hint`` ends the message when the endpoint cannot be reached; by default it
    suggests ``make local`` for a loopback URL (the dev issuer) only.
    """
    body = {"grant_type": "client_credentials", **{k: v for k, v in fields.items() if v not in (None, "")}}
    request = urllib.request.Request(  # noqa: S310 - scheme checked
        _checked(url), data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    return _access_token(_send(request, url, unreachable_hint), url)


def token_endpoint(issuer: str, *, unreachable_hint: str | None = None) -> tuple[str, tuple[str, ...]]:
    """The issuer's token endpoint and the client authentication methods it lists, by discovery.

    OIDC Discovery 1.0 section 3: an omitted ``token_endpoint_auth_methods_supported`` means
    ``client_secret_basic``.
    """
    url = _checked(issuer.rstrip("/") + "/.well-known/openid-configuration")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - scheme checked
    document = _send(request, url, unreachable_hint)
    endpoint = document.get("token_endpoint") if isinstance(document, dict) else None
    if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
        raise TokenError(f"the discovery document at {url} names no token_endpoint: is {issuer} an OIDC issuer?")
    methods = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    return endpoint, tuple(str(method) for method in methods if isinstance(method, str))


def oidc_token(
    issuer: str,
    *,
    client_id: str,
    client_secret: str,
    audience: str = "",
    audience_parameter: str = "audience",
    scope: str = "",
    auth_method: str | None = None,
    unreachable_hint: str | None = None,
) -> str:
    """A client-credentials access token (RFC 6749 section 4.4) from ``issuer``'s token endpoint.

    ``audience_parameter``: ``audience`` (Auth0), ``resource`` (RFC 8707) or ``none`` (the
    issuer decides, as Keycloak does with audience mappers). ``auth_method``: one of
    ``AUTH_METHODS``; by default Basic (RFC 6749 section 2.3.1: the server MUST support it),
    or ``client_secret_post`` when that is all the issuer lists.
    """
    if audience_parameter not in AUDIENCE_PARAMETERS:
        raise TokenError(f"audience parameter must be one of {', '.join(AUDIENCE_PARAMETERS)}")
    endpoint, methods = token_endpoint(issuer, unreachable_hint=unreachable_hint)
    method = auth_method or ("client_secret_post" if "client_secret_basic" not in methods else "client_secret_basic")
    fields = {"grant_type": "client_credentials"}
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    if method == "client_secret_post":
        fields.update(client_id=client_id, client_secret=client_secret)
    else:
        # RFC 6749 section 2.3.1: each part form-encoded before Basic joins and encodes them.
        pair = f"{quote_plus(client_id)}:{quote_plus(client_secret)}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    if audience and audience_parameter != "none":
        fields[audience_parameter] = audience
    if scope:
        fields["scope"] = scope
    request = urllib.request.Request(  # noqa: S310 - scheme checked
        _checked(endpoint), data=urlencode(fields).encode(), headers=headers, method="POST"
    )
    return _access_token(_send(request, endpoint, unreachable_hint), endpoint)


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

    Auth0 is one case of ``oidc_token``: its discovery document names its token endpoint, it
    wants ``audience``, and its applications send their secret in the body by default.
    ``limited``: from the application in ``AUTH0_LIMITED_CLIENT_ID``/``_SECRET`` instead.
    """
    prefix = "AUTH0_LIMITED_" if limited else "AUTH0_"
    return oidc_token(
        issuer_url(env["AUTH0_DOMAIN"]),
        client_id=env.get(f"{prefix}CLIENT_ID", "").strip(),
        client_secret=env.get(f"{prefix}CLIENT_SECRET", "").strip(),
        audience=env["AUTH0_AUDIENCE"].strip(),
        audience_parameter="audience",
        scope=scope,
        auth_method="client_secret_post",
        unreachable_hint="check AUTH0_DOMAIN and the network",
    )
