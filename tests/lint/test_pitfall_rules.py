"""The custom cfn-lint rules (lint/rules) through the real cfn-lint CLI.

Each fixture template holds one known mistake and must fail with exactly its rule; the real
template must pass; and realistic edits of the real template must trip the matching rule.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

from devkit import parameters
from tests.support import CFN_LINT, ROOT, template_variant

FIXTURES = Path(__file__).parent / "fixtures"


def lint(template: Path) -> list[tuple[str, int]]:
    """(rule id, line) of every finding, built-in rules included."""
    result = subprocess.run(
        [str(CFN_LINT), str(template), "--format", "json", "--append-rules", str(ROOT / "lint" / "rules")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode in (0, 2, 4, 6, 8, 10, 12, 14), result.stderr  # non-zero: findings, not a crash
    return [(m["Rule"]["Id"], m["Location"]["Start"]["LineNumber"]) for m in json.loads(result.stdout or "[]")]


@pytest.mark.parametrize("fixture", sorted(FIXTURES.glob("*.yaml")), ids=lambda p: p.stem)
def test_each_fixture_fails_with_exactly_its_rule(fixture: Path):
    expected = fixture.name.split("_")[0].upper()
    assert {rule for rule, _ in lint(fixture)} == {expected}


def test_the_shipped_template_passes_every_rule():
    assert lint(ROOT / "template.yaml") == []


def _block(start: str, end: str) -> str:
    text = (ROOT / "template.yaml").read_text()
    first = text.index(start)
    return text[first : text.index(end, first)]


HEALTH = _block("          /health:\n", "\n  # ----")
NO_ROUTE_IN_KEY = ("              Context: [routeKey, domainName]\n", "              Context: [domainName]\n")
NO_DOMAIN_IN_KEY = ("              Context: [routeKey, domainName]\n", "              Context: [routeKey]\n")
# The MCP routes' own audience: route-specific whatever the scopes say, so some tests take it away.
RESOURCES = _block("          RESOURCE_ROUTES: !Sub ", "\n") + "\n"
NO_RESOURCES = (RESOURCES, '          RESOURCE_ROUTES: ""\n')
EXPLICIT_RESOURCES = (RESOURCES, """          RESOURCE_ROUTES: '{"POST /mcp": "https://mcp.example.com/mcp"}'\n""")
ISSUER_DESCRIPTION = "    Description: >-\n      Issuer URL"
ROUTE_RULES = ('ROUTE_SCOPES: ""', """ROUTE_SCOPES: '{"GET /lambda/admin": ["admin"]}'""")


@pytest.mark.parametrize(
    ("edits", "expected"),
    [
        pytest.param(
            [(HEALTH, HEALTH.replace("                credentials: !GetAtt ApiInvokeRole.Arn\n", ""))],
            "E9101",
            id="route-without-credentials",
        ),
        pytest.param(
            [("                  - !GetAtt AuthorizerFunction.Arn\n", "")],
            "E9101",
            id="invoke-role-without-the-authorizer",
        ),
        pytest.param(
            [
                (
                    '    Default: ""\n    Description: >-\n      Lambda authorizer only, optional: a JSON object',
                    '    Default: \'{"org_id": "org_abc123"}\'\n    Description: >-\n'
                    "      Lambda authorizer only, optional: a JSON object",
                )
            ],
            "E9106",
            id="required-claims-default-not-a-list",
        ),
        pytest.param(
            [
                (
                    "              # Public on purpose, and said so: lint refuses an operation with no security"
                    " (E9105).\n              security: []\n",
                    "",
                )
            ],
            "E9105",
            id="public-route-not-declared-public",
        ),
        pytest.param([ROUTE_RULES, NO_RESOURCES, NO_ROUTE_IN_KEY], "E9103", id="route-rules-without-route-key"),
        pytest.param([NO_ROUTE_IN_KEY], "E9103", id="resource-routes-without-route-key"),
        pytest.param([NO_DOMAIN_IN_KEY], "E9103", id="audience-from-the-domain-without-domain-in-key"),
        pytest.param(
            [
                ("              Headers: [Authorization]\n", ""),
                ("              Context: [routeKey, domainName]\n", ""),
            ],
            "E9103",
            id="cache-without-identity-sources",
        ),
        pytest.param(
            [(ISSUER_DESCRIPTION, "    Default: https://tenant.auth0.com\n" + ISSUER_DESCRIPTION)],
            "E9104",
            id="auth0-issuer-without-slash",
        ),
        pytest.param(
            [
                (
                    '    Type: CommaDelimitedList\n    Default: ""\n    Description: >-\n'
                    "      Lambda authorizer only, optional: more",
                    '    Type: CommaDelimitedList\n    Default: "https://second.eu.auth0.com"\n    Description: >-\n'
                    "      Lambda authorizer only, optional: more",
                )
            ],
            "E9104",
            id="lambda-authorizers-extra-auth0-issuer-without-slash",
        ),
    ],
)
def test_realistic_mistakes_in_the_real_template_are_caught(tmp_path, edits, expected):
    assert {rule for rule, _ in lint(template_variant(tmp_path, *edits))} == {expected}


def test_route_rules_without_the_route_key_are_fine_when_nothing_is_cached(tmp_path):
    no_context = ("              Context: [routeKey, domainName]\n", "")
    edits = [ROUTE_RULES, no_context, ('    Default: "300"\n', '    Default: "0"\n')]
    assert lint(template_variant(tmp_path, *edits)) == []


def test_a_resource_url_of_its_own_needs_no_domain_in_the_key(tmp_path):
    # The audience is the configured URL on every domain: the domain changes no answer.
    assert lint(template_variant(tmp_path, EXPLICIT_RESOURCES, NO_DOMAIN_IN_KEY)) == []


REQUIRED_READ = (
    '  RequiredScope:\n    Type: String\n    Default: ""',
    "  RequiredScope:\n    Type: String\n    Default: read:test",
)


@pytest.mark.parametrize(
    ("route_scopes", "flagged"),
    [
        pytest.param('{"GET /lambda/admin": ["read:test"]}', False, id="same-scopes-as-the-default"),
        pytest.param('{"GET /lambda/admin": "read:test"}', False, id="same-scopes-as-a-string"),
        pytest.param('{"GET /lambda/admin": ["admin"]}', True, id="other-scopes"),
        pytest.param('{"GET /lambda/admin": []}', True, id="no-scopes-where-the-default-has-one"),
        pytest.param('{"GET /lambda/admin": ["read:test"], "GET /lambda/admin": []}', True, id="refused-json"),
    ],
)
def test_e9103_asks_the_authorizers_own_rules_whether_routes_differ(tmp_path, route_scopes, flagged):
    # The same definition (ScopeRules.route_specific) as the function that will run these rules.
    edits = [REQUIRED_READ, ('ROUTE_SCOPES: ""', f"ROUTE_SCOPES: '{route_scopes}'"), NO_RESOURCES, NO_ROUTE_IN_KEY]
    assert ("E9103" in {rule for rule, _ in lint(template_variant(tmp_path, *edits))}) is flagged


def test_e9104_and_the_parameter_check_share_one_definition():
    # The deploy and make local refuse an issuer with the very function this rule flags it with.
    spec = importlib.util.spec_from_file_location("pitfalls_under_test", ROOT / "lint" / "rules" / "pitfalls.py")
    assert spec and spec.loader
    rules = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rules)
    assert rules.issuer_problem is parameters.issuer_problem
    assert "def issuer_problem" not in (ROOT / "lint" / "rules" / "pitfalls.py").read_text()


def test_e9101_names_the_role_to_extend_when_the_route_has_one(tmp_path):
    template = template_variant(tmp_path, ("                  - !GetAtt TestRouteFunction.Arn\n", ""))
    result = subprocess.run(
        [str(CFN_LINT), str(template), "--format", "parseable", "--append-rules", str(ROOT / "lint" / "rules")],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = result.stdout.splitlines()
    assert len(lines) == 3  # /test, /lambda/test and /health
    assert all(
        line.endswith(
            "E9101:API Gateway cannot invoke TestRouteFunction for this route: its credentials role ApiInvokeRole "
            "does not allow lambda:InvokeFunction on it; add !GetAtt TestRouteFunction.Arn to that role's Resource list"
        )
        for line in lines
    ), lines
