"""Posture writers (table, JSON, CSV, OCSF, ASFF), the framework loader, scan storage and diff,
on a small synthetic scan: every status, a suppressed finding, a collection error, a framework
with a control no policy checks."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import boto3
import pytest
from botocore.validate import validate_parameters

from yamori.compliance.frameworks import FrameworkError, available_frameworks, load_framework, parse_framework
from yamori.model.finding import Status
from yamori.model.resource import CollectionError, Resource, Snapshot
from yamori.policy import evaluate_full, parse_policies, parse_suppressions
from yamori.posture.diff import diff_scans
from yamori.posture.result import PostureResult, ReportOptions
from yamori.posture.store import list_scans, read_scan, resolve_scan, save_scan
from yamori.report.interface import PostureWriter, ReportWriter
from yamori.report.registry import posture_formats, posture_writer, writer

ACCOUNT = "111122223333"
FRAMEWORK = """
id: test-fw
title: Test Benchmark
version: "1.0.0"
provider: aws
controls:
  - {id: "1.1", title: Buckets are versioned, section: Storage, profile: Level 1, assessment: automated}
  - {id: "1.2", title: Root has MFA, section: IAM, profile: Level 1, assessment: automated}
  - {id: "1.10", title: Review contacts, section: IAM, profile: Level 1, assessment: manual}
  - {id: "2.1", title: Nobody checks this yet, section: Net, profile: Level 2, assessment: automated}
"""
POLICIES = """
- id: t-versioning
  title: Buckets are versioned
  severity: medium
  kind: aws.s3.bucket
  condition: {attr: Versioning.Status, eq: Enabled}
  remediation: Turn on versioning.
  references: [https://docs.aws.amazon.com/AmazonS3/latest/userguide/Versioning.html]
  compliance: {test-fw: ["1.1"]}
- id: t-root-mfa
  title: Root has MFA
  severity: critical
  kind: aws.account
  condition: {attr: AccountMFAEnabled, eq: true}
  remediation: Enable MFA on the root user.
  compliance: {test-fw: ["1.2"]}
- id: t-contacts
  title: Review contacts
  severity: info
  kind: aws.account
  manual: true
  audit: Look at the account's contacts.
  compliance: {test-fw: ["1.10"]}
"""


def bucket(name: str, status: str, **tags: str) -> Resource:
    return Resource(
        kind="aws.s3.bucket",
        id=f"arn:aws:s3:::{name}",
        name=name,
        attributes={"Versioning": {"Status": status}},
        account=ACCOUNT,
        region="eu-west-1",
        tags=dict(tags),
    )


def snapshot(versioned: bool = False) -> Snapshot:
    return Snapshot(
        provider="aws",
        taken_at="2026-01-02T03:04:05Z",
        accounts=[ACCOUNT],
        regions=["eu-west-1"],
        resources=[
            bucket("good", "Enabled"),
            bucket("=cmd|calc", "Enabled" if versioned else "Suspended"),
            bucket("accepted", "Suspended"),
            Resource(kind="aws.account", id=f"arn:aws::{ACCOUNT}:account", account=ACCOUNT, attributes={}),
        ],
        errors=[CollectionError("aws.s3.bucket", ACCOUNT, "us-east-2", "s3:ListBuckets", "AccessDenied: no")],
        api_calls={"s3:ListBuckets": 1},
    )


def make_result(snap: Snapshot | None = None) -> PostureResult:
    framework = parse_framework(FRAMEWORK, "test-fw.yaml")
    policies = parse_policies(POLICIES)
    suppressions = parse_suppressions(
        "- {policy: t-versioning, resource: 'arn:aws:s3:::accepted', reason: archive bucket}"
    )
    snap = snap or snapshot()
    evaluated = evaluate_full(
        policies, snap.resources, errors=snap.errors, suppressions=suppressions, accounts=snap.accounts
    )
    return PostureResult(snap, evaluated.findings, framework, policies)


def render(fmt: str, result: PostureResult | None = None, **options: object) -> str:
    out = io.StringIO()
    posture_writer(fmt).write(result or make_result(), out, ReportOptions(**options))  # type: ignore[arg-type]
    return out.getvalue()


def test_registries_are_separate_and_image_writers_unchanged() -> None:
    assert {"table", "json", "ocsf", "asff", "csv"} <= set(posture_formats())
    assert all(isinstance(posture_writer(name), PostureWriter) for name in posture_formats())
    assert isinstance(writer("ocsf"), ReportWriter) and isinstance(writer("json"), ReportWriter)
    with pytest.raises(KeyError, match="unknown format"):
        posture_writer("sarif")


def test_synthetic_result_has_every_status() -> None:
    statuses = {f.status for f in make_result().findings}
    assert {Status.PASS, Status.FAIL, Status.ERROR, Status.MANUAL, Status.SUPPRESSED} <= statuses


def test_table_by_control_with_titles_counts_fix_and_score() -> None:
    text = render("table")
    assert "Test Benchmark v1.0.0: score" in text
    for control in ("1.1", "1.2", "1.10", "2.1"):
        assert control in text
    assert "Buckets are versioned" in text and "no check" in text  # 2.1 has no policy
    assert "fix: Turn on versioning." in text
    assert "PASS 1 FAIL 1 MANUAL 0 ERROR 1" in text  # control 1.1: good, =cmd|calc, listing error
    assert "arn:aws:s3:::good" not in text  # PASS hidden
    assert "arn:aws:s3:::good" in render("table", show_pass=True)
    by_resource = render("table", group_by="resource")
    assert "arn:aws:s3:::=cmd|calc" in by_resource and "t-versioning [1.1]" in by_resource


def test_json_has_summary_and_metadata() -> None:
    doc = json.loads(render("json"))
    assert doc["scan"]["accounts"] == [ACCOUNT] and doc["scan"]["api_calls"] == 1
    assert doc["scan"]["collection_errors"][0]["call"] == "s3:ListBuckets"
    fw = doc["summary"]["framework"]
    assert fw["unchecked_controls"] == ["2.1"]
    controls = {c["id"]: c for c in fw["controls"]}
    assert controls["1.1"]["status"] == "FAIL" and controls["1.10"]["status"] == "MANUAL"
    assert controls["1.1"]["title"] == "Buckets are versioned"


def test_csv_one_row_per_finding_and_no_formulas() -> None:
    result = make_result()
    rows = list(csv.DictReader(io.StringIO(render("csv", result))))
    assert len(rows) == len(result.findings)
    assert any(r["resource"] == "'arn:aws:s3:::=cmd|calc" for r in rows) is False  # starts with "arn"
    names = [r["resource"] for r in rows]
    assert all(not n.startswith(("=", "+", "-", "@")) for n in names)


def test_csv_escapes_formula_cells() -> None:
    result = make_result()
    result.findings[0].resource = "=HYPERLINK(1)"
    rows = list(csv.DictReader(io.StringIO(render("csv", result))))
    assert "'=HYPERLINK(1)" in [r["resource"] for r in rows]


def test_ocsf_detection_finding_mapping() -> None:
    result = make_result()
    events = json.loads(render("ocsf", result))
    assert len(events) == len(result.findings)
    by_code = {e["status_code"]: e for e in events}
    fail = next(
        e
        for e in events
        if e["status_code"] == "FAIL" and e["finding_info"]["analytic"]["uid"] == "t-versioning"
    )
    assert (fail["class_uid"], fail["category_uid"], fail["type_uid"]) == (2004, 2, 200401)
    assert fail["compliance"] == {
        "standards": ["Test Benchmark v1.0.0"],
        "requirements": ["test-fw:1.1"],
        "control": "1.1",
        "status_id": 3,
        "status": "Fail",
        "status_code": "FAIL",
        "status_detail": fail["message"],
    }
    assert fail["severity_id"] == 3 and fail["remediation"]["desc"] == "Turn on versioning."
    assert fail["time"] == 1767323045000 and fail["cloud"]["account"]["uid"] == ACCOUNT
    root = next(e for e in events if e["finding_info"]["analytic"]["uid"] == "t-root-mfa")
    assert root["severity_id"] == 5 and root["compliance"]["control"] == "1.2"
    assert by_code["PASS"]["compliance"]["status_id"] == 1 and "remediation" not in by_code["PASS"]
    assert by_code["MANUAL"]["compliance"]["status_id"] == 2 and by_code["MANUAL"]["severity_id"] == 1
    assert by_code["ERROR"]["compliance"]["status_id"] == 0
    suppressed = by_code["SUPPRESSED"]
    assert suppressed["status_id"] == 3 and suppressed["compliance"]["status"] == "Fail"
    assert suppressed["status_detail"] == "archive bucket"


def test_asff_matches_security_hub_model() -> None:
    result = make_result()
    findings = json.loads(render("asff", result))
    shape = (
        boto3.client("securityhub", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        .meta.service_model.operation_model("BatchImportFindings")
        .input_shape
    )
    validate_parameters({"Findings": findings}, shape)
    by_status = {f["ProductFields"]["yamori/Status"]: f for f in findings}
    fail = next(
        f
        for f in findings
        if f["GeneratorId"] == "yamori/t-versioning"
        and f["Compliance"]["Status"] == "FAILED"
        and f["Workflow"]["Status"] == "NEW"
    )
    assert fail["Compliance"] == {"Status": "FAILED", "RelatedRequirements": ["Test Benchmark v1.0.0/1.1"]}
    assert fail["Resources"][0]["Type"] == "AwsS3Bucket" and fail["Resources"][0]["Region"] == "eu-west-1"
    assert fail["Severity"]["Label"] == "MEDIUM"
    assert fail["Remediation"]["Recommendation"]["Url"].startswith("https://docs.aws.amazon.com/")
    assert by_status["PASS"]["Severity"]["Label"] == "INFORMATIONAL"
    assert by_status["MANUAL"]["Compliance"]["Status"] == "WARNING"
    assert by_status["ERROR"]["Compliance"]["Status"] == "NOT_AVAILABLE"
    assert by_status["SUPPRESSED"]["Workflow"]["Status"] == "SUPPRESSED"
    assert by_status["SUPPRESSED"]["Compliance"]["Status"] == "FAILED"
    assert len({f["Id"] for f in findings}) == len(findings)


def test_framework_loader_is_strict() -> None:
    assert parse_framework(FRAMEWORK, "f.yaml").control("1.10") is not None
    for bad, message in (
        (FRAMEWORK.replace("section: Net", "sektion: Net"), "unknown control key 'sektion'"),
        (FRAMEWORK.replace('id: "1.10"', "id: 1.10"), "quote 'id'"),
        (FRAMEWORK.replace("assessment: manual", "assessment: maybe"), "'assessment' must be one of"),
        (FRAMEWORK + "extra: 1\n", "unknown framework key 'extra'"),
        (FRAMEWORK.replace('id: "2.1"', 'id: "1.1"'), "listed twice"),
    ):
        with pytest.raises(FrameworkError, match=message):
            parse_framework(bad, "f.yaml")
    with pytest.raises(FrameworkError, match="unknown framework"):
        load_framework("no-such-framework")


def test_shipped_cis_framework_loads_when_present() -> None:
    if "cis-aws-3.0" not in available_frameworks():
        pytest.skip("cis-aws-3.0.yaml not installed yet")
    framework = load_framework("cis-aws-3.0")
    assert framework.provider == "aws" and framework.control("1.4") is not None


def test_store_latest_previous_and_diff(tmp_path: Path) -> None:
    first = make_result()
    save_scan(first, keep=2, root=tmp_path)
    grown = snapshot(versioned=True)
    grown.resources.append(bucket("new-one", "Enabled"))
    second = make_result(grown)
    path = save_scan(second, keep=2, root=tmp_path)
    save_scan(make_result(snapshot(versioned=True)), keep=2, root=tmp_path)
    assert len(list_scans(tmp_path)) == 2  # pruned to keep=2
    assert resolve_scan("latest", tmp_path) != path and resolve_scan("previous", tmp_path) == path
    older = read_scan(path)
    assert older.findings is not None and older.framework == "test-fw"
    diff = diff_scans(read_scan(path), read_scan(resolve_scan("latest", tmp_path)))
    assert [r.name for r in diff.resources_removed] == ["new-one"]
    assert diff.changed == [] and [f.rule_id for f in diff.resolved] == ["t-versioning"]
    plain = diff_scans(
        read_scan(_save_plain(tmp_path, snapshot())), read_scan(_save_plain(tmp_path, snapshot(True)))
    )
    assert plain.notes and [c.keys for c in plain.resources_changed] == [["Versioning"]]


def _save_plain(tmp_path: Path, snap: Snapshot) -> Path:
    path = tmp_path / f"plain-{len(list(tmp_path.iterdir()))}.json"
    path.write_text(json.dumps(snap.to_json()))
    return path
