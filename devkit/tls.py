"""TLS for issuers served on 127.0.0.1 (tests, make bench): a CA and a certificate made now.

Real issuers serve discovery and keys over HTTPS, so the tests and the benchmark do too: the
server side wraps its socket with ``server_context()``, and clients trust the CA through
``client_context()`` (in process) or ``bundle`` (``SSL_CERT_FILE`` for a subprocess). The
bundle file is removed by ``close()``, or when the CA is collected or the process exits,
whichever comes first: a test run leaves no ``local-ca-*.pem`` behind.
"""

from __future__ import annotations

import ssl
import tempfile
import weakref
from functools import cached_property
from pathlib import Path
from types import TracebackType

import trustme


class LocalCA:
    def __init__(self) -> None:
        self._ca = trustme.CA()
        self._cert = self._ca.issue_cert("127.0.0.1", "localhost")
        self._files: list[Path] = []
        # Also at interpreter exit (finalize registers with atexit): no caller has to remember.
        self._cleanup = weakref.finalize(self, _remove, self._files)

    def close(self) -> None:
        """Remove the files this CA wrote (``bundle``, ``server_files``)."""
        self._cleanup()

    def __enter__(self) -> LocalCA:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

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
        return self._write("local-ca-", self.pem)

    def server_files(self) -> tuple[Path, Path]:
        """The server certificate (for 127.0.0.1 and localhost) and its key, as PEM files, for a
        server in another process (one not written in Python)."""
        chain = b"".join(blob.bytes() for blob in self._cert.cert_chain_pems)
        return self._write("local-cert-", chain), self._write("local-key-", self._cert.private_key_pem.bytes())

    def _write(self, prefix: str, data: bytes) -> Path:
        handle = tempfile.NamedTemporaryFile(prefix=prefix, suffix=".pem", delete=False)  # noqa: SIM115
        handle.close()
        path = Path(handle.name)
        self._files.append(path)
        path.write_bytes(data)
        return path


def _remove(files: list[Path]) -> None:
    for path in files:
        path.unlink(missing_ok=True)
    files.clear()
