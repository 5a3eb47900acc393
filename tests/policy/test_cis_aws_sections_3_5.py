"""CIS AWS Foundations v3.0.0 sections 3 (Logging), 4 (Monitoring) and 5 (Networking): the builtin
policies against accounts seeded in moto's server and read by the real collectors.

- A known-good account (every automated control PASS) and known-bad accounts (every automated
  control FAIL): one for logging/networking, one where a qualifying trail exists but each CIS 4.x
  alarm chain is broken in a different way (wrong pattern, no alarm, disabled actions, no
  subscriber, ...), asserting each control's reason.
- "Every region" semantics (Config, Security Hub) with a second region; CloudTrail advanced
  event selectors.
- Mutations: from the good account, change one setting, rescan, and compare finding id ->
  status: exactly the expected findings change.
- What moto cannot produce (pending SNS subscriptions, a failing Config recorder, collection
  errors) is proven with hand-built ``Resource``s, plus the filter-pattern parser on its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from support.moto import MotoServer, aws_test_env
from yamori.model.finding import Finding, Status
from yamori.model.resource import CollectionError, Resource, Snapshot
from yamori.policy import Policy, evaluate, load_policies
from yamori.policy.hooks.cis_logging import (
    BASE_EVENT,
    ROUTINE_EVENTS,
    FilterPatternError,
    cloudtrail_metric_filter_alarm,
    expand_events,
    filter_pattern_matches,
    parse_filter_pattern,
)
from yamori.policy.inventory import Inventory
from yamori.policy.summary import framework_summary
from yamori.sources.aws.collectors.cloudtrail import CloudTrailCollector
from yamori.sources.aws.collectors.cloudwatch import CloudWatchCollector
from yamori.sources.aws.collectors.config import ConfigCollector
from yamori.sources.aws.collectors.ec2 import Ec2Collector
from yamori.sources.aws.collectors.kms import KmsCollector
from yamori.sources.aws.collectors.logs import LogsCollector
from yamori.sources.aws.collectors.s3 import S3Collector
from yamori.sources.aws.collectors.securityhub import SecurityHubCollector
from yamori.sources.aws.collectors.sns import SnsCollector
from yamori.sources.aws.interface import Collector
from yamori.sources.aws.runner import AccountTarget, RateLimits, collect_snapshot
from yamori.sources.aws.session import AwsSettings, SessionFactory

ACCOUNT = "123456789012"
REGION = "us-east-1"
OTHER_REGION = "eu-west-1"
FRAMEWORK = "cis-aws-3.0"
POLICY_DIR = Path(__file__).resolve().parents[2] / "src" / "yamori" / "policy" / "builtin" / "aws"
POLICY_FILES = [
    POLICY_DIR / "cis-3.0-section3-logging.yaml",
    POLICY_DIR / "cis-3.0-section4-monitoring.yaml",
    POLICY_DIR / "cis-3.0-section5-networking.yaml",
]
POLICIES: list[Policy] = load_policies(POLICY_FILES)
BY_ID = {p.id: p for p in POLICIES}

MONITORING = [f"4.{n}" for n in range(1, 16)]
AUTOMATED = [f"3.{n}" for n in range(1, 10)] + [*MONITORING, "4.16"] + ["5.1", "5.2", "5.3", "5.4", "5.6"]
NO_LIMITS = RateLimits(rates={}, default=0)
ALL_COLLECTORS: tuple[Collector, ...] = (
    CloudTrailCollector(),
    LogsCollector(),
    CloudWatchCollector(),
    SnsCollector(),
    ConfigCollector(),
    S3Collector(),
    KmsCollector(),
    Ec2Collector(),
    SecurityHubCollector(),
)

# The benchmark's filter patterns (facts), deliberately in the varied spacing and quoting seen
# in the wild: unquoted and quoted values, no spaces, `&&` mixed with `||` without parentheses.
GOOD_PATTERNS: dict[str, list[str]] = {
    # The v3.0.0 text joins its two exclusions with || (matching nearly every event, see
    # CIS_4_1_AS_PRINTED); this is the intended form, with the exclusions and-ed.
    "4.1": [
        "{ (($.errorCode = *UnauthorizedOperation) || ($.errorCode = AccessDenied*)) && "
        "($.sourceIPAddress!=delivery.logs.amazonaws.com) && ($.eventName!=HeadBucket) }"
    ],
    "4.2": [
        '{ ($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") && '
        '($.userIdentity.type = "IAMUser") && ($.responseElements.ConsoleLogin = "Success") }'
    ],
    "4.3": [
        '{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS &&'
        ' $.eventType != "AwsServiceEvent" }'
    ],
    "4.4": [
        "{($.eventName=DeleteGroupPolicy)||($.eventName=DeleteRolePolicy)||($.eventName=DeleteUserPolicy)||"
        "($.eventName=PutGroupPolicy)||($.eventName=PutRolePolicy)||($.eventName=PutUserPolicy)||"
        "($.eventName=CreatePolicy)||($.eventName=DeletePolicy)||($.eventName=CreatePolicyVersion)||"
        "($.eventName=DeletePolicyVersion)||($.eventName=AttachRolePolicy)||($.eventName=DetachRolePolicy)||"
        "($.eventName=AttachUserPolicy)||($.eventName=DetachUserPolicy)||($.eventName=AttachGroupPolicy)||"
        "($.eventName=DetachGroupPolicy)}"
    ],
    "4.5": [
        "{ ($.eventName = CreateTrail) || ($.eventName = UpdateTrail) || ($.eventName = DeleteTrail) || "
        "($.eventName = StartLogging) || ($.eventName = StopLogging) }"
    ],
    "4.6": ['{ ($.eventName = ConsoleLogin) && ($.errorMessage = "Failed authentication") }'],
    "4.7": [
        "{($.eventSource = kms.amazonaws.com) &&"
        " (($.eventName=DisableKey)||($.eventName=ScheduleKeyDeletion)) }"
    ],
    "4.8": [
        "{ ($.eventSource = s3.amazonaws.com) &&"
        " (($.eventName = PutBucketAcl) || ($.eventName = PutBucketPolicy) || "
        "($.eventName = PutBucketCors) || ($.eventName = PutBucketLifecycle) ||"
        " ($.eventName = PutBucketReplication) || "
        "($.eventName = DeleteBucketPolicy) || ($.eventName = DeleteBucketCors) || "
        "($.eventName = DeleteBucketLifecycle) || ($.eventName = DeleteBucketReplication)) }"
    ],
    "4.9": [
        "{ ($.eventSource = config.amazonaws.com) && (($.eventName=StopConfigurationRecorder)||"
        "($.eventName=DeleteDeliveryChannel)||($.eventName=PutDeliveryChannel)||"
        "($.eventName=PutConfigurationRecorder)) }"
    ],
    "4.10": [
        "{ ($.eventName = AuthorizeSecurityGroupIngress) || ($.eventName = AuthorizeSecurityGroupEgress) || "
        "($.eventName = RevokeSecurityGroupIngress) || ($.eventName = RevokeSecurityGroupEgress) || "
        "($.eventName = CreateSecurityGroup) || ($.eventName = DeleteSecurityGroup) }"
    ],
    "4.11": [
        "{ ($.eventName = CreateNetworkAcl) ||"
        " ($.eventName = CreateNetworkAclEntry) || ($.eventName = DeleteNetworkAcl) || "
        "($.eventName = DeleteNetworkAclEntry) || ($.eventName = ReplaceNetworkAclEntry) || "
        "($.eventName = ReplaceNetworkAclAssociation) }"
    ],
    "4.12": [
        "{ ($.eventName = CreateCustomerGateway) || ($.eventName = DeleteCustomerGateway) || "
        "($.eventName = AttachInternetGateway) || ($.eventName = CreateInternetGateway) || "
        "($.eventName = DeleteInternetGateway) || ($.eventName = DetachInternetGateway) }"
    ],
    "4.13": [
        "{($.eventSource = ec2.amazonaws.com) &&"
        " ($.eventName =CreateRoute) || ($.eventName = CreateRouteTable) || "
        "($.eventName =ReplaceRoute) || ($.eventName = ReplaceRouteTableAssociation) ||"
        " ($.eventName= DeleteRouteTable) || "
        "($.eventName = DeleteRoute) || ($.eventName =DisassociateRouteTable) }"
    ],
    # Split over two filters (each with its own alarm): coverage is the union.
    "4.14": [
        "{ ($.eventName = CreateVpc) || ($.eventName = DeleteVpc) || ($.eventName = ModifyVpcAttribute) || "
        "($.eventName = AcceptVpcPeeringConnection) || ($.eventName = CreateVpcPeeringConnection) || "
        "($.eventName = DeleteVpcPeeringConnection) }",
        "{ ($.eventName = RejectVpcPeeringConnection) || ($.eventName = AttachClassicLinkVpc) || "
        "($.eventName = DetachClassicLinkVpc) || ($.eventName = DisableVpcClassicLink) || "
        "($.eventName = EnableVpcClassicLink) }",
    ],
    "4.15": [
        '{ ($.eventSource = organizations.amazonaws.com) && (($.eventName = "AcceptHandshake") || '
        '($.eventName = "AttachPolicy") || ($.eventName = "CreateAccount") ||'
        ' ($.eventName = "CreateOrganizationalUnit") || '
        '($.eventName = "CreatePolicy") || ($.eventName = "DeclineHandshake") ||'
        ' ($.eventName = "DeleteOrganization") || '
        '($.eventName = "DeleteOrganizationalUnit") ||'
        ' ($.eventName = "DeletePolicy") || ($.eventName = "DetachPolicy") || '
        '($.eventName = "DisablePolicyType") || ($.eventName = "EnablePolicyType") || '
        '($.eventName = "InviteAccountToOrganization") || ($.eventName = "LeaveOrganization") || '
        '($.eventName = "MoveAccount") || ($.eventName = "RemoveAccountFromOrganization") || '
        '($.eventName = "UpdatePolicy") || ($.eventName = "UpdateOrganizationalUnit")) }'
    ],
}


CIS_4_1_AS_PRINTED = (
    "{ ($.errorCode = *UnauthorizedOperation) || ($.errorCode = AccessDenied*) || "
    "($.sourceIPAddress!=delivery.logs.amazonaws.com) || ($.eventName!=HeadBucket) }"
)

# --- helpers ------------------------------------------------------------------------------------

Client = Callable[..., Any]


@dataclass
class Scan:
    snapshot: Snapshot
    findings: list[Finding]
    ids: dict[str, str] = field(default_factory=dict)

    def control(self, control: str) -> Status:
        summary = framework_summary(self.findings, FRAMEWORK)
        found = [c for c in summary.controls if c.control == control]
        assert found, f"no finding cites {control}"
        return found[0].status

    def of(self, policy_id: str) -> list[Finding]:
        return [f for f in self.findings if f.rule_id == policy_id]

    def one(self, policy_id: str, resource: str | None = None) -> Finding:
        found = [f for f in self.of(policy_id) if resource is None or resource in f.resource]
        assert len(found) == 1, (policy_id, resource, [(f.resource, f.status) for f in self.of(policy_id)])
        return found[0]

    def statuses(self) -> dict[str, Status]:
        return {f.id: f.status for f in self.findings}

    def inventory(self) -> Inventory:
        return Inventory(self.snapshot.resources, self.snapshot.errors)

    def resource(self, kind: str, name: str) -> Resource:
        found = [r for r in self.snapshot.resources if r.kind == kind and r.name == name]
        assert len(found) == 1, (kind, name)
        return found[0]


def policies_for(control: str) -> list[Policy]:
    return [p for p in POLICIES if control in p.compliance.get(FRAMEWORK, ())]


def scan(
    moto: MotoServer, regions: list[str] | None = None, collectors: tuple[Collector, ...] = ALL_COLLECTORS
) -> Scan:
    factory = SessionFactory(AwsSettings(endpoint_url=moto.url, region=REGION, max_attempts=1))
    snapshot = collect_snapshot(
        [AccountTarget(factory, ACCOUNT)], regions or [REGION], collectors, limits=NO_LIMITS
    )
    return Scan(snapshot, evaluate(POLICIES, snapshot.resources, errors=snapshot.errors))


@pytest.fixture
def aws(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Client:
    """A clean moto account; ``client(service, region=REGION)``."""
    aws_test_env(monkeypatch)
    moto.reset()
    return _clients(moto)


def _clients(moto: MotoServer) -> Client:
    def client(service: str, region: str = REGION) -> Any:
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=moto.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    return client


def _module_aws(moto: MotoServer) -> Iterator[Client]:
    with pytest.MonkeyPatch.context() as mp:
        aws_test_env(mp)
        moto.reset()
        yield _clients(moto)


def _topic_with_sqs(client: Client, name: str) -> str:
    sqs = client("sqs")
    queue = sqs.create_queue(QueueName=f"{name}-queue")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns = client("sns")
    topic: str = sns.create_topic(Name=name)["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)  # moto confirms at once
    return topic


def _filter_and_alarm(
    client: Client,
    group: str,
    name: str,
    pattern: str,
    topic: str | None,
    *,
    alarm: bool = True,
    namespace: str = "CISBenchmark",
    alarm_namespace: str | None = None,
    actions_enabled: bool = True,
) -> None:
    metric = name.replace("-", "").replace(".", "")
    client("logs").put_metric_filter(
        logGroupName=group,
        filterName=name,
        filterPattern=pattern,
        metricTransformations=[{"metricName": metric, "metricNamespace": namespace, "metricValue": "1"}],
    )
    if alarm:
        client("cloudwatch").put_metric_alarm(
            AlarmName=name,
            MetricName=metric,
            Namespace=alarm_namespace or namespace,
            Statistic="Sum",
            Period=300,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            ActionsEnabled=actions_enabled,
            AlarmActions=[topic] if topic else [],
        )


def _trail(
    client: Client,
    *,
    name: str = "audit",
    bucket: str = "yamori-trail-logs",
    group: str | None = "cloudtrail-audit",
    multi_region: bool = True,
    validation: bool = True,
    kms_key: str | None = None,
    logging: bool = True,
    selectors: list[dict[str, Any]] | None = None,
    advanced: list[dict[str, Any]] | None = None,
) -> None:
    params: dict[str, Any] = {
        "Name": name,
        "S3BucketName": bucket,
        "IsMultiRegionTrail": multi_region,
        "EnableLogFileValidation": validation,
    }
    if kms_key:
        params["KmsKeyId"] = kms_key
    if group:
        params["CloudWatchLogsLogGroupArn"] = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:*"
        params["CloudWatchLogsRoleArn"] = f"arn:aws:iam::{ACCOUNT}:role/cloudtrail-to-logs"
    ct = client("cloudtrail")
    ct.create_trail(**params)
    if selectors is not None:
        ct.put_event_selectors(TrailName=name, EventSelectors=selectors)
    if advanced is not None:
        ct.put_event_selectors(TrailName=name, AdvancedEventSelectors=advanced)
    if logging:
        ct.start_logging(Name=name)


ALL_EVENTS_AND_S3_DATA = [
    {
        "ReadWriteType": "All",
        "IncludeManagementEvents": True,
        "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3"]}],
    }
]
MANAGEMENT_ONLY = [{"ReadWriteType": "All", "IncludeManagementEvents": True}]


def _buckets(client: Client, *, access_logging: bool) -> None:
    s3 = client("s3")
    s3.create_bucket(Bucket="yamori-trail-logs")
    if access_logging:
        s3.create_bucket(Bucket="yamori-access-logs")
        s3.put_bucket_acl(Bucket="yamori-access-logs", ACL="log-delivery-write")
        s3.put_bucket_logging(
            Bucket="yamori-trail-logs",
            BucketLoggingStatus={
                "LoggingEnabled": {"TargetBucket": "yamori-access-logs", "TargetPrefix": "trail/"}
            },
        )


def _config(client: Client, region: str = REGION, *, all_supported: bool = True, start: bool = True) -> None:
    config = client("config", region)
    group: dict[str, Any] = (
        {"allSupported": True, "includeGlobalResourceTypes": True}
        if all_supported
        else {
            "allSupported": False,
            "includeGlobalResourceTypes": False,
            "resourceTypes": ["AWS::EC2::Instance"],
        }
    )
    config.put_configuration_recorder(
        ConfigurationRecorder={
            "name": "default",
            "roleARN": f"arn:aws:iam::{ACCOUNT}:role/config",
            "recordingGroup": group,
        }
    )
    config.put_delivery_channel(DeliveryChannel={"name": "default", "s3BucketName": "yamori-trail-logs"})
    if start:
        config.start_configuration_recorder(ConfigurationRecorderName="default")


def seed_good(client: Client) -> dict[str, str]:
    """Every automated control of sections 3-5 passes (one region)."""
    ids: dict[str, str] = {}
    _buckets(client, access_logging=True)
    kms = client("kms")
    key = kms.create_key(Description="cloudtrail")["KeyMetadata"]
    kms.enable_key_rotation(KeyId=key["KeyId"])
    ids["key"] = key["Arn"]
    client("logs").create_log_group(logGroupName="cloudtrail-audit")
    _trail(client, kms_key=key["Arn"], selectors=ALL_EVENTS_AND_S3_DATA)
    topic = _topic_with_sqs(client, "security-alerts")
    ids["topic"] = topic
    for control, patterns in GOOD_PATTERNS.items():
        for i, pattern in enumerate(patterns):
            _filter_and_alarm(client, "cloudtrail-audit", f"cis-{control}-{i}", pattern, topic)
    _config(client)
    client("securityhub").enable_security_hub()

    ec2 = client("ec2")
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]  # moto's default VPC
    ids["vpc"] = vpc
    ec2.create_flow_logs(
        ResourceIds=[vpc],
        ResourceType="VPC",
        TrafficType="REJECT",
        LogGroupName="vpc-flow",
        DeliverLogsPermissionArn=f"arn:aws:iam::{ACCOUNT}:role/flow",
    )
    default_sg = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["default"]}])[
        "SecurityGroups"
    ][0]
    ids["default_sg"] = default_sg["GroupId"]
    if default_sg["IpPermissionsEgress"]:
        ec2.revoke_security_group_egress(
            GroupId=default_sg["GroupId"], IpPermissions=default_sg["IpPermissionsEgress"]
        )
    if default_sg["IpPermissions"]:
        ec2.revoke_security_group_ingress(
            GroupId=default_sg["GroupId"], IpPermissions=default_sg["IpPermissions"]
        )
    web = ec2.create_security_group(GroupName="web", Description="https only", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=web,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
            },
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
        ],
    )
    ids["web_sg"] = web
    acl = ec2.describe_network_acls()["NetworkAcls"][0]["NetworkAclId"]  # default: allow all at 100
    ids["acl"] = acl
    for rule, port in ((50, 22), (51, 3389)):
        ec2.create_network_acl_entry(
            NetworkAclId=acl,
            RuleNumber=rule,
            Protocol="6",
            RuleAction="deny",
            Egress=False,
            CidrBlock="0.0.0.0/0",
            PortRange={"From": port, "To": port},
        )
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    ids["instance"] = ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        SubnetId=subnet,
        MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled"},
    )["Instances"][0]["InstanceId"]
    return ids


def seed_bad(client: Client) -> dict[str, str]:
    """Every automated control of sections 3-5 fails."""
    ids: dict[str, str] = {}
    _buckets(client, access_logging=False)
    kms = client("kms")
    ids["key"] = kms.create_key(Description="never rotated")["KeyMetadata"]["Arn"]
    ids["rsa_key"] = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    # Single-region, never started, no validation, no KMS, no CloudWatch Logs, no selectors.
    _trail(client, name="local", group=None, multi_region=False, validation=False, logging=False)
    _config(client, all_supported=False, start=False)
    ec2 = client("ec2")
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    open_sg = ec2.create_security_group(GroupName="open-admin", Description="bad", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=open_sg,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
            },
            {"IpProtocol": "tcp", "FromPort": 3000, "ToPort": 4000, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
            {"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
        ],
    )
    ids["open_sg"] = open_sg
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    ids["instance"] = ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        SubnetId=subnet,
        MetadataOptions={"HttpTokens": "optional", "HttpEndpoint": "enabled"},
    )["Instances"][0]["InstanceId"]
    return ids


# Each 4.x control broken in its own way, on an otherwise qualifying trail; the value is a
# fragment of the hook's reason.
BROKEN_CHAINS: dict[str, str] = {
    "4.1": "no metric filter on log group",  # pattern misses *UnauthorizedOperation
    "4.2": "no confirmed subscription",  # topic without subscribers
    "4.3": "no alarm with actions enabled",  # filter without alarm
    "4.4": "eventName=DetachGroupPolicy",  # pattern misses one event
    "4.5": "no alarm with actions enabled",  # alarm with ActionsEnabled false
    "4.6": "notifies no SNS topic",  # alarm without actions
    "4.7": "no metric filter on log group",  # filter on another log group
    "4.8": "too broad",  # "" matches every event
    "4.9": "no alarm with actions enabled",  # alarm on another namespace
    "4.10": "not a JSON filter pattern",  # a term pattern
    "4.11": "was not collected",  # alarm notifies a deleted topic
    "4.12": "no metric filter on log group",  # eventSource typo
    "4.13": "no metric filter on log group",  # && instead of ||
    "4.14": "no alarm with actions enabled",  # half of the events on a filter with no alarm
    "4.15": "no metric filter on log group",  # only one event
}


def seed_broken_monitoring(client: Client) -> dict[str, str]:
    _buckets(client, access_logging=True)
    logs = client("logs")
    logs.create_log_group(logGroupName="cloudtrail-audit")
    logs.create_log_group(logGroupName="application")
    _trail(client, selectors=MANAGEMENT_ONLY)
    topic = _topic_with_sqs(client, "security-alerts")
    silent = client("sns").create_topic(Name="nobody-listens")["TopicArn"]
    gone = client("sns").create_topic(Name="deleted-later")["TopicArn"]
    g = "cloudtrail-audit"
    p = GOOD_PATTERNS
    _filter_and_alarm(client, g, "cis-4.1", '{ $.errorCode = "AccessDenied*" }', topic)
    _filter_and_alarm(client, g, "cis-4.2", p["4.2"][0], silent)
    _filter_and_alarm(client, g, "cis-4.3", p["4.3"][0], topic, alarm=False)
    _filter_and_alarm(
        client, g, "cis-4.4", p["4.4"][0].replace("||($.eventName=DetachGroupPolicy)", ""), topic
    )
    _filter_and_alarm(client, g, "cis-4.5", p["4.5"][0], topic, actions_enabled=False)
    _filter_and_alarm(client, g, "cis-4.6", p["4.6"][0], None)
    _filter_and_alarm(client, "application", "cis-4.7", p["4.7"][0], topic)
    _filter_and_alarm(client, g, "cis-4.8", "", topic)
    _filter_and_alarm(client, g, "cis-4.9", p["4.9"][0], topic, alarm_namespace="SomethingElse")
    _filter_and_alarm(client, g, "cis-4.10", '"AuthorizeSecurityGroupIngress"', topic)
    _filter_and_alarm(client, g, "cis-4.11", p["4.11"][0], gone)
    client("sns").delete_topic(TopicArn=gone)
    _filter_and_alarm(
        client,
        g,
        "cis-4.12",
        p["4.12"][0].replace(
            "($.eventName = CreateCustomerGateway) || ",
            "($.eventSource = ec2.amazon.com) && ($.eventName = CreateCustomerGateway) || ",
        ),
        topic,
    )
    _filter_and_alarm(
        client, g, "cis-4.13", "{ ($.eventName = CreateRoute) && ($.eventName = DeleteRoute) }", topic
    )
    _filter_and_alarm(client, g, "cis-4.14-0", p["4.14"][0], topic)
    _filter_and_alarm(client, g, "cis-4.14-1", p["4.14"][1], topic, alarm=False)
    _filter_and_alarm(
        client,
        g,
        "cis-4.15",
        '{ ($.eventSource = organizations.amazonaws.com) && ($.eventName = "AcceptHandshake") }',
        topic,
    )
    return {"topic": topic}


# --- the policies load and map every control --------------------------------------------------


def test_every_automated_control_has_a_policy_and_5_5_is_manual() -> None:
    for control in AUTOMATED:
        policies = policies_for(control)
        assert policies, control
        assert all(not p.manual for p in policies), control
        for p in policies:
            assert p.remediation.text and p.remediation.cli and p.remediation.terraform, p.id
            assert p.references and all(r.startswith("https://docs.aws.amazon.com/") for r in p.references), (
                p.id
            )
            assert p.description, p.id
    [manual] = policies_for("5.5")
    assert manual.manual and "peering" in manual.audit
    assert {len(policies_for(c)) for c in ("5.1", "5.2", "5.3")} == {2}  # ports 22 and 3389


# --- known-good and known-bad accounts on moto ------------------------------------------------


@pytest.fixture(scope="module")
def good(moto: MotoServer) -> Iterator[Scan]:
    for client in _module_aws(moto):
        ids = seed_good(client)
        result = scan(moto)
        result.ids = ids
        yield result


@pytest.fixture(scope="module")
def bad(moto: MotoServer) -> Iterator[Scan]:
    for client in _module_aws(moto):
        ids = seed_bad(client)
        result = scan(moto)
        result.ids = ids
        yield result


@pytest.fixture(scope="module")
def broken(moto: MotoServer) -> Iterator[Scan]:
    for client in _module_aws(moto):
        ids = seed_broken_monitoring(client)
        result = scan(
            moto, collectors=(CloudTrailCollector(), LogsCollector(), CloudWatchCollector(), SnsCollector())
        )
        result.ids = ids
        yield result


def test_good_account_collects_cleanly(good: Scan) -> None:
    # Security Hub's GetEnabledStandards is missing from moto; no policy here reads it.
    assert good.snapshot.errors == []
    hub = good.resource("aws.securityhub.settings", REGION)
    assert set(hub.errors) <= {"EnabledStandards"}
    assert hub.attributes["Hub"]["HubArn"].endswith(":hub/default")


@pytest.mark.parametrize("control", AUTOMATED)
def test_good_account_passes(good: Scan, control: str) -> None:
    details = [
        (f.rule_id, f.resource, f.status, f.evidence.get("message"))
        for f in good.findings
        if f"{FRAMEWORK}:{control}" in f.compliance and f.status is not Status.PASS
    ]
    assert good.control(control) is Status.PASS, details


@pytest.mark.parametrize("control", AUTOMATED)
def test_bad_account_fails(bad: Scan, control: str) -> None:
    assert bad.control(control) is Status.FAIL
    # Every policy of the control fails (both ports of 5.1-5.3, not just one).
    for policy in policies_for(control):
        assert any(f.status is Status.FAIL for f in bad.of(policy.id)), policy.id


def test_bad_account_specifics(bad: Scan) -> None:
    # The RSA key has no rotation to configure: not applicable, not a failure.
    rsa = bad.one("aws-kms-cmk-rotation-enabled", bad.ids["rsa_key"])
    assert rsa.status is Status.NOT_APPLICABLE
    assert bad.one("aws-kms-cmk-rotation-enabled", bad.ids["key"]).status is Status.FAIL
    # Only the default group is judged by 5.4.
    assert (
        bad.one("aws-ec2-default-sg-restricts-all-traffic", bad.ids["open_sg"]).status
        is Status.NOT_APPLICABLE
    )
    # The FAIL message names what to look at.
    ssh = bad.one("aws-ec2-sg-no-public-ipv4-ingress-ssh", bad.ids["open_sg"])
    assert (
        ssh.evidence["message"]
        == f"security group open-admin ({bad.ids['open_sg']}) admits TCP port 22 from 0.0.0.0/0"
    )
    assert ssh.evidence["remediation"]["cli"].startswith("aws ec2 revoke-security-group-ingress")
    trail = bad.one("aws-cloudtrail-multi-region-enabled")
    assert trail.resource == f"aws.cloudtrail.trail@{ACCOUNT}"
    assert trail.evidence["failing"] == [f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/local"]
    assert bad.one("aws-ec2-nacl-no-public-ingress-ssh").evidence["details"]["rules"] == [100]


def test_manual_control_is_reported_once_per_account(good: Scan) -> None:
    [finding] = good.of("aws-vpc-peering-routes-least-access")
    assert finding.status is Status.MANUAL and finding.account == ACCOUNT
    assert "describe-vpc-peering-connections" in finding.evidence["audit"]


@pytest.mark.parametrize("control", MONITORING)
def test_broken_alarm_chains_fail_for_the_right_reason(broken: Scan, control: str) -> None:
    assert broken.control("3.1") is Status.PASS  # the trail itself qualifies
    assert broken.control(control) is Status.FAIL
    [policy] = policies_for(control)
    trail = broken.resource("aws.cloudtrail.trail", "audit")
    result = cloudtrail_metric_filter_alarm(trail, broken.inventory(), policy.hook_args)
    assert result.status is Status.FAIL
    assert BROKEN_CHAINS[control] in json.dumps([result.message, dict(result.evidence)]), (
        result.message,
        result.evidence,
    )


def test_broken_chain_evidence_shows_what_is_covered(broken: Scan) -> None:
    [policy] = policies_for("4.14")
    trail = broken.resource("aws.cloudtrail.trail", "audit")
    result = cloudtrail_metric_filter_alarm(trail, broken.inventory(), policy.hook_args)
    covered, missing = result.evidence["covered"], result.evidence["missing"]
    assert "eventSource=ec2.amazonaws.com eventName=CreateVpc" in covered
    assert covered["eventSource=ec2.amazonaws.com eventName=CreateVpc"]["filter"] == "cis-4.14-0"
    assert len(covered) == 6 and len(missing) == 5
    [policy] = policies_for("4.10")
    result = cloudtrail_metric_filter_alarm(trail, broken.inventory(), policy.hook_args)
    assert any(i.startswith("cis-4.10:") for i in result.evidence["ignored_filters"])


# --- all regions, advanced selectors ----------------------------------------------------------


def test_config_and_security_hub_in_every_region(aws: Client, moto: MotoServer) -> None:
    _buckets(aws, access_logging=False)
    _config(aws)
    aws("securityhub").enable_security_hub()
    collectors = (ConfigCollector(), SecurityHubCollector())
    first = scan(moto, [REGION, OTHER_REGION], collectors)
    assert first.control("3.3") is Status.FAIL and first.control("4.16") is Status.FAIL
    by_region = {f.region: f.status for f in first.of("aws-config-recorder-all-regions")}
    assert by_region == {REGION: Status.PASS, OTHER_REGION: Status.FAIL}
    by_region = {f.region: f.status for f in first.of("aws-securityhub-enabled")}
    assert by_region == {REGION: Status.PASS, OTHER_REGION: Status.FAIL}

    aws("s3", OTHER_REGION).create_bucket(
        Bucket="yamori-eu-config", CreateBucketConfiguration={"LocationConstraint": OTHER_REGION}
    )
    _config(aws, OTHER_REGION)
    aws("securityhub", OTHER_REGION).enable_security_hub()
    second = scan(moto, [REGION, OTHER_REGION], collectors)
    assert second.control("3.3") is Status.PASS and second.control("4.16") is Status.PASS

    # A recorder that is not recording all types fails even while recording.
    aws("config", OTHER_REGION).stop_configuration_recorder(ConfigurationRecorderName="default")
    third = scan(moto, [REGION, OTHER_REGION], collectors)
    assert {f.region: f.status for f in third.of("aws-config-recorder-all-regions")} == {
        REGION: Status.PASS,
        OTHER_REGION: Status.FAIL,
    }


def test_advanced_event_selectors(aws: Client, moto: MotoServer) -> None:
    """Management events plus S3 write-only data events, as advanced selectors."""
    _buckets(aws, access_logging=False)
    _trail(
        aws,
        group=None,
        advanced=[
            {"Name": "management", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]},
            {
                "Name": "s3 writes",
                "FieldSelectors": [
                    {"Field": "eventCategory", "Equals": ["Data"]},
                    {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
                    {"Field": "readOnly", "Equals": ["false"]},
                ],
            },
        ],
    )
    result = scan(moto, collectors=(CloudTrailCollector(),))
    trail = result.resource("aws.cloudtrail.trail", "audit")
    assert trail.attributes["EventSelectors"] == [] and len(trail.attributes["AdvancedEventSelectors"]) == 2
    assert result.control("3.1") is Status.PASS
    assert result.control("3.8") is Status.PASS
    assert result.control("3.9") is Status.FAIL


# --- mutations: one change, exactly the expected findings move --------------------------------
#
# One good account is seeded for all mutations; each test changes one setting, rescans, compares
# finding id -> status with the baseline, then undoes the change and rescans: the same findings
# must come back to PASS (so the fix direction is proven too, and the next test starts clean).

Mutation = Callable[[Client, dict[str, str]], None]


def _ssh_rule(ids: dict[str, str]) -> dict[str, Any]:
    return {
        "GroupId": ids["web_sg"],
        "IpPermissions": [
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
        ],
    }


def _nacl_ssh_deny(ids: dict[str, str]) -> dict[str, Any]:
    return {
        "NetworkAclId": ids["acl"],
        "RuleNumber": 50,
        "Protocol": "6",
        "RuleAction": "deny",
        "Egress": False,
        "CidrBlock": "0.0.0.0/0",
        "PortRange": {"From": 22, "To": 22},
    }


def _unsubscribe(client: Client, ids: dict[str, str]) -> None:
    sns = client("sns")
    for sub in sns.list_subscriptions_by_topic(TopicArn=ids["topic"])["Subscriptions"]:
        sns.unsubscribe(SubscriptionArn=sub["SubscriptionArn"])


def _resubscribe(client: Client, ids: dict[str, str]) -> None:
    queue = client("sqs").get_queue_url(QueueName="security-alerts-queue")["QueueUrl"]
    arn = client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    client("sns").subscribe(TopicArn=ids["topic"], Protocol="sqs", Endpoint=arn)


MONITORING_POLICIES = {p.id for c in MONITORING for p in policies_for(c)}
MUTATIONS: dict[str, tuple[Mutation, Mutation, set[str]]] = {
    "open-ssh-to-world": (
        lambda c, ids: c("ec2").authorize_security_group_ingress(**_ssh_rule(ids)),
        lambda c, ids: c("ec2").revoke_security_group_ingress(**_ssh_rule(ids)),
        {"aws-ec2-sg-no-public-ipv4-ingress-ssh"},
    ),
    "imds-optional": (
        lambda c, ids: c("ec2").modify_instance_metadata_options(
            InstanceId=ids["instance"], HttpTokens="optional"
        ),
        lambda c, ids: c("ec2").modify_instance_metadata_options(
            InstanceId=ids["instance"], HttpTokens="required"
        ),
        {"aws-ec2-instance-imdsv2-required"},
    ),
    "stop-trail-logging": (
        lambda c, ids: c("cloudtrail").stop_logging(Name="audit"),
        lambda c, ids: c("cloudtrail").start_logging(Name="audit"),
        {
            "aws-cloudtrail-multi-region-enabled",
            "aws-cloudtrail-s3-data-events-write",
            "aws-cloudtrail-s3-data-events-read",
        }
        | MONITORING_POLICIES,
    ),
    "delete-root-usage-filter": (
        lambda c, ids: c("logs").delete_metric_filter(
            logGroupName="cloudtrail-audit", filterName="cis-4.3-0"
        ),
        lambda c, ids: _filter_and_alarm(
            c, "cloudtrail-audit", "cis-4.3-0", GOOD_PATTERNS["4.3"][0], ids["topic"]
        ),
        {"aws-cloudwatch-alarm-root-account-usage"},
    ),
    "drop-nacl-ssh-deny": (
        lambda c, ids: c("ec2").delete_network_acl_entry(
            NetworkAclId=ids["acl"], RuleNumber=50, Egress=False
        ),
        lambda c, ids: c("ec2").create_network_acl_entry(**_nacl_ssh_deny(ids)),
        {"aws-ec2-nacl-no-public-ingress-ssh"},
    ),
    "unsubscribe-alert-topic": (_unsubscribe, _resubscribe, MONITORING_POLICIES),
    "disable-key-rotation": (
        lambda c, ids: c("kms").disable_key_rotation(KeyId=ids["key"]),
        lambda c, ids: c("kms").enable_key_rotation(KeyId=ids["key"]),
        {"aws-kms-cmk-rotation-enabled"},
    ),
}


@dataclass
class Live:
    client: Client
    ids: dict[str, str]
    baseline: Scan


@pytest.fixture(scope="module")
def live(moto: MotoServer) -> Iterator[Live]:
    for client in _module_aws(moto):
        ids = seed_good(client)
        yield Live(client, ids, scan(moto))


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_one_change_moves_exactly_the_expected_findings(live: Live, moto: MotoServer, name: str) -> None:
    mutate, undo, expected = MUTATIONS[name]
    old = live.baseline.statuses()
    assert set(old.values()) <= {Status.PASS, Status.MANUAL, Status.NOT_APPLICABLE}
    mutate(live.client, live.ids)
    try:
        after = scan(moto)
    finally:
        undo(live.client, live.ids)
    new = after.statuses()
    assert set(old) == set(new)  # same resources, same finding ids
    changed = {fid for fid in old if old[fid] is not new[fid]}
    by_id = {f.id: f for f in after.findings}
    assert sorted(by_id[fid].rule_id for fid in changed) == sorted(expected)  # one finding per policy
    assert all(new[fid] is Status.FAIL for fid in changed)
    # The undo is checked by the next mutation: its rescan must differ from the baseline only
    # by its own change.


# --- hand-built resources: what moto cannot produce -------------------------------------------


def _res(kind: str, rid: str, attrs: dict[str, Any], region: str = REGION, **kw: Any) -> Resource:
    return Resource(
        kind=kind,
        id=rid,
        name=kw.pop("name", rid.rsplit("/", 1)[-1]),
        attributes=attrs,
        account=ACCOUNT,
        region=region,
        **kw,
    )


def _status(policy_id: str, resources: list[Resource], errors: list[CollectionError] | None = None) -> Status:
    statuses = {f.status for f in evaluate([BY_ID[policy_id]], resources, errors=errors or [])}
    assert len(statuses) == 1, statuses
    return statuses.pop()


TRAIL_ARN = f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/audit"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts"


def _trail_res(**over: Any) -> Resource:
    attrs: dict[str, Any] = {
        "Name": "audit",
        "IsMultiRegionTrail": True,
        "IsLogging": True,
        "S3BucketName": "trail-bucket",
        "LogFileValidationEnabled": True,
        "CloudWatchLogsLogGroupArn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:trail:*",
        "EventSelectors": [{"ReadWriteType": "All", "IncludeManagementEvents": True, "DataResources": []}],
        "AdvancedEventSelectors": [],
    }
    attrs.update(over)
    return _res("aws.cloudtrail.trail", TRAIL_ARN, attrs, name="audit")


def _chain(subscription_arn: str = f"{TOPIC_ARN}:1234", pattern: str | None = None) -> list[Resource]:
    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:trail"
    return [
        _res(
            "aws.logs.metric_filter",
            f"{group}:metric-filter:root",
            {
                "filterName": "root",
                "logGroupName": "trail",
                "filterPattern": GOOD_PATTERNS["4.3"][0] if pattern is None else pattern,
                "metricTransformations": [
                    {"metricName": "Root", "metricNamespace": "CIS", "metricValue": "1"}
                ],
            },
            name="root",
        ),
        _res(
            "aws.cloudwatch.alarm",
            f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:root",
            {
                "AlarmName": "root",
                "MetricName": "Root",
                "Namespace": "CIS",
                "ActionsEnabled": True,
                "AlarmActions": [TOPIC_ARN],
            },
            name="root",
        ),
        _res(
            "aws.sns.topic",
            TOPIC_ARN,
            {
                "TopicArn": TOPIC_ARN,
                "Subscriptions": [
                    {"SubscriptionArn": subscription_arn, "Protocol": "email", "Endpoint": "sec@example.com"},
                ],
            },
            name="alerts",
        ),
    ]


ROOT = "aws-cloudwatch-alarm-root-account-usage"


def test_pending_subscription_does_not_count() -> None:
    assert _status(ROOT, [_trail_res(), *_chain()]) is Status.PASS
    assert _status(ROOT, [_trail_res(), *_chain("PendingConfirmation")]) is Status.FAIL


def test_monitoring_needs_a_qualifying_trail() -> None:
    chain = _chain()
    assert _status(ROOT, [_trail_res(IsMultiRegionTrail=False), *chain]) is Status.FAIL
    assert _status(ROOT, [_trail_res(IsLogging=False), *chain]) is Status.FAIL
    read_only = [{"ReadWriteType": "ReadOnly", "IncludeManagementEvents": True}]
    assert _status(ROOT, [_trail_res(EventSelectors=read_only), *chain]) is Status.FAIL
    both = [*read_only, {"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True}]
    assert _status(ROOT, [_trail_res(EventSelectors=both), *chain]) is Status.PASS
    assert _status(ROOT, [_trail_res(CloudWatchLogsLogGroupArn=None), *chain]) is Status.FAIL
    # One good trail among bad ones is enough (match: any).
    other = _res("aws.cloudtrail.trail", TRAIL_ARN + "2", {**_trail_res().attributes, "IsLogging": False})
    assert _status(ROOT, [other, _trail_res(), *chain]) is Status.PASS


def test_monitoring_collection_errors_are_error_not_fail() -> None:
    chain = _chain()
    broken_topic = _res(
        "aws.sns.topic",
        TOPIC_ARN,
        {"TopicArn": TOPIC_ARN},
        name="alerts",
        errors={"Subscriptions": "AccessDenied: sns:ListSubscriptions"},
    )
    assert _status(ROOT, [_trail_res(), chain[0], chain[1], broken_topic]) is Status.ERROR
    listing = CollectionError(
        "aws.logs.metric_filter", ACCOUNT, REGION, "logs:DescribeMetricFilters", "AccessDenied"
    )
    assert _status(ROOT, [_trail_res(), chain[1], chain[2]], [listing]) is Status.ERROR
    selectors_failed = _trail_res()
    del selectors_failed.attributes["EventSelectors"]
    selectors_failed.errors["EventSelectors"] = "AccessDenied: cloudtrail:GetEventSelectors"
    assert _status(ROOT, [selectors_failed, *chain]) is Status.ERROR
    assert _status("aws-cloudtrail-multi-region-enabled", [selectors_failed]) is Status.ERROR
    trails_failed = CollectionError(
        "aws.cloudtrail.trail", ACCOUNT, REGION, "cloudtrail:DescribeTrails", "AccessDenied"
    )
    assert _status("aws-cloudtrail-multi-region-enabled", [], [trails_failed]) is Status.ERROR
    assert _status(ROOT, [], [trails_failed]) is Status.ERROR


def test_alarm_on_metric_math_counts() -> None:
    chain = _chain()
    chain[1].attributes.pop("MetricName")
    chain[1].attributes.pop("Namespace")
    chain[1].attributes["Metrics"] = [
        {"Id": "m1", "MetricStat": {"Metric": {"MetricName": "Root", "Namespace": "CIS"}, "Stat": "Sum"}}
    ]
    assert _status(ROOT, [_trail_res(), *chain]) is Status.PASS


@pytest.mark.parametrize(
    ("selectors", "advanced", "write", "read"),
    [
        (
            [
                {
                    "ReadWriteType": "WriteOnly",
                    "IncludeManagementEvents": True,
                    "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3"]}],
                }
            ],
            [],
            True,
            False,
        ),
        (
            [
                {
                    "ReadWriteType": "ReadOnly",
                    "IncludeManagementEvents": True,
                    "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::"]}],
                }
            ],
            [],
            False,
            True,
        ),
        # Only one bucket: not "all buckets".
        (
            [
                {
                    "ReadWriteType": "All",
                    "IncludeManagementEvents": True,
                    "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::one-bucket/"]}],
                }
            ],
            [],
            False,
            False,
        ),
        (
            [],
            [
                {
                    "Name": "all s3",
                    "FieldSelectors": [
                        {"Field": "eventCategory", "Equals": ["Data"]},
                        {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
                    ],
                }
            ],
            True,
            True,
        ),
        (
            [],
            [
                {
                    "Name": "reads",
                    "FieldSelectors": [
                        {"Field": "eventCategory", "Equals": ["Data"]},
                        {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
                        {"Field": "readOnly", "Equals": ["true"]},
                    ],
                }
            ],
            False,
            True,
        ),
        (
            [],
            [
                {
                    "Name": "one bucket",
                    "FieldSelectors": [
                        {"Field": "eventCategory", "Equals": ["Data"]},
                        {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
                        {"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::one-bucket/"]},
                    ],
                }
            ],
            False,
            False,
        ),
    ],
)
def test_s3_data_event_selectors(selectors: list[Any], advanced: list[Any], write: bool, read: bool) -> None:
    trail = _trail_res(EventSelectors=selectors, AdvancedEventSelectors=advanced)
    expect = {True: Status.PASS, False: Status.FAIL}
    assert _status("aws-cloudtrail-s3-data-events-write", [trail]) is expect[write]
    assert _status("aws-cloudtrail-s3-data-events-read", [trail]) is expect[read]


def _config_res(recorders: list[Any], statuses: list[Any]) -> Resource:
    return _res(
        "aws.config.settings",
        f"arn:aws:config:{REGION}:{ACCOUNT}:settings",
        {
            "ConfigurationRecorders": recorders,
            "ConfigurationRecordersStatus": statuses,
            "DeliveryChannels": [],
        },
        name=REGION,
    )


def test_config_recorder_status_is_joined_by_name() -> None:
    good = {"name": "default", "recordingGroup": {"allSupported": True, "includeGlobalResourceTypes": True}}
    linked = {"name": "AWSConfigurationRecorderForX", "recordingGroup": {"allSupported": False}}
    ok = {"name": "default", "recording": True, "lastStatus": "Success"}
    assert _status("aws-config-recorder-all-regions", [_config_res([good], [ok])]) is Status.PASS
    failing = {**ok, "lastStatus": "Failure", "lastErrorCode": "AccessDenied"}
    assert _status("aws-config-recorder-all-regions", [_config_res([good], [failing])]) is Status.FAIL
    # Another recorder recording does not make the stopped all-types one count.
    stopped = {"name": "default", "recording": False}
    linked_on = {"name": "AWSConfigurationRecorderForX", "recording": True, "lastStatus": "Success"}
    assert (
        _status("aws-config-recorder-all-regions", [_config_res([good, linked], [stopped, linked_on])])
        is Status.FAIL
    )
    assert _status("aws-config-recorder-all-regions", [_config_res([], [])]) is Status.FAIL
    errored = _res(
        "aws.config.settings",
        "arn:x",
        {},
        errors={
            "ConfigurationRecorders": "AccessDenied: x",
            "ConfigurationRecordersStatus": "AccessDenied: x",
        },
    )
    assert _status("aws-config-recorder-all-regions", [errored]) is Status.ERROR


def test_trail_bucket_logging_join() -> None:
    trail = _trail_res()
    bucket = Resource(
        kind="aws.s3.bucket",
        id="arn:aws:s3:::trail-bucket",
        name="trail-bucket",
        account=ACCOUNT,
        region=REGION,
        attributes={"Logging": {"LoggingEnabled": None}},
    )
    policy = "aws-cloudtrail-bucket-access-logging"
    assert _status(policy, [trail, bucket]) is Status.FAIL
    assert _status(policy, [trail]) is Status.UNKNOWN  # the bucket lives in another account
    failed = CollectionError("aws.s3.bucket", ACCOUNT, "", "s3:ListBuckets", "AccessDenied")
    assert _status(policy, [trail], [failed]) is Status.ERROR
    bucket.errors["Logging"] = "AccessDenied: s3:GetBucketLogging"
    del bucket.attributes["Logging"]
    assert _status(policy, [trail, bucket]) is Status.ERROR


def test_kms_rotation_applicability() -> None:
    def key(**attrs: Any) -> Resource:
        base = {"KeyManager": "CUSTOMER", "KeyState": "Enabled", "KeyRotationEnabled": True}
        return _res("aws.kms.key", "arn:aws:kms:us-east-1:123456789012:key/k", {**base, **attrs})

    policy = "aws-kms-cmk-rotation-enabled"
    assert _status(policy, [key()]) is Status.PASS
    assert _status(policy, [key(KeyRotationEnabled=False)]) is Status.FAIL
    assert (
        _status(policy, [key(KeyRotationEnabled=None)]) is Status.NOT_APPLICABLE
    )  # asymmetric, HMAC, imported
    assert (
        _status(policy, [key(KeyState="PendingDeletion", KeyRotationEnabled=False)]) is Status.NOT_APPLICABLE
    )
    errored = key()
    del errored.attributes["KeyRotationEnabled"]
    errored.errors["KeyRotationEnabled"] = "AccessDenied: kms:GetKeyRotationStatus"
    assert _status(policy, [errored]) is Status.ERROR


def _acl(*entries: dict[str, Any]) -> Resource:
    return _res(
        "aws.ec2.network_acl",
        "arn:aws:ec2:us-east-1:123456789012:network-acl/acl-1",
        {"Entries": [{"Egress": False, **e} for e in entries]},
    )


ALLOW_ALL_V4 = {"RuleNumber": 100, "RuleAction": "allow", "Protocol": "-1", "CidrBlock": "0.0.0.0/0"}
DENY_ALL = {"RuleNumber": 32767, "RuleAction": "deny", "Protocol": "-1", "CidrBlock": "0.0.0.0/0"}


@pytest.mark.parametrize(
    ("entries", "ssh", "rdp"),
    [
        ([ALLOW_ALL_V4, DENY_ALL], Status.FAIL, Status.FAIL),
        ([DENY_ALL], Status.PASS, Status.PASS),
        (
            [
                {
                    "RuleNumber": 10,
                    "RuleAction": "allow",
                    "Protocol": "6",
                    "CidrBlock": "0.0.0.0/0",
                    "PortRange": {"From": 20, "To": 25},
                },
                DENY_ALL,
            ],
            Status.FAIL,
            Status.PASS,
        ),
        (
            [{"RuleNumber": 10, "RuleAction": "allow", "Protocol": "17", "CidrBlock": "0.0.0.0/0"}],
            Status.PASS,
            Status.PASS,
        ),
        (
            [
                {
                    "RuleNumber": 10,
                    "RuleAction": "allow",
                    "Protocol": "6",
                    "Ipv6CidrBlock": "::/0",
                    "PortRange": {"From": 3389, "To": 3389},
                }
            ],
            Status.PASS,
            Status.FAIL,
        ),
        # A deny before the allow closes the port; a deny after it does not.
        (
            [
                {
                    "RuleNumber": 50,
                    "RuleAction": "deny",
                    "Protocol": "6",
                    "CidrBlock": "0.0.0.0/0",
                    "PortRange": {"From": 22, "To": 22},
                },
                ALLOW_ALL_V4,
            ],
            Status.PASS,
            Status.FAIL,
        ),
        (
            [
                {
                    "RuleNumber": 150,
                    "RuleAction": "deny",
                    "Protocol": "6",
                    "CidrBlock": "0.0.0.0/0",
                    "PortRange": {"From": 22, "To": 22},
                },
                ALLOW_ALL_V4,
            ],
            Status.FAIL,
            Status.FAIL,
        ),
        # An allow from a private range is not "from the internet"; egress entries do not count.
        (
            [{"RuleNumber": 10, "RuleAction": "allow", "Protocol": "-1", "CidrBlock": "10.0.0.0/8"}],
            Status.PASS,
            Status.PASS,
        ),
    ],
)
def test_nacl_rule_order(entries: list[dict[str, Any]], ssh: Status, rdp: Status) -> None:
    assert _status("aws-ec2-nacl-no-public-ingress-ssh", [_acl(*entries)]) is ssh
    assert _status("aws-ec2-nacl-no-public-ingress-rdp", [_acl(*entries)]) is rdp
    egress_only = _acl()
    egress_only.attributes["Entries"] = [{**e, "Egress": True} for e in entries]
    assert _status("aws-ec2-nacl-no-public-ingress-ssh", [egress_only]) is Status.PASS


@pytest.mark.parametrize(
    ("permission", "v4_ssh", "v6_rdp"),
    [
        (
            {"IpProtocol": "tcp", "FromPort": 0, "ToPort": 65535, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
            True,
            False,
        ),
        (
            {"IpProtocol": "6", "FromPort": 3389, "ToPort": 3389, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
            False,
            True,
        ),
        (
            {"IpProtocol": "udp", "FromPort": 0, "ToPort": 65535, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
            False,
            False,
        ),
        (
            {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
            True,
            True,
        ),
        (
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "203.0.113.0/24"}]},
            False,
            False,
        ),
    ],
)
def test_security_group_port_ranges(permission: dict[str, Any], v4_ssh: bool, v6_rdp: bool) -> None:
    sg = _res(
        "aws.ec2.security_group",
        "arn:aws:ec2:us-east-1:123456789012:security-group/sg-1",
        {"GroupId": "sg-1", "GroupName": "app", "IpPermissions": [permission], "IpPermissionsEgress": []},
    )
    fail = {True: Status.FAIL, False: Status.PASS}
    assert _status("aws-ec2-sg-no-public-ipv4-ingress-ssh", [sg]) is fail[v4_ssh]
    assert _status("aws-ec2-sg-no-public-ipv6-ingress-rdp", [sg]) is fail[v6_rdp]


def test_imds_endpoint_disabled_passes() -> None:
    def instance(**options: str) -> Resource:
        return _res(
            "aws.ec2.instance",
            "arn:aws:ec2:us-east-1:123456789012:instance/i-1",
            {"InstanceId": "i-1", "State": {"Name": "running"}, "MetadataOptions": options},
        )

    policy = "aws-ec2-instance-imdsv2-required"
    assert _status(policy, [instance(HttpTokens="optional", HttpEndpoint="disabled")]) is Status.PASS
    assert _status(policy, [instance(HttpTokens="optional", HttpEndpoint="enabled")]) is Status.FAIL
    terminated = instance(HttpTokens="optional", HttpEndpoint="enabled")
    terminated.attributes["State"] = {"Name": "terminated"}
    assert _status(policy, [terminated]) is Status.NOT_APPLICABLE


def test_security_hub_and_flow_logs_by_hand() -> None:
    hub = _res(
        "aws.securityhub.settings", "arn:aws:securityhub:us-east-1:123456789012:settings", {"Hub": None}
    )
    assert _status("aws-securityhub-enabled", [hub]) is Status.FAIL
    hub.errors["Hub"] = "AccessDeniedException: securityhub:DescribeHub"
    del hub.attributes["Hub"]
    assert _status("aws-securityhub-enabled", [hub]) is Status.ERROR
    vpc = _res(
        "aws.ec2.vpc",
        "arn:aws:ec2:us-east-1:123456789012:vpc/vpc-1",
        {"FlowLogs": [{"FlowLogStatus": "ACTIVE", "TrafficType": "ACCEPT"}]},
    )
    assert _status("aws-vpc-flow-logs-enabled", [vpc]) is Status.FAIL  # accepted traffic only


# --- the filter pattern language ------------------------------------------------------------


def _event(**fields: Any) -> dict[str, Any]:
    [(_, event)] = expand_events([fields])
    return event


@pytest.mark.parametrize(
    ("pattern", "fields", "matches"),
    [
        ('{ $.eventName = "CreateTrail" }', {"eventName": "CreateTrail"}, True),
        ("{$.eventName=CreateTrail}", {"eventName": "CreateTrail"}, True),
        ("{ $.eventName = CreateTrail }", {"eventName": "UpdateTrail"}, False),
        ('{ $.errorCode = "*UnauthorizedOperation" }', {"errorCode": "Client.UnauthorizedOperation"}, True),
        ("{ $.errorCode = AccessDenied* }", {"errorCode": "AccessDeniedException"}, True),
        ("{ $.errorCode = AccessDenied* }", {"eventName": "x"}, False),  # absent field
        ('{ $.additionalEventData.MFAUsed != "Yes" }', {"additionalEventData.MFAUsed": "No"}, True),
        ('{ $.additionalEventData.MFAUsed != "Yes" }', {"additionalEventData.MFAUsed": "Yes"}, False),
        ("{ $.userIdentity.invokedBy NOT EXISTS }", {"eventName": "x"}, True),
        ("{ $.userIdentity.invokedBy EXISTS }", {"userIdentity.invokedBy": "s3.amazonaws.com"}, True),
        ("{ ($.a = 1) && ($.b = 2) || ($.c = 3) }", {"c": "3"}, True),  # && binds tighter
        ("{ ($.a = 1) && (($.b = 2) || ($.c = 3)) }", {"c": "3"}, False),
        ("{ $.count > 10 }", {"count": 11}, True),
        ("{ $.count >= 10 }", {"count": 9}, False),
        ("{ $.flag IS TRUE }", {"flag": True}, True),
        ("{ $.flag IS FALSE }", {"flag": True}, False),
        ("{ $.thing IS NULL }", {"thing": None}, True),
        ("{ $.eventName = %^Create(Trail|Route)$% }", {"eventName": "CreateRoute"}, True),
        ("{ $.resources[0].type = AWS::S3::Bucket }", {"resources": [[{"type": "AWS::S3::Bucket"}]]}, True),
        ('{ $.eventName = "Say \\"hi\\"" }', {"eventName": 'Say "hi"'}, True),
        ("", {"eventName": "anything"}, True),
    ],
)
def test_filter_pattern_semantics(pattern: str, fields: dict[str, Any], matches: bool) -> None:
    assert filter_pattern_matches(pattern, _event(**fields)) is matches


@pytest.mark.parametrize(
    "pattern",
    [
        '"ERROR"',
        "[ip, user, ...]",
        "{ $.a = }",
        "{ ($.a = 1 }",
        "{ $.a = 1 ) }",
        "{ $.a LIKE 1 }",
        "{ a = 1 }",
        "{ $.n > many }",
        "{ $.a = %(x+)+% }",
    ],
)
def test_unreadable_patterns_are_rejected(pattern: str) -> None:
    with pytest.raises(FilterPatternError):
        parse_filter_pattern(pattern)


def test_sample_events_expand_and_the_unrelated_event_is_routine() -> None:
    events = expand_events(
        [
            {
                "eventSource": "kms.amazonaws.com",
                "eventName": ["DisableKey", "ScheduleKeyDeletion"],
                "userIdentity.type": "Root",
            }
        ]
    )
    assert [label for label, _ in events] == [
        "eventSource=kms.amazonaws.com eventName=DisableKey userIdentity.type=Root",
        "eventSource=kms.amazonaws.com eventName=ScheduleKeyDeletion userIdentity.type=Root",
    ]
    assert events[0][1]["userIdentity"]["userName"] == "alice"  # merged into the base event
    assert BASE_EVENT["userIdentity"]["type"] == "IAMUser"  # not mutated
    with pytest.raises(ValueError, match="non-empty"):
        expand_events([])
    # Every benchmark pattern ignores routine traffic, except 4.1 as printed in v3.0.0.
    for patterns in GOOD_PATTERNS.values():
        for pattern in patterns:
            assert not any(filter_pattern_matches(pattern, e) for e in ROUTINE_EVENTS), pattern
    assert filter_pattern_matches(CIS_4_1_AS_PRINTED, ROUTINE_EVENTS[1])


def test_match_everything_filters_do_not_cover_other_controls() -> None:
    """A filter that fires on every call would otherwise satisfy all fifteen controls at once."""
    for pattern in ("", "{ $.eventName = * }", CIS_4_1_AS_PRINTED):
        assert _status(ROOT, [_trail_res(), *_chain(pattern=pattern)]) is Status.FAIL, pattern


@pytest.mark.parametrize("control", MONITORING)
def test_the_remediation_pattern_satisfies_its_own_control(control: str) -> None:
    [policy] = policies_for(control)
    pattern = policy.remediation.cli.split("--filter-pattern '", 1)[1].split("'", 1)[0]
    assert _status(policy.id, [_trail_res(), *_chain(pattern=pattern)]) is Status.PASS, pattern
    # ... and the Terraform snippet carries the same pattern.
    assert json.dumps(pattern) in policy.remediation.terraform
