"""Property-based: whatever arrives, the authorizer never raises and allows only the real token."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devkit.local.issuer import DevIssuer
from jwt_authorizer.authorizer import Authorizer
from jwt_authorizer.settings import Settings

pytestmark = pytest.mark.slow
PROFILE = settings(max_examples=10_000, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def warm(issuer: DevIssuer) -> tuple[Authorizer, str]:
    """One warm authorizer container and one valid token (module-scoped: shared by all examples)."""
    app = Authorizer(Settings.parse({"ISSUER": issuer.issuer, "AUDIENCE": "https://api.example.com"}))
    token = issuer.mint(lifetime=86400)
    assert decide(app, f"Bearer {token}")["isAuthorized"]
    return app, token


def decide(app: Authorizer, header_value: object) -> dict:
    return app.handle({"version": "2.0", "headers": {"authorization": header_value}})


@PROFILE
@given(value=st.one_of(st.text(), st.binary().map(lambda b: b.decode("latin-1")), st.none(), st.integers()))
def test_arbitrary_header_values_never_raise_and_never_allow(warm, value):
    app, _ = warm
    assert decide(app, value) == {"isAuthorized": False}


@st.composite
def mutations(draw: st.DrawFn, token: str) -> str:
    chars = list(token)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        op = draw(st.sampled_from(["replace", "delete", "insert", "swap"]))
        at = draw(st.integers(min_value=0, max_value=max(len(chars) - 1, 0)))
        if op == "replace" and chars:
            chars[at] = draw(st.characters())
        elif op == "delete" and chars:
            del chars[at]
        elif op == "insert":
            chars.insert(at, draw(st.characters()))
        elif op == "swap" and len(chars) > 1:
            chars[at], chars[at - 1] = chars[at - 1], chars[at]
    return "".join(chars)


@PROFILE
@given(data=st.data())
def test_mutated_tokens_are_denied_unless_unchanged(warm, data):
    app, token = warm
    mutated = data.draw(mutations(token))
    answer = decide(app, f"Bearer {mutated}")
    assert answer["isAuthorized"] is (mutated.strip(" \t") == token)
