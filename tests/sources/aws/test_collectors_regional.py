"""The regional collectors (EC2/VPC, RDS, EFS, KMS, ECS, EKS, ECR, Lambda, Security Hub, Access
Analyzer) against moto's server over HTTP, in two regions: a known-good and a known-bad case of
what the CIS AWS Foundations and posture policies read, "not configured" answers as None,
operations moto lacks landing in ``errors`` (never silently missing), and the API calls each
collection costs.

The account is seeded and collected once for the module (collection is read-only), so the file
stays fast; the failure-injection test resets moto for itself.
"""

from __future__ import annotations

import io
import json
import threading
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from support.moto import MotoServer, aws_test_env
from yamori.model.resource import CollectionError, Resource, Snapshot
from yamori.sources.aws.collectors.accessanalyzer import AccessAnalyzerCollector
from yamori.sources.aws.collectors.ec2 import Ec2Collector
from yamori.sources.aws.collectors.ecr import EcrCollector
from yamori.sources.aws.collectors.ecs import EcsCollector
from yamori.sources.aws.collectors.efs import EfsCollector
from yamori.sources.aws.collectors.eks import EksCollector
from yamori.sources.aws.collectors.kms import KmsCollector
from yamori.sources.aws.collectors.lambda_ import LambdaCollector
from yamori.sources.aws.collectors.rds import RdsCollector
from yamori.sources.aws.collectors.securityhub import SecurityHubCollector
from yamori.sources.aws.interface import CallFailed
from yamori.sources.aws.runner import AccountTarget, RateLimits, RunContext, collect_snapshot
from yamori.sources.aws.session import AwsSettings, SessionFactory

ACCOUNT = "123456789012"
REGIONS = ["us-east-1", "eu-west-1"]
SECRET = "hunter2-do-not-store"
# moto answers HTTP 500 for services it lacks (Access Analyzer); with the default 8 adaptive
# attempts each such call would back off for seconds, so the tests allow one attempt.
SETTINGS: dict[str, Any] = {"max_attempts": 1}


def all_collectors() -> list[Any]:
    return [
        Ec2Collector(),
        RdsCollector(),
        EfsCollector(),
        KmsCollector(),
        EcsCollector(),
        EksCollector(),
        EcrCollector(),
        LambdaCollector(),
        SecurityHubCollector(),
        AccessAnalyzerCollector(),
    ]


@dataclass
class Seeded:
    snapshot: Snapshot
    ids: dict[str, str] = field(default_factory=dict)
    listing_calls: int = 1  # calls the runner counts for one single-page listing

    def kind(self, kind: str, region: str | None = None) -> list[Resource]:
        return [r for r in self.snapshot.resources if r.kind == kind and region in (None, r.region)]

    def get(self, kind: str, rid: str) -> Resource:
        found = [r for r in self.snapshot.resources if r.kind == kind and r.id == rid]
        assert len(found) == 1, (kind, rid, [r.id for r in self.kind(kind)])
        return found[0]

    def named(self, kind: str, name: str) -> Resource:
        found = [r for r in self.snapshot.resources if r.kind == kind and r.name == name]
        assert len(found) == 1, (kind, name, [r.name for r in self.kind(kind)])
        return found[0]

    def calls(self, service: str, operation: str) -> int:
        """Counted calls of ``operation`` (snake_case), whichever spelling the runner records
        (its own CamelCase of the snake name, or botocore's API name: ``DescribeDBInstances``)."""
        api = boto3.client(service, region_name="us-east-1").meta.method_to_api_mapping[operation]
        camel = "".join(p[:1].upper() + p[1:] for p in operation.split("_"))
        return sum(self.snapshot.api_calls.get(f"{service}:{name}", 0) for name in {api, camel})

    def settings(self, kind: str, region: str) -> Resource:
        found = self.kind(kind, region)
        assert len(found) == 1, (kind, region, found)
        return found[0]


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("index.py", "def handler(event, context):\n    return 1\n")
    return buf.getvalue()


def seed(url: str) -> dict[str, str]:
    """One account: good and bad cases in us-east-1, only defaults in eu-west-1."""

    def client(service: str, region: str = "us-east-1") -> Any:
        return boto3.client(service, region_name=region, endpoint_url=url)

    ids: dict[str, str] = {}
    ec2 = client("ec2")
    ec2.enable_ebs_encryption_by_default()  # us-east-1 only

    vpc_logged = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    vpc_bare = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    ids["vpc_logged"], ids["vpc_bare"] = vpc_logged, vpc_bare
    ec2.create_tags(Resources=[vpc_logged], Tags=[{"Key": "Name", "Value": "logged"}])
    ec2.create_flow_logs(
        ResourceIds=[vpc_logged],
        ResourceType="VPC",
        TrafficType="ALL",
        LogGroupName="vpc-flow",
        DeliverLogsPermissionArn=f"arn:aws:iam::{ACCOUNT}:role/flow",
    )
    subnet = ec2.create_subnet(VpcId=vpc_logged, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]

    open_sg = ec2.create_security_group(GroupName="open-ssh", Description="bad", VpcId=vpc_logged)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=open_sg,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
            }
        ],
    )
    closed_sg = ec2.create_security_group(GroupName="office-ssh", Description="good", VpcId=vpc_logged)[
        "GroupId"
    ]
    ec2.authorize_security_group_ingress(
        GroupId=closed_sg,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}
        ],
    )
    ids["open_sg"], ids["closed_sg"] = open_sg, closed_sg

    bad_acl = ec2.create_network_acl(VpcId=vpc_logged)["NetworkAcl"]["NetworkAclId"]
    ec2.create_network_acl_entry(
        NetworkAclId=bad_acl,
        RuleNumber=100,
        Protocol="6",
        RuleAction="allow",
        Egress=False,
        CidrBlock="0.0.0.0/0",
        PortRange={"From": 3389, "To": 3389},
    )
    good_acl = ec2.create_network_acl(VpcId=vpc_logged)["NetworkAcl"]["NetworkAclId"]
    ec2.create_network_acl_entry(
        NetworkAclId=good_acl,
        RuleNumber=100,
        Protocol="6",
        RuleAction="allow",
        Egress=False,
        CidrBlock="10.0.0.0/8",
        PortRange={"From": 3389, "To": 3389},
    )
    ids["bad_acl"], ids["good_acl"] = bad_acl, good_acl

    strict = ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        SubnetId=subnet,
        MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled"},
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "strict"}]}],
    )["Instances"][0]["InstanceId"]
    loose = ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        SubnetId=subnet,
        MetadataOptions={"HttpTokens": "optional", "HttpEndpoint": "enabled"},
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "loose"}]}],
    )["Instances"][0]["InstanceId"]
    ids["strict"], ids["loose"] = strict, loose

    enc = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1, Encrypted=True)["VolumeId"]
    plain = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1, Encrypted=False)["VolumeId"]
    ids["enc_vol"], ids["plain_vol"] = enc, plain
    ids["snap"] = ec2.create_snapshot(VolumeId=plain)["SnapshotId"]

    rds = client("rds")
    for name, public, encrypted in (("public-db", True, False), ("private-db", False, True)):
        rds.create_db_instance(
            DBInstanceIdentifier=name,
            DBInstanceClass="db.t3.micro",
            Engine="postgres",
            MasterUsername="admin",
            MasterUserPassword="password123",
            AllocatedStorage=20,
            PubliclyAccessible=public,
            StorageEncrypted=encrypted,
            AutoMinorVersionUpgrade=not public,
        )
    rds.create_db_snapshot(DBInstanceIdentifier="public-db", DBSnapshotIdentifier="public-snap")
    rds.modify_db_snapshot_attribute(
        DBSnapshotIdentifier="public-snap", AttributeName="restore", ValuesToAdd=["all"]
    )

    kms = client("kms")
    rotated = kms.create_key(Description="rotated")["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=rotated)
    kms.create_alias(AliasName="alias/rotated", TargetKeyId=rotated)
    kms.tag_resource(KeyId=rotated, Tags=[{"TagKey": "team", "TagValue": "sec"}])
    unrotated = kms.create_key(Description="unrotated")["KeyMetadata"]["KeyId"]
    signing = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    ids["key_rotated"], ids["key_unrotated"], ids["key_signing"] = rotated, unrotated, signing

    efs = client("efs")
    good_fs = efs.create_file_system(
        CreationToken="good", Encrypted=True, Tags=[{"Key": "Name", "Value": "good"}]
    )
    efs.put_file_system_policy(
        FileSystemId=good_fs["FileSystemId"],
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Deny",
                        "Principal": {"AWS": "*"},
                        "Action": "*",
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    }
                ],
            }
        ),
    )
    efs.create_file_system(CreationToken="bad", Encrypted=False, Tags=[{"Key": "Name", "Value": "bad"}])

    ecs = client("ecs")
    ecs.create_cluster(clusterName="insights", settings=[{"name": "containerInsights", "value": "enabled"}])
    ecs.create_cluster(clusterName="plain")
    ecs.register_task_definition(
        family="web",
        networkMode="host",
        pidMode="host",
        containerDefinitions=[
            {
                "name": "app",
                "image": "nginx:1.25",
                "memory": 128,
                "privileged": True,
                "user": "root",
                "readonlyRootFilesystem": False,
                "environment": [{"name": "DB_PASSWORD", "value": SECRET}, {"name": "MODE", "value": "prod"}],
            }
        ],
    )

    eks = client("eks")
    eks.create_cluster(
        name="public-eks",
        version="1.29",
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/eks",
        resourcesVpcConfig={
            "subnetIds": [subnet],
            "endpointPublicAccess": True,
            "endpointPrivateAccess": False,
            "publicAccessCidrs": ["0.0.0.0/0"],
        },
    )

    ecr = client("ecr")
    ecr.create_repository(repositoryName="unscanned", imageScanningConfiguration={"scanOnPush": False})
    ecr.create_repository(
        repositoryName="scanned",
        imageScanningConfiguration={"scanOnPush": True},
        imageTagMutability="IMMUTABLE",
    )
    ecr.set_repository_policy(
        repositoryName="scanned",
        policyText=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Sid": "pull", "Effect": "Allow", "Principal": "*", "Action": ["ecr:BatchGetImage"]}
                ],
            }
        ),
    )

    iam = client("iam")
    role = iam.create_role(
        RoleName="fn-role",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    lam = client("lambda")
    lam.create_function(
        FunctionName="exposed",
        Runtime="python3.12",
        Role=role,
        Handler="index.handler",
        Code={"ZipFile": _zip()},
        Environment={"Variables": {"API_TOKEN": SECRET, "STAGE": "prod"}},
    )
    lam.add_permission(
        FunctionName="exposed", StatementId="anyone", Action="lambda:InvokeFunction", Principal="*"
    )
    lam.create_function_url_config(FunctionName="exposed", AuthType="NONE")
    lam.create_function(
        FunctionName="private",
        Runtime="python3.12",
        Role=role,
        Handler="index.handler",
        Code={"ZipFile": _zip()},
    )

    client("securityhub").enable_security_hub(EnableDefaultStandards=False)  # us-east-1 only
    return ids


def _listing_calls(factory: SessionFactory) -> int:
    """How many calls the runner counts for one single-page listing (its paginate also counts
    the final end-of-pages step), so call-count assertions are in units of listings."""
    calls: Counter[str] = Counter()
    ctx = RunContext(factory, ACCOUNT, "eu-west-1", RateLimits(), calls, [], threading.Lock())
    ctx.paginate("ec2", "describe_vpcs", "Vpcs")
    return calls["ec2:DescribeVpcs"]


@pytest.fixture(scope="module")
def seeded(moto: MotoServer) -> Iterator[Seeded]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        aws_test_env(monkeypatch)
        moto.reset()
        ids = seed(moto.url)
        factory = SessionFactory(AwsSettings(endpoint_url=moto.url, region="us-east-1", **SETTINGS))
        snapshot = collect_snapshot([AccountTarget(factory, ACCOUNT)], REGIONS, all_collectors())
        unit = _listing_calls(
            SessionFactory(AwsSettings(endpoint_url=moto.url, region="us-east-1", **SETTINGS))
        )
        yield Seeded(snapshot, ids, unit)


def test_snapshot_is_json_and_never_holds_secret_values(seeded: Seeded) -> None:
    text = json.dumps(seeded.snapshot.to_json())
    assert SECRET not in text
    assert Snapshot.from_json(json.loads(text)).to_json() == seeded.snapshot.to_json()


# --- EC2 ---------------------------------------------------------------------------------------


def test_ec2_settings_per_region(seeded: Seeded) -> None:
    east = seeded.settings("aws.ec2.settings", "us-east-1")
    west = seeded.settings("aws.ec2.settings", "eu-west-1")
    assert east.id == f"arn:aws:ec2:us-east-1:{ACCOUNT}:settings"
    assert east.attributes["EbsEncryptionByDefault"] is True
    assert west.attributes["EbsEncryptionByDefault"] is False
    # moto lacks these operations: each lands in errors, never silently missing.
    for attr in (
        "EbsDefaultKmsKeyId",
        "SerialConsoleAccessEnabled",
        "ImageBlockPublicAccessState",
        "InstanceMetadataDefaults",
        "SnapshotBlockPublicAccessState",
    ):
        assert attr in east.attributes or attr in east.errors, attr
        assert not (attr in east.attributes and attr in east.errors), attr
    assert "EbsDefaultKmsKeyId" in east.errors


def test_ec2_security_groups(seeded: Seeded) -> None:
    open_sg = seeded.get(
        "aws.ec2.security_group", f"arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/{seeded.ids['open_sg']}"
    )
    assert open_sg.name == "open-ssh"
    assert open_sg.region == "us-east-1" and open_sg.account == ACCOUNT
    perm = open_sg.attributes["IpPermissions"][0]
    assert (perm["IpProtocol"], perm["FromPort"], perm["ToPort"]) == ("tcp", 22, 22)
    assert perm["IpRanges"][0]["CidrIp"] == "0.0.0.0/0"
    assert perm["Ipv6Ranges"][0]["CidrIpv6"] == "::/0"
    assert open_sg.attributes["VpcId"] == seeded.ids["vpc_logged"]
    assert open_sg.attributes["IpPermissionsEgress"][0]["IpProtocol"] == "-1"
    closed = seeded.named("aws.ec2.security_group", "office-ssh")
    assert [r["CidrIp"] for r in closed.attributes["IpPermissions"][0]["IpRanges"]] == ["10.0.0.0/8"]
    # every VPC has its default group, in both regions
    defaults = [r for r in seeded.kind("aws.ec2.security_group") if r.attributes["GroupName"] == "default"]
    assert {r.region for r in defaults} == set(REGIONS)


def test_ec2_network_acls(seeded: Seeded) -> None:
    def ingress(acl_id: str) -> list[dict[str, Any]]:
        acl = seeded.get("aws.ec2.network_acl", f"arn:aws:ec2:us-east-1:{ACCOUNT}:network-acl/{acl_id}")
        return [e for e in acl.attributes["Entries"] if not e["Egress"] and e["RuleNumber"] == 100]

    [bad] = ingress(seeded.ids["bad_acl"])
    assert bad["RuleAction"] == "allow" and bad["CidrBlock"] == "0.0.0.0/0"
    assert bad["PortRange"] == {"From": 3389, "To": 3389} and bad["Protocol"] == "6"
    [good] = ingress(seeded.ids["good_acl"])
    assert good["CidrBlock"] == "10.0.0.0/8"


def test_ec2_instances(seeded: Seeded) -> None:
    strict = seeded.named("aws.ec2.instance", "strict")
    loose = seeded.named("aws.ec2.instance", "loose")
    assert strict.id == f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/{seeded.ids['strict']}"
    assert strict.tags == {"Name": "strict"} and "Tags" not in strict.attributes
    assert strict.attributes["MetadataOptions"]["HttpTokens"] == "required"
    assert loose.attributes["MetadataOptions"]["HttpTokens"] == "optional"
    assert strict.attributes["MetadataOptions"]["HttpEndpoint"] == "enabled"
    assert strict.attributes["State"]["Name"] == "running"
    assert strict.attributes["ImageId"] == "ami-12c6146b"
    assert strict.attributes["VpcId"] == seeded.ids["vpc_logged"]
    assert isinstance(strict.attributes["LaunchTime"], str) and strict.attributes["LaunchTime"].endswith("Z")
    assert strict.attributes["IamInstanceProfile"] is None  # none attached
    assert strict.attributes["PublicIpAddress"] is None or isinstance(
        strict.attributes["PublicIpAddress"], str
    )


def test_ec2_vpcs_with_flow_logs(seeded: Seeded) -> None:
    logged = seeded.get("aws.ec2.vpc", f"arn:aws:ec2:us-east-1:{ACCOUNT}:vpc/{seeded.ids['vpc_logged']}")
    bare = seeded.get("aws.ec2.vpc", f"arn:aws:ec2:us-east-1:{ACCOUNT}:vpc/{seeded.ids['vpc_bare']}")
    assert logged.name == "logged"
    assert [f["ResourceId"] for f in logged.attributes["FlowLogs"]] == [seeded.ids["vpc_logged"]]
    assert logged.attributes["FlowLogs"][0]["TrafficType"] == "ALL"
    assert bare.attributes["FlowLogs"] == []
    assert bare.attributes["IsDefault"] is False
    default_vpcs = [r for r in seeded.kind("aws.ec2.vpc") if r.attributes["IsDefault"]]
    assert {r.region for r in default_vpcs} == set(REGIONS)


def test_ec2_volumes_snapshots_subnets_route_tables(seeded: Seeded) -> None:
    vols = {r.attributes["VolumeId"]: r for r in seeded.kind("aws.ec2.volume")}
    assert vols[seeded.ids["enc_vol"]].attributes["Encrypted"] is True
    assert vols[seeded.ids["plain_vol"]].attributes["Encrypted"] is False
    snap = seeded.get("aws.ec2.snapshot", f"arn:aws:ec2:us-east-1::snapshot/{seeded.ids['snap']}")
    assert snap.attributes["Encrypted"] is False
    # moto ignores RestorableByUserIds, so it cannot tell public from private: only the type is
    # checked here (real EC2 answers exactly the public ones).
    assert isinstance(snap.attributes["Public"], bool)
    assert any(r.attributes["VpcId"] == seeded.ids["vpc_logged"] for r in seeded.kind("aws.ec2.subnet"))
    tables = seeded.kind("aws.ec2.route_table", "us-east-1")
    assert tables and all("Routes" in t.attributes for t in tables)


def test_ec2_api_calls_are_one_listing_per_region(seeded: Seeded) -> None:
    listing = seeded.listing_calls * len(REGIONS)
    for op in (
        "describe_instances",
        "describe_security_groups",
        "describe_network_acls",
        "describe_vpcs",
        "describe_flow_logs",
        "describe_subnets",
        "describe_route_tables",
        "describe_volumes",
        "describe_images",
    ):
        assert seeded.calls("ec2", op) == listing, op
    # owned snapshots, plus the public ones where there is any snapshot (us-east-1 only)
    assert seeded.calls("ec2", "describe_snapshots") == listing + seeded.listing_calls
    assert seeded.calls("ec2", "get_ebs_encryption_by_default") == len(REGIONS)
    assert not any(op.startswith("ec2:DescribeSnapshotAttribute") for op in seeded.snapshot.api_calls)


# --- RDS, EFS, KMS -----------------------------------------------------------------------------


def test_rds_instances_and_snapshots(seeded: Seeded) -> None:
    public = seeded.named("aws.rds.db_instance", "public-db")
    private = seeded.named("aws.rds.db_instance", "private-db")
    assert public.id == f"arn:aws:rds:us-east-1:{ACCOUNT}:db:public-db"
    assert public.attributes["PubliclyAccessible"] is True
    assert private.attributes["PubliclyAccessible"] is False
    assert public.attributes["StorageEncrypted"] is False
    assert private.attributes["StorageEncrypted"] is True
    assert public.attributes["AutoMinorVersionUpgrade"] is False
    assert private.attributes["AutoMinorVersionUpgrade"] is True
    for attr in ("MultiAZ", "BackupRetentionPeriod", "DeletionProtection", "Engine"):
        assert attr in public.attributes, attr
    snap = seeded.named("aws.rds.db_snapshot", "public-snap")
    restore = [a for a in snap.attributes["DBSnapshotAttributes"] if a["AttributeName"] == "restore"]
    assert restore and "all" in restore[0]["AttributeValues"]
    assert seeded.calls("rds", "describe_db_instances") == seeded.listing_calls * len(REGIONS)
    assert seeded.calls("rds", "describe_db_snapshot_attributes") == 1


def test_efs(seeded: Seeded) -> None:
    good = seeded.named("aws.efs.file_system", "good")
    bad = seeded.named("aws.efs.file_system", "bad")
    assert good.attributes["Encrypted"] is True and bad.attributes["Encrypted"] is False
    assert good.attributes["FileSystemPolicy"]["Statement"][0]["Effect"] == "Deny"
    assert bad.attributes["FileSystemPolicy"] is None
    assert good.id.startswith(f"arn:aws:elasticfilesystem:us-east-1:{ACCOUNT}:file-system/fs-")
    assert "BackupPolicy" in good.attributes or "BackupPolicy" in good.errors
    assert good.tags["Name"] == "good"


def test_kms_customer_keys(seeded: Seeded) -> None:
    keys = {r.attributes["KeyId"]: r for r in seeded.kind("aws.kms.key")}
    # moto also creates the EBS default key (for the encrypted volume) as a CUSTOMER key; real
    # AWS marks it KeyManager AWS, which the collector skips.
    assert {seeded.ids["key_rotated"], seeded.ids["key_unrotated"], seeded.ids["key_signing"]} <= set(keys)
    rotated = keys[seeded.ids["key_rotated"]]
    assert rotated.attributes["KeyRotationEnabled"] is True
    assert rotated.attributes["Aliases"] == ["alias/rotated"] and rotated.name == "alias/rotated"
    assert rotated.tags == {"team": "sec"}
    assert rotated.attributes["KeyManager"] == "CUSTOMER" and rotated.attributes["KeyState"] == "Enabled"
    assert rotated.attributes["Policy"]["Statement"]
    assert keys[seeded.ids["key_unrotated"]].attributes["KeyRotationEnabled"] is False
    signing = keys[seeded.ids["key_signing"]]
    assert signing.attributes["KeyRotationEnabled"] is None  # rotation does not apply
    assert signing.attributes["KeySpec"] == "RSA_2048"
    assert seeded.calls("kms", "describe_key") == len(keys)  # moto lists customer keys only
    symmetric = [k for k in keys.values() if k.attributes["KeySpec"] == "SYMMETRIC_DEFAULT"]
    assert seeded.calls("kms", "get_key_rotation_status") == len(symmetric) == len(keys) - 1
    assert seeded.calls("kms", "list_aliases") == seeded.listing_calls * len(REGIONS)


# --- containers and functions -----------------------------------------------------------------


def test_ecs(seeded: Seeded) -> None:
    insights = seeded.named("aws.ecs.cluster", "insights")
    assert {"name": "containerInsights", "value": "enabled"} in insights.attributes["settings"]
    plain = seeded.named("aws.ecs.cluster", "plain")
    assert {"name": "containerInsights", "value": "enabled"} not in (plain.attributes.get("settings") or [])
    [task] = seeded.kind("aws.ecs.task_definition")
    assert task.name == "web:1"
    assert task.attributes["networkMode"] == "host" and task.attributes["pidMode"] == "host"
    [container] = task.attributes["containerDefinitions"]
    assert container["privileged"] is True and container["user"] == "root"
    assert container["readonlyRootFilesystem"] is False
    assert container["environment"] == ["DB_PASSWORD", "MODE"]


def test_eks(seeded: Seeded) -> None:
    cluster = seeded.named("aws.eks.cluster", "public-eks")
    assert cluster.id == f"arn:aws:eks:us-east-1:{ACCOUNT}:cluster/public-eks"
    vpc = cluster.attributes["resourcesVpcConfig"]
    assert vpc["endpointPublicAccess"] is True and vpc["endpointPrivateAccess"] is False
    assert vpc["publicAccessCidrs"] == ["0.0.0.0/0"]
    assert cluster.attributes["version"] == "1.29"
    assert "logging" in cluster.attributes
    assert cluster.attributes["encryptionConfig"] is None
    assert seeded.calls("eks", "describe_cluster") == 1


def test_ecr(seeded: Seeded) -> None:
    unscanned = seeded.named("aws.ecr.repository", "unscanned")
    scanned = seeded.named("aws.ecr.repository", "scanned")
    assert unscanned.attributes["imageScanningConfiguration"]["scanOnPush"] is False
    assert scanned.attributes["imageScanningConfiguration"]["scanOnPush"] is True
    assert scanned.attributes["imageTagMutability"] == "IMMUTABLE"
    assert "encryptionConfiguration" in scanned.attributes
    assert scanned.attributes["policy"]["Statement"][0]["Principal"] == "*"
    assert unscanned.attributes["policy"] is None
    assert unscanned.attributes["lifecyclePolicy"] is None
    east = seeded.settings("aws.ecr.settings", "us-east-1")
    assert east.attributes["scanningConfiguration"]["scanType"] == "BASIC"
    assert east.attributes["registryPolicy"] is None


def test_lambda(seeded: Seeded) -> None:
    exposed = seeded.named("aws.lambda.function", "exposed")
    private = seeded.named("aws.lambda.function", "private")
    assert exposed.attributes["Runtime"] == "python3.12"
    assert exposed.attributes["Role"].endswith(":role/fn-role")
    assert exposed.attributes["Environment"]["Variables"] == ["API_TOKEN", "STAGE"]
    assert exposed.attributes["Policy"]["Statement"][0]["Principal"] in ("*", {"AWS": "*"})
    assert exposed.attributes["FunctionUrlConfig"]["AuthType"] == "NONE"
    assert private.attributes["Policy"] is None
    assert private.attributes["FunctionUrlConfig"] is None
    assert private.attributes["Environment"] is None
    assert seeded.calls("lambda", "get_policy") == 2


# --- regional security services ---------------------------------------------------------------


def test_securityhub_enabled_in_one_region(seeded: Seeded) -> None:
    east = seeded.settings("aws.securityhub.settings", "us-east-1")
    west = seeded.settings("aws.securityhub.settings", "eu-west-1")
    assert east.id == f"arn:aws:securityhub:us-east-1:{ACCOUNT}:settings"
    assert east.attributes["Hub"]["HubArn"].startswith("arn:aws:securityhub:us-east-1:")
    assert west.attributes["Hub"] is None and west.attributes["EnabledStandards"] is None
    assert not west.errors
    # moto has no GetEnabledStandards: recorded as an error, not an empty list
    assert "EnabledStandards" in east.attributes or "EnabledStandards" in east.errors


def test_accessanalyzer_settings_always_emitted(seeded: Seeded) -> None:
    for region in REGIONS:
        res = seeded.settings("aws.accessanalyzer.settings", region)
        assert res.id == f"arn:aws:access-analyzer:{region}:{ACCOUNT}:settings"
        # moto has no Access Analyzer: the failure is on the resource, never a silent [].
        assert "Analyzers" in res.attributes or "Analyzers" in res.errors


def test_no_collection_errors_and_every_settings_kind_per_region(seeded: Seeded) -> None:
    assert seeded.snapshot.errors == []
    for kind in (
        "aws.ec2.settings",
        "aws.ecr.settings",
        "aws.securityhub.settings",
        "aws.accessanalyzer.settings",
    ):
        assert sorted(r.region for r in seeded.kind(kind)) == sorted(REGIONS), kind


# --- failures ----------------------------------------------------------------------------------


class _FailingContext:
    """A RunContext whose listing of one operation fails (as AccessDenied would)."""

    def __init__(self, inner: RunContext, operation: str) -> None:
        self.inner = inner
        self.operation = operation
        self.account = inner.account
        self.region = inner.region

    def client(self, service: str) -> Any:
        return self.inner.client(service)

    def call(self, service: str, operation: str, **params: Any) -> dict[str, Any]:
        if operation == self.operation:
            raise CallFailed(f"{service}:{operation}", "AccessDenied", "not authorized")
        return self.inner.call(service, operation, **params)

    def paginate(self, service: str, operation: str, result_key: str, **params: Any) -> list[Any]:
        if operation == self.operation:
            raise CallFailed(f"{service}:{operation}", "AccessDenied", "not authorized")
        return self.inner.paginate(service, operation, result_key, **params)

    def listing_failed(self, kind: str, error: CallFailed) -> None:
        self.inner.listing_failed(kind, error)


def _context(moto: MotoServer, errors: list[CollectionError]) -> RunContext:
    factory = SessionFactory(AwsSettings(endpoint_url=moto.url, region="us-east-1", **SETTINGS))
    return RunContext(factory, ACCOUNT, "us-east-1", RateLimits(), Counter(), errors, threading.Lock())


def test_failed_listing_costs_one_kind_and_failed_attribute_one_attribute(
    moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws_test_env(monkeypatch)
    moto.reset()
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=moto.url)
    ec2.create_vpc(CidrBlock="10.9.0.0/16")

    errors: list[CollectionError] = []
    found = list(Ec2Collector().collect(_FailingContext(_context(moto, errors), "describe_security_groups")))
    assert [(e.kind, e.call) for e in errors] == [("aws.ec2.security_group", "ec2:describe_security_groups")]
    kinds = {r.kind for r in found}
    assert "aws.ec2.security_group" not in kinds and {"aws.ec2.vpc", "aws.ec2.settings"} <= kinds

    errors = []
    found = list(Ec2Collector().collect(_FailingContext(_context(moto, errors), "describe_flow_logs")))
    vpcs = [r for r in found if r.kind == "aws.ec2.vpc"]
    assert vpcs and all(r.errors["FlowLogs"] == "AccessDenied: not authorized" for r in vpcs)
    assert all("FlowLogs" not in r.attributes for r in vpcs) and errors == []

    errors = []
    found = list(SecurityHubCollector().collect(_FailingContext(_context(moto, errors), "describe_hub")))
    [hub] = found
    assert hub.errors == {
        "Hub": "AccessDenied: not authorized",
        "EnabledStandards": "AccessDenied: not authorized",
    }


def test_failed_listing_through_the_runner_is_a_collection_error(
    moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service that cannot be listed at all (here: wrong credentials are not possible in moto,
    so an endpoint that answers nothing) records a CollectionError for each kind, never []."""
    aws_test_env(monkeypatch)
    factory = SessionFactory(
        AwsSettings(endpoint_url="http://127.0.0.1:9", region="us-east-1", max_attempts=1, connect_timeout=1)
    )
    snapshot = collect_snapshot(
        [AccountTarget(factory, ACCOUNT)], ["us-east-1"], [EksCollector(), EfsCollector()]
    )
    assert snapshot.resources == []
    assert sorted(e.kind for e in snapshot.errors) == ["aws.efs.file_system", "aws.eks.cluster"]
