"""samconfig.toml, read by SAM CLI's own config reader, as bare `sam local` and `sam deploy` see it."""

from __future__ import annotations

import json
from typing import Any

from samcli.lib.config.samconfig import SamConfig
from samtranslator.yaml_helper import yaml_parse

from tests.support import ROOT


def section(*command: str) -> dict[str, Any]:
    return dict(SamConfig(str(ROOT)).get_all(list(command), "parameters"))


def test_bare_sam_local_gets_the_functions_local_settings():
    # The template gives AUDIENCE (and ISSUER) from parameters without defaults, which sam local
    # leaves unset, and the authorizer refuses to start without them.
    template = yaml_parse((ROOT / "template.yaml").read_text())
    declared = set(template["Resources"]["AuthorizerFunction"]["Properties"]["Environment"]["Variables"])
    for command in (("local", "invoke"), ("local", "start-api")):
        settings = section(*command)
        env = json.loads((ROOT / settings["env_vars"]).read_text())
        assert {"ISSUER", "AUDIENCE"} <= set(env["AuthorizerFunction"]) <= declared
        assert all(env["AuthorizerFunction"][name] for name in ("ISSUER", "AUDIENCE"))
        assert settings["add_host"] == ["host.docker.internal:host-gateway"]


def test_nothing_in_it_is_only_for_this_repositorys_ci_or_one_account():
    text = (ROOT / "samconfig.toml").read_text()
    assert "skip_pull_image" not in text
    deploy = section("deploy")
    assert not {"parameter_overrides", "region", "s3_bucket", "profile"} & set(deploy)
    assert deploy["resolve_s3"] is True and deploy["capabilities"] == "CAPABILITY_IAM"
