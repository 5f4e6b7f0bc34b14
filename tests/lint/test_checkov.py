"""checkov on the template: zero failed checks, and every skip explained next to its resource."""

from __future__ import annotations

import json
import subprocess

import pytest
from samtranslator.yaml_helper import yaml_parse

from tests.support import ROOT, template_variant

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
needs_checkov = pytest.mark.skipif(not CHECKOV.exists(), reason="no .venv-checkov: run `make lint` once to create it")


def checkov(template) -> dict:
    result = subprocess.run(
        [str(CHECKOV), "--file", str(template), "--framework", "cloudformation", "--output", "json", "--skip-download"],
        capture_output=True,
        text=True,
        check=False,
        cwd=template.parent,
    )
    report = json.loads(result.stdout)
    return report[0] if isinstance(report, list) else report


def test_every_skip_sits_on_its_resource_with_a_reason():
    resources = yaml_parse((ROOT / "template.yaml").read_text())["Resources"]
    skips = [
        (name, skip)
        for name, resource in resources.items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips, "expected the documented skips"
    for name, skip in skips:
        assert skip["id"].startswith("CKV_"), name
        assert len(skip.get("comment", "").split()) >= 6, f"{name}: {skip['id']} needs a reason"


@needs_checkov
def test_checkov_finds_no_failed_check():
    summary = checkov(ROOT / "template.yaml")["summary"]
    assert summary["failed"] == 0
    assert summary["passed"] > 0


@needs_checkov
def test_removing_a_justified_skip_makes_checkov_fail(tmp_path):
    skip = (
        "          - id: CKV_AWS_173\n"
        "            comment: Its environment holds the issuer URL, audiences and scopes, all public; no secret to "
        "encrypt.\n"
    )
    report = checkov(template_variant(tmp_path, (skip, "")))
    failed = {check["check_id"] for check in report["results"]["failed_checks"]}
    assert failed == {"CKV_AWS_173"}
