"""CloudFormation adapter: intrinsics, lines, companions, bad input."""

from __future__ import annotations

import os
from pathlib import Path

from yamori.model.resource import UNKNOWN
from yamori.sources.iac import IacOptions, adapter, is_reference, scan

CFN = adapter("cloudformation")

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  Env:
    Type: String
    Default: prod
  Secret:
    Type: String
Mappings:
  Sizes:
    prod: {Retention: 30}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  NotProd: !Not [!Condition IsProd]
Resources:
  Logs:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Sub "${Env}-logs-${AWS::Region}"
  Data:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Join ["-", [!Ref Env, data]]
      VersioningConfiguration:
        Status: !If [IsProd, Enabled, Suspended]
      LoggingConfiguration:
        DestinationBucketName: !Ref Logs
        LogFilePrefix: !Select [1, !Split [",", "a,data/,c"]]
      BucketEncryption:
        ServerSideEncryptionConfiguration:
          - ServerSideEncryptionByDefault:
              SSEAlgorithm: aws:kms
              KMSMasterKeyID: !GetAtt Key.Arn
  OnlyDev:
    Type: AWS::S3::Bucket
    Condition: NotProd
  Key:
    Type: AWS::KMS::Key
    Properties:
      EnableKeyRotation: !Equals [!Ref Secret, x]
  Group:
    Type: AWS::Logs::LogGroup
    Properties:
      LogGroupName: !ImportValue shared-name
      RetentionInDays: !FindInMap [Sizes, !Ref Env, Retention]
  Vpc:
    Type: AWS::EC2::VPC
    Properties:
      CidrBlock: 10.0.0.0/16
  Flow:
    Type: AWS::EC2::FlowLog
    Properties:
      ResourceId: !Ref Vpc
      ResourceType: VPC
      TrafficType: ALL
      LogDestination: !Sub "arn:aws:s3:::${Logs}"
      LogDestinationType: s3
  Acl:
    Type: AWS::EC2::NetworkAcl
    Properties:
      VpcId: !Ref Vpc
  AllowSsh:
    Type: AWS::EC2::NetworkAclEntry
    Properties:
      NetworkAclId: !Ref Acl
      RuleNumber: 100
      Protocol: 6
      RuleAction: allow
      CidrBlock: 0.0.0.0/0
      PortRange: {From: 22, To: 22}
"""


def load(tmp_path: Path, text: str, name: str = "stack.yaml", options: IacOptions | None = None):  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_text(text)
    return CFN.load(path, options)


def test_intrinsics_lines_and_companions(tmp_path: Path) -> None:
    result = load(tmp_path, TEMPLATE, options=IacOptions(stack_name="app"))
    assert result.errors == []
    found = {r.id: r for r in result.resources}
    assert "app/OnlyDev" not in found  # condition false
    logs = found["app/Logs"]
    assert logs.attributes["Name"] is UNKNOWN  # AWS::Region not given
    data = found["app/Data"]
    assert data.source == "cloudformation"
    assert data.name == "prod-data"
    assert data.location == "stack.yaml:19"
    assert data.attributes["Versioning"]["Status"] == "Enabled"
    assert data.origins["Versioning.Status"] == "stack.yaml:24"
    assert data.attributes["Logging"]["LoggingEnabled"]["TargetPrefix"] == "data/"
    assert data.attributes["Logging"]["LoggingEnabled"]["TargetBucket"] is UNKNOWN  # Logs' name is unknown
    rule = data.attributes["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert is_reference(rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"])
    assert found["app/Key"].attributes["KeyRotationEnabled"] is UNKNOWN  # parameter without default
    group = found["app/Group"]
    assert group.attributes["logGroupName"] is UNKNOWN
    assert group.attributes["retentionInDays"] == 30
    vpc = found["app/Vpc"]
    assert vpc.attributes["FlowLogs"][0]["TrafficType"] == "ALL"
    acl = found["app/Acl"]
    entry = acl.attributes["Entries"][-1]
    assert entry["Protocol"] == "6" and entry["PortRange"] == {"From": 22, "To": 22}


def test_region_and_parameters_given(tmp_path: Path) -> None:
    result = load(tmp_path, TEMPLATE, options=IacOptions(region="eu-west-1", parameters={"Secret": "x"}))
    found = {r.id: r for r in result.resources}
    assert found["Logs"].name == "prod-logs-eu-west-1"
    assert found["Key"].attributes["KeyRotationEnabled"] is True


def test_json_template_lines(tmp_path: Path) -> None:
    text = (
        '{\n  "Resources": {\n    "Key": {\n      "Type": "AWS::KMS::Key",\n      "Properties": {\n'
        '        "EnableKeyRotation": true\n      }\n    }\n  }\n}\n'
    )
    result = load(tmp_path, text, "t.json")
    (key,) = result.resources
    assert key.location == "t.json:3"
    assert key.origins["KeyRotationEnabled"] == "t.json:6"


def test_invalid_yaml_and_json(tmp_path: Path) -> None:
    bad = load(tmp_path, "Resources:\n  A: [unclosed\n", "bad.yaml")
    assert len(bad.errors) == 1 and "invalid YAML" in str(bad.errors[0])
    bad_json = load(tmp_path, '{"Resources": {', "bad.json")
    assert len(bad_json.errors) == 1 and bad_json.resources == []


def test_circular_ref(tmp_path: Path) -> None:
    text = (
        "Resources:\n"
        "  A:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: !Ref B\n"
        "  B:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: !Ref A\n"
    )
    result = load(tmp_path, text)
    assert any("circular" in str(e) for e in result.errors)
    assert {r.id for r in result.resources} == {"A", "B"}
    assert all(r.attributes["Name"] is UNKNOWN for r in result.resources)


def test_huge_template_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text("Resources:\n" + "".join(f"  B{i}:\n    Type: AWS::S3::Bucket\n" for i in range(20000)))
    result = CFN.load(path, IacOptions(max_file_bytes=100_000))
    assert result.resources == [] and "limit" in str(result.errors[0])
    aliases = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefg", "bcdefgh", strict=True)
    )
    bomb = load(tmp_path, aliases + "Resources: {X: {Type: AWS::S3::Bucket}}\n", "bomb.yaml")
    assert bomb.resources == [] and "refused" in str(bomb.errors[0])


def test_symlink_outside_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text("AWSTemplateFormatVersion: x\nResources:\n  S:\n    Type: AWS::S3::Bucket\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "ok.yaml").write_text("AWSTemplateFormatVersion: x\nResources:\n  K:\n    Type: AWS::KMS::Key\n")
    os.symlink(outside, repo / "link.yaml")
    result = scan(repo, only=["cloudformation"])
    assert [r.id for r in result.resources] == ["K"]
    assert [str(e) for e in result.errors] == [
        "link.yaml: symlink points outside the scanned directory; not followed"
    ]
