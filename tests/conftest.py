from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from devkit.local.issuer import DevIssuer, IssuerServer
from jwt_authorizer.authorizer import Authorizer
from jwt_authorizer.settings import Settings
from tests.cases import CaseIssuer
from tests.support import LambdaContext

AUDIENCE = "https://api.example.com"

# Tests run make as a person does, from a shell. Under `make test` these would reach every make a
# test starts: it would call itself make[1] in its messages and inherit the outer one's flags,
# including variables given on `make test`'s command line (a test sets what it needs itself).
for _variable in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES"):
    os.environ.pop(_variable, None)


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
def load_authorizer(issuer: DevIssuer) -> Callable[..., Authorizer]:
    """An authorizer as a new Lambda container would build it, from these settings (by variable name).

    Only the settings given count (the dev issuer and audience unless given): the developer's
    shell environment never reaches a test.
    """

    def load(**env: str) -> Authorizer:
        return Authorizer(Settings.parse({"ISSUER": issuer.issuer, "AUDIENCE": AUDIENCE, **env}))

    return load
