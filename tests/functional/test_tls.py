"""The test CA's files go when it does: a test run leaves no ``local-ca-*.pem`` in the temp folder."""

from __future__ import annotations

import ssl
import subprocess
import sys

from devkit.tls import LocalCA
from tests.support import ROOT


def test_a_process_that_never_closes_its_ca_leaves_no_file_behind():
    # As a pytest run does: fixtures take ca.bundle for SSL_CERT_FILE and never clean up.
    script = "from devkit.tls import LocalCA\nca = LocalCA()\nprint(ca.bundle, ca.bundle.exists())\n"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60, check=True
    )
    bundle, existed = result.stdout.split()
    assert existed == "True"
    assert not ROOT.joinpath(bundle).exists()


def test_closing_the_ca_removes_its_files_and_they_served_until_then():
    with LocalCA() as ca:
        bundle = ca.bundle
        cert, key = ca.server_files()
        context = ssl.create_default_context(cafile=str(bundle))
        server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server.load_cert_chain(cert, key)
        assert context.cert_store_stats()["x509_ca"] == 1
    assert not bundle.exists() and not cert.exists() and not key.exists()
