"""make local ALG=...: the dev issuer signs with any public-key algorithm of the table.

The Lambda authorizer (AllowedAlgorithms follows ALG) accepts each; the built-in JWT
authorizer's emulation accepts RS256 alone, what AWS shows its authorizer accepting, and says
why it refuses the others. make token follows the running issuer's algorithm by itself.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest

from devkit.local.serve import LocalStack
from devkit.tokens import request_token
from jwt_authorizer.algorithms import ALGORITHMS, PUBLIC_KEY_ALGORITHMS
from tests.e2e.conftest import http
from tests.support import ROOT, FakeClock

EVERY = [name for name in ALGORITHMS if name in PUBLIC_KEY_ALGORITHMS]


@pytest.fixture(params=EVERY)
def stack(request: pytest.FixtureRequest) -> Iterator[LocalStack]:
    local = LocalStack(ROOT / "template.yaml", clock=FakeClock(), algorithm=request.param).start()
    yield local
    local.close()


def header_of(token: str) -> dict:
    head = token.split(".")[0]
    value: dict = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    return value


def test_each_algorithm_reaches_the_lambda_authorizer_and_only_rs256_the_built_in_one(stack: LocalStack):
    algorithm = stack.dev_issuer.algorithm
    # The token endpoint, as make -s token asks it: no algorithm named, the issuer's own used.
    token = request_token(stack.dev_issuer.issuer + "oauth/token", scope="read:test")
    assert header_of(token)["alg"] == algorithm
    kinds = {key["kty"] for key in stack.dev_issuer.jwks()["keys"]}
    assert "RSA" in kinds and ALGORITHMS[algorithm].kty in kinds  # a mixed set when ALG is not RSA

    assert http(stack.api_url + "/lambda/test", token).status == 200
    reply = http(stack.api_url + "/test", token)
    if algorithm == "RS256":
        assert reply.status == 200
    else:
        assert reply.status == 401
        assert 'error_description="bad_algorithm"' in reply.headers["www-authenticate"]
