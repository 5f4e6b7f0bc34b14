"""TLS for issuers served on 127.0.0.1 (tests, make bench): a CA and a certificate made now.

Real issuers serve discovery and keys over HTTPS, so the tests and the benchmark do too: the
server side wraps its socket with ``server_context()``, and clients trust the CA through
``client_context()`` (in process) or ``bundle`` (``SSL_CERT_FILE`` for a subprocess).
"""

from __future__ import annotations

import ssl
import tempfile
from functools import cached_property
from pathlib import Path

import trustme


class LocalCA:
    def __init__(self) -> None:
        self._ca = trustme.CA()
        self._cert = self._ca.issue_cert("127.0.0.1", "localhost")

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._cert.configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self._ca.configure_trust(context)
        return context

    @property
    def pem(self) -> bytes:
        """The CA certificate, PEM-encoded."""
        return bytes(self._ca.cert_pem.bytes())

    @cached_property
    def bundle(self) -> Path:
        """The CA certificate as a PEM file, for ``SSL_CERT_FILE``."""
        handle = tempfile.NamedTemporaryFile(prefix="local-ca-", suffix=".pem", delete=False)  # noqa: SIM115
        handle.close()
        path = Path(handle.name)
        path.write_bytes(self.pem)
        return path
