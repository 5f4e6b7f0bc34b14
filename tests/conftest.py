from __future__ import annotations

from collections.abc import Callable, Iterator
from types import ModuleType

import pytest

from devloop.issuer import DevIssuer, IssuerServer
from tests.cases import CaseIssuer
from tests.support import AUTHORIZER_DIR, LambdaContext, load_function

AUDIENCE = "https://api.example.com"
AUTHORIZER_SETTINGS = (
    "ISSUER",
    "AUDIENCE",
    "JWKS_URI",
    "REQUIRED_SCOPES",
    "ROUTE_SCOPES",
    "JWKS_COOLDOWN_SECONDS",
    "VERIFIED_CACHE_SIZE",
    "HS256_SECRET_PARAMETER",
)


@pytest.fixture(scope="session")
def issuer_server() -> Iterator[IssuerServer]:
    """A dev issuer with keys generated now (and the table's hostile ones), on 127.0.0.1."""
    server = CaseIssuer(default_audience=AUDIENCE).serve().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def issuer(issuer_server: IssuerServer) -> DevIssuer:
    return issuer_server.issuer


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()


@pytest.fixture
def load_authorizer(monkeypatch: pytest.MonkeyPatch, issuer: DevIssuer) -> Callable[..., ModuleType]:
    """Load src/authorizer/app.py in a fresh 'container' with the given environment."""

    def load(**env: str) -> ModuleType:
        settings = {"ISSUER": issuer.issuer, "AUDIENCE": AUDIENCE, **env}
        for name in AUTHORIZER_SETTINGS:
            monkeypatch.delenv(name, raising=False)
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        return load_function(AUTHORIZER_DIR)

    return load
