"""`yamori iac` end to end through the CLI, on fixture projects: a Terraform module with a
variable left unset (UNKNOWN), CloudFormation YAML and JSON templates with inline skips, a broken
template next to a good one. Every output format is parsed (SARIF against the OASIS schema)."""

from __future__ import annotations

import csv
import io
import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from jsonschema import FormatChecker
from jsonschema.validators import validator_for

from yamori.cli.main import app

FIXTURES = Path(__file__).parent.parent / "fixtures" / "iac-cli"
SARIF_SCHEMA = Path(__file__).parent.parent / "fixtures" / "sarif" / "sarif-schema-2.1.0.json"
SSH = "aws-ec2-sg-no-public-ipv4-ingress-ssh"
RDS_ENCRYPTED = "aws-rds-instance-storage-encrypted"
RDS_PUBLIC = "aws-rds-instance-not-public"


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A writable copy of the fixtures: tf/, cfn/, broken/."""
    root = tmp_path / "repo"
    shutil.copytree(FIXTURES, root)
    shutil.rmtree(root / "broken-only")
    return root


def report(result: Result) -> dict[str, Any]:
    assert result.exit_code in (0, 1), result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def findings(doc: dict[str, Any], rule: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
    return [
        f
        for f in doc["findings"]
        if (rule is None or f["rule_id"] == rule) and (status is None or f["status"] == status)
    ]


def one(doc: dict[str, Any], rule: str, resource: str) -> dict[str, Any]:
    hits = [f for f in doc["findings"] if f["rule_id"] == rule and f["resource"] == resource]
    assert len(hits) == 1, (rule, resource, [f["resource"] for f in findings(doc, rule)])
    return hits[0]


# --- findings, locations, UNKNOWN -----------------------------------------------------------


def test_terraform_findings_name_file_and_line_and_unknown_is_apart(project: Path) -> None:
    doc = report(run("iac", project / "tf", "-f", "json"))
    ssh = one(doc, SSH, "aws_security_group.ssh")  # the module is the root: bare address
    assert ssh["status"] == "FAIL"
    assert ssh["evidence"]["location"] == "main.tf:6"
    # storage_encrypted = var.db_encrypted, with no default and no tfvars: UNKNOWN, not FAIL
    unknown = one(doc, RDS_ENCRYPTED, "aws_db_instance.app")
    assert unknown["status"] == "UNKNOWN"
    assert unknown["evidence"]["location"] == "main.tf:18"
    # the attribute the policy read is located too
    public = one(doc, RDS_PUBLIC, "aws_db_instance.scratch")
    assert public["evidence"]["origins"]["PubliclyAccessible"] == "main.tf:32"


def test_var_file_resolves_the_unknown(project: Path, tmp_path: Path) -> None:
    var_file = tmp_path / "prod.tfvars"
    var_file.write_text("db_encrypted = false\n")
    doc = report(run("iac", project / "tf", "-f", "json", "--var-file", var_file))
    assert one(doc, RDS_ENCRYPTED, "aws_db_instance.app")["status"] == "FAIL"


def test_unknown_never_fails_the_gate(project: Path) -> None:
    # Only the UNKNOWN encryption result would reach CRITICAL... none is FAIL at CRITICAL here;
    # the gate at LOW fails on the real FAILs, and a project whose only problem is UNKNOWN passes.
    only_unknown = project / "unknown-only"
    only_unknown.mkdir()
    (only_unknown / "main.tf").write_text(
        'variable "enc" { type = bool }\n'
        'resource "aws_db_instance" "x" {\n'
        '  identifier = "x"\n  engine = "postgres"\n  instance_class = "db.t3.micro"\n'
        "  storage_encrypted = var.enc\n  auto_minor_version_upgrade = true\n}\n"
    )
    result = run("iac", only_unknown, "-f", "json", "--fail-on", "LOW")
    doc = report(result)
    assert findings(doc, RDS_ENCRYPTED, "UNKNOWN")
    assert not findings(doc, status="FAIL")
    assert result.exit_code == 0


def test_mixed_directory_scans_every_dialect_with_qualified_ids(project: Path) -> None:
    doc = report(run("iac", project, "-f", "json"))
    resources = {f["resource"] for f in doc["findings"]}
    assert "tf#aws_security_group.ssh" in resources
    assert "cfn/template.yaml#Jump" in resources
    assert "cfn/database.json#Db" in resources
    assert "broken/good.yaml#Open" in resources
    assert one(doc, SSH, "tf#aws_security_group.ssh")["evidence"]["location"] == "tf/main.tf:6"


def test_several_paths_report_relative_to_what_they_share(project: Path) -> None:
    doc = report(run("iac", project / "tf", project / "cfn" / "template.yaml", "-f", "json"))
    assert one(doc, SSH, "tf#aws_security_group.ssh")["evidence"]["location"] == "tf/main.tf:6"
    assert {f["resource"] for f in doc["findings"]} >= {"cfn/template.yaml#Trail"}


def test_account_scoped_any_policies_are_unknown_in_code(project: Path) -> None:
    """A template with a trail and no alarms does not prove the account has none."""
    doc = report(run("iac", project / "cfn", "-f", "json"))
    alarm = findings(doc, "aws-cloudwatch-alarm-root-account-usage")
    assert [f["status"] for f in alarm] == ["UNKNOWN"]
    assert alarm[0]["evidence"]["location"] == "template.yaml:15"
    assert "not declared in the scanned code" in alarm[0]["evidence"]["message"]


# --- gate and exit codes --------------------------------------------------------------------


def test_fail_on_gate(project: Path) -> None:
    assert run("iac", project / "tf", "-q").exit_code == 0  # no --fail-on: report only
    assert run("iac", project / "tf", "--fail-on", "HIGH").exit_code == 1
    assert run("iac", project / "tf", "--fail-on", "critical").exit_code == 0


def test_usage_errors_exit_2(project: Path, tmp_path: Path) -> None:
    missing = run("iac", tmp_path / "nope")
    assert missing.exit_code == 2
    assert "no such file or directory" in missing.stderr
    assert run("iac", project / "tf", tmp_path / "nope").exit_code == 2  # one good path does not hide it
    assert run("iac", project, "-f", "yaml").exit_code == 2
    assert run("iac", project, "--framework", "no-such-framework").exit_code == 2
    assert run("iac", project, "--baseline", tmp_path / "absent.json").exit_code == 2
    bad_policy = tmp_path / "bad.yaml"
    bad_policy.write_text("policies:\n  - id: x\n")
    result = run("iac", project, "--policies", bad_policy)
    assert result.exit_code == 2
    assert result.stderr.count("\n") <= 2 and "Traceback" not in result.stderr


def test_broken_file_is_a_warning_and_keeps_the_others(project: Path) -> None:
    result = run("iac", project / "broken", "-f", "json", "--fail-on", "HIGH")
    assert result.exit_code == 1  # the good template's open SSH still gates
    assert "bad.yaml: invalid YAML" in result.stderr
    assert len([line for line in result.stderr.splitlines() if "bad.yaml" in line]) == 1
    doc = json.loads(result.stdout)
    assert one(doc, SSH, "good.yaml#Open")["status"] == "FAIL"
    assert next(e["message"] for e in doc["scan"]["collection_errors"]).startswith("bad.yaml: invalid YAML")


def test_nothing_scannable_exits_2() -> None:
    result = run("iac", FIXTURES / "broken-only")
    assert result.exit_code == 2
    assert "nothing could be scanned" in result.stderr


def test_directory_without_code_is_a_warning(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("nothing here\n")
    result = run("iac", tmp_path, "-f", "json")
    assert result.exit_code == 0
    assert "no infrastructure code found" in result.stderr
    assert json.loads(result.stdout)["findings"] == []


# --- inline skips ---------------------------------------------------------------------------


def test_inline_skips_all_forms(project: Path) -> None:
    result = run("iac", project, "-f", "json")
    doc = report(result)
    hcl_hash = one(doc, RDS_ENCRYPTED, "tf#aws_db_instance.scratch")  # `#` comment above
    assert hcl_hash["status"] == "SUPPRESSED"
    assert hcl_hash["evidence"]["suppression"] == {
        "status": "FAIL",
        "reason": "scratch database, holds no data",
        "source": "tf/main.tf:26 (inline comment)",
    }
    hcl_slashes = one(doc, "aws-kms-cmk-rotation-enabled", "tf#aws_kms_key.logs")  # `//` on the line
    assert hcl_slashes["status"] == "SUPPRESSED"
    yaml_comment = one(doc, "aws-ec2-sg-no-public-ipv4-ingress-rdp", "cfn/template.yaml#Jump")
    assert yaml_comment["status"] == "SUPPRESSED"
    assert yaml_comment["evidence"]["suppression"]["source"] == "cfn/template.yaml:4 (inline comment)"
    metadata = one(doc, RDS_ENCRYPTED, "cfn/database.json#Db")
    assert metadata["status"] == "SUPPRESSED"
    assert metadata["evidence"]["suppression"]["reason"] == "encrypted at the application layer"
    # A skip without a reason is a warning and is not applied
    assert one(doc, RDS_PUBLIC, "tf#aws_db_instance.scratch")["status"] == "FAIL"
    assert one(doc, "aws-rds-instance-auto-minor-version-upgrade", "cfn/database.json#Db")["status"] == "FAIL"
    assert "tf/main.tf:27: yamori:ignore aws-rds-instance-not-public has no reason" in result.stderr
    assert (
        "cfn/database.json:10: yamori:ignore aws-rds-instance-auto-minor-version-upgrade has no reason"
        in (result.stderr)
    )


def test_skipped_findings_do_not_gate(project: Path) -> None:
    jump = project / "cfn" / "template.yaml"
    assert run("iac", jump, "--fail-on", "LOW").exit_code == 1  # the trail's KMS/validation FAILs
    text = jump.read_text()
    trail = text.index("  Trail:")
    jump.write_text(text[:trail])  # only the skipped security group remains
    assert run("iac", jump, "--fail-on", "LOW").exit_code == 0
    assert run("iac", jump, "--fail-on", "LOW", "--no-inline-skips").exit_code == 1


def test_no_inline_skips_reports_fail_and_lists_the_skips(project: Path) -> None:
    result = run("iac", project, "-f", "json", "--no-inline-skips")
    doc = report(result)
    assert one(doc, RDS_ENCRYPTED, "tf#aws_db_instance.scratch")["status"] == "FAIL"
    assert one(doc, RDS_ENCRYPTED, "cfn/database.json#Db")["status"] == "FAIL"
    assert not findings(doc, status="SUPPRESSED")
    assert "tf/main.tf:26: inline skip of aws-rds-instance-storage-encrypted" in result.stderr
    assert "not applied (--no-inline-skips)" in result.stderr
    assert "cfn/database.json:9: inline skip" in result.stderr


# --- baseline -------------------------------------------------------------------------------


def test_baseline_only_new_fails_and_line_moves_do_not_matter(project: Path, tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    created = run("iac", project / "tf", "--create-baseline", baseline, "-f", "json")
    assert created.exit_code == 0 and "wrote 2 findings to baseline" in created.stderr
    entries = json.loads(baseline.read_text())["findings"]
    assert {(e["policy"], e["resource"]) for e in entries} == {
        (SSH, "aws_security_group.ssh"),
        (RDS_PUBLIC, "aws_db_instance.scratch"),
    }
    assert run("iac", project / "tf", "--baseline", baseline, "--fail-on", "LOW").exit_code == 0

    main = project / "tf" / "main.tf"
    # Lines added above every resource: nothing becomes new.
    main.write_text("# a header comment\n\n" + main.read_text())
    moved = run("iac", project / "tf", "--baseline", baseline, "--fail-on", "LOW", "-f", "json")
    assert moved.exit_code == 0, moved.stdout
    doc = json.loads(moved.stdout)
    ssh = one(doc, SSH, "aws_security_group.ssh")
    assert ssh["status"] == "SUPPRESSED" and ssh["evidence"]["baseline"] == "unchanged"
    assert ssh["evidence"]["location"] == "main.tf:8"

    # A new problem fails, and only it.
    main.write_text(
        main.read_text()
        + '\nresource "aws_security_group" "new" {\n  name = "new"\n  description = "x"\n'
        + '  ingress {\n    from_port = 22\n    to_port = 22\n    protocol = "tcp"\n'
        + '    cidr_blocks = ["0.0.0.0/0"]\n  }\n}\n'
    )
    new = run("iac", project / "tf", "--baseline", baseline, "--fail-on", "LOW", "-f", "json")
    assert new.exit_code == 1
    failing = findings(json.loads(new.stdout), status="FAIL")
    assert [(f["rule_id"], f["resource"], f["evidence"]["baseline"]) for f in failing] == [
        (SSH, "aws_security_group.new", "new")
    ]
    table = run("iac", project / "tf", "--baseline", baseline)
    assert "baselined 2" in table.stdout and "FAIL 1 (1 new)" in table.stdout


def test_fixed_baseline_entries_are_reported(project: Path, tmp_path: Path) -> None:
    baseline = tmp_path / "b.json"
    run("iac", project / "tf", "--create-baseline", baseline)
    main = project / "tf" / "main.tf"
    main.write_text(main.read_text().replace('cidr_blocks = ["0.0.0.0/0"]', 'cidr_blocks = ["10.0.0.0/8"]'))
    result = run("iac", project / "tf", "--baseline", baseline)
    assert "1 baseline entries no longer fail" in result.stderr


# --- output formats -------------------------------------------------------------------------


def test_table_shows_failing_rows_with_lines_and_unknown_apart(project: Path) -> None:
    plain = run("iac", project / "tf")
    assert plain.exit_code == 0
    assert "main.tf:6" in plain.stdout and SSH in plain.stdout
    assert "UNKNOWN 1 (--show-unknown to list)" in plain.stdout
    assert "aws_db_instance.app" not in plain.stdout
    shown = run("iac", project / "tf", "--show-unknown", "--show-pass")
    assert "Unknown (values the code leaves open" in shown.stdout
    assert "aws_db_instance.app" in shown.stdout
    assert "skipped" in shown.stdout and "scratch database" in shown.stdout


def test_sarif_is_valid_and_points_at_lines(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.sarif"
    result = run("iac", project, "-f", "sarif", "-o", out)
    assert result.exit_code == 0
    log = json.loads(out.read_text())
    schema = json.loads(SARIF_SCHEMA.read_text())
    errors = list(validator_for(schema)(schema, format_checker=FormatChecker()).iter_errors(log))
    assert not errors, errors[0].message
    run_ = log["runs"][0]
    assert run_["originalUriBaseIds"]["%SRCROOT%"]["uri"] == (project.resolve().as_uri() + "/")
    rules = {r["id"]: r for r in run_["tool"]["driver"]["rules"]}
    assert rules[SSH]["help"]["text"].startswith("Remove the rule")
    assert rules[SSH]["defaultConfiguration"]["level"] == "error"
    by_key = {
        (r["ruleId"], r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]): r
        for r in run_["results"]
    }
    ssh = by_key[(SSH, "tf#aws_security_group.ssh")]
    physical = ssh["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"] == {"uri": "tf/main.tf", "uriBaseId": "%SRCROOT%"}
    assert physical["region"]["startLine"] == 6
    assert ssh["level"] == "error" and ssh["kind"] == "fail"
    assert len(ssh["partialFingerprints"]["yamoriFindingId/v1"]) == 32
    public = by_key[(RDS_PUBLIC, "tf#aws_db_instance.scratch")]
    assert public["locations"][0]["physicalLocation"]["region"] == {"startLine": 28, "endLine": 32}
    assert any(r["message"]["text"] == "PubliclyAccessible" for r in public["relatedLocations"])
    skipped = by_key[(RDS_ENCRYPTED, "tf#aws_db_instance.scratch")]
    assert skipped["suppressions"][0]["kind"] == "inSource"
    assert (RDS_ENCRYPTED, "tf#aws_db_instance.app") not in by_key  # UNKNOWN: only with --show-unknown
    notes = run_["invocations"][0]["toolExecutionNotifications"]
    assert any("bad.yaml" in n["message"]["text"] and n["level"] == "error" for n in notes)


def test_sarif_fingerprints_survive_line_moves_and_carry_baseline_state(
    project: Path, tmp_path: Path
) -> None:
    baseline = tmp_path / "b.json"
    before = json.loads(run("iac", project / "tf", "-f", "sarif", "--create-baseline", baseline).stdout)
    main = project / "tf" / "main.tf"
    main.write_text("\n\n\n" + main.read_text())
    after = json.loads(run("iac", project / "tf", "-f", "sarif", "--baseline", baseline).stdout)

    def prints(log: dict[str, Any]) -> dict[str, int]:
        return {
            r["partialFingerprints"]["yamoriFindingId/v1"]: r["locations"][0]["physicalLocation"]["region"][
                "startLine"
            ]
            for r in log["runs"][0]["results"]
        }

    old, new = prints(before), prints(after)
    assert old.keys() == new.keys()
    assert all(new[k] == old[k] + 3 for k in old)
    states = {(r["ruleId"], r["baselineState"], "suppressions" in r) for r in after["runs"][0]["results"]}
    assert states == {
        (SSH, "unchanged", True),  # baselined: accepted by the baseline file
        (RDS_PUBLIC, "unchanged", True),
        (RDS_ENCRYPTED, "new", True),  # not in the baseline, but skipped inline
        ("aws-kms-cmk-rotation-enabled", "new", True),
    }


def test_junit_suite_per_file_case_per_policy_and_resource(project: Path) -> None:
    result = run("iac", project, "-f", "junit")
    root = ET.fromstring(result.stdout)
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert {"tf/main.tf", "cfn/template.yaml", "cfn/database.json", "broken/good.yaml", "yamori scan"} <= set(
        suites
    )
    tf = suites["tf/main.tf"]
    cases = {c.get("name"): c for c in tf.iter("testcase")}
    ssh = cases[f"{SSH} tf#aws_security_group.ssh"]
    failure = ssh.find("failure")
    assert failure is not None and "location: tf/main.tf:6" in (failure.text or "")
    assert ssh.get("file") == "tf/main.tf" and ssh.get("line") == "6"
    skipped = cases[f"{RDS_ENCRYPTED} tf#aws_db_instance.scratch"].find("skipped")
    assert skipped is not None and "scratch database" in (skipped.get("message") or "")
    assert int(tf.get("failures") or 0) == sum(
        1 for c in tf.iter("testcase") if c.find("failure") is not None
    )
    scan_suite = suites["yamori scan"]
    assert scan_suite.get("errors") == "1"


def test_csv_reuses_the_posture_columns(project: Path) -> None:
    result = run("iac", project / "tf", "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    ssh = [r for r in rows if r["policy_id"] == SSH]
    assert ssh and ssh[0]["resource"] == "aws_security_group.ssh" and ssh[0]["status"] == "FAIL"
    assert ssh[0]["resource_kind"] == "aws.ec2.security_group"


def test_framework_filters_policies(project: Path) -> None:
    doc = report(run("iac", project / "tf", "-f", "json", "--framework", "cis-aws-3.0"))
    assert doc["findings"]
    assert all(any(c.startswith("cis-aws-3.0:") for c in f["compliance"]) for f in doc["findings"])
    assert doc["summary"]["framework"]["id"] == "cis-aws-3.0"


def test_extra_policies_and_suppressions_file(project: Path, tmp_path: Path) -> None:
    policy = tmp_path / "custom.yaml"
    policy.write_text(
        "policies:\n"
        "  - id: acme-sg-description\n"
        "    title: Security groups say what they are for\n"
        "    severity: low\n"
        "    kind: aws.ec2.security_group\n"
        "    condition: {attr: Description, ne: ssh from anywhere}\n"
    )
    suppressions = tmp_path / "accepted.yaml"
    suppressions.write_text(
        "suppressions:\n"
        f"  - policy: {SSH}\n"
        "    resource: aws_security_group.ssh\n"
        "    reason: bastion, reviewed in SEC-1\n"
    )
    doc = report(
        run("iac", project / "tf", "-f", "json", "--policies", policy, "--suppressions", suppressions)
    )
    assert one(doc, "acme-sg-description", "aws_security_group.ssh")["status"] == "FAIL"
    ssh = one(doc, SSH, "aws_security_group.ssh")
    assert (
        ssh["status"] == "SUPPRESSED"
        and ssh["evidence"]["suppression"]["reason"] == "bastion, reviewed in SEC-1"
    )


def test_kubernetes_annotation_skip(project: Path) -> None:
    """The manifest adapter keeps ``metadata.annotations``; the scan reads ``yamori.io/ignore``."""
    result = run("iac", project / "k8s", "-f", "json")
    doc = report(result)
    privileged = one(doc, "k8s-pss-baseline-privileged", "agent.yaml#DaemonSet/ops/agent")
    assert privileged["status"] == "SUPPRESSED"
    assert privileged["evidence"]["suppression"]["reason"] == "node agent reads host state"
    assert privileged["evidence"]["suppression"]["source"].endswith("(inline annotation)")
    assert one(doc, "k8s-container-cpu-limits", "agent.yaml#DaemonSet/ops/agent")["status"] == "FAIL"
    assert "yamori:ignore k8s-container-cpu-limits has no reason" in result.stderr
