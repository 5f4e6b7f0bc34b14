"""A real OIDC issuer for the e2e tier: panva's oidc-provider from the npm registry, on 127.0.0.1.

Not written here, OpenID Certified: what it publishes and mints is what a standards issuer
(Keycloak, Okta, ...) does, not what this project expects. Its exact version is pinned in
``tests/e2e/oidc/package-lock.json`` and installed with ``npm ci`` into ``.cache/oidc-provider``
(git-ignored) the first time, again only when the lock changes. Tests skip with the reason
when ``node``/``npm`` are missing or too old (a laptop may have none); an install that fails is
a failure, not a skip.

It speaks HTTPS with a certificate from a ``LocalCA`` made for the test, and signs with an RSA
key made for the test, so ``SSL_CERT_FILE`` decides whether anything can fetch its keys.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest

from devkit.local.issuer import new_rsa_key
from devkit.tls import LocalCA
from tests.e2e.make_local import read_until
from tests.support import ROOT

SOURCE = Path(__file__).parent / "oidc"
CACHE = ROOT / ".cache" / "oidc-provider"
NODE_MAJOR = 20  # oidc-provider 9 needs Node.js 20.19 or newer
START_SECONDS = 30.0
INSTALL_SECONDS = 300.0

CLIENT_ID, CLIENT_SECRET = "e2e-client", "e2e-secret-" + os.urandom(8).hex()
# A client registered for client_secret_post (Auth0's default), which the issuer then insists on.
POST_CLIENT_ID = "e2e-post-client"
RESOURCE = "https://api.example.com"
SCOPES = ("read:test", "write:test")


@dataclass
class RealIssuer:
    issuer: str
    ca: LocalCA
    kid: str

    @property
    def bundle(self) -> Path:
        """The CA that signed its certificate, as a file for ``SSL_CERT_FILE``."""
        return self.ca.bundle


def node_or_skip() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("the real-issuer tests run oidc-provider on Node.js: install node and npm (20 or newer)")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30, check=False).stdout
    major = int(version.strip().lstrip("v").split(".")[0] or 0)
    if major < NODE_MAJOR:
        pytest.skip(f"oidc-provider 9 needs Node.js {NODE_MAJOR} or newer (found {version.strip()})")
    return node


def installed() -> Path:
    """``.cache/oidc-provider`` with the pinned modules, installed now if the lock changed."""
    lock = (SOURCE / "package-lock.json").read_bytes()
    stamp = CACHE / "node_modules" / ".installed-lock.json"
    if not (stamp.exists() and stamp.read_bytes() == lock):
        shutil.rmtree(CACHE, ignore_errors=True)
        CACHE.mkdir(parents=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(SOURCE / name, CACHE / name)
        result = subprocess.run(
            ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
            cwd=CACHE,
            capture_output=True,
            text=True,
            timeout=INSTALL_SECONDS,
            check=False,
        )
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            pytest.fail(f"npm ci could not install oidc-provider into {CACHE}: {last}")
        stamp.write_bytes(lock)
    # ES modules resolve imports from the file's own folder: the server runs beside its modules.
    shutil.copyfile(SOURCE / "server.mjs", CACHE / "server.mjs")
    return CACHE


@contextlib.contextmanager
def real_issuer(tmp: Path, resources: tuple[str, ...] = (RESOURCE,)) -> Iterator[RealIssuer]:
    """oidc-provider on 127.0.0.1 over HTTPS, started now and stopped when the block ends.

    ``resources``: the RFC 8707 resources it issues tokens for (each token's ``aud``).
    """
    node = node_or_skip()
    home = installed()
    key = new_rsa_key()
    kid = "e2e-" + os.urandom(6).hex()
    private = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key))
    # PyJWT marks a private JWK key_ops ["sign"], which oidc-provider would publish with the
    # public key; an issuer's own keys carry use alone.
    private.pop("key_ops", None)
    private.update(kid=kid, use="sig", alg="RS256")
    with LocalCA() as ca:
        cert, cert_key = ca.server_files()
        settings = tmp / "oidc-provider.json"
        settings.write_text(
            json.dumps(
                {
                    "cert": str(cert),
                    "key": str(cert_key),
                    "keys": [private],
                    "alg": "RS256",
                    "scopes": list(SCOPES),
                    "resources": list(resources),
                    "clients": [
                        {
                            "client_id": CLIENT_ID,
                            "client_secret": CLIENT_SECRET,
                            "grant_types": ["client_credentials"],
                            "redirect_uris": [],
                            "response_types": [],
                            "scope": " ".join(SCOPES),
                        },
                        {
                            "client_id": POST_CLIENT_ID,
                            "client_secret": CLIENT_SECRET,
                            "grant_types": ["client_credentials"],
                            "redirect_uris": [],
                            "response_types": [],
                            "scope": "read:test",
                            "token_endpoint_auth_method": "client_secret_post",
                        },
                    ],
                }
            )
        )
        settings.chmod(0o600)  # it holds a private key
        process = subprocess.Popen(
            [node, "server.mjs", str(settings)],
            cwd=home,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # its warnings (in-memory adapter, runtime) are not ours
        )
        try:
            port = _listening(process)
            yield RealIssuer(f"https://127.0.0.1:{port}", ca, kid)
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
            if process.stdout is not None:
                process.stdout.close()


def _listening(process: subprocess.Popen[bytes]) -> int:
    text = read_until(process, lambda text: text.endswith(b"\n"), START_SECONDS, "oidc-provider listening line")
    word, port = text.decode().split()
    assert word == "listening", text
    return int(port)
