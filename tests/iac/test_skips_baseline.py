"""Inline skips and baselines as units: parsing each skip form, what applies where, the baseline
file and its matching (by address, never by line)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from yamori.iac.baseline import Baseline, BaselineError, apply_baseline, load_baseline, write_baseline
from yamori.iac.scan import qualify
from yamori.iac.skips import ANNOTATION, apply_skips, collect_skips, parse_annotation
from yamori.model.finding import Finding, FindingKind, Severity, Status
from yamori.model.resource import Resource


def finding(rule: str, resource: str, status: Status = Status.FAIL, location: str = "") -> Finding:
    return Finding(
        kind=FindingKind.MISCONFIGURATION,
        rule_id=rule,
        title=rule,
        severity=Severity.HIGH,
        status=status,
        resource=resource,
        evidence={"message": "x", **({"location": location} if location else {})},
    )


def resource(rid: str, location: str, source: str = "terraform", **attributes: object) -> Resource:
    return Resource(
        kind="aws.s3.bucket", id=rid, location=location, source=source, attributes=dict(attributes)
    )


# --- comments -------------------------------------------------------------------------------


def test_comment_on_the_line_and_in_the_comment_block_above(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(
        "# unrelated header\n"  # 1: separated by a blank line: not part of the block above
        "\n"
        "// yamori:ignore policy-a reason a\n"  # 3
        "# yamori:ignore policy-b   reason b, with commas\n"  # 4
        'resource "x" "y" { # yamori:ignore policy-c reason c\n'  # 5
        "}\n"
    )
    report = collect_skips([resource("x.y", "main.tf:5")], tmp_path)
    assert [(s.policy, s.reason, s.source) for s in report.skips] == [
        ("policy-a", "reason a", "main.tf:3"),
        ("policy-b", "reason b, with commas", "main.tf:4"),
        ("policy-c", "reason c", "main.tf:5"),
    ]
    assert report.warnings == []


def test_a_comment_above_code_does_not_reach_the_next_resource(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(
        '# yamori:ignore policy-a why\nresource "a" "b" {}\nresource "x" "y" {}\n'
    )
    report = collect_skips([resource("x.y", "main.tf:3")], tmp_path)
    assert report.skips == []


def test_skip_without_reason_or_id_is_a_warning(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(
        "Resources:\n  # yamori:ignore policy-a\n  B:\n    Type: x # yamori:ignore\n"
    )
    report = collect_skips([resource("t.yaml#B", "t.yaml:3", "cloudformation")], tmp_path)
    assert report.skips == []
    assert report.warnings == [
        "t.yaml:2: yamori:ignore policy-a has no reason; not applied (write why the risk is accepted)"
    ]


def test_json_files_are_not_read_for_comments(tmp_path: Path) -> None:
    (tmp_path / "t.json").write_text('{"a": "# yamori:ignore p r"}\n')
    assert collect_skips([resource("t.json#A", "t.json:1", "cloudformation")], tmp_path).skips == []


def test_files_outside_the_root_are_never_read(tmp_path: Path) -> None:
    outside = tmp_path / "secret.tf"
    outside.write_text("# yamori:ignore p r\nresource {}\n")
    root = tmp_path / "root"
    root.mkdir()
    assert collect_skips([resource("x", "../secret.tf:2")], root).skips == []


# --- CloudFormation metadata and Kubernetes annotations ------------------------------------


def test_cloudformation_metadata(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(
        "Resources:\n"
        "  Db:\n"
        "    Type: AWS::RDS::DBInstance\n"
        "    Metadata:\n"
        "      yamori:\n"
        "        ignore:\n"
        "          - {id: policy-a, reason: app-level encryption}\n"
        "          - id: policy-b\n"
        "          - just-a-string\n"
    )
    report = collect_skips([resource(qualify("t.yaml", "Db"), "t.yaml:2", "cloudformation")], tmp_path)
    assert [(s.policy, s.reason, s.source, s.form) for s in report.skips] == [
        ("policy-a", "app-level encryption", "t.yaml:7", "metadata")
    ]
    assert report.warnings == [
        "t.yaml:8: yamori:ignore policy-b has no reason; not applied (write why the risk is accepted)",
        "t.yaml:9: Metadata.yamori.ignore entries are {id, reason}; not applied",
    ]


def test_annotation_parsing() -> None:
    assert parse_annotation("k8s-a: node agent, k8s-b: CNI, needs host net") == [
        ("k8s-a", "node agent"),
        ("k8s-b", "CNI, needs host net"),
    ]
    assert parse_annotation("k8s-a") == [("k8s-a", "")]
    assert parse_annotation("k8s-a, k8s-b: why") == [("k8s-a", ""), ("k8s-b", "why")]
    assert parse_annotation("") == []


def test_kubernetes_annotation_from_metadata_annotations(tmp_path: Path) -> None:
    """The manifest adapter keeps the manifest as written: ``metadata.annotations``."""
    pod = resource(
        "deploy.yaml#Deployment/default/agent",
        "deploy.yaml:1",
        "kubernetes",
        metadata={"name": "agent", "annotations": {ANNOTATION: "k8s-privileged: node agent, k8s-hostpath"}},
    )
    report = collect_skips([pod], tmp_path)
    assert [(s.policy, s.reason, s.form) for s in report.skips] == [
        ("k8s-privileged", "node agent", "annotation")
    ]
    assert len(report.warnings) == 1
    assert report.warnings[0].startswith(
        "deploy.yaml:1: yamori:ignore k8s-hostpath has no reason; not applied"
    )


# --- applying -------------------------------------------------------------------------------


def test_apply_suppresses_like_the_engine_and_globs_match(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text('# yamori:ignore aws-s3-* public website\nresource "a" "b" {}\n')
    report = collect_skips([resource("a.b", "main.tf:2")], tmp_path)
    found = [
        finding("aws-s3-one", "a.b"),
        finding("aws-s3-two", "a.b", Status.UNKNOWN),
        finding("aws-s3-three", "a.b", Status.PASS),
        finding("aws-rds-x", "a.b"),
        finding("aws-s3-one", "other"),
    ]
    assert apply_skips(found, report) == []
    assert [f.status for f in found] == [
        Status.SUPPRESSED,
        Status.SUPPRESSED,
        Status.PASS,
        Status.FAIL,
        Status.FAIL,
    ]
    assert found[0].evidence["suppression"] == {
        "status": "FAIL",
        "reason": "public website",
        "source": "main.tf:1 (inline comment)",
    }
    assert found[1].evidence["suppression"]["status"] == "UNKNOWN"


def test_disabled_skips_are_listed_not_applied(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text('# yamori:ignore p-1 why\nresource "a" "b" {}\n')
    report = collect_skips([resource("a.b", "main.tf:2")], tmp_path)
    found = [finding("p-1", "a.b")]
    warnings = apply_skips(found, report, enabled=False)
    assert found[0].status is Status.FAIL
    assert warnings == ["main.tf:1: inline skip of p-1 on a.b not applied (--no-inline-skips): why"]


def test_a_skip_naming_no_evaluated_policy_is_reported(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text('# yamori:ignore aws-s3-typo why\nresource "a" "b" {}\n')
    report = collect_skips([resource("a.b", "main.tf:2")], tmp_path)
    assert apply_skips([finding("aws-s3-real", "a.b")], report) == [
        "main.tf:1: yamori:ignore aws-s3-typo matches no policy evaluated on a.b"
    ]


# --- baseline -------------------------------------------------------------------------------


def test_baseline_round_trip_keys_by_address_not_line(tmp_path: Path) -> None:
    path = tmp_path / "b" / "baseline.json"
    first = [
        finding("p-1", "infra#aws_s3_bucket.a", location="infra/main.tf:3"),
        finding("p-1", "infra#aws_s3_bucket.a", location="infra/main.tf:3"),  # duplicate: one entry
        finding("p-2", "infra#aws_s3_bucket.a", Status.PASS),
        finding("p-3", "t.yaml#Bucket", Status.UNKNOWN),
    ]
    assert write_baseline(path, first) == 1
    doc = json.loads(path.read_text())
    assert doc["version"] == 1 and doc["findings"] == [
        {"policy": "p-1", "resource": "infra#aws_s3_bucket.a", "location": "infra/main.tf:3"}
    ]
    baseline = load_baseline(path)
    later = [
        finding("p-1", "infra#aws_s3_bucket.a", location="infra/main.tf:40"),  # moved: still baselined
        finding("p-1", "infra#aws_s3_bucket.b", location="infra/main.tf:50"),  # new resource
    ]
    assert apply_baseline(later, baseline) == (1, 0)
    assert later[0].status is Status.SUPPRESSED
    assert later[0].evidence["suppression"]["baselined"] is True
    assert later[0].evidence["baseline"] == "unchanged"
    assert later[1].status is Status.FAIL and later[1].evidence["baseline"] == "new"


def test_baseline_counts_fixed_entries() -> None:
    baseline = Baseline({("p-1", "a"), ("p-2", "b")}, "b.json")
    assert apply_baseline([finding("p-1", "a")], baseline) == (1, 1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "invalid JSON"),
        ('{"version": 7, "findings": []}', "not a yamori baseline"),
        ('{"version": 1, "findings": {}}', "'findings' must be a list"),
        ('{"version": 1, "findings": [{"policy": 1}]}', "findings[0] needs"),
    ],
)
def test_bad_baseline_files_are_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "b.json"
    path.write_text(text)
    with pytest.raises(BaselineError, match=message.replace("[", r"\[")):
        load_baseline(path)
    with pytest.raises(BaselineError, match="cannot read"):
        load_baseline(tmp_path / "absent.json")


def test_qualified_ids() -> None:
    assert qualify(".", "aws_s3_bucket.a") == "aws_s3_bucket.a"
    assert qualify("envs/prod", "aws_s3_bucket.a") == "envs/prod#aws_s3_bucket.a"
