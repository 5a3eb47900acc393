"""`yamori cloud aws | diff | snapshots` end to end against moto's server over HTTP.

The account is seeded once per module and scanned once into a module data dir; the format,
suppression and gate tests re-evaluate that stored scan (``--from-snapshot latest``) with the
endpoint pointed at a closed port, which also proves re-evaluation never calls AWS. The diff test
scans twice into its own data dir around one change made in moto.

A small policy file of the tests' own (``test-*`` ids, mapped to CIS AWS 3.0 controls) is always
passed with ``--policies`` so the assertions hold whatever builtin CIS policies exist; the
assertions about builtin CIS policies apply once they are installed.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.validate import validate_parameters
from click.testing import CliRunner, Result

from support.moto import MotoServer
from support.registry import free_port
from yamori.cli.main import app
from yamori.policy import builtin_policies

ACCOUNT = "123456789012"
REGIONS = "us-east-1,eu-west-1"
BUCKET = "yamori-cloud-test-bucket"
SG_NAME = "yamori-open-ssh"

TEST_POLICIES = """
policies:
  - id: test-s3-versioning
    title: S3 buckets keep object versions
    severity: medium
    kind: aws.s3.bucket
    condition: {attr: Versioning.Status, eq: Enabled}
    remediation: Enable versioning on the bucket.
    compliance: {cis-aws-3.0: ["2.1.3"]}
  - id: test-sg-no-world-ssh
    title: Security groups do not open SSH to the world
    severity: high
    kind: aws.ec2.security_group
    condition:
      attr: IpPermissions
      none:
        all:
          - {attr: "IpRanges[*].CidrIp", contains: "0.0.0.0/0"}
          - {attr: FromPort, le: 22}
          - {attr: ToPort, ge: 22}
    remediation: Remove the 0.0.0.0/0 rule on port 22.
    compliance: {cis-aws-3.0: ["5.2"]}
  - id: test-access-analyzer
    title: IAM Access Analyzer is enabled
    severity: low
    kind: aws.accessanalyzer.settings
    condition: {attr: Analyzers, length_gt: 0}
    remediation: Create an analyzer in every region.
    compliance: {cis-aws-3.0: ["1.20"]}
"""


def _env(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("YAMORI_DATA_DIR", str(data_dir))
    monkeypatch.setenv("YAMORI_CONFIG", str(data_dir / "no-config.yaml"))
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "YAMORI_AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


def _seed(url: str) -> None:
    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    ec2 = boto3.client("ec2", endpoint_url=url, region_name="us-east-1")
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    group = ec2.create_security_group(GroupName=SG_NAME, Description="ssh", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
        ],
    )
    iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1")
    iam.create_user(UserName="alice")
    iam.create_access_key(UserName="alice")


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def scan_args(url: str, policy_file: Path, *extra: str) -> list[str]:
    # One attempt per call: moto answers HTTP 500 for APIs it lacks, and adaptive retries of
    # those would only make the test slow (the finding is ERROR either way).
    return [
        "cloud", "aws", "--endpoint-url", url, "--regions", REGIONS, "--framework", "cis-aws-3.0",
        "--policies", str(policy_file), "--max-attempts", "1", "--rate-limit", "0", "-q", *extra,
    ]  # fmt: skip


def closed_endpoint() -> str:
    return f"http://127.0.0.1:{free_port()}"


class Scanned:
    def __init__(self, url: str, data_dir: Path, policy_file: Path, report: dict[str, Any], stderr: str):
        self.url = url
        self.data_dir = data_dir
        self.policy_file = policy_file
        self.report = report
        self.stderr = stderr

    def offline(self, *extra: str) -> Result:
        """Re-evaluate the stored scan with AWS unreachable."""
        return run(
            "cloud", "aws", "--from-snapshot", "latest", "--endpoint-url", closed_endpoint(),
            "--framework", "cis-aws-3.0", "--policies", str(self.policy_file), "-q", *extra,
        )  # fmt: skip


@pytest.fixture(scope="module")
def scanned(moto: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scanned]:
    base = tmp_path_factory.mktemp("cloud")
    policy_file = base / "test-policies.yaml"
    policy_file.write_text(TEST_POLICIES)
    with pytest.MonkeyPatch.context() as monkeypatch:
        _env(monkeypatch, base / "data")
        moto.reset()
        _seed(moto.url)
        result = run(*scan_args(moto.url, policy_file, "-f", "json"))
        assert result.exit_code == 0, result.stderr
        yield Scanned(moto.url, base / "data", policy_file, json.loads(result.stdout), result.stderr)


@pytest.fixture
def env(scanned: Scanned, monkeypatch: pytest.MonkeyPatch) -> Scanned:
    _env(monkeypatch, scanned.data_dir)
    return scanned


def by_rule(report: dict[str, Any], rule: str) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["rule_id"] == rule]


def test_scan_reports_pass_fail_error_and_stores_the_snapshot(env: Scanned) -> None:
    report = env.report
    assert report["scan"]["accounts"] == [ACCOUNT]
    assert report["scan"]["regions"] == ["us-east-1", "eu-west-1"]
    assert report["scan"]["api_calls"] > 0
    statuses = {f["status"] for f in report["findings"]}
    assert {"PASS", "FAIL", "ERROR"} <= statuses
    # the seeded bucket fails versioning; the open security group fails, default groups pass
    assert [f["status"] for f in by_rule(report, "test-s3-versioning") if BUCKET in f["resource"]] == ["FAIL"]
    ssh = by_rule(report, "test-sg-no-world-ssh")
    assert {f["status"] for f in ssh} == {"PASS", "FAIL"}
    assert [f["region"] for f in ssh if f["status"] == "FAIL"] == ["us-east-1"]
    # moto lacks Access Analyzer: ERROR in both regions, and a one-line warning on stderr
    analyzer = by_rule(report, "test-access-analyzer")
    assert sorted(f["region"] for f in analyzer) == ["eu-west-1", "us-east-1"]
    assert {f["status"] for f in analyzer} == {"ERROR"}
    assert "yamori: warning: aws.accessanalyzer.settings Analyzers not collected" in env.stderr
    # every finding cites the framework; the summary scores it
    assert all(any(c.startswith("cis-aws-3.0:") for c in f["compliance"]) for f in report["findings"])
    summary = report["summary"]["framework"]
    controls = {c["id"]: c for c in summary["controls"]}
    assert controls["5.2"]["status"] == "FAIL"
    assert controls["1.20"]["status"] == "ERROR"
    assert summary["failed"] >= 2 and summary["score"] is not None
    stored = list((env.data_dir / "cloud" / "aws" / ACCOUNT).glob("*.json.zst"))
    assert len(stored) == 1
    assert report["scan"]["stored_at"] == str(stored[0])


def test_builtin_cis_policies_are_evaluated_when_installed(env: Scanned) -> None:
    cis = [p for p in builtin_policies() if "cis-aws-3.0" in p.compliance]
    if not cis:
        pytest.skip("no builtin CIS AWS 3.0 policies installed yet")
    rules = {f["rule_id"] for f in env.report["findings"]}
    # policies over kinds the account has none of (no KMS keys here) give no finding; manual
    # checks always give one per account (a policy added after the module's scan is not counted)
    assert rules & {p.id for p in cis}
    manual = {p.id for p in cis if p.manual}
    assert manual & rules or not manual
    # the seeded world-open SSH group is caught by the builtin 5.2 policies too
    builtin_52 = [p.id for p in cis if "5.2" in p.compliance["cis-aws-3.0"]]
    if builtin_52:
        assert any(f["status"] == "FAIL" for rule in builtin_52 for f in by_rule(env.report, rule)), (
            builtin_52
        )


def _keyed(report: dict[str, Any], rules: set[str]) -> list[tuple[str, str, str]]:
    return sorted((f["id"], f["status"], f["severity"]) for f in report["findings"] if f["rule_id"] in rules)


def _rules(report: dict[str, Any]) -> set[str]:
    return {f["rule_id"] for f in report["findings"]}


def test_from_snapshot_gives_the_same_findings_without_aws(env: Scanned) -> None:
    result = env.offline("-f", "json")
    assert result.exit_code == 0, result.stderr
    again = json.loads(result.stdout)
    # compared over the policies both runs had (builtin policies may be added between runs)
    common = _rules(again) & _rules(env.report)
    assert {"test-s3-versioning", "test-sg-no-world-ssh", "test-access-analyzer"} <= common
    assert _keyed(again, common) == _keyed(env.report, common)
    # re-evaluation does not store another scan
    assert len(list((env.data_dir / "cloud" / "aws" / ACCOUNT).glob("*.json.zst"))) == 1
    listing = run("cloud", "snapshots", "-f", "json")
    rows = json.loads(listing.stdout)
    assert len(rows) == 1 and rows[0]["accounts"] == [ACCOUNT]
    assert rows[0]["findings"] == len(env.report["findings"])  # what was stored with the scan


def test_ocsf_output(env: Scanned) -> None:
    result = env.offline("-f", "ocsf")
    assert result.exit_code == 0, result.stderr
    events = json.loads(result.stdout)
    assert len(events) >= len(by_rule(env.report, "test-sg-no-world-ssh"))
    for event in events:
        for key in (
            "activity_id",
            "category_uid",
            "class_uid",
            "type_uid",
            "severity_id",
            "time",
            "metadata",
        ):
            assert key in event, key
        assert (event["class_uid"], event["category_uid"], event["type_uid"]) == (2004, 2, 200401)
        assert event["metadata"]["product"]["name"] == "yamori" and event["metadata"]["version"]
        assert event["finding_info"]["uid"] and event["finding_info"]["title"]
        assert event["resources"][0]["uid"]
        compliance = event["compliance"]
        assert compliance["standards"] and compliance["control"]
        assert compliance["status_id"] in (0, 1, 2, 3)
        assert 0 <= event["severity_id"] <= 6 and event["status_id"] in (1, 3)
    failing = [e for e in events if e["status_code"] == "FAIL"]
    assert failing and all(e["compliance"]["status"] == "Fail" for e in failing)


def test_asff_output_imports_into_security_hub(env: Scanned) -> None:
    result = env.offline("-f", "asff")
    assert result.exit_code == 0, result.stderr
    findings = json.loads(result.stdout)
    hub = boto3.client("securityhub", endpoint_url=env.url, region_name="us-east-1")
    shape = hub.meta.service_model.operation_model("BatchImportFindings").input_shape
    for finding in findings:
        validate_parameters({"Findings": [finding]}, shape)  # botocore's own model of the API
        assert finding["SchemaVersion"] == "2018-10-08"
        assert finding["ProductArn"] == (
            f"arn:aws:securityhub:{finding['Region']}:{ACCOUNT}:product/{ACCOUNT}/default"
        )
        assert finding["Compliance"]["Status"] in ("PASSED", "FAILED", "WARNING", "NOT_AVAILABLE")
        assert {"Type", "Id", "Region"} <= set(finding["Resources"][0])
    failed = [f for f in findings if f["Compliance"]["Status"] == "FAILED"]
    assert failed and all(f["Remediation"]["Recommendation"]["Text"] for f in failed)
    home = [f for f in findings if f["Region"] == "us-east-1"][:100]
    answer = hub.batch_import_findings(Findings=home)
    assert answer["FailedCount"] == 0 and answer["SuccessCount"] == len(home)


def test_csv_output(env: Scanned) -> None:
    result = env.offline("-f", "csv")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {"finding_id", "status", "severity", "policy_id", "resource", "compliance"} <= set(rows[0])
    ids = {f["id"] for f in by_rule(env.report, "test-sg-no-world-ssh")}
    assert ids <= {r["finding_id"] for r in rows}
    assert len(rows) == len({r["finding_id"] for r in rows})  # one row per finding


def test_table_output_by_control_and_by_resource(env: Scanned) -> None:
    result = env.offline()
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "5.2" in out and "2.1.3" in out and "1.20" in out
    assert "score" in out and "coverage" in out
    assert "Remove the 0.0.0.0/0 rule on port 22." in out  # remediation under the FAIL row
    assert "condition holds" not in out  # PASS rows hidden by default
    shown = env.offline("--show-pass", "--group-by", "resource")
    assert "condition holds" in shown.stdout
    assert SG_NAME in shown.stdout or "security-group/" in shown.stdout


def test_fail_on_gate(env: Scanned) -> None:
    assert env.offline("-f", "json", "--fail-on", "high").exit_code == 1
    assert env.offline("-f", "json", "--fail-on", "HIGH", "-o", str(env.data_dir / "r.json")).exit_code == 1
    assert json.loads((env.data_dir / "r.json").read_text())["findings"]


def test_suppressions_file(env: Scanned, tmp_path: Path) -> None:
    rules = tmp_path / "accepted.yaml"
    rules.write_text(
        "suppressions:\n"
        "  - policy: test-sg-no-world-ssh\n"
        "    resource: '*'\n"
        "    reason: bastion reviewed in SEC-1\n"
    )
    result = env.offline("-f", "json", "--suppressions", str(rules), "--policies", str(env.policy_file))
    # the policy file given twice is a duplicate-id error: one line, exit 2
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    result = env.offline("-f", "json", "--suppressions", str(rules))
    assert result.exit_code == 0, result.stderr
    ssh = by_rule(json.loads(result.stdout), "test-sg-no-world-ssh")
    suppressed = [f for f in ssh if f["status"] == "SUPPRESSED"]
    assert len(suppressed) == 1
    assert suppressed[0]["evidence"]["suppression"]["reason"] == "bastion reviewed in SEC-1"
    assert suppressed[0]["evidence"]["suppression"]["status"] == "FAIL"


def test_no_credentials_is_one_line_and_exit_2(
    env: Scanned, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    result = run(*scan_args(env.url, env.policy_file))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no AWS credentials" in lines[0], result.stderr
    assert result.stdout == ""


def test_usage_errors_exit_2(env: Scanned) -> None:
    for args in (
        ["-f", "sarif"],
        ["--framework", "no-such-framework"],
        ["--from-snapshot", str(env.data_dir / "missing.json.zst")],
    ):
        result = (
            run("cloud", "aws", "--from-snapshot", "latest", *args)
            if args[0] != "--from-snapshot"
            else run("cloud", "aws", *args)
        )
        assert result.exit_code == 2, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_diff_shows_exactly_the_changed_finding(
    moto: MotoServer, scanned: Scanned, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _env(monkeypatch, tmp_path / "data")
    first = run(*scan_args(moto.url, scanned.policy_file, "-f", "json"))
    assert first.exit_code == 0, first.stderr
    s3 = boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1")
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    try:
        second = run(*scan_args(moto.url, scanned.policy_file, "-f", "json"))
        assert second.exit_code == 0, second.stderr
    finally:
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Suspended"})
    result = run("cloud", "diff", "previous", "latest", "-f", "json")
    assert result.exit_code == 0, result.stderr
    diff = json.loads(result.stdout)
    changed = diff["findings"]["changed"]
    assert [(c["rule_id"], c["status"]) for c in changed] == [
        ("test-s3-versioning", {"before": "FAIL", "after": "PASS"})
    ], changed
    assert BUCKET in changed[0]["resource"]
    assert diff["findings"]["new"] == [] and diff["findings"]["resolved"] == []
    bucket = [c for c in diff["resources"]["changed"] if BUCKET in c["id"]]
    assert bucket and "Versioning" in bucket[0]["changed"]
    table = run("cloud", "diff", "previous", "latest")
    assert "FAIL → PASS" in table.stdout and "1 changed" in table.stdout
    assert (
        len(
            run("cloud", "snapshots", "-f", "json").stdout
            and json.loads(run("cloud", "snapshots", "-f", "json").stdout)
        )
        == 2
    )


def test_config_defaults_and_save_snapshot(
    env: Scanned, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("cloud:\n  aws:\n    format: csv\n")
    monkeypatch.setenv("YAMORI_CONFIG", str(config))
    saved = tmp_path / "scan.json.zst"
    result = env.offline("--save-snapshot", str(saved))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("finding_id,status,")  # format from the config file
    again = run("cloud", "aws", "--from-snapshot", str(saved), "-f", "json", "-q")
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["scan"]["resources"] == env.report["scan"]["resources"]


def test_several_accounts_by_assumed_role(
    moto: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--role-arn once per account: each account is collected with its own assumed credentials
    (moto keeps one state per account), and findings carry the account they belong to."""
    _env(monkeypatch, tmp_path / "data")
    moto.reset()
    accounts = {"111111111111": "alice", "222222222222": "bob"}
    for account, user in accounts.items():
        creds = boto3.client("sts", endpoint_url=moto.url, region_name="us-east-1").assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/audit", RoleSessionName="seed"
        )["Credentials"]
        iam = boto3.client(
            "iam",
            endpoint_url=moto.url,
            region_name="us-east-1",
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )
        iam.create_user(UserName=user)
        iam.create_access_key(UserName=user)
    result = run(
        "cloud", "aws", "--endpoint-url", moto.url, "--regions", "us-east-1", "--services", "iam",
        "--role-arn", "arn:aws:iam::111111111111:role/audit",
        "--role-arn", "arn:aws:iam::222222222222:role/audit",
        "--max-attempts", "1", "--rate-limit", "0", "-q", "-f", "json",
    )  # fmt: skip
    assert result.exit_code in (0, 1), result.stderr
    report = json.loads(result.stdout)
    users = {
        (f["account"], f["resource"].rsplit("/", 1)[-1])
        for f in report["findings"]
        if f["resource"].startswith("arn:aws:iam::") and ":user/" in f["resource"]
    }
    assert users == {("111111111111", "alice"), ("222222222222", "bob")}


def test_all_accounts_of_an_organization(
    moto: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--org-role-name: the organization's accounts are listed and each is scanned through the
    role assumed in it; the caller's own account with the caller's credentials."""
    _env(monkeypatch, tmp_path / "data")
    moto.reset()
    org = boto3.client("organizations", endpoint_url=moto.url, region_name="us-east-1")
    org.create_organization(FeatureSet="ALL")
    created = {
        org.create_account(Email=f"{name}@example.com", AccountName=name)["CreateAccountStatus"]["AccountId"]
        for name in ("prod", "dev")
    }
    result = run(
        "cloud", "aws", "--endpoint-url", moto.url, "--regions", "us-east-1", "--services", "iam",
        "--org-role-name", "OrganizationAccountAccessRole",
        "--max-attempts", "1", "--rate-limit", "0", "-q", "-f", "json",
    )  # fmt: skip
    assert result.exit_code in (0, 1), result.stderr
    report = json.loads(result.stdout)
    scanned = {f["account"] for f in report["findings"]}
    assert created <= scanned
    assert "123456789012" in scanned  # moto's default (management) account, the caller
