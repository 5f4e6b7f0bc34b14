"""The observability resources: alarms only when asked for, and everything pointing at this stack."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from devkit.template import _Resolver
from tests.support import ROOT

ALARM_TYPES = {"AWS::CloudWatch::Alarm", "AWS::SNS::Topic", "AWS::SNS::Subscription"}
TOPIC = "arn:aws:sns:us-east-1:123456789012:alerts"


def present(cfn: dict[str, Any], parameters: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The resources a deploy with ``parameters`` creates: conditions evaluated as CloudFormation would."""
    resolver = _Resolver(cfn, parameters)
    return {
        name: resource
        for name, resource in cfn["Resources"].items()
        if "Condition" not in resource or resolver.condition(resource["Condition"])
    }


def test_with_alarms_off_no_alarm_or_topic_resource_exists(cfn):
    created = present(cfn, {})
    assert not [name for name, r in created.items() if r["Type"] in ALARM_TYPES]
    # Metric filters, the dashboard and the queries cost nothing per request and always exist.
    kinds = {r["Type"] for r in created.values()}
    assert {"AWS::Logs::MetricFilter", "AWS::CloudWatch::Dashboard", "AWS::Logs::QueryDefinition"} <= kinds


@pytest.mark.parametrize(
    ("parameters", "topic_made", "action"),
    [
        ({"AlarmEmail": "ops@example.com"}, True, "AlarmTopic"),  # the resolver names a resource by its id
        ({"AlarmTopicArn": TOPIC}, False, TOPIC),
        ({"AlarmEmail": "ops@example.com", "AlarmTopicArn": TOPIC}, False, TOPIC),
    ],
)
def test_alarms_go_to_the_topic_given_or_to_one_made_for_the_email(cfn, parameters, topic_made, action):
    created = present(cfn, parameters)
    alarms = {name: r for name, r in created.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert set(alarms) == {
        "AuthorizerErrorsAlarm",
        "AuthorizerThrottlesAlarm",
        "Api5xxAlarm",
        "KeyRefreshFailingAlarm",
        "DenyRateAlarm",
    }
    assert ("AlarmTopic" in created) is topic_made and ("AlarmEmailSubscription" in created) is topic_made
    resolver = _Resolver(cfn, parameters)
    for name, alarm in alarms.items():
        assert resolver.resolve(alarm["Properties"]["AlarmActions"]) == [action], name
        assert resolver.resolve(alarm["Properties"]["OKActions"]) == [action], name


def test_the_topic_made_for_alarms_is_one_cloudwatch_can_publish_to(cfn):
    # CloudWatch alarms cannot publish to a topic under the AWS managed key alias/aws/sns: its key
    # policy cannot admit cloudwatch.amazonaws.com, so every notification would be dropped.
    topic = cfn["Resources"]["AlarmTopic"].get("Properties") or {}
    assert "KmsMasterKeyId" not in topic or "alias/aws/sns" not in json.dumps(topic["KmsMasterKeyId"])


def test_each_alarm_says_what_to_check_first_in_a_section_that_exists(cfn):
    troubleshooting = (ROOT / "docs" / "troubleshooting.md").read_text()
    anchors = {_anchor(heading) for heading in re.findall(r"^#+ (.+)$", troubleshooting, flags=re.MULTILINE)}
    for name, resource in cfn["Resources"].items():
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            link = re.search(r"docs/troubleshooting\.md#([a-z0-9-]+)", resource["Properties"]["AlarmDescription"])
            assert link is not None and link.group(1) in anchors, name


def _anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    return re.sub(r"[^a-z0-9 -]", "", heading.strip().lower()).replace(" ", "-")


def test_the_key_refresh_alarm_waits_the_periods_asked_for(cfn):
    properties = cfn["Resources"]["KeyRefreshFailingAlarm"]["Properties"]
    for periods in ("1", "3", "24"):
        resolver = _Resolver(cfn, {"AlarmEmail": "ops@example.com", "KeyRefreshAlarmPeriods": periods})
        assert resolver.resolve(properties["EvaluationPeriods"]) == periods
        assert resolver.resolve(properties["DatapointsToAlarm"]) == periods
    assert properties["Period"] == 300


def _dashboard(cfn: dict[str, Any]) -> tuple[str, set[str]]:
    text = cfn["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    return text, set(re.findall(r"\$\{([^}]+)\}", text))


def test_the_dashboard_is_json_and_every_widget_reads_what_this_stack_makes(cfn):
    text, names = _dashboard(cfn)
    assert names <= {"AWS::Region", "AWS::StackName", "HttpApi", "AuthorizerFunction", "AuthorizerLogGroup"}
    body = json.loads(re.sub(r"\$\{[^}]+\}", "X", text))
    made = {
        transform["MetricName"]
        for resource in cfn["Resources"].values()
        if resource["Type"] == "AWS::Logs::MetricFilter"
        for transform in resource["Properties"]["MetricTransformations"]
    }
    for widget in body["widgets"]:
        for metric in widget["properties"].get("metrics", []):
            first = metric[0]
            if isinstance(first, dict):  # a SEARCH of this stack's own namespace
                search = re.search(r"\{JwtApi/X,[^}]+\} MetricName=\"(\w+)\"", first["expression"])
                assert search is not None and search.group(1) in made, first
            elif first == "JwtApi/X":
                assert metric[1] in made, metric
            else:
                assert (first, metric[2], metric[3]) in {
                    ("AWS/Lambda", "FunctionName", "X"),
                    ("AWS/ApiGateway", "ApiId", "X"),
                }, metric
        if widget["type"] == "log":
            assert widget["properties"]["query"].startswith("SOURCE 'X'")


def test_the_saved_queries_read_this_stacks_log_groups(cfn):
    groups = {"ApiAccessLogGroup", "AuthorizerLogGroup"}
    queries = [r for r in cfn["Resources"].values() if r["Type"] == "AWS::Logs::QueryDefinition"]
    assert len(queries) == 3
    for query in queries:
        assert {ref["Ref"] for ref in query["Properties"]["LogGroupNames"]} <= groups
