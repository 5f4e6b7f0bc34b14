"""docs/deploy-role-policy.json, checked against what `make deploy` and `make delete` really call.

What the deploy needs comes from AWS's and SAM CLI's own sources, never from the policy: the
CloudFormation resource provider schemas cfn-lint ships (handlers' permissions) for every resource
type the real SAM translator makes of template.yaml, API Gateway's access-logging actions, and the
calls in SAM CLI's source. IAM's catalogue of actions and of the resource types each can be scoped
to is the one parliament ships. The policy is evaluated the way IAM evaluates Allow statements.
"""

from __future__ import annotations

import ast
import copy
import functools
import importlib.util
import json
import os
import re
import subprocess
import sys
import tomllib
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from samcli.lib.bootstrap.bootstrap import SAM_CLI_STACK_NAME
from samcli.lib.bootstrap.companion_stack.data_types import CompanionStack
from samcli.lib.bootstrap.web_function_code_bucket import WebFunctionCodeBucketStack

from tests.support import ROOT

TEMPLATE = ROOT / "template.yaml"
POLICY_FILE = ROOT / "docs" / "deploy-role-policy.json"
DOC = ROOT / "docs" / "deploy-role.md"
PARLIAMENT = Path(sys.executable).with_name("parliament")


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec and spec.submodule_search_locations, name
    return Path(next(iter(spec.submodule_search_locations)))


SCHEMAS = _package_dir("cfnlint") / "data" / "schemas"
IAM_DEFINITION = _package_dir("parliament") / "iam_definition.json"
SAMCLI = _package_dir("samcli")

_SAMCONFIG = tomllib.loads((ROOT / "samconfig.toml").read_text())["default"]
STACK_NAME: str = _SAMCONFIG["global"]["parameters"]["stack_name"]
# `sam deploy --guided` saves the stack name as s3_prefix (samcli/commands/deploy/guided_context.py);
# the policy only lets artifacts live under it.
S3_PREFIX: str = _SAMCONFIG["deploy"]["parameters"].get("s3_prefix", STACK_NAME)

# Example ARNs: the shapes IAM sees for this stack, with made-up IDs and CloudFormation's
# random suffix on generated names.
REGION = "us-east-1"
ACCOUNT = "123456789012"
SUFFIX = "AbC123XyZ"
API_ID = "a1b2c3d4e5"
MANAGED_BUCKET_LOGICAL_ID = "SamCliSourceBucket"
BUCKET_ARN = f"arn:aws:s3:::{SAM_CLI_STACK_NAME}-{MANAGED_BUCKET_LOGICAL_ID.lower()}-1a2b3c4d5e6f"
CODE_OBJECT = f"{BUCKET_ARN}/{S3_PREFIX}/5d41402abc4b2a76b9719d911017c592"
TEMPLATE_OBJECT = f"{BUCKET_ARN}/{S3_PREFIX}/7d793037a0760186574b0282f2f435e7.template"
TRANSFORM_ARN = f"arn:aws:cloudformation:{REGION}:aws:transform/Serverless-2016-10-31"

Context = tuple[tuple[str, str], ...]
Target = tuple[str, Context]
TO_LAMBDA: Context = (("iam:PassedToService", "lambda.amazonaws.com"),)
TO_API_GATEWAY: Context = (("iam:PassedToService", "apigateway.amazonaws.com"),)


def stack_arn(name: str) -> str:
    return f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{name}/1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"


def generated_name(logical_id: str) -> str:
    return f"{STACK_NAME}-{logical_id}-{SUFFIX}"


def role_arn(logical_id: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{generated_name(logical_id)}"


def apigateway_arn(path: str) -> str:
    return f"arn:aws:apigateway:{REGION}::{path}"


def apigateway_tags_arn(arn: str) -> str:
    return apigateway_arn("/tags/" + urllib.parse.quote(arn, safe=""))


MAIN_STACK = stack_arn(STACK_NAME)
MANAGED_STACK = stack_arn(SAM_CLI_STACK_NAME)


@dataclass(frozen=True)
class Need:
    """One request IAM must allow: an action on a resource, with the request's condition keys."""

    action: str
    resource: str
    why: str
    context: Context = ()


# ---------------------------------------------------------------- evaluating the policy


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _glob(pattern: str, value: str, *, case_sensitive: bool) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case_sensitive else re.IGNORECASE) is not None


def _conditions_hold(condition: dict[str, dict[str, Any]], context: dict[str, str]) -> bool:
    for operator, tests in condition.items():
        for key, wanted in tests.items():
            # As in IAM: a key the request does not carry fails the condition.
            if key not in context:
                return False
            if operator == "StringEquals":
                matched = context[key] in _as_list(wanted)
            elif operator == "StringLike":
                matched = any(_glob(w, context[key], case_sensitive=True) for w in _as_list(wanted))
            else:
                raise AssertionError(f"this evaluator does not model {operator}; teach it before using it")
            if not matched:
                return False
    return True


def allows(policy: dict[str, Any], need: Need) -> bool:
    context = dict(need.context)
    for statement in policy["Statement"]:
        # Only Allow, Action and Resource are modelled; anything else would be misjudged.
        assert statement["Effect"] == "Allow", statement
        assert not {"NotAction", "NotResource", "Principal"} & statement.keys(), statement
        if (
            any(_glob(a, need.action, case_sensitive=False) for a in _as_list(statement["Action"]))
            and any(_glob(r, need.resource, case_sensitive=True) for r in _as_list(statement["Resource"]))
            and _conditions_hold(statement.get("Condition", {}), context)
        ):
            return True
    return False


def missing(policy: dict[str, Any], needs: list[Need]) -> list[Need]:
    return [need for need in needs if not allows(policy, need)]


def explain(gaps: list[Need]) -> str:
    return "\n".join(f"{n.action} on {n.resource} {dict(n.context) or ''} ({n.why})" for n in gaps)


# ---------------------------------------------------------------- AWS's own catalogues


@functools.cache
def iam_resource_types() -> dict[str, frozenset[str]]:
    """Every IAM action (lower case) with the resource types it can be scoped to (none: only "*")."""
    catalogue: dict[str, set[str]] = {}
    # Several services share a prefix (API Gateway's two APIs): their actions merge.
    for service in json.loads(IAM_DEFINITION.read_text()):
        for privilege in service["privileges"]:
            types = catalogue.setdefault(f"{service['prefix']}:{privilege['privilege']}".lower(), set())
            types.update(t["resource_type"].rstrip("*") for t in privilege["resource_types"] if t["resource_type"])
    return {action: frozenset(types) for action, types in catalogue.items()}


@functools.cache
def schema(resource_type: str) -> dict[str, Any]:
    # The provider schemas are the same in every region for the types used here.
    index = json.loads((SCHEMAS / "providers" / f"{REGION}.json").read_text())
    loaded: dict[str, Any] = json.loads((SCHEMAS / "resources" / f"{index[resource_type]}.json").read_text())
    return loaded


def resource_types(action: str) -> frozenset[str] | None:
    """The resource types IAM lets an action be scoped to; None for an action IAM does not define."""
    types = iam_resource_types().get(action.lower())
    late = RESOURCE_TYPES_CATALOGUE_LACKS.get(action.lower())
    return types if types is None or late is None else types | {late}


def handler_permissions(resource_type: str, handlers: tuple[str, ...]) -> set[str]:
    return {p for h in handlers for p in schema(resource_type)["handlers"][h]["permissions"]}


# ---------------------------------------------------------------- what the schemas ask for

STACK_HANDLERS = ("create", "update", "delete")
# SAM CLI creates its managed stack once and never updates it (_create_or_get_stack in
# samcli/lib/utils/managed_cloudformation_stack.py); delete is there for the rollback of a
# failed first creation.
MANAGED_STACK_HANDLERS = ("create", "delete")

# template.yaml's resource types after the SAM transform; a new one needs its ARNs in targets().
TRANSLATED_TYPES = [
    "AWS::ApiGatewayV2::Api",
    "AWS::ApiGatewayV2::Stage",
    "AWS::CloudWatch::Alarm",
    "AWS::CloudWatch::Dashboard",
    "AWS::IAM::Role",
    "AWS::Lambda::Function",
    "AWS::Logs::LogGroup",
    "AWS::Logs::MetricFilter",
    "AWS::Logs::QueryDefinition",
    "AWS::SNS::Subscription",
    "AWS::SNS::Topic",
]
MANAGED_STACK_TYPES = ["AWS::S3::Bucket", "AWS::S3::BucketPolicy"]

# Names schemas list that IAM's catalogue does not define, and what IAM checks instead: API
# Gateway authorizes tagging as the HTTP verb on arn:...:apigateway:region::/tags/{arn}.
SCHEMA_NAMES_IAM_LACKS = {
    "apigateway:tagresource": ("apigateway:POST", "Tags"),
    "apigateway:untagresource": ("apigateway:DELETE", "Tags"),
}

# Resource types IAM's Service Authorization Reference now lists for an action, which the catalogue
# parliament ships predates: CloudWatch tags dashboards, by the dashboard's ARN (CloudWatch API
# Reference, TagResource). The dashboard's handlers tag it with CloudFormation's system tags.
RESOURCE_TYPES_CATALOGUE_LACKS = {
    "cloudwatch:tagresource": "dashboard",
    "cloudwatch:untagresource": "dashboard",
    "cloudwatch:listtagsforresource": "dashboard",
}

# Permissions no schema lists but the deploy needs, each with where AWS says so.
EXTRA_PERMISSIONS: dict[str, tuple[str, ...]] = {
    # API Gateway checks iam:PassRole (iam:PassedToService apigateway.amazonaws.com) on the
    # credentials of integrations and authorizers when it creates or imports an API (Service
    # Authorization Reference, API Gateway Management V2).
    "AWS::ApiGatewayV2::Api": ("iam:PassRole",),
    # Access logging, on the principal that creates or updates the stage (API Gateway developer
    # guide, "Configure logging for HTTP APIs"); these actions support no resource-level scoping.
    "AWS::ApiGatewayV2::Stage": (
        "logs:CreateLogDelivery",
        "logs:PutResourcePolicy",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:GetLogDelivery",
        "logs:ListLogDeliveries",
        "logs:DescribeResourcePolicies",
    ),
}


@dataclass(frozen=True)
class Exclusion:
    """Schema permissions a handler needs only for properties that are left unset."""

    resource_type: str
    properties: tuple[str, ...]
    actions: frozenset[str]
    reason: str
    # The schema lists the permission before it lists the property.
    property_newer_than_schema: bool = False


def _exclude(
    resource_type: str,
    properties: tuple[str, ...],
    reason: str,
    *actions: str,
    property_newer_than_schema: bool = False,
) -> Exclusion:
    return Exclusion(
        resource_type, properties, frozenset(a.lower() for a in actions), reason, property_newer_than_schema
    )


# What an in-place update of an AWS::SNS::Subscription can change: every property that is neither
# create-only nor read-only (a test holds this to the schema).
SUBSCRIPTION_UPDATABLE = (
    "DeliveryPolicy",
    "FilterPolicy",
    "FilterPolicyScope",
    "RawMessageDelivery",
    "RedrivePolicy",
    "Region",
    "ReplayPolicy",
    "SubscriptionRoleArn",
)

# Reads of the resource itself stay (handlers read the whole model back after writing), and so does
# everything a delete handler lists for the resource itself (a stuck delete costs more than the grant).
EXCLUSIONS = [
    _exclude(
        "AWS::Lambda::Function",
        ("ReservedConcurrentExecutions",),
        "reserved concurrency",
        "lambda:PutFunctionConcurrency",
        "lambda:DeleteFunctionConcurrency",
    ),
    _exclude(
        "AWS::Lambda::Function", ("Code.S3ObjectVersion",), "code pinned to an object version", "s3:GetObjectVersion"
    ),
    _exclude(
        "AWS::Lambda::Function",
        ("VpcConfig",),
        "VPC attachment",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSubnets",
        "ec2:DescribeVpcs",
        "ec2:DescribeNetworkInterfaces",
    ),
    _exclude(
        "AWS::Lambda::Function",
        ("FileSystemConfigs",),
        "mounted EFS or S3 file systems",
        "elasticfilesystem:DescribeMountTargets",
        "s3files:ListMountTargets",
    ),
    _exclude(
        "AWS::Lambda::Function",
        ("KmsKeyArn", "Code.SourceKMSKeyArn"),
        "customer managed KMS keys (environment, SnapStart, code); AWS managed keys need no caller grant",
        "kms:CreateGrant",
        "kms:Decrypt",
        "kms:DescribeKey",
        "kms:Encrypt",
        "kms:GenerateDataKey",
    ),
    _exclude(
        "AWS::Lambda::Function",
        ("CodeSigningConfigArn",),
        "code signing",
        "lambda:GetCodeSigningConfig",
        "lambda:PutFunctionCodeSigningConfig",
        "lambda:DeleteFunctionCodeSigningConfig",
    ),
    _exclude("AWS::Lambda::Function", ("Layers",), "layers", "lambda:GetLayerVersion"),
    _exclude(
        "AWS::Lambda::Function",
        ("RuntimeManagementConfig",),
        "a pinned runtime version",
        "lambda:PutRuntimeManagementConfig",
    ),
    _exclude(
        "AWS::Lambda::Function", ("RecursiveLoop",), "the recursive-loop setting", "lambda:PutFunctionRecursionConfig"
    ),
    _exclude(
        "AWS::Lambda::Function",
        ("CapacityProviderConfig", "FunctionScalingConfig", "PublishToLatestPublished"),
        "Lambda Managed Instances: capacity provider, scaling, publishing versions",
        "lambda:PassCapacityProvider",
        "lambda:PutFunctionScalingConfig",
        "lambda:PublishVersion",
    ),
    _exclude(
        "AWS::Lambda::Function",
        ("RuntimeConfig",),
        "a customer-managed runtime's alias",
        "lambda:AssociateRuntimeAlias",
        property_newer_than_schema=True,
    ),
    _exclude(
        "AWS::Logs::LogGroup", ("DataProtectionPolicy",), "a data protection policy", "logs:PutDataProtectionPolicy"
    ),
    _exclude(
        "AWS::Logs::LogGroup",
        ("KmsKeyId",),
        "a customer managed KMS key",
        "logs:AssociateKmsKey",
        "logs:DisassociateKmsKey",
    ),
    _exclude(
        "AWS::Logs::LogGroup",
        ("FieldIndexPolicies",),
        "field index policies",
        "logs:PutIndexPolicy",
        "logs:DeleteIndexPolicy",
    ),
    _exclude(
        "AWS::Logs::LogGroup",
        ("ResourcePolicyDocument", "LogGroupClass"),
        "a log group's own resource policy, or the DELIVERY class for vended logs sent on to S3 or"
        " Firehose (s3:REST.PUT.OBJECT is S3's log name for a PUT, not an IAM action); API Gateway"
        " delivers into this CloudWatch log group and the account-level policy calls stay granted",
        "logs:DeleteResourcePolicy",
        "s3:REST.PUT.OBJECT",
        "firehose:TagDeliveryStream",
    ),
    _exclude(
        "AWS::Logs::LogGroup",
        ("DeletionProtectionEnabled",),
        "deletion protection",
        "logs:PutLogGroupDeletionProtection",
    ),
    _exclude(
        "AWS::Logs::LogGroup",
        ("BearerTokenAuthenticationEnabled",),
        "bearer-token ingestion",
        "logs:PutBearerTokenAuthentication",
    ),
    _exclude(
        "AWS::SNS::Topic",
        ("Subscription",),
        "subscriptions written on the topic itself; the template subscribes with an AWS::SNS::Subscription",
        "sns:Subscribe",
        "sns:Unsubscribe",
    ),
    _exclude("AWS::SNS::Topic", ("DataProtectionPolicy",), "a data protection policy", "sns:PutDataProtectionPolicy"),
    _exclude(
        "AWS::SNS::Topic",
        ("DeliveryStatusLogging",),
        "delivery-status logging and its feedback roles",
        "iam:GetRole",
        "iam:PassRole",
    ),
    _exclude(
        "AWS::SNS::Subscription",
        ("SubscriptionRoleArn",),
        "a Firehose subscription's role",
        "iam:GetRole",
        "iam:PassRole",
    ),
    _exclude(
        "AWS::SNS::Subscription",
        SUBSCRIPTION_UPDATABLE,
        "every property an update changes in place; TopicArn, Protocol and Endpoint are create-only,"
        " so changing one replaces the subscription and the update handler never runs",
        "sns:SetSubscriptionAttributes",
    ),
    _exclude("AWS::ApiGatewayV2::Api", ("BodyS3Location",), "an OpenAPI body read from S3", "s3:GetObject"),
    _exclude("AWS::IAM::Role", ("ManagedPolicyArns",), "managed policies", "iam:AttachRolePolicy"),
    _exclude(
        "AWS::IAM::Role",
        ("PermissionsBoundary",),
        "a permissions boundary",
        "iam:PutRolePermissionsBoundary",
        "iam:DeleteRolePermissionsBoundary",
    ),
    _exclude(
        "AWS::IAM::Role",
        ("MaxSessionDuration", "Description"),
        "the session duration and description, the only things UpdateRole changes",
        "iam:UpdateRole",
        "iam:UpdateRoleDescription",
    ),
    _exclude("AWS::S3::Bucket", ("AbacStatus",), "tag-based access control", "s3:PutBucketAbac", "s3:TagResource"),
    _exclude("AWS::S3::Bucket", ("AnalyticsConfigurations",), "storage class analysis", "s3:PutAnalyticsConfiguration"),
    _exclude("AWS::S3::Bucket", ("CorsConfiguration",), "CORS", "s3:PutBucketCORS"),
    _exclude("AWS::S3::Bucket", ("InventoryConfigurations",), "inventory", "s3:PutInventoryConfiguration"),
    _exclude("AWS::S3::Bucket", ("LifecycleConfiguration",), "lifecycle rules", "s3:PutLifecycleConfiguration"),
    _exclude("AWS::S3::Bucket", ("MetricsConfigurations",), "request metrics", "s3:PutMetricsConfiguration"),
    _exclude("AWS::S3::Bucket", ("NotificationConfiguration",), "event notifications", "s3:PutBucketNotification"),
    _exclude(
        "AWS::S3::Bucket",
        ("ReplicationConfiguration",),
        "replication and its role",
        "s3:PutBucketReplication",
        "s3:PutReplicationConfiguration",
        "iam:PassRole",
    ),
    _exclude("AWS::S3::Bucket", ("WebsiteConfiguration",), "website hosting", "s3:PutBucketWebsite"),
    _exclude("AWS::S3::Bucket", ("AccelerateConfiguration",), "transfer acceleration", "s3:PutAccelerateConfiguration"),
    _exclude(
        "AWS::S3::Bucket",
        ("AccessControl", "LoggingConfiguration"),
        "a canned ACL, or server access logging into a target bucket that S3 checks through its ACL",
        "s3:PutObjectAcl",
        "s3:GetBucketAcl",
        "s3:DeleteObject",
        "s3:PutBucketLogging",
    ),
    _exclude(
        "AWS::S3::Bucket",
        ("ObjectLockConfiguration", "ObjectLockEnabled"),
        "object lock",
        "s3:PutBucketObjectLockConfiguration",
        "s3:PutObjectLockConfiguration",
    ),
    _exclude("AWS::S3::Bucket", ("OwnershipControls",), "object ownership controls", "s3:PutBucketOwnershipControls"),
    _exclude(
        "AWS::S3::Bucket",
        ("IntelligentTieringConfigurations",),
        "intelligent tiering",
        "s3:PutIntelligentTieringConfiguration",
    ),
    _exclude(
        "AWS::S3::Bucket",
        ("MetadataTableConfiguration", "MetadataConfiguration"),
        "S3 Metadata tables",
        "s3:CreateBucketMetadataTableConfiguration",
        "s3tables:CreateNamespace",
        "s3tables:CreateTable",
        "s3tables:CreateTableBucket",
        "s3tables:GetTable",
        "s3tables:PutTableBucketPolicy",
        "s3tables:PutTableEncryption",
        "s3tables:PutTablePolicy",
        "s3tables:GetTableMetadataLocation",
        "s3tables:UpdateTableMetadataLocation",
    ),
]


def excluded(resource_type: str) -> set[str]:
    return {a for e in EXCLUSIONS if e.resource_type == resource_type for a in e.actions}


def _physical_name(logical_id: str, properties: dict[str, Any], name_property: str) -> str:
    name = properties.get(name_property)
    if name is None:
        return generated_name(logical_id)
    if isinstance(name, dict):
        name = name["Fn::Sub"].replace("${AWS::StackName}", STACK_NAME)
    assert isinstance(name, str) and "${" not in name, name
    return name


def _log_group_targets(logical_id: str, properties: dict[str, Any]) -> dict[str, list[Target]]:
    log_group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{_physical_name(logical_id, properties, 'LogGroupName')}"
    return {"log-group": [(log_group, ()), (log_group + ":*", ())]}


def _topic_arn(logical_id: str, properties: dict[str, Any]) -> str:
    return f"arn:aws:sns:{REGION}:{ACCOUNT}:{_physical_name(logical_id, properties, 'TopicName')}"


def _roles_referenced(node: Any, cfn: dict[str, Any]) -> Iterator[str]:
    if isinstance(node, dict):
        target = node.get("Fn::GetAtt")
        if isinstance(target, list) and cfn["Resources"].get(target[0], {}).get("Type") == "AWS::IAM::Role":
            yield target[0]
        for value in node.values():
            yield from _roles_referenced(value, cfn)
    elif isinstance(node, list):
        for value in node:
            yield from _roles_referenced(value, cfn)


def _monitoring_targets(
    resource_type: str, logical_id: str, properties: dict[str, Any], cfn: dict[str, Any]
) -> dict[str, list[Target]] | None:
    """targets() of the log groups and what watches them: metric filters, queries, alarms, dashboards, topics."""
    if resource_type == "AWS::Logs::LogGroup":
        return _log_group_targets(logical_id, properties)
    if resource_type == "AWS::Logs::MetricFilter":
        # A metric filter is no IAM resource of its own: its calls are checked on the log group it reads.
        group_id = properties["LogGroupName"]["Ref"]
        group = cfn["Resources"][group_id]
        assert group["Type"] == "AWS::Logs::LogGroup", group_id
        return _log_group_targets(group_id, group.get("Properties", {}))
    if resource_type == "AWS::Logs::QueryDefinition":
        # IAM has no resource-level permissions for saved queries: Put and DeleteQueryDefinition are
        # granted on "*" only, whichever log groups the query names.
        return {}
    if resource_type == "AWS::CloudWatch::Alarm":
        name = _physical_name(logical_id, properties, "AlarmName")
        return {"alarm": [(f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}", ())]}
    if resource_type == "AWS::CloudWatch::Dashboard":
        # Dashboards are global: their ARN has no region.
        name = _physical_name(logical_id, properties, "DashboardName")
        return {"dashboard": [(f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/{name}", ())]}
    if resource_type == "AWS::SNS::Topic":
        return {"topic": [(_topic_arn(logical_id, properties), ())]}
    if resource_type == "AWS::SNS::Subscription":
        topic_id = properties["TopicArn"]["Ref"]
        topic = cfn["Resources"][topic_id]
        assert topic["Type"] == "AWS::SNS::Topic", topic_id
        # Subscribe carries the protocol as sns:Protocol: the policy allows the template's only.
        subscribing = (("sns:Protocol", properties["Protocol"]),)
        return {"topic": [(_topic_arn(topic_id, topic.get("Properties", {})), subscribing)]}
    return None


def targets(
    resource_type: str, logical_id: str, resource: dict[str, Any], cfn: dict[str, Any]
) -> dict[str, list[Target]]:
    """The ARNs a type's handlers act on, by IAM resource type (as parliament's catalogue names them)."""
    properties = resource.get("Properties", {})
    if resource_type == "AWS::IAM::Role":
        return {"role": [(role_arn(logical_id), ())]}
    if resource_type == "AWS::Lambda::Function":
        role_id, attribute = properties["Role"]["Fn::GetAtt"]
        assert attribute == "Arn"
        function = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{generated_name(logical_id)}"
        return {"function": [(function, ())], "role": [(role_arn(role_id), TO_LAMBDA)], "object": [(CODE_OBJECT, ())]}
    if resource_type == "AWS::ApiGatewayV2::Api":
        api = apigateway_arn(f"/apis/{API_ID}")
        roles = sorted(set(_roles_referenced(properties.get("Body", {}), cfn)))
        return {
            "Apis": [(apigateway_arn("/apis"), ())],
            "Api": [(api, ())],
            "Tags": [(apigateway_tags_arn(api), ())],
            "role": [(role_arn(r), TO_API_GATEWAY) for r in roles],
        }
    if resource_type == "AWS::ApiGatewayV2::Stage":
        stage = apigateway_arn(f"/apis/{API_ID}/stages/{properties['StageName']}")
        return {
            "Stages": [(apigateway_arn(f"/apis/{API_ID}/stages"), ())],
            "Stage": [(stage, ())],
            "AccessLogSettings": [(stage + "/accesslogsettings", ())],
            "Tags": [(apigateway_tags_arn(stage), ())],
        }
    if resource_type in MANAGED_STACK_TYPES:
        return {"bucket": [(BUCKET_ARN, ())]}
    monitoring = _monitoring_targets(resource_type, logical_id, properties, cfn)
    if monitoring is not None:
        return monitoring
    raise AssertionError(f"{resource_type}: add the ARNs its handlers act on to targets()")


def resource_needs(
    resource_type: str, logical_id: str, resource: dict[str, Any], cfn: dict[str, Any], handlers: tuple[str, ...]
) -> list[Need]:
    arns = targets(resource_type, logical_id, resource, cfn)
    permissions = {p for p in handler_permissions(resource_type, handlers) if p.lower() not in excluded(resource_type)}
    extras = set(EXTRA_PERMISSIONS.get(resource_type, ()))
    if resource_type == "AWS::ApiGatewayV2::Stage" and "AccessLogSettings" not in resource.get("Properties", {}):
        extras = set()
    needs = []
    for permission in sorted(permissions | extras):
        why = f"{resource_type} {logical_id}: " + ("schema" if permission in permissions else "EXTRA_PERMISSIONS")
        action, only_type = SCHEMA_NAMES_IAM_LACKS.get(permission.lower(), (permission, None))
        types = resource_types(action)
        assert types is not None, f"{resource_type} needs {permission}, unknown to IAM: exclude it or map it"
        if not types:
            needs.append(Need(action, "*", why))
            continue
        wanted = {only_type} if only_type else types & arns.keys()
        assert wanted, f"{resource_type}: which of its ARNs does {action} ({sorted(types)}) act on?"
        needs += [Need(action, arn, why, context) for t in sorted(wanted) for arn, context in arns[t]]
    return needs


# ---------------------------------------------------------------- what SAM CLI itself calls


@dataclass(frozen=True)
class SamCliCall:
    operation: str
    action: str
    resources: tuple[str, ...]
    source: str
    context: Context = ()
    # False for calls boto3's transfer manager makes, which no SAM CLI file names.
    in_sam_cli_source: bool = True


COMPANION_STACK = stack_arn(CompanionStack(STACK_NAME).stack_name)
WEB_FUNCTION_CODE_STACK = stack_arn(WebFunctionCodeBucketStack(STACK_NAME).stack_name)
ARTIFACTS = (CODE_OBJECT, TEMPLATE_OBJECT)

# Paths under samcli/. Deploy: commands/deploy/command.py -> bootstrap.manage_stack, PackageContext
# (S3Uploader), DeployContext (Deployer). Delete: commands/delete/delete_context.py.
SAM_CLI_CALLS = [
    SamCliCall(
        "cloudformation:DescribeStacks",
        "cloudformation:DescribeStacks",
        (MAIN_STACK, MANAGED_STACK, COMPANION_STACK, WEB_FUNCTION_CODE_STACK),
        "lib/deploy/deployer.py has_stack, waiters, outputs; lib/utils/managed_cloudformation_stack.py finds the"
        " artifact stack; lib/delete/cfn_utils.py can_delete_stack on the stack and its ECR companion;"
        " lib/bootstrap/web_function_code_bucket.py looks for a Web Function code stack",
    ),
    SamCliCall(
        "cloudformation:GetTemplateSummary",
        "cloudformation:GetTemplateSummary",
        (MAIN_STACK,),
        "lib/deploy/deployer.py create_changeset (UPDATE)",
    ),
    SamCliCall(
        "cloudformation:CreateChangeSet",
        "cloudformation:CreateChangeSet",
        (MAIN_STACK, TRANSFORM_ARN),
        "lib/deploy/deployer.py _create_change_set; the template's Transform is checked on its own ARN",
    ),
    SamCliCall(
        "cloudformation:DescribeChangeSet",
        "cloudformation:DescribeChangeSet",
        (MAIN_STACK,),
        "lib/deploy/deployer.py change_set_create_complete waiter and describe_change_set paginator",
    ),
    SamCliCall(
        "cloudformation:ExecuteChangeSet",
        "cloudformation:ExecuteChangeSet",
        (MAIN_STACK,),
        "lib/deploy/deployer.py execute_changeset",
    ),
    SamCliCall(
        "cloudformation:DescribeStackEvents",
        "cloudformation:DescribeStackEvents",
        (MAIN_STACK,),
        "lib/deploy/deployer.py get_last_event_time, describe_stack_events",
    ),
    SamCliCall("cloudformation:GetTemplate", "cloudformation:GetTemplate", (MAIN_STACK,), "lib/delete/cfn_utils.py"),
    SamCliCall(
        "cloudformation:ListChangeSets", "cloudformation:ListChangeSets", (MAIN_STACK,), "lib/delete/cfn_utils.py"
    ),
    SamCliCall("cloudformation:DeleteStack", "cloudformation:DeleteStack", (MAIN_STACK,), "lib/delete/cfn_utils.py"),
    SamCliCall("s3:HeadObject", "s3:GetObject", ARTIFACTS, "lib/package/s3_uploader.py file_exists"),
    SamCliCall("s3:DeleteObject", "s3:DeleteObject", ARTIFACTS, "lib/package/s3_uploader.py delete_artifact"),
    SamCliCall(
        "s3:ListObjectsV2",
        "s3:ListBucket",
        (BUCKET_ARN,),
        "lib/package/s3_uploader.py delete_prefix_artifacts",
        (("s3:prefix", f"{S3_PREFIX}/"),),
    ),
    *(
        SamCliCall(f"s3:{op}", "s3:PutObject", ARTIFACTS, "lib/package/s3_uploader.py upload", in_sam_cli_source=False)
        for op in ("PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload")
    ),
    SamCliCall(
        "s3:AbortMultipartUpload",
        "s3:AbortMultipartUpload",
        ARTIFACTS,
        "lib/package/s3_uploader.py upload: the transfer manager cleans up a failed multipart upload",
        in_sam_cli_source=False,
    ),
]

# Only when the policy lets the principal create the artifact stack. Its template carries the SAM
# transform too.
MANAGED_STACK_CREATION_CALLS = [
    SamCliCall(
        "cloudformation:CreateChangeSet",
        "cloudformation:CreateChangeSet",
        (MANAGED_STACK, TRANSFORM_ARN),
        "lib/utils/managed_cloudformation_stack.py _create_stack",
    ),
    SamCliCall("cloudformation:DescribeChangeSet", "cloudformation:DescribeChangeSet", (MANAGED_STACK,), "its waiter"),
    SamCliCall("cloudformation:ExecuteChangeSet", "cloudformation:ExecuteChangeSet", (MANAGED_STACK,), "_create_stack"),
]

# Calls in the scanned files that `make deploy` and `make delete` never make for this template.
_WEB_FUNCTION_CODE = "lib/bootstrap/web_function_code_bucket.py"
NOT_REACHED = {
    "cloudformation:CreateStack": "lib/deploy/deployer.py create_stack: sam sync without change sets",
    "cloudformation:UpdateStack": "lib/deploy/deployer.py update_stack (sam sync) and"
    " lib/utils/managed_cloudformation_stack.py update_stack (sam pipeline bootstrap)",
    "cloudformation:RollbackStack": "lib/deploy/deployer.py rollback_delete_stack: only with --on-failure DELETE",
    "cloudformation:DescribeStackResource": f"{_WEB_FUNCTION_CODE}: nested stacks, none here",
    "cloudformation:UpdateTerminationProtection": f"{_WEB_FUNCTION_CODE}: retained Web Functions, none here",
    "cloudformation:ListImports": f"{_WEB_FUNCTION_CODE}: only once a Web Function code stack exists",
    "s3:ListObjectVersions": f"{_WEB_FUNCTION_CODE}: empties a Web Function code bucket",
    "s3:DeleteObjects": f"{_WEB_FUNCTION_CODE}: empties a Web Function code bucket",
    "s3:GetObjectTagging": "lib/package/s3_uploader.py get_version_of_artifact: code signing only",
    "sts:GetCallerIdentity": "lib/bootstrap/bootstrap.py get_current_account_id; needs no permission",
}
SCANNED_FILES = [
    "lib/bootstrap/bootstrap.py",
    "lib/utils/managed_cloudformation_stack.py",
    "lib/deploy/deployer.py",
    "lib/package/s3_uploader.py",
    "commands/delete/delete_context.py",
    "lib/delete/cfn_utils.py",
    "lib/bootstrap/web_function_code_bucket.py",
]
RECEIVERS = {
    "cloudformation_client": "cloudformation",
    "self._client": "cloudformation",
    "self.s3": "s3",
    "s3_client": "s3",
    "sts_client": "sts",
}

# What devkit calls itself, before SAM CLI: make deploy's credentials check, and the stack lookup of
# make delete and make smoke (CI runs make smoke with this role).
DEVKIT_CALLS = [
    SamCliCall(
        "cloudformation:DescribeStacks",
        "cloudformation:DescribeStacks",
        (MAIN_STACK,),
        "devkit/deploy/aws.py stack_status (make delete), devkit/deploy/smoke.py stack_settings (make smoke)",
    ),
]
DEVKIT_WITHOUT_PERMISSION = {
    "sts:GetCallerIdentity": "devkit/deploy/aws.py check: STS answers it for any valid credentials",
}
DEVKIT_RECEIVERS = {"cloudformation": "cloudformation", "sts": "sts"}

# CloudFormation reads the TemplateURL SAM CLI hands it with the caller's credentials.
CLOUDFORMATION_ITSELF = [Need("s3:GetObject", TEMPLATE_OBJECT, "CloudFormation fetching TemplateURL")]


def call_needs(calls: list[SamCliCall]) -> list[Need]:
    return [Need(c.action, r, f"SAM CLI {c.operation} ({c.source})", c.context) for c in calls for r in c.resources]


def lets_principal_create_managed_stack(policy: dict[str, Any]) -> bool:
    return allows(policy, Need("cloudformation:CreateChangeSet", MANAGED_STACK, "probe"))


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def managed_template(tmp_path_factory) -> dict[str, Any]:
    """The artifact stack's template, from SAM CLI itself; apart so its config writes land in a temp dir."""
    script = "from samcli.lib.bootstrap.bootstrap import _get_stack_template\nprint(_get_stack_template())\n"
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "__SAM_CLI_APP_DIR": str(tmp_path_factory.mktemp("samcli"))}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env)
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


@pytest.fixture(scope="module")
def policy() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(POLICY_FILE.read_text())
    return loaded


def _doc_json_blocks() -> list[Any]:
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", DOC.read_text(), re.DOTALL)]


@pytest.fixture(scope="module")
def bootstrap_statements() -> list[dict[str, Any]]:
    """The doc's optional statements (the one JSON array in it) that let CI create the artifact stack."""
    (statements,) = [block for block in _doc_json_blocks() if isinstance(block, list)]
    return statements


@pytest.fixture(scope="module")
def policy_with_bootstrap(policy, bootstrap_statements) -> dict[str, Any]:
    return {**policy, "Statement": policy["Statement"] + bootstrap_statements}


def stack_needs(cfn: dict[str, Any], resource_type: str | None = None) -> list[Need]:
    return [
        need
        for logical_id, resource in cfn["Resources"].items()
        if resource_type in (None, resource["Type"])
        for need in resource_needs(resource["Type"], logical_id, resource, cfn, STACK_HANDLERS)
    ]


def managed_stack_needs(managed_template: dict[str, Any]) -> list[Need]:
    resources = managed_template["Resources"].items()
    from_schemas = [
        need
        for logical_id, resource in resources
        for need in resource_needs(resource["Type"], logical_id, resource, managed_template, MANAGED_STACK_HANDLERS)
    ]
    return from_schemas + call_needs(MANAGED_STACK_CREATION_CALLS)


def all_needs(policy: dict[str, Any], cfn: dict[str, Any], managed_template: dict[str, Any]) -> list[Need]:
    needs = stack_needs(cfn) + call_needs(SAM_CLI_CALLS + DEVKIT_CALLS) + CLOUDFORMATION_ITSELF
    if lets_principal_create_managed_stack(policy):
        needs += managed_stack_needs(managed_template)
    return needs


# ---------------------------------------------------------------- the policy covers the deploy


def test_translated_template_has_the_types_this_test_knows(cfn):
    assert sorted({r["Type"] for r in cfn["Resources"].values()}) == TRANSLATED_TYPES


def test_managed_stack_is_the_bucket_and_policy_this_test_knows(managed_template):
    kinds = {logical_id: r["Type"] for logical_id, r in managed_template["Resources"].items()}
    assert kinds == {
        MANAGED_BUCKET_LOGICAL_ID: "AWS::S3::Bucket",
        "SamCliSourceBucketBucketPolicy": "AWS::S3::BucketPolicy",
    }
    assert managed_template["Transform"] == "AWS::Serverless-2016-10-31"


@pytest.mark.parametrize("resource_type", TRANSLATED_TYPES + MANAGED_STACK_TYPES)
def test_schemas_carry_handler_permissions(resource_type):
    handlers = schema(resource_type)["handlers"]
    for handler in STACK_HANDLERS:
        assert handlers[handler]["permissions"], (resource_type, handler)


@pytest.mark.parametrize("resource_type", TRANSLATED_TYPES)
def test_policy_allows_what_cloudformation_needs_for(resource_type, cfn, policy):
    needs = stack_needs(cfn, resource_type)
    assert needs
    gaps = missing(policy, needs)
    assert not gaps, explain(gaps)


def test_policy_allows_every_call_sam_cli_makes(policy):
    gaps = missing(policy, call_needs(SAM_CLI_CALLS) + CLOUDFORMATION_ITSELF)
    assert not gaps, explain(gaps)


def test_deploys_without_guided_upload_under_the_stacks_prefix():
    # make deploy ISSUER=... (CI) runs sam deploy without --guided: the prefix must be in samconfig.toml.
    assert _SAMCONFIG["deploy"]["parameters"].get("s3_prefix") == STACK_NAME


def test_policy_cannot_create_or_reconfigure_the_shared_artifact_stack(policy):
    # Creating it takes s3:PutBucketPolicy on a bucket every SAM stack in the account shares.
    assert not lets_principal_create_managed_stack(policy)
    assert not allows(policy, Need("s3:PutBucketPolicy", BUCKET_ARN, "probe"))
    assert not allows(policy, Need("s3:PutObject", f"{BUCKET_ARN}/other-stack/5d41402abc4b2a76b9719d911017c592", "x"))


def test_doc_bootstrap_statements_let_ci_create_the_artifact_stack(policy_with_bootstrap, cfn, managed_template):
    assert lets_principal_create_managed_stack(policy_with_bootstrap)
    gaps = missing(policy_with_bootstrap, all_needs(policy_with_bootstrap, cfn, managed_template))
    assert not gaps, explain(gaps)


# ---------------------------------------------------------------- exclusions and mappings stay honest


def _is_set(properties: dict[str, Any], path: str) -> bool:
    head, _, rest = path.partition(".")
    if head not in properties:
        return False
    value = properties[head]
    if not rest:
        return True
    branches = value["Fn::If"][1:] if isinstance(value, dict) and "Fn::If" in value else [value]
    return any(isinstance(b, dict) and _is_set(b, rest) for b in branches)


def test_exclusions_cover_only_properties_the_templates_leave_unset(cfn, managed_template):
    for exclusion in EXCLUSIONS:
        template = managed_template if exclusion.resource_type in MANAGED_STACK_TYPES else cfn
        resources = [r for r in template["Resources"].values() if r["Type"] == exclusion.resource_type]
        assert resources, exclusion
        for resource, path in ((r, p) for r in resources for p in exclusion.properties):
            assert not _is_set(resource.get("Properties", {}), path), (
                f"{exclusion.resource_type} now sets {path} ({exclusion.reason}):"
                f" grant {sorted(exclusion.actions)} and drop the exclusion"
            )


def test_subscription_exclusion_names_every_property_an_update_changes():
    subscription = schema("AWS::SNS::Subscription")
    fixed = {p.rsplit("/", 1)[1] for p in subscription["createOnlyProperties"] + subscription["readOnlyProperties"]}
    assert set(SUBSCRIPTION_UPDATABLE) == subscription["properties"].keys() - fixed


def _schema_has_property(resource_type: str, path: str) -> bool:
    node: dict[str, Any] = schema(resource_type)
    for part in path.split("."):
        properties = node.get("properties", {})
        if part not in properties:
            return False
        node = properties[part]
        if "$ref" in node:
            node = schema(resource_type)["definitions"][node["$ref"].rsplit("/", 1)[1]]
    return True


def test_exclusions_name_real_schema_permissions_and_properties():
    for exclusion in EXCLUSIONS:
        handlers = STACK_HANDLERS if exclusion.resource_type in TRANSLATED_TYPES else MANAGED_STACK_HANDLERS
        listed = {p.lower() for p in handler_permissions(exclusion.resource_type, handlers)}
        assert exclusion.actions <= listed, (exclusion.resource_type, sorted(exclusion.actions - listed))
        for path in exclusion.properties:
            known = _schema_has_property(exclusion.resource_type, path)
            assert known != exclusion.property_newer_than_schema, (exclusion.resource_type, path)


def test_resource_types_added_to_the_catalogue_are_still_missing_from_it():
    for action, resource_type in RESOURCE_TYPES_CATALOGUE_LACKS.items():
        assert resource_type not in iam_resource_types()[action], f"the catalogue now lists it: drop {action}"
        # The type itself, and so its ARN format, is one the catalogue knows for the service.
        prefix = action.split(":")[0] + ":"
        assert resource_type in {t for a, types in iam_resource_types().items() if a.startswith(prefix) for t in types}


def test_schema_names_mapped_to_http_verbs_are_still_unknown_to_iam():
    for name, (action, resource_type) in SCHEMA_NAMES_IAM_LACKS.items():
        assert name not in iam_resource_types(), f"IAM now defines {name}: grant it instead of {action}"
        # HTTP APIs tag with POST /v2/tags/{arn}; the catalogue files /tags/ under REST APIs' verbs only.
        prefix = action.split(":")[0] + ":"
        assert resource_type in {t for a, types in iam_resource_types().items() if a.startswith(prefix) for t in types}


# ---------------------------------------------------------------- least privilege


def _without(policy: dict[str, Any], index: int, key: str, item: str) -> dict[str, Any]:
    trimmed = copy.deepcopy(policy)
    statement = trimmed["Statement"][index]
    remaining = [x for x in _as_list(statement[key]) if x != item]
    if remaining:
        statement[key] = remaining
    else:
        del trimmed["Statement"][index]
    return trimmed


def _assert_each_grant_is_needed(policy: dict[str, Any], indexes: range, needs: list[Need]) -> None:
    assert not missing(policy, needs)
    for index in indexes:
        statement = policy["Statement"][index]
        for key in ("Action", "Resource"):
            for item in _as_list(statement[key]):
                assert missing(_without(policy, index, key, item), needs), (
                    f"{statement['Sid']}: nothing needs {key} {item}"
                )


def test_every_action_and_resource_in_the_policy_is_needed(policy, cfn, managed_template):
    _assert_each_grant_is_needed(policy, range(len(policy["Statement"])), all_needs(policy, cfn, managed_template))


def test_every_action_and_resource_in_the_bootstrap_statements_is_needed(
    policy_with_bootstrap, policy, cfn, managed_template
):
    first = len(policy["Statement"])
    indexes = range(first, len(policy_with_bootstrap["Statement"]))
    needs = all_needs(policy_with_bootstrap, cfn, managed_template)
    _assert_each_grant_is_needed(policy_with_bootstrap, indexes, needs)


def test_resource_star_only_for_actions_without_resource_level_permissions(policy):
    starred = [s for s in policy["Statement"] if "*" in _as_list(s["Resource"])]
    assert len(starred) == 1 and _as_list(starred[0]["Resource"]) == ["*"]
    assert "NoResourceLevelPermissions" in starred[0]["Sid"]
    for action in _as_list(starred[0]["Action"]):
        assert iam_resource_types()[action.lower()] == frozenset(), f"{action} can be scoped to a resource"


def test_no_wildcard_actions_and_every_sid_is_unique(policy, bootstrap_statements):
    statements = policy["Statement"] + bootstrap_statements
    for statement in statements:
        for action in _as_list(statement["Action"]):
            assert "*" not in action and "?" not in action, (statement["Sid"], action)
            assert action.lower() in iam_resource_types(), action
    sids = [s["Sid"] for s in statements]
    assert len(set(sids)) == len(sids)


# ---------------------------------------------------------------- SAM CLI's source, read for its calls


@functools.cache
def _client(service: str) -> Any:
    # No request is ever sent: the client only maps method, waiter and paginator names to operations.
    return botocore.session.get_session().create_client(
        service, region_name=REGION, aws_access_key_id="unused", aws_secret_access_key="unused"
    )


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return base and f"{base}.{node.attr}"
    return None


def sam_cli_operations() -> set[str]:
    found = set()
    for relative in SCANNED_FILES:
        for node in ast.walk(ast.parse((SAMCLI / relative).read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            service = RECEIVERS.get(_dotted(node.func.value) or "")
            if service is None:
                continue
            client, method = _client(service), node.func.attr
            if method in ("get_waiter", "get_paginator"):
                (name,) = [a.value for a in node.args if isinstance(a, ast.Constant)]
                operation = (
                    client.get_waiter(name).config.operation
                    if method == "get_waiter"
                    else client.meta.method_to_api_mapping[name]
                )
            else:
                operation = client.meta.method_to_api_mapping[method]
            found.add(f"{service}:{operation}")
    return found


def devkit_operations() -> set[str]:
    """The AWS operations devkit/deploy calls on its clients (named after their service)."""
    found = set()
    for path in sorted((ROOT / "devkit" / "deploy").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                service = DEVKIT_RECEIVERS.get(_dotted(node.func.value) or "")
                if service is not None:
                    found.add(f"{service}:{_client(service).meta.method_to_api_mapping[node.func.attr]}")
    return found


def test_devkit_makes_no_aws_call_this_test_does_not_account_for():
    assert devkit_operations() == {c.operation for c in DEVKIT_CALLS} | DEVKIT_WITHOUT_PERMISSION.keys()


def test_policy_allows_every_call_devkit_makes(policy):
    gaps = missing(policy, call_needs(DEVKIT_CALLS))
    assert not gaps, explain(gaps)


def test_sam_cli_source_makes_no_call_this_test_does_not_account_for():
    accounted = {c.operation for c in SAM_CLI_CALLS + MANAGED_STACK_CREATION_CALLS if c.in_sam_cli_source}
    assert not accounted & NOT_REACHED.keys()
    assert sam_cli_operations() == accounted | NOT_REACHED.keys()


def test_what_makes_those_calls_unreached_still_holds(sam_template):
    kinds = {r["Type"] for r in sam_template["Resources"].values()}
    assert not kinds & {"AWS::Serverless::WebFunction", "AWS::Serverless::Application", "AWS::CloudFormation::Stack"}
    assert all(r.get("Properties", {}).get("PackageType") != "Image" for r in sam_template["Resources"].values())
    deploy = _SAMCONFIG["deploy"]["parameters"]
    assert not {"signing_profiles", "on_failure", "image_repositories", "resolve_image_repos"} & deploy.keys()


def test_deploy_needs_no_ssm_access(sam_template):
    # CloudFormation reads SSM only for SSM parameter types and {{resolve:ssm...}} references;
    # the HS256 secret's name is a plain string the function's role reads at run time.
    assert not [p for p in sam_template["Parameters"].values() if p["Type"].startswith("AWS::SSM::")]
    assert "{{resolve:" not in TEMPLATE.read_text()


# ---------------------------------------------------------------- parliament


def _parliament(document: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    # Piped on stdin: parliament refuses --file when stdin is not a terminal.
    return subprocess.run(
        [str(PARLIAMENT), "--json"], input=json.dumps(document), capture_output=True, text=True, check=False
    )


def test_parliament_finds_nothing():
    result = subprocess.run(
        [str(PARLIAMENT)], input=POLICY_FILE.read_text(), capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stdout.strip()) == (0, ""), result.stdout + result.stderr


@pytest.mark.parametrize(
    ("bad_action", "issue"),
    [("lambda:DeleteFunction", "RESOURCE_STAR"), ("lambda:DeleteFunctions", "UNKNOWN_ACTION")],
)
def test_parliament_flags_a_spoiled_copy(policy, bad_action, issue):
    spoiled = copy.deepcopy(policy)
    (starred,) = [s for s in spoiled["Statement"] if s["Resource"] == "*"]
    starred["Action"].append(bad_action)
    result = _parliament(spoiled)
    assert result.returncode == 1
    assert issue in {json.loads(line)["issue"] for line in result.stdout.splitlines()}


def test_parliament_names_the_risk_the_doc_warns_of_for_the_bootstrap_statements(policy_with_bootstrap):
    result = _parliament(policy_with_bootstrap)
    assert {json.loads(line)["issue"] for line in result.stdout.splitlines()} == {
        "RESOURCE_POLICY_PRIVILEGE_ESCALATION"
    }
    assert "PutBucketPolicy" in DOC.read_text()


def test_doc_trust_policy_pins_one_repository():
    (trust,) = [
        b for b in _doc_json_blocks() if isinstance(b, dict) and "sts:AssumeRoleWithWebIdentity" in json.dumps(b)
    ]
    (statement,) = trust["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"]["Federated"].endswith(":oidc-provider/token.actions.githubusercontent.com")
    equals = statement["Condition"]["StringEquals"]
    assert equals["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    subject = equals["token.actions.githubusercontent.com:sub"]
    assert subject.startswith("repo:") and "*" not in subject
    assert "StringLike" not in statement["Condition"]
