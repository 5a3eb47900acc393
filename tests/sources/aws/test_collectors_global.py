"""The account-wide and logging collectors (IAM, S3, Organizations, CloudTrail, Logs, CloudWatch,
SNS, Config) against moto's server over HTTP: a known-good and a known-bad case of what the CIS
AWS Foundations policies read, the "not configured" answers as None, failures as errors, and the
API calls each collection costs."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from support.moto import MotoServer, aws_test_env
from support.registry import free_port
from yamori.model.resource import Resource, Snapshot
from yamori.sources.aws.collectors.cloudtrail import CloudTrailCollector
from yamori.sources.aws.collectors.cloudwatch import CloudWatchCollector
from yamori.sources.aws.collectors.config import ConfigCollector
from yamori.sources.aws.collectors.iam import IamCollector
from yamori.sources.aws.collectors.logs import LogsCollector
from yamori.sources.aws.collectors.organizations import OrganizationsCollector
from yamori.sources.aws.collectors.s3 import S3Collector, bucket_region, strip_account_host_prefix
from yamori.sources.aws.collectors.sns import SnsCollector
from yamori.sources.aws.interface import Collector
from yamori.sources.aws.runner import AccountTarget, RateLimits, RunContext, collect_snapshot
from yamori.sources.aws.session import AwsSettings, SessionFactory

ACCOUNT = "123456789012"
REGIONS = ["us-east-1", "eu-west-1"]
ADMIN_DOC = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
TRUST_DOC = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
    ],
}


@pytest.fixture
def aws(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """A clean moto account; returns ``client(service, region="us-east-1")``."""
    aws_test_env(monkeypatch)
    moto.reset()

    def client(service: str, region: str = "us-east-1") -> Any:
        made = boto3.client(service, region_name=region, endpoint_url=moto.url)
        if service == "s3control":
            strip_account_host_prefix(made)  # the collector's own fix, also needed to seed
        return made

    return client


def _page_cost() -> int:
    """Calls the runner counts for a one-page listing (1; 2 while ``RunContext.paginate`` also
    counts the end-of-pages probe), so call-count assertions hold either way."""

    class Client:
        def get_paginator(self, _: str) -> Any:
            return self

        def paginate(self, **_: Any) -> list[dict[str, Any]]:
            return [{"Items": [1]}]

    class Factory:
        def client(self, *_: Any) -> Client:
            return Client()

    calls: Counter[str] = Counter()
    ctx = RunContext(Factory(), ACCOUNT, "us-east-1", RateLimits(default=0), calls, [], threading.Lock())  # type: ignore[arg-type]
    ctx.paginate("svc", "list_items", "Items")
    return calls["svc:ListItems"]


PAGE = _page_cost()
NO_LIMITS = RateLimits(rates={}, default=0)


def collect(moto: MotoServer, *collectors: Collector, factory: SessionFactory | None = None) -> Snapshot:
    factory = factory or SessionFactory(AwsSettings(endpoint_url=moto.url, region="us-east-1"))
    # No client-side rate limit against moto (it would only make the tests slow).
    return collect_snapshot([AccountTarget(factory, ACCOUNT)], REGIONS, collectors, limits=NO_LIMITS)


class Calls(dict[str, int]):
    """API call counts looked up case-insensitively: the runner spells ``list_mfa_devices``
    ``ListMfaDevices``, AWS ``ListMFADevices``. A call never made counts 0."""

    def __getitem__(self, key: str) -> int:
        return super().get(key.lower(), 0)

    def __contains__(self, key: object) -> bool:
        return super().__contains__(str(key).lower())


def api_calls(snapshot: Snapshot) -> Calls:
    calls = Calls()
    for name, count in snapshot.api_calls.items():
        calls[name.lower()] = calls[name] + count
    return calls


def by_id(snapshot: Snapshot, kind: str) -> dict[str, Resource]:
    return {r.id: r for r in snapshot.resources if r.kind == kind}


def one(snapshot: Snapshot, kind: str, name: str) -> Resource:
    found = [r for r in snapshot.resources if r.kind == kind and r.name == name]
    assert len(found) == 1, (kind, name, [r.name for r in snapshot.resources if r.kind == kind])
    return found[0]


# --- IAM -------------------------------------------------------------------------------------


def seed_iam(client: Callable[..., Any]) -> None:
    iam = client("iam")
    iam.update_account_password_policy(MinimumPasswordLength=14, PasswordReusePrevention=24)
    iam.create_account_alias(AccountAlias="yamori-test")
    custom = iam.create_policy(PolicyName="full-admin", PolicyDocument=json.dumps(ADMIN_DOC))["Policy"]
    iam.create_policy(PolicyName="unused", PolicyDocument=json.dumps(ADMIN_DOC))
    iam.create_group(GroupName="admins")
    iam.attach_group_policy(GroupName="admins", PolicyArn=custom["Arn"])
    iam.put_group_policy(GroupName="admins", PolicyName="inline", PolicyDocument=json.dumps(ADMIN_DOC))

    # alice: console password with MFA, in a group, one used and rotated key.
    iam.create_user(UserName="alice", Tags=[{"Key": "team", "Value": "sec"}])
    iam.create_login_profile(UserName="alice", Password="Secret-Passw0rd!")
    mfa = iam.create_virtual_mfa_device(VirtualMFADeviceName="alice")["VirtualMFADevice"]
    iam.enable_mfa_device(
        UserName="alice",
        SerialNumber=mfa["SerialNumber"],
        AuthenticationCode1="123456",
        AuthenticationCode2="654321",
    )
    iam.add_user_to_group(UserName="alice", GroupName="admins")
    iam.create_access_key(UserName="alice")

    # bob: console password without MFA, an unused key, admin attached directly, inline policy.
    iam.create_user(UserName="bob")
    iam.create_login_profile(UserName="bob", Password="Secret-Passw0rd!")
    iam.create_access_key(UserName="bob")
    iam.attach_user_policy(UserName="bob", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    iam.put_user_policy(UserName="bob", PolicyName="inline", PolicyDocument=json.dumps(ADMIN_DOC))

    # carol: API only (no login profile).
    iam.create_user(UserName="carol")

    iam.create_role(RoleName="support", AssumeRolePolicyDocument=json.dumps(TRUST_DOC))
    iam.attach_role_policy(RoleName="support", PolicyArn="arn:aws:iam::aws:policy/AWSSupportAccess")
    iam.put_role_policy(RoleName="support", PolicyName="inline", PolicyDocument=json.dumps(ADMIN_DOC))
    iam.upload_server_certificate(
        ServerCertificateName="old-cert",
        CertificateBody=CERT_PEM,
        PrivateKey="-----BEGIN RSA PRIVATE KEY-----",
    )


def test_iam_users_groups_roles_policies_and_account(aws: Callable[..., Any], moto: MotoServer) -> None:
    seed_iam(aws)
    snapshot = collect(moto, IamCollector())
    assert snapshot.errors == []

    alice = one(snapshot, "aws.iam.user", "alice")
    assert alice.id == f"arn:aws:iam::{ACCOUNT}:user/alice"
    assert alice.region == "" and alice.account == ACCOUNT
    assert alice.tags == {"team": "sec"}
    assert alice.attributes["LoginProfile"]["UserName"] == "alice"
    assert alice.attributes["LoginProfile"]["CreateDate"].endswith("Z")
    assert len(alice.attributes["MFADevices"]) == 1
    assert alice.attributes["GroupList"] == ["admins"]
    assert alice.attributes["CredentialReport"]["mfa_active"] is True
    assert alice.attributes["CredentialReport"]["password_enabled"] is True
    assert "errors" not in alice.attributes and alice.errors == {}

    bob = one(snapshot, "aws.iam.user", "bob")
    assert bob.attributes["MFADevices"] == []
    assert bob.attributes["CredentialReport"]["mfa_active"] is False
    [key] = bob.attributes["AccessKeys"]
    assert key["Status"] == "Active" and key["CreateDate"].endswith("Z")
    assert "LastUsedDate" not in key["AccessKeyLastUsed"]  # never used
    assert [p["PolicyName"] for p in bob.attributes["AttachedManagedPolicies"]] == ["AdministratorAccess"]
    assert bob.attributes["UserPolicyList"][0]["PolicyDocument"] == ADMIN_DOC  # parsed, not a string

    carol = one(snapshot, "aws.iam.user", "carol")
    assert carol.attributes["LoginProfile"] is None  # NoSuchEntity: no console password
    assert carol.attributes["AccessKeys"] == []
    assert carol.attributes["CredentialReport"]["password_enabled"] is False

    group = one(snapshot, "aws.iam.group", "admins")
    assert group.attributes["GroupPolicyList"][0]["PolicyDocument"] == ADMIN_DOC
    assert [p["PolicyName"] for p in group.attributes["AttachedManagedPolicies"]] == ["full-admin"]

    role = one(snapshot, "aws.iam.role", "support")
    assert role.attributes["AssumeRolePolicyDocument"] == TRUST_DOC
    assert role.attributes["RolePolicyList"][0]["PolicyDocument"] == ADMIN_DOC

    policies = {r.name: r for r in snapshot.resources if r.kind == "aws.iam.policy"}
    # Customer-managed (attached or not) and only the AWS-managed ones attached to something.
    assert set(policies) == {"full-admin", "unused", "AdministratorAccess", "AWSSupportAccess"}
    admin = policies["full-admin"]
    assert admin.attributes["AwsManaged"] is False
    assert admin.attributes["PolicyVersion"]["Document"] == ADMIN_DOC
    assert [g["GroupName"] for g in admin.attributes["PolicyGroups"]] == ["admins"]
    assert policies["unused"].attributes["PolicyUsers"] == []
    assert policies["AdministratorAccess"].attributes["AwsManaged"] is True
    assert policies["AdministratorAccess"].attributes["PolicyVersion"]["Document"]["Statement"]
    assert [u["UserName"] for u in policies["AdministratorAccess"].attributes["PolicyUsers"]] == ["bob"]

    [cert] = by_id(snapshot, "aws.iam.server_certificate").values()
    assert cert.name == "old-cert" and cert.attributes["Expiration"].endswith("Z")

    account = by_id(snapshot, "aws.account")[f"arn:aws:iam::{ACCOUNT}:root"]
    a = account.attributes
    assert account.name == "yamori-test" and a["AccountAliases"] == ["yamori-test"]
    assert a["PasswordPolicy"]["MinimumPasswordLength"] == 14
    assert a["PasswordPolicy"]["PasswordReusePrevention"] == 24
    assert a["AccountSummary"]["Users"] == 3
    # moto's credential report has no <root_account> row (AWS's always has): an error, not None.
    assert "RootCredentialReport" not in a
    assert account.errors["RootCredentialReport"].startswith("MissingReportRow:")
    assert a["CredentialReportGeneratedTime"].endswith("Z")
    assert [r["RoleName"] for r in a["SupportAccessEntities"]["PolicyRoles"]] == ["support"]
    assert a["SAMLProviders"] == []
    assert len(a["VirtualMFADevices"]) == 1
    # moto implements account:GetAlternateContact; nothing registered is None, not an error.
    assert a["AlternateContacts"] == {"SECURITY": None}

    calls = api_calls(snapshot)
    assert calls["iam:GetAccountAuthorizationDetails"] == 3 * PAGE  # users, groups, roles
    assert calls["iam:GetLoginProfile"] == 3
    assert calls["iam:ListMFADevices"] == 3 * PAGE
    assert calls["iam:GetAccessKeyLastUsed"] == 2  # one per key
    assert calls["iam:GetPolicyVersion"] == 4
    assert calls["iam:ListEntitiesForPolicy"] == 3  # not for the unattached policy
    assert calls["iam:GetCredentialReport"] == 1
    assert calls["account:GetAlternateContact"] == 1
    assert "iam:ListUsers" not in calls


# --- S3 --------------------------------------------------------------------------------------


def test_s3_buckets_in_their_regions_and_account_block(aws: Callable[..., Any], moto: MotoServer) -> None:
    s3 = aws("s3")
    s3.create_bucket(Bucket="logs-bucket")
    s3.put_bucket_acl(Bucket="logs-bucket", ACL="log-delivery-write")
    s3.create_bucket(Bucket="good-bucket")
    s3.put_public_access_block(
        Bucket="good-bucket",
        PublicAccessBlockConfiguration={k: True for k in PAB_KEYS},
    )
    s3.put_bucket_encryption(
        Bucket="good-bucket",
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
        },
    )
    s3.put_bucket_versioning(Bucket="good-bucket", VersioningConfiguration={"Status": "Enabled"})
    deny_http = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": ["arn:aws:s3:::good-bucket", "arn:aws:s3:::good-bucket/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }
    s3.put_bucket_policy(Bucket="good-bucket", Policy=json.dumps(deny_http))
    s3.put_bucket_logging(
        Bucket="good-bucket",
        BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": "logs-bucket", "TargetPrefix": "good/"}},
    )
    s3.put_bucket_tagging(Bucket="good-bucket", Tagging={"TagSet": [{"Key": "env", "Value": "prod"}]})
    aws("s3", "eu-west-1").create_bucket(
        Bucket="bad-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    aws("s3control").put_public_access_block(
        AccountId=ACCOUNT, PublicAccessBlockConfiguration={k: True for k in PAB_KEYS}
    )

    factory = SessionFactory(AwsSettings(endpoint_url=moto.url, region="us-east-1"))
    snapshot = collect(moto, S3Collector(), factory=factory)
    assert snapshot.errors == []
    # bad-bucket's configuration was read with an eu-west-1 client, not through redirects.
    assert ("s3", "eu-west-1") in factory._clients
    buckets = by_id(snapshot, "aws.s3.bucket")
    assert set(buckets) == {"arn:aws:s3:::good-bucket", "arn:aws:s3:::bad-bucket", "arn:aws:s3:::logs-bucket"}

    good = buckets["arn:aws:s3:::good-bucket"]
    g = good.attributes
    assert good.region == "us-east-1" and g["BucketRegion"] == "us-east-1"
    assert good.tags == {"env": "prod"}
    assert g["PublicAccessBlockConfiguration"] == {k: True for k in PAB_KEYS}
    rule = g["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert g["Versioning"]["Status"] == "Enabled"
    assert g["Versioning"]["MFADelete"] in (None, "Disabled")
    assert g["Policy"] == deny_http  # parsed JSON
    assert g["Logging"]["LoggingEnabled"]["TargetBucket"] == "logs-bucket"
    assert g["Acl"]["Owner"]["ID"] and g["Acl"]["Grants"]
    assert g["CreationDate"].endswith("Z")
    assert good.errors == {}

    bad = buckets["arn:aws:s3:::bad-bucket"]
    b = bad.attributes
    assert bad.region == "eu-west-1" and b["BucketRegion"] == "eu-west-1"
    assert b["PublicAccessBlockConfiguration"] is None  # NoSuchPublicAccessBlockConfiguration
    assert b["Policy"] is None  # NoSuchBucketPolicy
    assert b["Versioning"] == {"Status": None, "MFADelete": None}  # never enabled
    assert b["Logging"] == {"LoggingEnabled": None}
    assert bad.tags == {} and bad.errors == {}

    [settings] = by_id(snapshot, "aws.s3.account_settings").values()
    assert settings.id == f"arn:aws:s3::{ACCOUNT}:account-settings"
    assert settings.attributes["PublicAccessBlockConfiguration"] == {k: True for k in PAB_KEYS}

    calls = api_calls(snapshot)
    assert calls["s3:ListBuckets"] == PAGE
    for per_bucket in ("GetBucketPolicy", "GetBucketAcl", "GetPublicAccessBlock", "GetBucketEncryption"):
        assert calls[f"s3:{per_bucket}"] == 3, per_bucket
    assert calls["s3:GetBucketLocation"] <= 3
    assert calls["s3control:GetPublicAccessBlock"] == 1


def test_bucket_region_from_location_constraint() -> None:
    assert bucket_region(None) == "us-east-1"
    assert bucket_region("") == "us-east-1"
    assert bucket_region("EU") == "eu-west-1"
    assert bucket_region("ap-south-1") == "ap-south-1"


# --- an empty account, then Organizations ----------------------------------------------------


def test_empty_account_answers_none_then_organization(aws: Callable[..., Any], moto: MotoServer) -> None:
    """Nothing configured is an answer (None / empty), not an error; Organizations not in use
    yields no resource and no error."""
    snapshot = collect(moto, IamCollector(), S3Collector(), OrganizationsCollector())
    assert snapshot.errors == []
    account = by_id(snapshot, "aws.account")[f"arn:aws:iam::{ACCOUNT}:root"]
    assert account.attributes["PasswordPolicy"] is None  # NoSuchEntity
    assert account.attributes["SupportAccessEntities"] == {
        "PolicyGroups": [],
        "PolicyUsers": [],
        "PolicyRoles": [],
    }
    assert set(account.errors) == {"RootCredentialReport"}  # moto's report has no root row
    assert by_id(snapshot, "aws.iam.user") == {}
    [settings] = by_id(snapshot, "aws.s3.account_settings").values()
    assert settings.attributes["PublicAccessBlockConfiguration"] is None
    assert settings.errors == {}
    assert by_id(snapshot, "aws.s3.bucket") == {}
    assert [r for r in snapshot.resources if r.kind.startswith("aws.organizations.")] == []

    aws("organizations").create_organization(FeatureSet="ALL")
    snapshot = collect(moto, OrganizationsCollector())
    [org] = by_id(snapshot, "aws.organizations.organization").values()
    assert org.attributes["FeatureSet"] == "ALL"
    assert org.attributes["MasterAccountId"] == ACCOUNT
    accounts = by_id(snapshot, "aws.organizations.account")
    assert any(a.attributes["Id"] == ACCOUNT for a in accounts.values())
    assert snapshot.errors == []


# --- CloudTrail, Logs, CloudWatch, SNS, Config -----------------------------------------------


def seed_logging(client: Callable[..., Any]) -> dict[str, str]:
    s3 = client("s3")
    s3.create_bucket(Bucket="trail-bucket")
    logs = client("logs")
    logs.create_log_group(logGroupName="trail-logs")
    group_arn = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:trail-logs:*"
    key = client("kms").create_key()["KeyMetadata"]["Arn"]
    ct = client("cloudtrail")
    ct.create_trail(
        Name="main",
        S3BucketName="trail-bucket",
        IsMultiRegionTrail=True,
        EnableLogFileValidation=True,
        KmsKeyId=key,
        CloudWatchLogsLogGroupArn=group_arn,
        CloudWatchLogsRoleArn=f"arn:aws:iam::{ACCOUNT}:role/trail",
    )
    ct.start_logging(Name="main")
    ct.put_event_selectors(
        TrailName="main",
        EventSelectors=[
            {
                "ReadWriteType": "All",
                "IncludeManagementEvents": True,
                "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3"]}],
            }
        ],
    )
    client("s3", "eu-west-1").create_bucket(
        Bucket="eu-trail-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    client("cloudtrail", "eu-west-1").create_trail(Name="regional", S3BucketName="eu-trail-bucket")

    logs.put_metric_filter(
        logGroupName="trail-logs",
        filterName="root-usage",
        filterPattern='{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS }',
        metricTransformations=[{"metricName": "RootUsage", "metricNamespace": "CIS", "metricValue": "1"}],
    )
    sns = client("sns")
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="sec@example.com")
    sns.create_topic(Name="quiet")
    client("cloudwatch").put_metric_alarm(
        AlarmName="root-usage",
        MetricName="RootUsage",
        Namespace="CIS",
        Statistic="Sum",
        Period=300,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        AlarmActions=[topic],
    )

    config = client("config")
    config.put_configuration_recorder(
        ConfigurationRecorder={
            "name": "default",
            "roleARN": f"arn:aws:iam::{ACCOUNT}:role/config",
            "recordingGroup": {"allSupported": True, "includeGlobalResourceTypes": True},
        }
    )
    config.put_delivery_channel(DeliveryChannel={"name": "default", "s3BucketName": "trail-bucket"})
    config.start_configuration_recorder(ConfigurationRecorderName="default")
    return {"topic": topic, "key": key}


def test_logging_and_monitoring_services(aws: Callable[..., Any], moto: MotoServer) -> None:
    seeded = seed_logging(aws)
    snapshot = collect(
        moto, CloudTrailCollector(), LogsCollector(), CloudWatchCollector(), SnsCollector(), ConfigCollector()
    )
    assert snapshot.errors == []

    trails = by_id(snapshot, "aws.cloudtrail.trail")
    # Each trail once, in its home region (no shadow copy of the multi-region trail in eu-west-1).
    assert sorted((t.name, t.region) for t in trails.values()) == [
        ("main", "us-east-1"),
        ("regional", "eu-west-1"),
    ]
    main = one(snapshot, "aws.cloudtrail.trail", "main")
    m = main.attributes
    assert m["IsMultiRegionTrail"] is True and m["IsLogging"] is True
    assert m["LogFileValidationEnabled"] is True
    assert m["KmsKeyId"] == seeded["key"]
    assert m["S3BucketName"] == "trail-bucket"
    assert m["CloudWatchLogsLogGroupArn"].startswith(f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:trail-logs")
    assert m["EventSelectors"][0]["DataResources"][0]["Type"] == "AWS::S3::Object"
    assert m["AdvancedEventSelectors"] == []
    assert main.errors == {}
    regional = one(snapshot, "aws.cloudtrail.trail", "regional")
    assert regional.attributes["IsMultiRegionTrail"] is False
    assert regional.attributes["IsLogging"] is False

    [mf] = by_id(snapshot, "aws.logs.metric_filter").values()
    assert mf.id == f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:trail-logs:metric-filter:root-usage"
    assert mf.attributes["logGroupName"] == "trail-logs"
    assert "Root" in mf.attributes["filterPattern"]
    assert mf.attributes["metricTransformations"][0]["metricName"] == "RootUsage"
    assert one(snapshot, "aws.logs.log_group", "trail-logs").region == "us-east-1"

    alarm = one(snapshot, "aws.cloudwatch.alarm", "root-usage")
    assert alarm.attributes["MetricName"] == "RootUsage" and alarm.attributes["Namespace"] == "CIS"
    assert alarm.attributes["AlarmActions"] == [seeded["topic"]]

    topic = by_id(snapshot, "aws.sns.topic")[seeded["topic"]]
    [sub] = topic.attributes["Subscriptions"]
    assert sub["Protocol"] == "email" and sub["Endpoint"] == "sec@example.com"
    assert sub["SubscriptionArn"]  # an ARN once confirmed, "PendingConfirmation" before
    assert isinstance(topic.attributes["Attributes"]["Policy"], dict)  # parsed
    assert one(snapshot, "aws.sns.topic", "quiet").attributes["Subscriptions"] == []

    settings = {r.region: r for r in snapshot.resources if r.kind == "aws.config.settings"}
    assert set(settings) == set(REGIONS)  # emitted even where nothing is configured
    on = settings["us-east-1"].attributes
    assert on["ConfigurationRecorders"][0]["recordingGroup"]["allSupported"] is True
    assert on["ConfigurationRecorders"][0]["recordingGroup"]["includeGlobalResourceTypes"] is True
    assert on["ConfigurationRecordersStatus"][0]["recording"] is True
    assert on["DeliveryChannels"][0]["s3BucketName"] == "trail-bucket"
    off = settings["eu-west-1"]
    assert off.id == f"arn:aws:config:eu-west-1:{ACCOUNT}:settings"
    assert off.attributes == {
        "ConfigurationRecorders": [],
        "ConfigurationRecordersStatus": [],
        "DeliveryChannels": [],
    }

    calls = api_calls(snapshot)
    assert calls["cloudtrail:DescribeTrails"] == 2  # once per region
    assert calls["cloudtrail:GetTrailStatus"] == 2 and calls["cloudtrail:GetEventSelectors"] == 2
    assert calls["logs:DescribeMetricFilters"] == 2 * PAGE
    assert calls["sns:ListSubscriptions"] == 2 * PAGE and calls["sns:GetTopicAttributes"] == 2
    assert "sns:ListSubscriptionsByTopic" not in calls
    assert calls["config:DescribeConfigurationRecorders"] == 2
    assert calls["cloudwatch:DescribeAlarms"] == 2  # both alarm types in one listing per region


# --- failures --------------------------------------------------------------------------------


def test_unreachable_api_is_recorded_not_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every listing that cannot be made becomes a CollectionError; synthetic per-account or
    per-region resources still appear, with the failed attributes in ``errors``."""
    aws_test_env(monkeypatch)
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused at once
    factory = SessionFactory(AwsSettings(endpoint_url=dead, region="us-east-1", max_attempts=1))
    snapshot = collect_snapshot(
        [AccountTarget(factory, ACCOUNT)],
        ["us-east-1"],
        [IamCollector(), S3Collector(), CloudTrailCollector(), ConfigCollector(), SnsCollector()],
        limits=NO_LIMITS,
    )
    failed = {(e.kind, e.call) for e in snapshot.errors}
    assert ("aws.iam.user", "iam:GetAccountAuthorizationDetails") in failed
    assert ("aws.iam.policy", "iam:ListPolicies") in failed
    assert ("aws.s3.bucket", "s3:ListBuckets") in failed
    assert ("aws.cloudtrail.trail", "cloudtrail:DescribeTrails") in failed
    assert ("aws.sns.topic", "sns:ListTopics") in failed
    account = by_id(snapshot, "aws.account")[f"arn:aws:iam::{ACCOUNT}:root"]
    assert {"PasswordPolicy", "AccountSummary", "RootCredentialReport", "AlternateContacts"} <= set(
        account.errors
    )
    assert "PasswordPolicy" not in account.attributes
    [settings] = by_id(snapshot, "aws.config.settings").values()
    assert set(settings.errors) == {
        "ConfigurationRecorders",
        "ConfigurationRecordersStatus",
        "DeliveryChannels",
    }
    [s3_settings] = by_id(snapshot, "aws.s3.account_settings").values()
    assert "PublicAccessBlockConfiguration" in s3_settings.errors


PAB_KEYS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")

CERT_PEM = """-----BEGIN CERTIFICATE-----
MIIBtjCCAVugAwIBAgITBmyf1XSXNmY/Owua2eiedgPySjAKBggqhkjOPQQDAjA5
MQswCQYDVQQGEwJVUzEPMA0GA1UEChMGQW1hem9uMRkwFwYDVQQDExBBbWF6b24g
Um9vdCBDQSAzMB4XDTE1MDUyNjAwMDAwMFoXDTQwMDUyNjAwMDAwMFowOTELMAkG
A1UEBhMCVVMxDzANBgNVBAoTBkFtYXpvbjEZMBcGA1UEAxMQQW1hem9uIFJvb3Qg
Q0EgMzBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABCmXp8ZBf8ANm+gBG1bG8lKl
ui2yEujSLtf6ycXYqm0fc4E7O5hrOXwzpcVOho6AF2hiRVd9RFgdszflZwjrZt6j
QjBAMA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgGGMB0GA1UdDgQWBBSr
ttvXBp43rDCGB5Fwx5zEGbF4wDAKBggqhkjOPQQDAgNJADBGAiEA4IWSoxe3jfkr
BqWTrBqYaGFy+uGh0PsceGCmQ5nFuMQCIQCcAu/xlJyzlvnrxir4tiz+OpAUFteM
YyRIHN8wfdVoOw==
-----END CERTIFICATE-----
"""
