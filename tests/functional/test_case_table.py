"""Every row of the JWT case table, through the Lambda authorizer's handler."""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import ModuleType

import pytest

from tests.cases import Case, CaseIssuer, build_header_value, load_cases
from tests.support import decision_lines

CASES = load_cases()


def test_table_is_big_enough_and_ids_are_unique():
    assert len(CASES) >= 40
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.fixture
def authorizer_for(
    load_authorizer: Callable[..., ModuleType],
) -> Callable[[tuple[str, ...], dict[str, str]], ModuleType]:
    loaded: dict[tuple[tuple[str, ...], tuple[tuple[str, str], ...]], ModuleType] = {}

    def get(scopes: tuple[str, ...], settings: dict[str, str]) -> ModuleType:
        key = (scopes, tuple(sorted(settings.items())))
        if key not in loaded:
            loaded[key] = load_authorizer(REQUIRED_SCOPES=",".join(scopes), **settings)
        return loaded[key]

    return get


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_lambda_authorizer_gives_the_tables_answer(
    case: Case, issuer: CaseIssuer, authorizer_for, lambda_context, caplog: pytest.LogCaptureFixture
):
    # GIVEN the authorizer configured for the row's route scopes and settings, and the row's header
    app = authorizer_for(case.scopes, case.authorizer_env(issuer))
    value = build_header_value(case, issuer)
    event = case.http_event(value)

    # WHEN API Gateway invokes it
    with caplog.at_level(logging.INFO, logger="authorizer"):
        response = app.handle(event)

    # THEN it answers as the table says, with the table's reason, and logs no token material
    assert response["isAuthorized"] is (case.expect == "allow")
    decisions = decision_lines(caplog.records)
    assert len(decisions) == 1
    assert decisions[0]["reason"] == (case.reason or "ok")
    if case.expect == "allow":
        assert response["context"]["sub"] == "case-client@clients"
    else:
        assert "context" not in response
    token = value.split()[-1] if value.strip() else ""
    for record in caplog.records:
        logged = repr(record.__dict__)
        for piece in {token, *token.split(".")}:
            if len(piece) >= 16:
                assert piece not in logged, f"token material in log record {record.getMessage()!r}"
