"""The MCP server route: its audience, its metadata's inputs, and one rule for McpResourceUrl at every door."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from devkit.template import _Resolver
from jwt_authorizer.settings import SettingError, parse_resource_routes

URLS = {
    # value: does the template take it as McpResourceUrl?
    "": True,
    "https://mcp.example.com/mcp": True,
    "https://mcp.example.com:8443/v1/mcp": True,
    "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/mcp": True,
    "https://mcp.example.com": True,
    "http://mcp.example.com/mcp": False,  # API Gateway serves HTTPS only
    "https://mcp.example.com/mcp?x=1": False,  # RFC 8707 2: no query
    "https://mcp.example.com/mcp#f": False,  # ... and no fragment
    "https://mcp.example.com/m cp": False,
    'https://mcp.example.com/"mcp': False,  # would break the JSON RESOURCE_ROUTES is written in
    "mcp.example.com/mcp": False,
    "https://user@mcp.example.com/mcp": False,
}


def _environment(cfn: dict[str, Any], function: str, parameters: dict[str, str]) -> dict[str, Any]:
    variables = cfn["Resources"][function]["Properties"]["Environment"]["Variables"]
    resolved: dict[str, Any] = _Resolver(
        cfn, {"Issuer": "https://t.example.com/", "Audience": "a", **parameters}
    ).resolve(variables)
    return resolved


@pytest.mark.parametrize("value", sorted(URLS))
def test_mcp_resource_url_is_refused_alike_by_the_template_and_the_authorizer(sam_template, cfn, value):
    # The template's pattern is the first door; RESOURCE_ROUTES, which the parameter is written
    # into, the authorizer's. Whatever the template lets through, the authorizer must take.
    pattern = sam_template["Parameters"]["McpResourceUrl"]["AllowedPattern"]
    accepted = re.fullmatch(pattern.removeprefix("^").removesuffix("$"), value) is not None
    assert accepted is URLS[value]
    if accepted:
        routes = _environment(cfn, "AuthorizerFunction", {"McpResourceUrl": value})["RESOURCE_ROUTES"]
        assert parse_resource_routes(routes) == {key: value for key in ("POST /mcp", "GET /mcp", "DELETE /mcp")}
    elif not value.startswith("http://"):  # the authorizer takes http:// for make local's own URL
        with pytest.raises(SettingError):
            parse_resource_routes(json.dumps({"POST /mcp": value}))


def test_every_mcp_method_is_a_resource_route_and_no_other_route_is(cfn):
    body = cfn["Resources"]["HttpApi"]["Properties"]["Body"]
    mcp_routes = {f"{method.upper()} /mcp" for method in body["paths"]["/mcp"]}
    routes = parse_resource_routes(_environment(cfn, "AuthorizerFunction", {})["RESOURCE_ROUTES"])
    # "" : the URL the request came to, https://<domain>/mcp, so the API's own URL works unset.
    assert routes == dict.fromkeys(mcp_routes, "")


def test_the_mcp_function_publishes_the_issuers_the_url_and_the_scope_the_route_needs(cfn):
    parameters = {
        "AdditionalIssuers": "https://second.example.com/",
        "McpResourceUrl": "https://mcp.example.com/mcp",
        "RequiredScope": "mcp:tools",
    }
    authorizer = _environment(cfn, "AuthorizerFunction", parameters)
    server = _environment(cfn, "McpServerFunction", parameters)
    # authorization_servers are the issuers the authorizer trusts; scopes_supported what it requires.
    assert server["ISSUER"] == authorizer["ISSUER"] == "https://t.example.com/,https://second.example.com/"
    assert server["MCP_SCOPES"] == authorizer["REQUIRED_SCOPES"] == "mcp:tools"
    assert server["MCP_RESOURCE_URL"] == "https://mcp.example.com/mcp"
    assert set(json.loads(authorizer["RESOURCE_ROUTES"]).values()) == {"https://mcp.example.com/mcp"}


def test_the_function_never_gets_more_than_its_own_log_group(cfn):
    role = cfn["Resources"]["McpServerFunctionRole"]["Properties"]
    statements = [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    assert statements == [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": {"Fn::GetAtt": ["McpServerLogGroup", "Arn"]},
        }
    ]
