"""Whole-number parameters: Type String with an AllowedPattern for exactly their range.

A ``Number`` parameter takes ``1.5`` and ``300.0``, and cfn-lint refuses an ``AllowedPattern`` on
one (E2001). CloudFormation hands a ``Number`` to ``Ref`` as a string anyway, so the resources
get the same thing either way: the real SAM translator shows it here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from devkit.parameters import ParameterError, check
from devkit.template import translate
from tests.support import ROOT, template_variant

# The parameters whose ConstraintDescription promises a whole number "from LOW to HIGH".
_RANGE = re.compile(r"whole number.* from (\d+) to (\d+)")


def whole_number_parameters(sam_template: dict[str, Any]) -> dict[str, tuple[dict[str, Any], int, int]]:
    found = {}
    for name, spec in sam_template["Parameters"].items():
        words = _RANGE.search(" ".join(str(spec.get("ConstraintDescription", "")).split()))
        if words:
            found[name] = (spec, int(words.group(1)), int(words.group(2)))
    return found


def test_every_whole_number_parameter_is_a_string_with_a_pattern(sam_template):
    found = whole_number_parameters(sam_template)
    assert set(found) == {"AuthorizerCacheTtl", "ThrottlingRateLimit", "ThrottlingBurstLimit"}
    for name, (spec, _, _) in found.items():
        assert spec["Type"] == "String", name
        assert isinstance(spec["Default"], str), f"{name}: a String's Default is a string"
        assert not {"MinValue", "MaxValue"} & spec.keys(), name


# Never whole numbers as written, whatever their value.
NOT_WHOLE = ["", " 1", "1 ", "+1", "01", "00", "1.0", "1.", ".5", "1e3", "1E3", "0x10", "1_000", "\u0661", "1\n", "-0"]


@pytest.mark.parametrize("name", ["AuthorizerCacheTtl", "ThrottlingRateLimit", "ThrottlingBurstLimit"])
def test_each_pattern_is_exactly_its_range(sam_template, name):
    spec, low, high = whole_number_parameters(sam_template)[name]

    def accepted(value: str) -> bool:
        try:
            check(name, spec, value)  # CloudFormation's rule for a String: the whole value matches
        except ParameterError:
            return False
        return True

    # Every integer from well below the lower bound to well above the upper one.
    wrong = [n for n in range(low - 100, high + 1001) if accepted(str(n)) != (low <= n <= high)]
    assert wrong == []
    assert [value for value in NOT_WHOLE if accepted(value)] == []
    assert accepted(spec["Default"])


def test_whole_days_are_listed_as_strings(sam_template):
    spec = sam_template["Parameters"]["LogRetentionDays"]
    assert spec["Type"] == "String"
    assert all(isinstance(days, str) and days == str(int(days)) for days in spec["AllowedValues"])
    assert spec["Default"] in spec["AllowedValues"]
    with pytest.raises(ParameterError):
        check("LogRetentionDays", spec, "30.0")


def _as_numbers(tmp_path: Path) -> Path:
    """template.yaml with its whole-number parameters written as the Numbers they used to be."""
    spec = whole_number_parameters(yaml_parse((ROOT / "template.yaml").read_text()))
    edits = []
    for name, (parameter, low, high) in spec.items():
        pattern = parameter["AllowedPattern"]
        written = f'    Type: String\n    Default: "{parameter["Default"]}"\n    AllowedPattern: {pattern}\n'
        edits.append(
            (
                f"  {name}:\n{written}",
                f"  {name}:\n    Type: Number\n    Default: {parameter['Default']}\n"
                f"    MinValue: {low}\n    MaxValue: {high}\n",
            )
        )
    days = (ROOT / "template.yaml").read_text().split("  LogRetentionDays:\n", 1)[1].split("    Description:", 1)[0]
    edits.append((days, days.replace("Type: String", "Type: Number").replace('"', "")))
    return template_variant(tmp_path, *edits)


def test_the_resources_get_exactly_what_the_number_parameters_gave_them(tmp_path, cfn):
    before = translate(_as_numbers(tmp_path))
    assert before["Parameters"]["AuthorizerCacheTtl"]["Type"] == "Number"
    assert before["Parameters"]["LogRetentionDays"]["Default"] == 30
    for section in ("Resources", "Outputs", "Conditions", "Globals"):
        assert before.get(section) == cfn.get(section), section
