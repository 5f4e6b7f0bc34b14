"""The template as written and as the real SAM translator makes it, for every test of this tier."""

from __future__ import annotations

from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from devkit.template import translate
from tests.support import ROOT

TEMPLATE = ROOT / "template.yaml"


@pytest.fixture(scope="module")
def sam_template() -> dict[str, Any]:
    return yaml_parse(TEMPLATE.read_text())


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    """The CloudFormation the real SAM translator makes, through the local loop's own translate()."""
    return translate(TEMPLATE)
