"""Evaluation over an inventory: statuses, collection errors, scopes, suppressions, ids, summary."""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from _policy_helpers import NOW

from yamori.model.finding import FindingKind, Severity, Status
from yamori.model.resource import UNKNOWN, CollectionError, Resource
from yamori.policy import (
    CheckResult,
    Inventory,
    PolicyLoadError,
    evaluate,
    evaluate_full,
    framework_summary,
    load_suppressions,
    parse_policies,
    parse_suppressions,
    register_hook,
)
from yamori.policy.hooks import unregister_hook

POLICIES = """\
- id: s3-versioning
  title: S3 versioning enabled
  description: Versioning protects against deletion.
  severity: medium
  kind: aws.s3.bucket
  applies_if: {attr: $tags.Scratch, exists: false}
  condition: {attr: Versioning.Status, eq: Enabled}
  evidence: [Name]
  remediation: {text: Enable versioning., cli: aws s3api put-bucket-versioning}
  references: [https://example.com/versioning]
  compliance: {cis-aws-3.0: ["2.1.3"], demo: ["A"]}
  message: "bucket {name} has versioning {attr:Versioning.Status}"
- id: s3-public-acls
  title: S3 blocks public ACLs
  severity: high
  kind: aws.s3.bucket
  condition: {attr: PublicAccessBlockConfiguration.BlockPublicAcls, eq: true}
  compliance: {cis-aws-3.0: ["2.1.4"]}
- id: trail-multi-region
  title: A multi-region trail exists
  severity: high
  kind: aws.cloudtrail.trail
  scope: account
  condition: {attr: IsMultiRegionTrail, eq: true}
  compliance: {cis-aws-3.0: ["3.1"]}
- id: trail-all-encrypted
  title: All trails are encrypted
  severity: medium
  kind: aws.cloudtrail.trail
  scope: account
  match: all
  condition: {attr: KmsKeyId, exists: true}
- id: contacts
  title: Security contact registered
  severity: info
  kind: aws.account
  manual: true
  audit: Check the alternate contacts page.
  compliance: {cis-aws-3.0: ["1.2"]}
"""

A1, A2 = "111111111111", "222222222222"


def bucket(name: str, account: str = A1, region: str = "eu-west-1", **attrs: Any) -> Resource:
    tags = attrs.pop("tags", {})
    errors = attrs.pop("errors", {})
    origins = attrs.pop("origins", {})
    return Resource(
        kind="aws.s3.bucket",
        id=f"arn:aws:s3:::{name}",
        name=name,
        account=account,
        region=region,
        attributes={"Name": name, **attrs},
        tags=tags,
        errors=errors,
        origins=origins,
    )


def trail(name: str, account: str = A1, **attrs: Any) -> Resource:
    return Resource(
        kind="aws.cloudtrail.trail", id=f"trail/{name}", name=name, account=account, region="us-east-1",
        attributes=attrs,
    )  # fmt: skip


@pytest.fixture
def inventory() -> list[Resource]:
    return [
        bucket("good", Versioning={"Status": "Enabled"},
               PublicAccessBlockConfiguration={"BlockPublicAcls": True}),
        bucket("bad", Versioning={"Status": "Suspended"}, origins={"Versioning": "main.tf:12"}),
        bucket("scratch", tags={"Scratch": "1"}),
        bucket("tf", Versioning={"Status": UNKNOWN}),
        bucket("denied", errors={"Versioning": "AccessDenied: s3:GetBucketVersioning"}),
        trail("main", IsMultiRegionTrail=True, KmsKeyId="k"),
        trail("local", IsMultiRegionTrail=False),
        trail("other", account=A2, IsMultiRegionTrail=False, KmsKeyId="k"),
        Resource(kind="aws.account", id=A1, account=A1),
    ]  # fmt: skip


def by(findings: list[Any], rule: str) -> dict[str, Any]:
    return {f.resource: f for f in findings if f.rule_id == rule}


def test_resource_scope_statuses(inventory: list[Resource]) -> None:
    policies = parse_policies(POLICIES, "p.yaml")
    findings = evaluate(policies, inventory, now=NOW)
    v = by(findings, "s3-versioning")
    assert {k.split(":::")[1]: f.status for k, f in v.items()} == {
        "good": Status.PASS,
        "bad": Status.FAIL,
        "scratch": Status.NOT_APPLICABLE,
        "tf": Status.UNKNOWN,
        "denied": Status.ERROR,
    }
    bad = v["arn:aws:s3:::bad"]
    assert bad.kind is FindingKind.MISCONFIGURATION
    assert bad.severity is Severity.MEDIUM
    assert bad.title == "S3 versioning enabled"
    assert bad.description.startswith("Versioning protects")
    assert bad.remediation == "Enable versioning."
    assert bad.compliance == ["cis-aws-3.0:2.1.3", "demo:A"]
    assert bad.references == ["https://example.com/versioning"]
    assert (bad.account, bad.region) == (A1, "eu-west-1")
    assert bad.evidence["message"] == "bucket bad has versioning Suspended"
    assert bad.evidence["attributes"] == {"Name": "bad", "Versioning.Status": "Suspended"}
    assert bad.evidence["origins"] == {"Versioning.Status": "main.tf:12"}
    assert bad.evidence["remediation"]["cli"] == "aws s3api put-bucket-versioning"
    assert "remediation" not in v["arn:aws:s3:::good"].evidence
    assert v["arn:aws:s3:::tf"].evidence["attributes"]["Versioning.Status"] == "(unknown)"
    denied = v["arn:aws:s3:::denied"]
    assert "AccessDenied" in denied.evidence["message"]
    assert denied.evidence["errors"] == {"Versioning.Status": "AccessDenied: s3:GetBucketVersioning"}
    assert by(findings, "s3-public-acls")["arn:aws:s3:::bad"].evidence["absent"] == [
        "PublicAccessBlockConfiguration.BlockPublicAcls"
    ]


def test_each_resource_meets_only_its_kind(inventory: list[Resource]) -> None:
    policies = parse_policies(POLICIES, "p.yaml")[:2]
    findings = evaluate(policies, inventory, now=NOW)
    assert len(findings) == 10
    assert all(f.resource.startswith("arn:aws:s3") for f in findings)


def test_collection_error_gives_one_error_per_policy_and_place(inventory: list[Resource]) -> None:
    policies = parse_policies(POLICIES, "p.yaml")
    errors = [CollectionError("aws.s3.bucket", A2, "", "s3:ListBuckets", "AccessDenied: no")]
    findings = evaluate(policies, inventory, errors=errors, now=NOW)
    err = [f for f in findings if f.resource == f"aws.s3.bucket@{A2}"]
    assert sorted(f.rule_id for f in err) == ["s3-public-acls", "s3-versioning"]
    assert all(f.status is Status.ERROR and f.account == A2 for f in err)
    assert err[0].evidence["call"] == "s3:ListBuckets"
    assert "AccessDenied" in err[0].evidence["message"]
    regional = CollectionError("aws.s3.bucket", A1, "eu-west-2", "s3:ListBuckets", "boom")
    (f,) = [f for f in evaluate(policies[:1], [], errors=[regional], now=NOW)]
    assert f.resource == f"aws.s3.bucket@{A1}/eu-west-2" and f.region == "eu-west-2"


def test_account_scope_any_and_all(inventory: list[Resource]) -> None:
    policies = parse_policies(POLICIES, "p.yaml")
    findings = evaluate(policies, inventory, now=NOW)
    multi = by(findings, "trail-multi-region")
    assert multi[f"aws.cloudtrail.trail@{A1}"].status is Status.PASS
    assert multi[f"aws.cloudtrail.trail@{A1}"].evidence["passing"] == ["trail/main"]
    assert multi[f"aws.cloudtrail.trail@{A2}"].status is Status.FAIL
    enc = by(findings, "trail-all-encrypted")
    assert enc[f"aws.cloudtrail.trail@{A1}"].status is Status.FAIL
    assert enc[f"aws.cloudtrail.trail@{A1}"].evidence["failing"] == ["trail/local"]
    assert enc[f"aws.cloudtrail.trail@{A2}"].status is Status.PASS


def test_account_scope_without_resources_and_with_errors() -> None:
    policies = [p for p in parse_policies(POLICIES, "p.yaml") if p.scope == "account"]
    only_bucket = [bucket("x")]
    findings = evaluate(policies, only_bucket, now=NOW)
    assert {f.rule_id: f.status for f in findings} == {
        "trail-multi-region": Status.FAIL,  # any over nothing: no trail exists
        "trail-all-encrypted": Status.NOT_APPLICABLE,
    }
    errors = [CollectionError("aws.cloudtrail.trail", A1, "us-east-1", "cloudtrail:DescribeTrails", "denied")]
    findings = evaluate(policies, only_bucket, errors=errors, now=NOW)
    assert {f.status for f in findings} == {Status.ERROR}
    # an ANY already satisfied elsewhere is not undone by an error in another region
    findings = evaluate(policies[:1], [trail("t", IsMultiRegionTrail=True)], errors=errors, now=NOW)
    assert findings[0].status is Status.PASS


def test_manual_one_per_account_of_the_provider(inventory: list[Resource]) -> None:
    policies = [p for p in parse_policies(POLICIES, "p.yaml") if p.manual]
    findings = evaluate(policies, inventory, now=NOW)
    assert sorted(f.account for f in findings) == [A1, A2]
    assert all(f.status is Status.MANUAL for f in findings)
    assert findings[0].evidence["audit"].startswith("Check the alternate")
    assert findings[0].severity is Severity.UNKNOWN and findings[0].evidence["severity_label"] == "info"
    k8s_only = [Resource(kind="k8s.pod", id="uid-1")]
    assert evaluate(policies, k8s_only, now=NOW) == []
    assert len(evaluate(policies, k8s_only, now=NOW, accounts=["333333333333"])) == 1


def test_ids_are_stable_and_distinct(inventory: list[Resource]) -> None:
    policies = parse_policies(POLICIES, "p.yaml")
    first = [f.id for f in evaluate(policies, inventory, now=NOW)]
    again = [f.id for f in evaluate(policies, list(reversed(inventory)), now=NOW)]
    assert sorted(first) == sorted(again)
    assert len(set(first)) == len(first)


def test_age_uses_injected_now() -> None:
    (p,) = parse_policies(
        "- {id: k, title: K, severity: low, kind: aws.iam.key,"
        " condition: {attr: Created, newer_than_days: 90}}"
    )
    key = Resource(kind="aws.iam.key", id="k1", attributes={"Created": "2024-01-01T00:00:00Z"})
    assert evaluate([p], [key], now=datetime(2024, 2, 1, tzinfo=UTC))[0].status is Status.PASS
    assert evaluate([p], [key], now=datetime(2024, 6, 1, tzinfo=UTC))[0].status is Status.FAIL


# ----------------------------------------------------------------------------- hooks


def test_generic_hook_joins_inventory() -> None:
    (p,) = parse_policies(
        """
- id: trail-log-group
  title: Trail log group exists
  severity: low
  kind: aws.cloudtrail.trail
  hook: references_existing_resource
  hook_args: {attr: CloudWatchLogsLogGroupArn, kind: aws.logs.group}
"""
    )
    group = Resource(kind="aws.logs.group", id="arn:logs:g1", name="g1", account=A1)
    resources = [
        group,
        trail("ok", CloudWatchLogsLogGroupArn="arn:logs:g1"),
        trail("dangling", CloudWatchLogsLogGroupArn="arn:logs:gone"),
        trail("none"),
        trail("elsewhere", account=A2, CloudWatchLogsLogGroupArn="arn:logs:g1"),
    ]
    statuses = {f.resource: f.status for f in evaluate([p], resources, now=NOW)}
    assert statuses == {
        "trail/ok": Status.PASS,
        "trail/dangling": Status.FAIL,
        "trail/none": Status.NOT_APPLICABLE,
        "trail/elsewhere": Status.FAIL,
    }


def test_hook_failures_become_error_findings() -> None:
    def broken(resource: Resource, inventory: Inventory, args: Mapping[str, Any]) -> CheckResult:
        raise RuntimeError("bug")

    register_hook("test_broken")(broken)
    try:
        (p,) = parse_policies("- {id: b, title: B, severity: low, kind: a.b.c, hook: test_broken}")
        r = Resource(kind="a.b.c", id="r")
        (f,) = evaluate([p], [r], now=NOW)
        assert f.status is Status.ERROR and "RuntimeError: bug" in f.evidence["message"]
        r.errors["*"] = "AccessDenied"
        assert evaluate([p], [r], now=NOW)[0].status is Status.ERROR
    finally:
        unregister_hook("test_broken")


# ----------------------------------------------------------------------------- suppressions

SUPPRESSIONS = """\
suppressions:
  - policy: s3-*
    resource: "arn:aws:s3:::bad"
    reason: accepted, ticket SEC-1
    expires: 2030-01-01
  - policy: s3-public-acls
    resource: tf
    reason: by name
  - policy: s3-versioning
    resource: "*denied*"
    reason: expired one
    expires: 2024-01-01
"""


def test_suppressions_file_tags_and_expiry(inventory: list[Resource], tmp_path: Path) -> None:
    path = tmp_path / "ignore.yaml"
    path.write_text(SUPPRESSIONS)
    suppressions = load_suppressions(path)
    inventory[0].tags["yamori:ignore"] = "s3-versioning, s3-public-*"  # a passing bucket: stays PASS
    inventory[2].tags.update({"yamori:ignore": "s3-public-acls", "yamori:ignore-reason": "scratch data"})
    result = evaluate_full(
        parse_policies(POLICIES, "p.yaml")[:2], inventory, now=NOW, suppressions=suppressions
    )
    v = by(result.findings, "s3-versioning")
    acl = by(result.findings, "s3-public-acls")
    bad = v["arn:aws:s3:::bad"]
    assert bad.status is Status.SUPPRESSED
    assert bad.evidence["suppression"] == {
        "status": "FAIL",
        "reason": "accepted, ticket SEC-1",
        "source": f"{path}:2",
        "expires": "2030-01-01",
    }
    assert acl["arn:aws:s3:::tf"].status is Status.SUPPRESSED, "resource glob matches the name"
    assert v["arn:aws:s3:::denied"].status is Status.ERROR, "expired entries no longer apply"
    assert result.warnings == [
        f"{path}:9: suppression of 's3-versioning' on '*denied*' expired on 2024-01-01 and no longer applies"
    ]
    assert v["arn:aws:s3:::good"].status is Status.PASS
    assert acl["arn:aws:s3:::scratch"].status is Status.SUPPRESSED
    assert acl["arn:aws:s3:::scratch"].evidence["suppression"]["reason"] == "scratch data"
    assert acl["arn:aws:s3:::scratch"].evidence["suppression"]["source"] == "tag yamori:ignore"
    assert v["arn:aws:s3:::scratch"].status is Status.NOT_APPLICABLE
    # after expiry the first entry stops applying too
    later = evaluate(parse_policies(POLICIES)[:1], inventory, now=datetime(2031, 1, 1, tzinfo=UTC),
                     suppressions=suppressions)  # fmt: skip
    assert by(later, "s3-versioning")["arn:aws:s3:::bad"].status is Status.FAIL


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- {policy: a}\n", "s.yaml:1: suppression is missing required key 'reason'"),
        ("- {policy: a, reason: r, resourse: x}\n", "s.yaml:1: unknown suppression key 'resourse'"),
        ("- {policy: a, reason: r, expires: soon}\n", "'expires' must be a date"),
        ("- {policy: a, reason: r, account: 123}\n", "quote 'account'"),
        ("- {policy: a, reason: ''}\n", "'reason' must be a non-empty string"),
        ("ignores: []\n", "unknown top-level key 'ignores'"),
        ("- just text\n", "each suppression must be a mapping"),
    ],
)
def test_suppression_validation(text: str, expected: str) -> None:
    with pytest.raises(PolicyLoadError) as info:
        parse_suppressions(text, "s.yaml")
    assert expected in str(info.value)


# ----------------------------------------------------------------------------- summary


def test_framework_summary_and_score(inventory: list[Resource]) -> None:
    policies = parse_policies(POLICIES, "p.yaml")
    findings = evaluate(policies, inventory, now=NOW)
    summary = framework_summary(findings, "cis-aws-3.0", policies)
    controls = {c.control: c for c in summary.controls}
    assert [c.control for c in summary.controls] == ["1.2", "2.1.3", "2.1.4", "3.1"]
    assert controls["2.1.3"].status is Status.FAIL
    assert controls["2.1.3"].counts == {"PASS": 1, "FAIL": 1, "NOT_APPLICABLE": 1, "UNKNOWN": 1, "ERROR": 1}
    assert controls["2.1.4"].status is Status.FAIL
    assert controls["3.1"].status is Status.FAIL  # account A2 has no multi-region trail
    assert controls["1.2"].status is Status.MANUAL
    assert (summary.passed, summary.failed, summary.manual) == (0, 3, 1)
    assert summary.score == 0.0
    # only the good bucket and account A1
    good = [f for f in findings if f.account == A1 and f.resource in ("arn:aws:s3:::good",
            f"aws.cloudtrail.trail@{A1}")]  # fmt: skip
    s = framework_summary(good, "cis-aws-3.0")
    assert (s.passed, s.failed, s.score, s.coverage) == (3, 0, 1.0, 1.0)
    mixed = good + [
        f for f in findings if f.resource == "arn:aws:s3:::denied" and f.rule_id == "s3-versioning"
    ]
    mixed_summary = framework_summary(mixed, "cis-aws-3.0")
    assert {c.control: c.status for c in mixed_summary.controls}["2.1.3"] is Status.ERROR
    assert (mixed_summary.passed, mixed_summary.error, mixed_summary.score) == (2, 1, 1.0)
    assert mixed_summary.coverage == pytest.approx(2 / 3)
    assert framework_summary([], "none").score is None


# ----------------------------------------------------------------------------- scale


def test_hundred_policies_over_ten_thousand_resources() -> None:
    """Speed sanity: it must simply finish (timing lives in bench/, not here)."""
    docs = []
    for i in range(100):
        docs.append(
            f"- id: p{i}\n  title: P{i}\n  severity: low\n  kind: aws.k{i % 10}.thing\n"
            f"  condition:\n    all:\n      - {{attr: A.B, eq: {i}}}\n"
            f"      - {{attr: Rules, none: {{attr: Cidr, cidr_is_public: true}}}}\n"
            f"      - {{attr: Name, regex: 'res-[0-9]+'}}\n"
        )
    policies = parse_policies("".join(docs))
    rng = random.Random(1)
    resources = [
        Resource(
            kind=f"aws.k{n % 10}.thing",
            id=f"r{n}",
            account=A1,
            attributes={
                "A": {"B": rng.randrange(100)},
                "Name": f"res-{n}",
                "Rules": [{"Cidr": rng.choice(["10.0.0.0/8", "0.0.0.0/0", "192.168.1.0/24"])}] * 3,
            },
        )
        for n in range(10_000)
    ]
    findings = evaluate(policies, resources, now=NOW)
    assert len(findings) == 100 * 1000


def test_account_scope_failure_carries_each_resource_reason() -> None:
    """A hook's per-resource reason survives into the account-level finding's evidence."""

    def why(resource: Resource, inventory: Inventory, args: Mapping[str, Any]) -> CheckResult:
        return CheckResult(Status.FAIL, f"{resource.name} misses the ConsoleLogin filter")

    register_hook("test_reason_hook", params={}, required=())(why)
    try:
        (policy,) = parse_policies(
            "- id: trail-chain\n  title: t\n  severity: low\n  kind: aws.cloudtrail.trail\n"
            "  scope: account\n  hook: test_reason_hook\n"
        )
        trails = [
            Resource(kind="aws.cloudtrail.trail", id=f"arn:t{i}", name=f"t{i}", account="1") for i in (1, 2)
        ]
        (finding,) = evaluate([policy], trails, now=NOW)
    finally:
        unregister_hook("test_reason_hook")
    assert finding.status is Status.FAIL
    assert finding.evidence["reasons"] == {
        "arn:t1": "t1 misses the ConsoleLogin filter",
        "arn:t2": "t2 misses the ConsoleLogin filter",
    }


def test_manual_finding_shows_the_evidence_the_auditor_needs() -> None:
    (policy,) = parse_policies(
        "- id: contact\n  title: t\n  severity: low\n  kind: aws.account\n  manual: true\n"
        "  audit: Check the security contact.\n  evidence: [AlternateContacts.SECURITY]\n"
    )
    account = Resource(
        kind="aws.account",
        id="arn:aws:iam::1:root",
        account="1",
        attributes={"AlternateContacts": {"SECURITY": {"EmailAddress": "sec@example.com"}}},
    )
    (finding,) = evaluate([policy], [account], now=NOW)
    assert finding.status is Status.MANUAL
    assert finding.evidence["audit"] == "Check the security contact."
    assert finding.evidence["attributes"] == {
        "AlternateContacts.SECURITY": {"EmailAddress": "sec@example.com"}
    }
