"""A development OIDC issuer: discovery, JWKS and an Auth0-shaped token endpoint on loopback.

Its keys are generated when the issuer starts and live only in its memory; it signs RS256
unless told another public-key algorithm of the authorizer's table (``make local ALG=ES256``). Tokens look
like Auth0 client-credentials access tokens (``iss`` with a trailing slash, ``aud`` list,
``azp``, ``scope``, ``gty``, ``kid``; ``permissions`` and ``org_id`` on request). More issuers
can share the server under their own paths (``add_tenant``), each with its own keys, to try
the Lambda authorizer's several-issuer mode. ``variant`` mints deliberately bad tokens so the
denials can be watched: ``expired``, ``wrong_audience``, ``foreign_key`` (signed by a key the
issuer does not publish, same ``kid``), ``bad_signature`` (signature bytes flipped),
``not_yet_valid`` and ``unknown_kid``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from devkit import DEFAULT_AUDIENCE
from devkit.local.server import IDLE_TIMEOUT, WsgiServer, respond
from devkit.tokens import flip_signature
from jwt_authorizer.algorithms import ALGORITHMS, PUBLIC_KEY_ALGORITHMS

VARIANTS = ("valid", "expired", "wrong_audience", "foreign_key", "bad_signature", "not_yet_valid", "unknown_kid")


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


# JWK crv -> the curve cryptography makes keys on.
_EC_CURVES: dict[str, ec.EllipticCurve] = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}


def new_key(algorithm: str) -> Any:
    """A new private key of the type (and curve) ``algorithm`` needs, by the authorizer's table."""
    entry = ALGORITHMS[algorithm]
    if entry.kty == "RSA":
        return new_rsa_key()
    if entry.kty == "EC":
        return ec.generate_private_key(_EC_CURVES[str(entry.curve)])
    if entry.kty == "OKP":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"the dev issuer signs with public keys only, not {algorithm}")


def public_jwk(key: Any, kid: str, alg: str = "RS256") -> dict[str, Any]:
    """The public JWK of ``key`` (RSA, EC or Ed25519), as an issuer publishes it for ``alg``."""
    jwk = json.loads(jwt.get_algorithm_by_name(alg).to_jwk(key.public_key()))
    jwk.update(kid=kid, use="sig", alg=alg)
    return jwk


class DevIssuer:
    """Keys and token minting; ``serve()`` exposes them over HTTP."""

    def __init__(
        self,
        issuer: str | None = None,
        default_audience: str = DEFAULT_AUDIENCE,
        *,
        parent: DevIssuer | None = None,
        algorithm: str = "RS256",
    ) -> None:
        """``issuer`` defaults to the address ``serve()`` binds, as ``http://HOST:PORT/``.

        ``algorithm``: what it signs with (``make local ALG=ES256``); any public-key algorithm
        of the authorizer's table. Its key set is then mixed, as real ones are: the signing key
        beside an RSA key it never signs with.
        """
        if issuer is not None and not issuer.endswith("/"):
            raise ValueError("issuer must end with '/', as Auth0's does")
        if algorithm not in PUBLIC_KEY_ALGORITHMS:
            raise ValueError(f"the dev issuer signs with one of {', '.join(sorted(PUBLIC_KEY_ALGORITHMS))}")
        self._issuer = issuer
        self._parent = parent
        self.default_audience = default_audience
        self.algorithm = algorithm
        # More issuers on the same server, each under its own path ("tenant2/"), with its own keys.
        self.tenants: dict[str, DevIssuer] = {}
        self.kid = "dev-" + uuid.uuid4().hex[:12]
        self.key = new_key(algorithm)
        # Published but never used to sign, like the next key Auth0 lists ahead of a rotation.
        self.standby_kid = "dev-" + uuid.uuid4().hex[:12]
        self.standby_key = new_rsa_key()
        self.foreign_key = new_key(algorithm)

    def add_tenant(self, path: str = "tenant2/", *, same_kid: bool = False) -> DevIssuer:
        """A second issuer at ``<this issuer>path`` (as a second Auth0 tenant would be), keys its own.

        ``same_kid`` gives its signing key this issuer's ``kid``: two issuers whose kids collide.
        """
        if not path.endswith("/") or path.startswith("/"):
            raise ValueError("a tenant path looks like 'tenant2/'")
        tenant = DevIssuer(default_audience=self.default_audience, parent=self, algorithm=self.algorithm)
        tenant._issuer = path
        if same_kid:
            tenant.kid = self.kid
        self.tenants[path] = tenant
        return tenant

    @property
    def issuer(self) -> str:
        if self._parent is not None:
            return self._parent.issuer + str(self._issuer)
        if self._issuer is None:
            raise RuntimeError("the issuer URL is known once serve() has bound a port")
        return self._issuer

    @property
    def jwks_uri(self) -> str:
        return self.issuer + ".well-known/jwks.json"

    def jwks(self) -> dict[str, Any]:
        return {
            "keys": [public_jwk(self.key, self.kid, self.algorithm), public_jwk(self.standby_key, self.standby_kid)]
        }

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": self.jwks_uri,
            "token_endpoint": self.issuer + "oauth/token",
            # RFC 8414 metadata needs one, and MCP clients read it: it refuses every request and
            # says why (the dev issuer has no users to log in, only client credentials).
            "authorization_endpoint": self.issuer + "authorize",
            "response_types_supported": ["code"],
            # It checks no secret; both ways of sending one are taken (RFC 6749 section 2.3.1).
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "id_token_signing_alg_values_supported": [self.algorithm],
            "grant_types_supported": ["client_credentials"],
        }

    def mint(
        self,
        *,
        subject: str = "dev-client@clients",
        audience: str | Iterable[str] | None = None,
        scopes: Iterable[str] = (),
        lifetime: int = 3600,
        client_id: str = "dev-client",
        variant: str = "valid",
        extra_claims: dict[str, Any] | None = None,
    ) -> str:
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}")
        now = int(time.time())
        auds = [audience] if isinstance(audience, str) else list(audience or [self.default_audience])
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject,
            "aud": ["https://wrong-audience.invalid"] if variant == "wrong_audience" else auds,
            "iat": now,
            "exp": now + lifetime,
            "azp": client_id,
            "scope": " ".join(scopes),
            "gty": "client-credentials",
            "jti": uuid.uuid4().hex,
        }
        if variant == "expired":
            claims.update(iat=now - 2 * lifetime, exp=now - lifetime)
        if variant == "not_yet_valid":
            claims["nbf"] = now + lifetime
        claims.update(extra_claims or {})
        key = self.foreign_key if variant == "foreign_key" else self.key
        kid = "unknown-" + self.kid if variant == "unknown_kid" else self.kid
        token = jwt.encode(claims, key, algorithm=self.algorithm, headers={"kid": kid, "typ": "JWT"})
        return flip_signature(token) if variant == "bad_signature" else token

    def serve(self, host: str = "127.0.0.1", port: int = 0, *, idle_timeout: int = IDLE_TIMEOUT) -> IssuerServer:
        server = IssuerServer(self, host, port, idle_timeout=idle_timeout)
        if self._issuer is None:
            self._issuer = f"http://{host}:{server.port}/"
        return server


_JSON_HEADERS = [("Content-Type", "application/json"), ("Cache-Control", "no-store")]
MAX_TOKEN_REQUEST_BYTES = 65536


class _IssuerApp:
    """Discovery, JWKS and the token endpoint as a WSGI app; counts GETs per path."""

    def __init__(self, server: IssuerServer) -> None:
        self.server = server

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        method, path = environ["REQUEST_METHOD"], environ["REQUEST_URI"]
        issuer, rest = self._issuer_for(path)
        if method == "GET":
            status, body = self._get(issuer, rest)
            if status == 200:  # only paths it serves: any other is a new key a client chose
                with self.server.lock:
                    self.server.requests[path] += 1
        elif method == "POST" and rest == "oauth/token":
            status, body = self._token(issuer, _token_request(environ))
        elif rest.partition("?")[0] == "authorize":
            status, body = (
                400,
                {
                    "error": "unsupported_response_type",
                    "error_description": "the dev issuer has no users to log in; get a token with client "
                    "credentials (make token, or an MCP client's client-credentials flow)",
                },
            )
        else:
            status, body = 404, {"error": "not_found"}
        return respond(environ, start_response, status, _JSON_HEADERS, json.dumps(body).encode())

    def _issuer_for(self, path: str) -> tuple[DevIssuer, str]:
        """Which of the server's issuers a path belongs to, and the path below that issuer."""
        main = self.server.issuer
        for prefix, tenant in main.tenants.items():
            if path.startswith("/" + prefix):
                return tenant, path[len(prefix) + 1 :]
        return main, path[1:]

    @staticmethod
    def _get(issuer: DevIssuer, path: str) -> tuple[int, dict[str, Any]]:
        if path == ".well-known/openid-configuration":
            return 200, issuer.discovery()
        if path == ".well-known/jwks.json":
            return 200, issuer.jwks()
        return 404, {"error": "not_found"}

    @staticmethod
    def _token(issuer: DevIssuer, request: dict[str, Any] | None) -> tuple[int, dict[str, Any]]:
        if request is None:
            return 400, {"error": "invalid_request", "error_description": "body must be a JSON object or a form"}
        if request.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        client_id = str(request.get("client_id") or "dev-client")
        scopes = str(request.get("scope") or "").split()
        lifetime = request.get("expires_in", 3600)
        if isinstance(lifetime, str) and lifetime.isdigit():  # a form's fields are all strings
            lifetime = int(lifetime)
        variant = request.get("variant", "valid")
        if not isinstance(lifetime, int) or not 1 <= lifetime <= 86400:
            return 400, {"error": "invalid_request", "error_description": "expires_in must be 1 to 86400 seconds"}
        if variant not in VARIANTS:
            shown = ", ".join(VARIANTS)
            return 400, {"error": "invalid_request", "error_description": f"variant must be one of {shown}"}
        extra = {name: request[name] for name in ("permissions", "org_id", "gty") if request.get(name) is not None}
        if isinstance(extra.get("permissions"), str):
            extra["permissions"] = extra["permissions"].split()  # Auth0 writes an array
        token = issuer.mint(
            subject=str(request.get("sub") or f"{client_id}@clients"),
            # Auth0's audience, or RFC 8707's resource (what MCP clients send); audience wins if
            # both are given, as with Auth0's resource parameter compatibility profile.
            audience=request.get("audience") or request.get("resource") or None,
            scopes=scopes,
            lifetime=lifetime,
            client_id=client_id,
            variant=variant,
            extra_claims=extra,
        )
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": lifetime, "scope": " ".join(scopes)}


def _token_request(environ: dict[str, Any]) -> dict[str, Any] | None:
    """A token request's fields: a JSON body (Auth0's way, and ``make token``'s dev fields) or a
    form (RFC 6749 section 4.4.2), with the client id from HTTP Basic (section 2.3.1) if sent so."""
    raw = environ["wsgi.input"].read()
    form = environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded")
    try:
        # A JSON body sent as a form (urllib's default type) is still read as JSON.
        if form and not raw.lstrip().startswith((b"{", b"[")):
            request: Any = dict(parse_qsl(raw.decode(), keep_blank_values=True))
        else:
            request = json.loads(raw or b"{}")
    except (ValueError, RecursionError):  # RecursionError: arrays nested past the parser's limit
        return None
    if not isinstance(request, dict):
        return None
    scheme, _, credentials = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() == "basic" and "client_id" not in request:
        with contextlib.suppress(ValueError):
            request["client_id"] = unquote_plus(base64.b64decode(credentials).decode().partition(":")[0])
    return request


class IssuerServer(WsgiServer):
    def __init__(self, issuer: DevIssuer, host: str, port: int, *, idle_timeout: int = IDLE_TIMEOUT) -> None:
        super().__init__(
            _IssuerApp(self),
            host,
            port,
            name="dev-issuer",
            threads=4,
            idle_timeout=idle_timeout,
            max_body=MAX_TOKEN_REQUEST_BYTES,
        )
        self.issuer = issuer
        # GETs answered 200, per path: how a test counts real discovery and JWKS fetches.
        self.requests: Counter[str] = Counter()
        self.lock = threading.Lock()
