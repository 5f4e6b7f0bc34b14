"""docs/your-api.md: every diff in it applies to the shipped template, passes lint, and serves.

The diffs are taken from the page itself and applied with ``git apply`` to a copy of the
template, as a reader would. The function recipe is then served by the real ``make local`` in a
copy of the project with nothing else done, and its resources are checked against the deploy
role's policy.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from devkit.local.serve import LocalStack
from devkit.template import translate
from tests.e2e.make_local import make_local as running_make_local
from tests.lint.test_checkov import CHECKOV, checkov
from tests.lint.test_pitfall_rules import lint
from tests.support import ROOT, FakeClock

DOC = ROOT / "docs" / "your-api.md"
TEXT = DOC.read_text()
# Each recipe's heading, and the diff under it.
RECIPES = {
    section.split("\n", 1)[0]: diff
    for section in TEXT.split("\n## ")[1:]
    for diff in re.findall(r"```diff\n(.*?)```", section, re.DOTALL)
}
(ORDERS_APP,) = re.findall(r"```python\n(.*?)```", TEXT, re.DOTALL)
ROUTE = "Add a route to the test function"
FUNCTION = "Add a function with its own route"
PUBLIC = "Make a route public"
SCOPE = "Require a scope on one route"


def test_the_page_has_the_four_recipes_and_the_readme_links_it_near_the_top():
    assert set(RECIPES) == {ROUTE, FUNCTION, PUBLIC, SCOPE}
    readme = (ROOT / "README.md").read_text()
    assert "docs/your-api.md" in readme[: readme.index("```mermaid")]


def project_copy(directory: Path, *diffs: str, recount: bool = False) -> Path:
    """A copy of what make and the template need, the diffs applied to template.yaml as a reader would."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("Makefile", "pyproject.toml", "requirements-dev.txt", "samconfig.toml", ".venv", "devkit"):
        (directory / name).symlink_to(ROOT / name)
    shutil.copy(ROOT / "template.yaml", directory / "template.yaml")
    (directory / "src").mkdir()
    for function in ("authorizer", "test_route"):
        (directory / "src" / function).symlink_to(ROOT / "src" / function, target_is_directory=True)
    for diff in diffs:
        applied = subprocess.run(
            ["git", "apply", *(["--recount"] if recount else []), "-"],
            cwd=directory,
            input=diff,
            capture_output=True,
            text=True,
            check=False,
        )
        assert applied.returncode == 0, applied.stderr
    if "src/orders/" in (directory / "template.yaml").read_text():
        (directory / "src" / "orders").mkdir()
        (directory / "src" / "orders" / "app.py").write_text(ORDERS_APP)
    return directory / "template.yaml"


@pytest.mark.parametrize("recipe", [ROUTE, FUNCTION, PUBLIC, SCOPE])
def test_each_diff_applies_to_the_shipped_template_and_passes_our_lint(tmp_path, recipe):
    assert lint(project_copy(tmp_path, RECIPES[recipe])) == []


def test_the_route_function_and_public_diffs_apply_together(tmp_path):
    template = project_copy(tmp_path, RECIPES[ROUTE], RECIPES[FUNCTION], RECIPES[PUBLIC])
    assert lint(template) == []


def _without(diff: str, line: str) -> str:
    assert diff.count(line) == 1, line
    return diff.replace(line, "")


@pytest.mark.parametrize(
    ("recipe", "dropped", "rule"),
    [
        (FUNCTION, "+                  - !GetAtt OrdersFunction.Arn\n", "E9101"),
        (FUNCTION, "+                credentials: !GetAtt ApiInvokeRole.Arn\n", "E9101"),
        (
            ROUTE,
            "+              security:\n"
            "+                - JwtAuthorizer: !If [HasRequiredScope, [!Ref RequiredScope], []]\n",
            "E9105",
        ),
        (PUBLIC, "+              security: []\n", "E9105"),
    ],
    ids=["function-not-in-the-invoke-role", "route-without-credentials", "route-without-security", "public-unsaid"],
)
def test_leaving_out_a_step_is_refused_by_lint(tmp_path, recipe, dropped, rule):
    template = project_copy(tmp_path, _without(RECIPES[recipe], dropped), recount=True)
    assert {found for found, _ in lint(template)} == {rule}


@pytest.mark.skipif(not CHECKOV.exists(), reason="no .venv-checkov: run `make lint` once to create it")
def test_the_function_recipe_passes_checkov_as_make_lint_runs_it(tmp_path):
    summary = checkov(project_copy(tmp_path, RECIPES[FUNCTION]))["summary"]
    assert (summary["failed"], summary["passed"] > 0) == (0, True)


def test_the_function_recipe_needs_nothing_new_in_the_deploy_roles_policy(tmp_path):
    from tests.template.test_deploy_policy import POLICY_FILE, explain, missing, stack_needs

    cfn = translate(project_copy(tmp_path, RECIPES[FUNCTION]))
    assert {"OrdersFunction", "OrdersFunctionRole", "OrdersLogGroup"} <= cfn["Resources"].keys()
    gaps = missing(json.loads(POLICY_FILE.read_text()), stack_needs(cfn))
    assert not gaps, explain(gaps)


# ---------------------------------------------------------------- served by make local, nothing else
def get(url: str, token: str | None = None) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def make_local(tmp_path) -> Iterator[tuple[Path, str, int]]:
    """`make local` in a copy of the project with the route, function and public diffs applied."""
    project = project_copy(tmp_path / "project", RECIPES[ROUTE], RECIPES[FUNCTION], RECIPES[PUBLIC]).parent
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}
    with running_make_local(env=env, project=project) as running:
        yield project, running.api_url, running.ports[1]


def test_make_local_serves_the_new_route_and_function_with_no_other_step(make_local):
    project, api, issuer_port = make_local
    token = subprocess.run(
        ["make", "-s", "token", f"ISSUER_PORT={issuer_port}"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    status, body = get(f"{api}/orders", token)
    assert (status, body) == (200, {"customer": "dev-client@clients", "orders": []})
    assert get(f"{api}/orders")[0] == 401
    status, body = get(f"{api}/hello", token)
    assert (status, body["authorizer"], body["route"]) == (200, "jwt", "GET /hello")
    status, body = get(f"{api}/status")
    assert (status, body["authorizer"], body["route"]) == (200, None, "GET /status")


def test_the_scope_recipe_holds_on_both_authorizers_and_on_that_route_only(tmp_path):
    local = LocalStack(project_copy(tmp_path, RECIPES[SCOPE]), clock=FakeClock()).start()
    try:
        admin, reader = local.dev_issuer.mint(scopes=["admin"]), local.dev_issuer.mint(scopes=["read:test"])
        for path in ("/admin", "/lambda/admin"):
            assert get(local.api_url + path, admin)[0] == 200, path
            assert get(local.api_url + path, reader)[0] == 403, path
        for path in ("/test", "/lambda/test"):
            assert get(local.api_url + path, reader)[0] == 200, path
    finally:
        local.close()


def test_the_diffs_change_the_template_alone():
    # Everything else a recipe needs (the function's code) is on the page as its own block.
    for diff in RECIPES.values():
        assert re.findall(r"^\+\+\+ (.*)$", diff, re.MULTILINE) == ["b/template.yaml"]
