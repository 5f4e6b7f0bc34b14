"""The run's issuers: a dev issuer's discovery and JWKS over HTTPS on 127.0.0.1, one per algorithm.

The dev issuer's own server (waitress) speaks plain HTTP; real issuers are HTTPS, and a TLS
handshake and a CA bundle load are part of every cold start, so the bench serves the same
documents with ``devkit.jwks_server`` over TLS, through a CA of this run. Children trust it
through ``SSL_CERT_FILE``: the system's CA bundle plus ours, so that they load a real trust
store, as in Lambda.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import tempfile
from collections import Counter
from pathlib import Path

from devkit import DEFAULT_AUDIENCE as AUDIENCE
from devkit.jwks_server import JwksServer, running
from devkit.local.issuer import DevIssuer
from devkit.tls import LocalCA

# Where DevIssuer's discovery document says its keys are.
JWKS_PATH = "/.well-known/jwks.json"


def client(user_agent: str) -> str:
    """Who fetched: Powertools speaks urllib3, the floor urllib.request, ours http.client (none)."""
    if user_agent.startswith("python-urllib3"):
        return "urllib3"
    return "urllib" if "urllib" in user_agent else "ours"


class TlsIssuer:
    """One ``DevIssuer`` signing with ``algorithm``, its documents served over TLS."""

    def __init__(self, server: JwksServer, bundle: Path, algorithm: str) -> None:
        self._server = server
        self._bundle = bundle
        self.algorithm = algorithm
        self.issuer = DevIssuer(issuer=server.issuer, default_audience=AUDIENCE, algorithm=algorithm)
        # The documents never change in a run: set once, served as they are every time.
        server.jwks = self.issuer.jwks()
        server.discovery_override = self.issuer.discovery()

    def fetches(self) -> Counter[str]:
        """JWKS fetches so far, by client (``ours``, ``urllib``, ``urllib3``)."""
        counts: Counter[str] = Counter()
        for agent, n in self._server.clients(JWKS_PATH).items():
            counts[client(agent)] += n
        return counts

    def env(self, **extra: str) -> dict[str, str]:
        """A child's environment: the authorizer configured for this issuer, and trust in it."""
        return {
            **os.environ,
            "ISSUER": self.issuer.issuer,
            "AUDIENCE": AUDIENCE,
            "ALLOWED_ALGORITHMS": self.algorithm,
            "SSL_CERT_FILE": str(self._bundle),
            **extra,
        }


class Issuers:
    """The run's CA, its trust bundle, and one ``TlsIssuer`` per algorithm, started when first asked for."""

    def __init__(self) -> None:
        self._ca = LocalCA()
        handle = tempfile.NamedTemporaryFile(prefix="bench-ca-", suffix=".pem", delete=False)  # noqa: SIM115
        handle.close()
        self._bundle = Path(handle.name)
        system = Path(ssl.get_default_verify_paths().cafile or "")
        self._bundle.write_bytes((system.read_bytes() if system.is_file() else b"") + self._ca.pem)
        self._servers = contextlib.ExitStack()
        self._issuers: dict[str, TlsIssuer] = {}

    def __getitem__(self, algorithm: str) -> TlsIssuer:
        if algorithm not in self._issuers:
            server = self._servers.enter_context(running(JwksServer({}, tls=self._ca, jwks_path=JWKS_PATH)))
            self._issuers[algorithm] = TlsIssuer(server, self._bundle, algorithm)
        return self._issuers[algorithm]

    def close(self) -> None:
        self._servers.close()
        self._bundle.unlink(missing_ok=True)
