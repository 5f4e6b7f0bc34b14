"""A development OIDC issuer: discovery, JWKS and an Auth0-shaped token endpoint on loopback.

The RSA key is generated when the issuer starts and lives only in its memory. Tokens look
like Auth0 client-credentials access tokens (``iss`` with a trailing slash, ``aud`` list,
``azp``, ``scope``, ``gty``, ``kid``). ``variant`` mints deliberately bad tokens so the
denials can be watched: ``expired``, ``wrong_audience``, ``foreign_key`` (signed by a key the
issuer does not publish, same ``kid``), ``bad_signature`` (signature bytes flipped),
``not_yet_valid`` and ``unknown_kid``.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from devloop import DEFAULT_AUDIENCE

VARIANTS = ("valid", "expired", "wrong_audience", "foreign_key", "bad_signature", "not_yet_valid", "unknown_kid")


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: rsa.RSAPrivateKey, kid: str, alg: str = "RS256") -> dict[str, Any]:
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid=kid, use="sig", alg=alg)
    return jwk


def flip_signature(token: str) -> str:
    head, body, sig = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return f"{head}.{body}." + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


class DevIssuer:
    """Keys and token minting; ``serve()`` exposes them over HTTP."""

    def __init__(self, issuer: str | None = None, default_audience: str = DEFAULT_AUDIENCE) -> None:
        """``issuer`` defaults to the address ``serve()`` binds, as ``http://HOST:PORT/``."""
        if issuer is not None and not issuer.endswith("/"):
            raise ValueError("issuer must end with '/', as Auth0's does")
        self._issuer = issuer
        self.default_audience = default_audience
        self.kid = "dev-" + uuid.uuid4().hex[:12]
        self.key = new_rsa_key()
        # Published but never used to sign, like the next key Auth0 lists ahead of a rotation.
        self.standby_kid = "dev-" + uuid.uuid4().hex[:12]
        self.standby_key = new_rsa_key()
        self.foreign_key = new_rsa_key()

    @property
    def issuer(self) -> str:
        if self._issuer is None:
            raise RuntimeError("the issuer URL is known once serve() has bound a port")
        return self._issuer

    @property
    def jwks_uri(self) -> str:
        return self.issuer + ".well-known/jwks.json"

    def jwks(self) -> dict[str, Any]:
        return {"keys": [public_jwk(self.key, self.kid), public_jwk(self.standby_key, self.standby_kid)]}

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": self.jwks_uri,
            "token_endpoint": self.issuer + "oauth/token",
            "id_token_signing_alg_values_supported": ["RS256"],
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
        token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid, "typ": "JWT"})
        return flip_signature(token) if variant == "bad_signature" else token

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> IssuerServer:
        server = IssuerServer(self, host, port)
        if self._issuer is None:
            self._issuer = f"http://{host}:{server.port}/"
        return server


class _Handler(BaseHTTPRequestHandler):
    server: IssuerServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # see devloop.serve: no 40 ms delayed-ACK stalls

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        issuer = self.server.issuer
        with self.server.lock:
            self.server.requests[self.path] += 1
        if self.path == "/.well-known/openid-configuration":
            self._send(200, issuer.discovery())
        elif self.path == "/.well-known/jwks.json":
            self._send(200, issuer.jwks())
        else:
            self._send(404, {"error": "not_found"})

    def do_POST(self) -> None:
        if self.path != "/oauth/token":
            self._send(404, {"error": "not_found"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
            request = json.loads(self.rfile.read(min(length, 65536)) or b"{}")
            if not isinstance(request, dict):
                raise ValueError("body must be a JSON object")
        except ValueError:
            self._send(400, {"error": "invalid_request", "error_description": "body must be a JSON object"})
            return
        if request.get("grant_type") != "client_credentials":
            self._send(400, {"error": "unsupported_grant_type"})
            return
        client_id = str(request.get("client_id") or "dev-client")
        scopes = str(request.get("scope") or "").split()
        lifetime = request.get("expires_in", 3600)
        variant = request.get("variant", "valid")
        if not isinstance(lifetime, int) or not 1 <= lifetime <= 86400 or variant not in VARIANTS:
            self._send(400, {"error": "invalid_request", "error_description": f"variant in {VARIANTS}"})
            return
        token = self.server.issuer.mint(
            subject=str(request.get("sub") or f"{client_id}@clients"),
            audience=request.get("audience") or None,
            scopes=scopes,
            lifetime=lifetime,
            client_id=client_id,
            variant=variant,
        )
        self._send(
            200,
            {"access_token": token, "token_type": "Bearer", "expires_in": lifetime, "scope": " ".join(scopes)},
        )


class IssuerServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, issuer: DevIssuer, host: str, port: int) -> None:
        super().__init__((host, port), _Handler)
        self.issuer = issuer
        # GETs served per path: how the benchmark and tests count real JWKS fetches.
        self.requests: Counter[str] = Counter()
        self.lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> IssuerServer:
        self._thread = threading.Thread(target=self.serve_forever, name="dev-issuer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:  # shutdown() waits forever on a server that never ran
            self.shutdown()
        self.server_close()
