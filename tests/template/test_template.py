"""template.yaml, checked with the real cfn-lint, the real SAM translator and SAM CLI's discovery."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from typing import Any

from jwt_authorizer.algorithms import PUBLIC_KEY_ALGORITHMS
from jwt_authorizer.settings import VARIABLES
from tests.support import CFN_LINT, ROOT, SAM

TEMPLATE = ROOT / "template.yaml"
# RFC 9728 protected-resource metadata for /mcp: the path form and the root form.
METADATA_PATHS = ("/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource")


def resources_of(cfn: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in cfn["Resources"].items() if r["Type"] == kind}


def getatt_arn(logical_id: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


def test_cfn_lint_reports_nothing():
    result = subprocess.run([str(CFN_LINT), str(TEMPLATE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_sam_validate_lint_reports_nothing():
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"}
    result = subprocess.run(
        [str(SAM), "validate", "--lint", "--template-file", str(TEMPLATE)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


def test_sections_are_in_the_house_order():
    keys = [line.split(":")[0] for line in TEMPLATE.read_text().splitlines() if line and line[0].isalpha()]
    assert keys == [
        "AWSTemplateFormatVersion",
        "Transform",
        "Description",
        "Parameters",
        "Conditions",
        "Globals",
        "Resources",
        "Outputs",
    ]


def test_every_parameter_explains_itself_and_constrains_input(sam_template):
    for name, parameter in sam_template["Parameters"].items():
        assert parameter.get("Description"), name
        assert parameter.get("ConstraintDescription"), name
        assert {"AllowedPattern", "AllowedValues", "MinValue"} & parameter.keys(), name


def test_every_integration_and_the_lambda_authorizer_use_the_invoke_role(cfn):
    body = cfn["Resources"]["HttpApi"]["Properties"]["Body"]
    operations = [(path, op) for path, item in body["paths"].items() for op in item.values()]
    assert {path for path, _ in operations} == {"/test", "/lambda/test", "/health", "/mcp", *METADATA_PATHS}
    for path, operation in operations:
        integration = operation["x-amazon-apigateway-integration"]
        assert integration["credentials"] == getatt_arn("ApiInvokeRole")
        assert integration["type"] == "aws_proxy"
        assert integration["payloadFormatVersion"] == "2.0"
        function = "McpServerFunction" if "mcp" in path or "well-known" in path else "TestRouteFunction"
        assert "${" + function + ".Arn}" in integration["uri"]["Fn::Sub"], path
    lam = body["components"]["securitySchemes"]["LambdaAuthorizer"]["x-amazon-apigateway-authorizer"]
    assert lam["authorizerCredentials"] == getatt_arn("ApiInvokeRole")


def test_invoke_role_is_trusted_by_api_gateway_only_and_invokes_exactly_the_three_functions(cfn):
    role = cfn["Resources"]["ApiInvokeRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust == {
        "Effect": "Allow",
        "Principal": {"Service": "apigateway.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    assert statements == [
        {
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": [
                getatt_arn("TestRouteFunction"),
                getatt_arn("AuthorizerFunction"),
                getatt_arn("McpServerFunction"),
            ],
        }
    ]
    assert "ManagedPolicyArns" not in role


def test_api_gateway_gets_no_lambda_permission(cfn):
    assert resources_of(cfn, "AWS::Lambda::Permission") == {}


def test_jwt_authorizer_takes_issuer_and_audience_from_parameters(cfn):
    schemes = cfn["Resources"]["HttpApi"]["Properties"]["Body"]["components"]["securitySchemes"]
    jwt = schemes["JwtAuthorizer"]["x-amazon-apigateway-authorizer"]
    assert jwt["type"] == "jwt"
    assert jwt["jwtConfiguration"] == {"issuer": {"Ref": "Issuer"}, "audience": {"Ref": "Audience"}}
    assert jwt["identitySource"] == "$request.header.Authorization"


def test_lambda_authorizer_is_request_v2_simple_with_ttl_from_the_parameter(cfn):
    schemes = cfn["Resources"]["HttpApi"]["Properties"]["Body"]["components"]["securitySchemes"]
    lam = schemes["LambdaAuthorizer"]["x-amazon-apigateway-authorizer"]
    assert lam["type"] == "request"
    assert lam["authorizerPayloadFormatVersion"] == "2.0"
    assert lam["enableSimpleResponses"] is True
    # The domain too: an /mcp allow is for the URL the request came to (RESOURCE_ROUTES "").
    assert lam["identitySource"] == ["$request.header.Authorization", "$context.routeKey", "$context.domainName"]
    assert lam["authorizerResultTtlInSeconds"] == {"Ref": "AuthorizerCacheTtl"}
    assert "${__FunctionArn__}" in lam["authorizerUri"]["Fn::Sub"][0]
    assert lam["authorizerUri"]["Fn::Sub"][1]["__FunctionArn__"] == getatt_arn("AuthorizerFunction")


def test_routes_are_protected_as_documented(cfn):
    paths = cfn["Resources"]["HttpApi"]["Properties"]["Body"]["paths"]
    assert list(paths["/test"]["get"]["security"][0]) == ["JwtAuthorizer"]
    assert paths["/lambda/test"]["get"]["security"] == [{"LambdaAuthorizer": []}]
    assert paths["/health"]["get"]["security"] == []  # public, and declared so (E9105)
    assert "security" not in cfn["Resources"]["HttpApi"]["Properties"]["Body"]
    # The MCP server: every method behind the Lambda authorizer; its metadata public (RFC 9728).
    assert set(paths["/mcp"]) == {"post", "get", "delete"}
    assert all(operation["security"] == [{"LambdaAuthorizer": []}] for operation in paths["/mcp"].values())
    for path in METADATA_PATHS:
        assert set(paths[path]) == {"get"} and paths[path]["get"]["security"] == [], path  # public, declared (E9105)


def test_stage_is_default_and_auto_deploys(cfn):
    (stage,) = resources_of(cfn, "AWS::ApiGatewayV2::Stage").values()
    assert stage["Properties"]["StageName"] == "$default"
    assert stage["Properties"]["AutoDeploy"] is True


def test_functions_are_sized_logged_and_least_privileged(cfn):
    functions = resources_of(cfn, "AWS::Lambda::Function")
    assert set(functions) == {"AuthorizerFunction", "TestRouteFunction", "McpServerFunction"}
    for name, function in functions.items():
        props = function["Properties"]
        assert props["Runtime"] == "python3.13"
        assert props["Architectures"] == ["arm64"]
        assert props["LoggingConfig"]["LogFormat"] == "JSON"
        log_group = props["LoggingConfig"]["LogGroup"]["Ref"]
        assert cfn["Resources"][log_group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        role = cfn["Resources"][props["Role"]["Fn::GetAtt"][0]]["Properties"]
        assert "ManagedPolicyArns" not in role
        statements = [s for p in role["Policies"] if "PolicyDocument" in p for s in p["PolicyDocument"]["Statement"]]
        assert statements == [
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": getatt_arn(log_group),
            }
        ], name
    _, tracing, shared_secret = cfn["Resources"]["AuthorizerFunctionRole"]["Properties"]["Policies"]
    assert tracing == {"Fn::If": ["TraceAuthorizer", XRAY_POLICY, {"Ref": "AWS::NoValue"}]}
    condition, policy, otherwise = shared_secret["Fn::If"]
    assert (condition, otherwise) == ("HasSharedSecret", {"Ref": "AWS::NoValue"})
    assert policy["PolicyDocument"]["Statement"] == [
        {
            "Effect": "Allow",
            "Action": "ssm:GetParameter",
            "Resource": {"Fn::Sub": SSM_PARAMETER_ARN},
        }
    ]
    assert functions["AuthorizerFunction"]["Properties"]["TracingConfig"] == {"Mode": {"Ref": "AuthorizerTracing"}}
    auth_env = functions["AuthorizerFunction"]["Properties"]["Environment"]["Variables"]
    # The Lambda authorizer: Issuer, then AdditionalIssuers; the opt-in rules from their parameters.
    assert auth_env["ISSUER"] == {
        "Fn::Join": [",", [{"Ref": "Issuer"}, {"Fn::Join": [",", {"Ref": "AdditionalIssuers"}]}]]
    }
    assert auth_env["AUDIENCE"] == {"Fn::Join": [",", {"Ref": "Audience"}]}
    assert (auth_env["SCOPE_CLAIMS"], auth_env["REQUIRED_CLAIMS"]) == (
        {"Ref": "ScopeClaims"},
        {"Ref": "RequiredClaims"},
    )


def test_the_template_sets_every_setting_the_authorizer_reads_and_nothing_else(cfn):
    # Settings.from_environ is the only reader of the environment; VARIABLES is what it reads.
    variables = resources_of(cfn, "AWS::Lambda::Function")["AuthorizerFunction"]["Properties"]["Environment"]
    assert set(variables["Variables"]) == set(VARIABLES)


def test_allowed_algorithms_reach_the_authorizer_and_the_pattern_is_the_tables(sam_template, cfn):
    parameter = sam_template["Parameters"]["AllowedAlgorithms"]
    alternatives = re.fullmatch(r"\^\((.*)\)\$", parameter["AllowedPattern"])
    assert alternatives is not None
    names = set(alternatives.group(1).split("|"))
    assert names == set(PUBLIC_KEY_ALGORITHMS)
    assert all(name in parameter["ConstraintDescription"] for name in names)
    env = resources_of(cfn, "AWS::Lambda::Function")["AuthorizerFunction"]["Properties"]["Environment"]
    assert env["Variables"]["ALLOWED_ALGORITHMS"] == {
        "Fn::If": ["HasSharedSecret", "HS256", {"Fn::Join": [",", {"Ref": "AllowedAlgorithms"}]}]
    }


SSM_PARAMETER_ARN = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${SharedSecretParameter}"
XRAY_POLICY = {
    "PolicyName": "WriteTraces",
    "PolicyDocument": {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "Resource": "*"}
        ],
    },
}


def test_no_wildcard_actions_anywhere_and_no_wildcard_resources_but_xray(cfn):
    for name, role in resources_of(cfn, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            if "Fn::If" in policy:
                policy = policy["Fn::If"][1]
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                assert all("*" not in action for action in actions), name
                if statement["Resource"] == "*":
                    assert policy == XRAY_POLICY, name


ACCESS_LOG_FIELDS = {
    "requestId",
    "status",
    "routeKey",
    "responseLatencyMs",
    "integrationLatencyMs",
    "integrationErrorMessage",
    "authorizerError",
    "errorMessage",
}


def test_stage_writes_json_access_logs_with_the_auth_debugging_fields(cfn):
    (stage,) = resources_of(cfn, "AWS::ApiGatewayV2::Stage").values()
    settings = stage["Properties"]["AccessLogSettings"]
    assert settings["DestinationArn"] == getatt_arn("ApiAccessLogGroup")
    log_group = cfn["Resources"]["ApiAccessLogGroup"]["Properties"]
    assert log_group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    # What a line looks like once API Gateway fills in the variables: one JSON object.
    line = re.sub(r"\$context\.[A-Za-z.]+", "some value", settings["Format"])
    entry = json.loads(line)
    assert set(entry) >= ACCESS_LOG_FIELDS
    variables = dict(re.findall(r'"(\w+)":"(\$context\.[A-Za-z.]+)"', settings["Format"]))
    assert variables["authorizerError"] == "$context.authorizer.error"
    assert variables["integrationErrorMessage"] == "$context.integrationErrorMessage"
    assert "\n" not in settings["Format"]


def test_stage_throttles_by_default_from_parameters(cfn):
    (stage,) = resources_of(cfn, "AWS::ApiGatewayV2::Stage").values()
    assert stage["Properties"]["DefaultRouteSettings"] == {
        "ThrottlingRateLimit": {"Ref": "ThrottlingRateLimit"},
        "ThrottlingBurstLimit": {"Ref": "ThrottlingBurstLimit"},
    }


def test_cors_is_off_unless_origins_are_given_and_routes_use_explicit_methods(cfn):
    body = cfn["Resources"]["HttpApi"]["Properties"]["Body"]
    condition, config, otherwise = body["x-amazon-apigateway-cors"]["Fn::If"]
    assert (condition, otherwise) == ("HasCors", {"Ref": "AWS::NoValue"})
    assert config["allowOrigins"] == {"Ref": "CorsAllowedOrigins"}
    assert "authorization" in config["allowHeaders"]
    methods = {method for item in body["paths"].values() for method in item}
    assert methods == {"get", "post", "delete"}, "an ANY or OPTIONS route would send preflights to the authorizers"


def test_outputs_give_urls_role_and_a_curl_line(sam_template):
    outputs = sam_template["Outputs"]
    assert set(outputs) == {
        "ApiEndpoint",
        "JwtTestUrl",
        "LambdaTestUrl",
        "HealthUrl",
        "InvokeRoleArn",
        "DashboardName",
        "McpServerUrl",
        "McpMetadataUrl",
        "CurlExample",
    }
    assert all(output.get("Description") for output in outputs.values())
    assert "Authorization: Bearer $TOKEN" in outputs["CurlExample"]["Value"]["Fn::Sub"]


def test_sam_cli_discovery_mounts_all_routes_with_the_lambda_authorizer():
    """Ask SAM CLI's own providers what `sam local start-api` would mount (no Docker needed)."""
    script = (
        "from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider\n"
        "from samcli.lib.providers.api_provider import ApiProvider\n"
        "stacks, _ = SamLocalStackProvider.get_stacks('template.yaml')\n"
        "for r in ApiProvider(stacks).api.routes:\n"
        "    a = r.authorizer_object\n"
        "    print('|'.join([r.path, ','.join(r.methods), r.function_name, r.payload_format_version,\n"
        "        a.authorizer_name if a else '-', a.payload_version if a else '-',\n"
        "        str(a.use_simple_response) if a else '-', ','.join(a._identity_sources_raw) if a else '-']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
    )
    mounted = sorted(line for line in result.stdout.splitlines() if "|" in line)
    lambda_authorizer = "LambdaAuthorizer|2.0|True|$request.header.Authorization,$context.routeKey,$context.domainName"
    assert mounted == [
        "/.well-known/oauth-protected-resource/mcp|GET|McpServerFunction|2.0|-|-|-|-",
        "/.well-known/oauth-protected-resource|GET|McpServerFunction|2.0|-|-|-|-",
        "/health|GET|TestRouteFunction|2.0|-|-|-|-",
        f"/lambda/test|GET|TestRouteFunction|2.0|{lambda_authorizer}",
        f"/mcp|DELETE,GET,POST|McpServerFunction|2.0|{lambda_authorizer}",
        "/test|GET|TestRouteFunction|2.0|-|-|-|-",
    ]
    # SAM CLI cannot emulate JWT authorizers; it must say so rather than fail to start.
    assert "Authorizer 'JwtAuthorizer' for route '/test' was not found" in result.stderr + result.stdout
