"""Terraform adapter: evaluation through tfparse, python-hcl2 fallback, plans, state, bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

from yamori.model.resource import UNKNOWN
from yamori.sources.iac import IacOptions, adapter, is_reference, scan

FIXTURES = Path(__file__).parent.parent / "fixtures" / "iac"
TF = adapter("terraform")


def by_id(resources: list) -> dict:  # type: ignore[type-arg]
    return {r.id: r for r in resources}


def test_project_variables_locals_count_for_modules_and_origins() -> None:
    result = scan(FIXTURES / "project")
    assert result.errors == []
    found = by_id(result.resources)
    logs = found["aws_s3_bucket.logs"]
    assert logs.source == "terraform"
    assert logs.name == "acme-prod-logs"  # local built from terraform.tfvars
    assert logs.location == "main.tf:14"
    # *.auto.tfvars overrides the default; the split resource is merged into the bucket
    assert logs.attributes["Versioning"] == {"Status": "Enabled", "MFADelete": None}
    assert logs.origins["Versioning.Status"] == "main.tf:24"
    assert logs.origins["Name"] == "main.tf:15"
    # AWS defaults for what the code leaves out
    assert logs.attributes["PublicAccessBlockConfiguration"]["BlockPublicAcls"] is True
    assert logs.attributes["Logging"] == {"LoggingEnabled": None}
    assert {"aws_s3_bucket.many[0]", "aws_s3_bucket.many[1]"} <= set(found)
    assert found["aws_s3_bucket.unknown"].attributes["Name"] is UNKNOWN
    web = found["aws_security_group.web"]
    ports = sorted(p["FromPort"] for p in web.attributes["IpPermissions"])
    assert ports == [22, 443]  # dynamic block expanded
    assert web.attributes["IpPermissionsEgress"] == []  # Terraform drops AWS's default egress rule
    vpc = found["module.net.aws_vpc.this"]
    assert vpc.location == "modules/net/main.tf:3"
    assert vpc.name == "inner"
    assert vpc.attributes["FlowLogs"][0]["TrafficType"] == "REJECT"
    assert vpc.origins["FlowLogs[0]"] == "modules/net/main.tf:10"
    # the module is not scanned again as a root of its own
    assert sum(1 for r in result.resources if r.kind == "aws.ec2.vpc") == 1
    assert any("remote" in str(w) and "terraform-aws-modules/vpc/aws" in str(w) for w in result.warnings)


def test_var_file_option(tmp_path: Path) -> None:
    extra = tmp_path / "prod.tfvars"
    extra.write_text('versioning = "Suspended"\n')
    result = TF.load(FIXTURES / "project", IacOptions(var_files=[extra]))
    logs = by_id(result.resources)["aws_s3_bucket.logs"]
    assert logs.attributes["Versioning"]["Status"] == "Suspended"


def test_unresolved_variable_is_unknown(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(
        'variable "mode" {}\n'
        'resource "aws_s3_bucket" "b" {\n  bucket = "b"\n}\n'
        'resource "aws_s3_bucket_versioning" "v" {\n  bucket = aws_s3_bucket.b.id\n'
        "  versioning_configuration {\n    status = var.mode\n  }\n}\n"
        'resource "aws_kms_key" "k" {\n  enable_key_rotation = var.mode == "x"\n}\n'
    )
    result = TF.load(tmp_path)
    found = by_id(result.resources)
    assert found["aws_s3_bucket.b"].attributes["Versioning"]["Status"] is UNKNOWN


def test_tfparse_crash_falls_back_to_hcl2(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(
        'variable "name" {\n  default = "from-default"\n}\n'
        'resource "aws_s3_bucket" "a" {\n  bucket = var.name\n'
        '  dynamic "grant" {\n    for_each = 5\n    content {\n      id = grant.value\n    }\n  }\n}\n'
        'resource "aws_kms_key" "k" {\n  enable_key_rotation = true\n  description = upper("x")\n}\n'
    )
    result = TF.load(tmp_path)
    assert len(result.errors) == 1
    assert "python-hcl2" in str(result.errors[0])
    found = by_id(result.resources)
    assert found["aws_s3_bucket.a"].name == "from-default"
    key = found["aws_kms_key.k"]
    assert key.attributes["KeyRotationEnabled"] is True
    assert key.attributes["Description"] is UNKNOWN  # a function call is not evaluated
    assert key.origins["KeyRotationEnabled"] == "main.tf:14"


def test_invalid_hcl_keeps_other_files(tmp_path: Path) -> None:
    (tmp_path / "good.tf").write_text('resource "aws_s3_bucket" "ok" {\n  bucket = "ok"\n}\n')
    (tmp_path / "bad.tf").write_text('resource "aws_s3_bucket" "broken" {\n  bucket = \n')
    result = TF.load(tmp_path)
    assert [e.file for e in result.errors] == ["bad.tf"]
    assert len(str(result.errors[0]).splitlines()) == 1
    assert [r.id for r in result.resources] == ["aws_s3_bucket.ok"]


def test_symlink_outside_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.tf").write_text('resource "aws_s3_bucket" "secret" {\n  bucket = "secret"\n}\n')
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "main.tf").write_text('resource "aws_s3_bucket" "mine" {\n  bucket = "mine"\n}\n')
    os.symlink(outside / "secret.tf", repo / "link.tf")
    result = scan(repo)
    assert [r.id for r in result.resources] == ["aws_s3_bucket.mine"]
    assert any(e.file == "link.tf" and "outside" in e.message for e in result.errors)


def test_module_outside_root_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "main.tf").write_text('resource "aws_s3_bucket" "x" {\n  bucket = "x"\n}\n')
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "main.tf").write_text('module "shared" {\n  source = "../shared"\n}\n')
    result = TF.load(repo)
    assert result.resources == []
    assert any("outside" in str(w) for w in result.warnings)


def test_plan_json_unknown_after_apply(tmp_path: Path) -> None:
    plan = {
        "format_version": "1.2",
        "terraform_version": "1.7.0",
        "resource_changes": [
            {
                "address": "aws_s3_bucket.b",
                "mode": "managed",
                "type": "aws_s3_bucket",
                "name": "b",
                "change": {
                    "actions": ["create"],
                    "after": {"bucket": "plan-bucket"},
                    "after_unknown": {"id": True},
                },
            },
            {
                "address": "aws_s3_bucket_versioning.v",
                "mode": "managed",
                "type": "aws_s3_bucket_versioning",
                "name": "v",
                "change": {
                    "actions": ["create"],
                    "after": {
                        "bucket": "plan-bucket",
                        "versioning_configuration": [{"status": "Enabled", "mfa_delete": None}],
                    },
                    "after_unknown": {"versioning_configuration": [{"mfa_delete": True}]},
                },
            },
            {
                "address": "aws_db_instance.gone",
                "mode": "managed",
                "type": "aws_db_instance",
                "name": "gone",
                "change": {"actions": ["delete"], "after": None},
            },
        ],
    }
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan, indent=2))
    assert TF.claims(path)
    result = TF.load(path)
    assert result.errors == []
    (bucket,) = result.resources
    assert bucket.attributes["Versioning"]["Status"] == "Enabled"
    assert bucket.attributes["Versioning"]["MFADelete"] is UNKNOWN
    assert bucket.location.startswith("plan.json:")


def test_state_file(tmp_path: Path) -> None:
    state = {
        "version": 4,
        "terraform_version": "1.7.0",
        "resources": [
            {
                "mode": "managed",
                "type": "aws_security_group",
                "name": "web",
                "module": "module.net",
                "instances": [
                    {
                        "index_key": 0,
                        "attributes": {"id": "sg-123", "name": "web", "ingress": [], "egress": []},
                    }
                ],
            },
            {
                "mode": "managed",
                "type": "aws_security_group_rule",
                "name": "ssh",
                "instances": [
                    {
                        "attributes": {
                            "type": "ingress",
                            "security_group_id": "sg-123",
                            "protocol": "tcp",
                            "from_port": 22,
                            "to_port": 22,
                            "cidr_blocks": ["0.0.0.0/0"],
                        }
                    }
                ],
            },
            {"mode": "data", "type": "aws_caller_identity", "name": "me", "instances": [{"attributes": {}}]},
        ],
    }
    path = tmp_path / "terraform.tfstate"
    path.write_text(json.dumps(state))
    result = TF.load(path)
    (group,) = result.resources
    assert group.id == "module.net.aws_security_group.web[0]"
    assert group.attributes["GroupId"] == "sg-123"
    assert group.attributes["IpPermissions"][0]["FromPort"] == 22


def test_references_become_markers(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(
        'resource "aws_kms_key" "k" {}\n'
        'resource "aws_cloudtrail" "t" {\n  name = "t"\n  s3_bucket_name = "b"\n'
        "  kms_key_id = aws_kms_key.k.arn\n}\n"
    )
    (trail,) = [r for r in TF.load(tmp_path).resources if r.kind == "aws.cloudtrail.trail"]
    assert is_reference(trail.attributes["KmsKeyId"])
    assert trail.attributes["EventSelectors"][0]["ReadWriteType"] == "All"
