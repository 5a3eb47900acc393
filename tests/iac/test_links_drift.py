"""From cloud to code: `yamori cloud aws --code` and `yamori iac drift` against moto.

The account is made with boto3 (a versioned bucket, a second bucket, a security group with one
rule, a KMS key); a format-4 state (tests/fixtures/iac-drift/terraform.tfstate.in) is filled with
the ids moto assigned, as `terraform apply` would have recorded them, next to the code it came
from. Then live settings change behind Terraform's back and the drift report must list exactly
those changes — and nothing for the untouched account.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from string import Template
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result

from support.moto import MotoServer
from yamori.cli.main import app
from yamori.iac.drift import normalise
from yamori.iac.links import CodeIndex, load_code
from yamori.model.resource import Resource, Snapshot

FIXTURES = Path(__file__).parent.parent / "fixtures" / "iac-drift"
ACCOUNT = "123456789012"
LOGS, ASSETS, STRAY = "yamori-drift-logs", "yamori-drift-assets", "yamori-drift-stray"

POLICIES = """
policies:
  - id: drift-test-bucket-policy
    title: Buckets have a bucket policy
    severity: medium
    kind: aws.s3.bucket
    condition: {attr: Policy, exists: true}
    remediation: Attach a bucket policy.
"""


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def _env(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("YAMORI_DATA_DIR", str(data_dir))
    monkeypatch.setenv("YAMORI_CONFIG", str(data_dir / "no-config.yaml"))
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "YAMORI_AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


class Account:
    """The seeded moto account and the project (code + state) that manages it."""

    def __init__(self, url: str, project: Path) -> None:
        self.url = url
        self.project = project
        self.s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
        self.ec2 = boto3.client("ec2", endpoint_url=url, region_name="us-east-1")
        self.kms = boto3.client("kms", endpoint_url=url, region_name="us-east-1")
        for bucket in (LOGS, ASSETS):
            self.s3.create_bucket(Bucket=bucket)
        self.s3.put_bucket_versioning(Bucket=LOGS, VersioningConfiguration={"Status": "Enabled"})
        self.vpc = self.ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
        self.group = self.ec2.create_security_group(
            GroupName="yamori-drift-web", Description="web tier", VpcId=self.vpc
        )["GroupId"]
        self.ec2.authorize_security_group_ingress(
            GroupId=self.group,
            IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}
            ],
        )
        key = self.kms.create_key(Description="app key")["KeyMetadata"]
        policy = self.kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"]
        shutil.copytree(FIXTURES / "code", project)
        text = Template((FIXTURES / "terraform.tfstate.in").read_text()).substitute(
            KEY_ARN=key["Arn"],
            KEY_ID=key["KeyId"],
            KEY_POLICY=json.dumps(policy),
            SG_ID=self.group,
            VPC_ID=self.vpc,
            ACCOUNT=ACCOUNT,
        )
        self.state = project / "terraform.tfstate"
        self.state.write_text(text)

    def scan(self, tmp: Path, name: str, *extra: str) -> Result:
        policies = tmp / "policies.yaml"
        policies.write_text(POLICIES)
        return run(
            "cloud", "aws", "--endpoint-url", self.url, "--regions", "us-east-1",
            "--services", "s3,ec2,kms", "--policies", str(policies), "--max-attempts", "1",
            "--rate-limit", "0", "-q", "--no-store", "--save-snapshot", str(tmp / name), *extra,
        )  # fmt: skip

    def drift(self, snapshot: Path, *extra: str) -> Result:
        return run(
            "iac", "drift", "--state", str(self.state), "--code", str(self.project),
            "--snapshot", str(snapshot), *extra,
        )  # fmt: skip

    def change_behind_terraform(self) -> None:
        self.s3.put_bucket_versioning(Bucket=LOGS, VersioningConfiguration={"Status": "Suspended"})
        self.ec2.authorize_security_group_ingress(
            GroupId=self.group,
            IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
            ],
        )
        self.s3.create_bucket(Bucket=STRAY)
        self.s3.delete_bucket(Bucket=ASSETS)


@pytest.fixture
def account(moto: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Account:
    moto.reset()
    _env(monkeypatch, tmp_path / "data")
    return Account(moto.url, tmp_path / "project")


def _line(path: Path, needle: str) -> int:
    return next(i for i, text in enumerate(path.read_text().splitlines(), 1) if needle in text)


def test_cloud_findings_name_the_terraform_line(account: Account, tmp_path: Path) -> None:
    result = account.scan(tmp_path, "scan.json", "--code", str(account.project), "-f", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    findings = {(f["rule_id"], f["resource"]): f for f in report["findings"]}
    line = _line(account.project / "main.tf", 'resource "aws_s3_bucket" "logs"')
    logs = findings[("drift-test-bucket-policy", f"arn:aws:s3:::{LOGS}")]
    assert logs["evidence"]["code"] == {
        "source": "terraform",
        "address": "aws_s3_bucket.logs",
        "file": "main.tf",
        "line": line,
        "state": logs["evidence"]["code"]["state"],
    }
    state_line = int(logs["evidence"]["code"]["state"].removeprefix("terraform.tfstate:"))
    assert account.state.read_text().splitlines()[state_line - 1].strip() == '"type": "aws_s3_bucket",'
    assert logs["evidence"]["fix_in"] == f"main.tf:{line} (aws_s3_bucket.logs)"
    # Every finding over a declared resource is linked; the default security group is not.
    group_findings = [f for f in report["findings"] if account.group in f["resource"]]
    assert group_findings and all(
        f["evidence"]["code"]["address"] == "aws_security_group.web" for f in group_findings
    )
    default_group = [
        f
        for f in report["findings"]
        if "security-group/" in f["resource"] and account.group not in f["resource"]
    ]
    assert default_group and all("code" not in f["evidence"] for f in default_group)

    table = account.scan(tmp_path, "scan2.json", "--code", str(account.project), "--code", str(account.state))
    assert f"fix in: main.tf:{line} (aws_s3_bucket.logs)" in table.stdout

    state_only = account.scan(tmp_path, "scan3.json", "--code", str(account.state), "-f", "json")
    linked = {
        f["resource"]: f["evidence"]["code"]
        for f in json.loads(state_only.stdout)["findings"]
        if "code" in f["evidence"]
    }
    assert linked[f"arn:aws:s3:::{LOGS}"]["address"] == "aws_s3_bucket.logs"
    assert linked[f"arn:aws:s3:::{LOGS}"]["file"] == ""  # state alone: the address only


def test_drift_lists_exactly_what_changed(account: Account, tmp_path: Path) -> None:
    clean = account.scan(tmp_path, "before.json")
    assert clean.exit_code == 0, clean.output
    before = account.drift(tmp_path / "before.json", "-f", "json", "--fail-on-drift")
    assert before.exit_code == 0, before.output
    doc = json.loads(before.stdout)
    assert doc["drifted"] == [] and doc["unmanaged"] == [] and doc["missing"] == []
    assert doc["summary"]["matched"] == 5 - 1  # the versioning companion folds into its bucket

    account.change_behind_terraform()
    assert account.scan(tmp_path, "after.json").exit_code == 0
    after = account.drift(tmp_path / "after.json", "-f", "json")
    assert after.exit_code == 0, after.output  # drift is reported, not a failure, by default
    doc = json.loads(after.stdout)
    assert set(doc) == {
        "type",
        "states",
        "snapshot",
        "summary",
        "drifted",
        "unmanaged",
        "missing",
        "unchecked",
    }
    drifted = {(d["address"], d["path"]): d for d in doc["drifted"]}
    assert set(drifted) == {
        ("aws_s3_bucket.logs", "Versioning.Status"),
        ("aws_security_group.web", "IpPermissions"),
    }
    versioning = drifted[("aws_s3_bucket.logs", "Versioning.Status")]
    assert (versioning["declared"], versioning["live"]) == ("Enabled", "Suspended")
    assert versioning["resource"] == f"arn:aws:s3:::{LOGS}"
    # The line of the argument that sets it: the companion's `status`, not the bucket block.
    assert (versioning["file"], versioning["line"]) == (
        "main.tf",
        _line(account.project / "main.tf", 'status = "Enabled"'),
    )
    rules = drifted[("aws_security_group.web", "IpPermissions")]
    assert len(rules["declared"]) == 1 and len(rules["live"]) == 2
    assert [u["resource"] for u in doc["unmanaged"]] == [f"arn:aws:s3:::{STRAY}"]
    assert doc["unmanaged"][0] == {
        "kind": "aws.s3.bucket",
        "resource": f"arn:aws:s3:::{STRAY}",
        "name": STRAY,
        "account": ACCOUNT,
        "region": "us-east-1",
    }
    assert [(m["address"], m["kind"]) for m in doc["missing"]] == [("aws_s3_bucket.assets", "aws.s3.bucket")]
    assert doc["missing"][0]["line"] == _line(
        account.project / "main.tf", 'resource "aws_s3_bucket" "assets"'
    )
    assert doc["summary"] == {
        "matched": 3,
        "drifted_attributes": 2,
        "drifted_resources": 2,
        "unmanaged": 1,
        "missing": 1,
        "unchecked": 0,
    }

    gate = account.drift(tmp_path / "after.json", "--fail-on-drift")
    assert gate.exit_code == 1
    for text in ("Versioning.Status", "IpPermissions", STRAY, "aws_s3_bucket.assets", "Suspended"):
        assert text in gate.stdout


def _snapshot(tmp_path: Path) -> Path:
    path = tmp_path / "snap.json"
    path.write_text(json.dumps(Snapshot("aws", "2025-01-01T00:00:00Z", [ACCOUNT], ["us-east-1"]).to_json()))
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"version": 3, "resources": []}', "Terraform state format 3 is not supported"),
        ("terraform {\n}\n", "not a Terraform state file: invalid JSON"),
        ('{"version": 4}', "not a Terraform state file (no top-level resources list)"),
    ],
)
def test_bad_state_is_one_line_exit_2(tmp_path: Path, content: str, message: str) -> None:
    state = tmp_path / "terraform.tfstate"
    state.write_text(content)
    result = run("iac", "drift", "--state", str(state), "--snapshot", str(_snapshot(tmp_path)))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert result.stderr.startswith("yamori: error: ")


def test_cloud_aws_code_refuses_a_bad_state_before_calling_aws(tmp_path: Path) -> None:
    state = tmp_path / "old.tfstate"
    state.write_text('{"version": 3, "resources": []}')
    result = run("cloud", "aws", "--code", str(state), "--endpoint-url", "http://127.0.0.1:9", "-q")
    assert result.exit_code == 2
    assert result.stderr.strip().endswith("(expected 4; run `terraform state pull` with Terraform >= 0.12)")
    missing = run(
        "iac", "drift", "--state", str(tmp_path / "none.tfstate"), "--snapshot", str(_snapshot(tmp_path))
    )
    assert missing.exit_code == 2 and "no such state file" in missing.stderr
    no_snapshot = run("iac", "drift", "--state", str(state), "--snapshot", str(tmp_path / "nope.json"))
    assert no_snapshot.exit_code == 2 and no_snapshot.stderr.count("\n") == 1


def test_cloudformation_tags_link_to_the_template_line() -> None:
    index: CodeIndex = load_code([FIXTURES / "cfn"])
    live = Resource(
        kind="aws.s3.bucket",
        id="arn:aws:s3:::yamori-cfn-bucket-1a2b",
        name="yamori-cfn-bucket-1a2b",
        attributes={"Name": "yamori-cfn-bucket-1a2b"},
        tags={"aws:cloudformation:stack-name": "app", "aws:cloudformation:logical-id": "Bucket"},
    )
    link = index.link(live)
    assert link is not None
    line = _line(FIXTURES / "cfn" / "app.yaml", "  Bucket:")
    assert link.to_json() == {
        "source": "cloudformation",
        "address": "Bucket",
        "file": "app.yaml",
        "line": line,
        "stack": "app",
        "logical_id": "Bucket",
    }
    assert link.label() == f"app.yaml:{line} (stack app, Bucket)"
    other = Resource(kind="aws.s3.bucket", id="arn:aws:s3:::x", tags={"aws:cloudformation:stack-name": "db"})
    assert index.link(other) is None


def test_code_without_state_links_by_literal_bucket_name() -> None:
    index = load_code([FIXTURES / "code"])
    live = Resource(kind="aws.s3.bucket", id=f"arn:aws:s3:::{LOGS}", attributes={"Name": LOGS})
    link = index.link(live)
    assert link is not None and link.address == "aws_s3_bucket.logs" and link.file == "main.tf"


def _grant(port: int, *cidrs: str) -> dict[str, Any]:
    return {
        "IpProtocol": "tcp",
        "FromPort": port,
        "ToPort": port,
        "IpRanges": [{"CidrIp": c} for c in cidrs],
        "Ipv6Ranges": [],
        "UserIdGroupPairs": [],
        "PrefixListIds": [],
    }


def test_normalisation() -> None:
    merged = [_grant(443, "10.0.0.0/8", "192.168.0.0/16")]
    split = [_grant(443, "192.168.0.0/16"), _grant(443, "10.0.0.0/8")]
    assert normalise("IpPermissions", merged) == normalise("IpPermissions", split)
    one = {"Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}}
    statement = {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["*"]}
    two = json.dumps({"Version": "2008-10-17", "Statement": [statement]})
    assert normalise("Policy", one) == normalise("Policy", two)
    assert normalise("Policy", "") is None
    assert normalise("Aliases", ["alias/b", "alias/a"]) == normalise("Aliases", ["alias/a", "alias/b"])
    assert normalise("ServerSideEncryptionConfiguration", {"Rules": []}) is None
    assert normalise("Versioning.MFADelete", None) == normalise("Versioning.MFADelete", "Disabled")
