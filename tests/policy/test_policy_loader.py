"""Strict validation: every mistake is an error with file:line; loading files and directories."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from yamori.model.finding import Severity
from yamori.policy import (
    MatchMode,
    PolicyLoadError,
    Scope,
    builtin_policies,
    load_policies,
    parse_policies,
)

GOOD = """\
policies:
  - id: aws-s3-bucket-block-public-acls
    title: S3 buckets block public ACLs
    description: Public ACLs expose objects.
    severity: high
    kind: aws.s3.bucket
    applies_if: {attr: $tags.Public, exists: false}
    condition:
      all:
        - {attr: PublicAccessBlockConfiguration.BlockPublicAcls, eq: true}
        - {attr: PublicAccessBlockConfiguration.IgnorePublicAcls, eq: true}
    remediation:
      text: Turn on Block Public Access.
      cli: aws s3api put-public-access-block --bucket NAME ...
      terraform: resource "aws_s3_bucket_public_access_block" ...
    references: [https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html]
    compliance: {cis-aws-3.0: ["2.1.4"], nist-800-53: [AC-3, AC-6]}
    evidence: [Versioning.Status]
    message: "bucket {name} ({attr:PublicAccessBlockConfiguration.BlockPublicAcls}) allows public ACLs"
  - id: aws-cloudtrail-multi-region
    title: A multi-region trail exists
    severity: medium
    kind: [aws.cloudtrail.trail]
    scope: account
    match: any
    condition: {attr: IsMultiRegionTrail, eq: true}
  - id: aws-account-contacts
    title: Security contact registered
    severity: info
    kind: aws.account
    manual: true
    audit: Open the account page and check the security contact.
  - id: aws-iam-policy-no-admin
    title: No full admin policies
    severity: critical
    kind: aws.iam.policy
    hook: iam_policy_allows_full_admin
    hook_args: {attr: Document}
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(PolicyLoadError) as info:
        parse_policies(textwrap.dedent(text), "p.yaml")
    return [str(e) for e in info.value.errors]


def test_good_file_parses() -> None:
    s3, trail, manual, hook = parse_policies(GOOD, "good.yaml")
    assert s3.id == "aws-s3-bucket-block-public-acls"
    assert s3.severity is Severity.HIGH
    assert s3.kinds == ("aws.s3.bucket",)
    assert s3.compliance_refs == ["cis-aws-3.0:2.1.4", "nist-800-53:AC-3", "nist-800-53:AC-6"]
    assert s3.remediation.cli.startswith("aws s3api")
    assert [p.text for p in s3.evidence_paths] == [
        "Versioning.Status",
        "PublicAccessBlockConfiguration.BlockPublicAcls",
        "PublicAccessBlockConfiguration.IgnorePublicAcls",
    ]
    assert s3.source == "good.yaml:2"
    assert trail.scope is Scope.ACCOUNT and trail.match is MatchMode.ANY
    assert manual.manual and manual.severity is Severity.UNKNOWN and manual.severity_label == "info"
    assert hook.hook == "iam_policy_allows_full_admin" and hook.hook_args == {"attr": "Document"}


def test_bare_list_and_empty_file() -> None:
    assert parse_policies("", "e.yaml") == []
    assert parse_policies("policies:\n", "e.yaml") == []
    (p,) = parse_policies(
        "- {id: a, title: A, severity: low, kind: k8s.pod, condition: {attr: x, exists: true}}"
    )
    assert p.id == "a"


BASE = "- id: p\n  title: T\n  severity: high\n  kind: aws.s3.bucket\n"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("  condtion: {attr: x, eq: 1}\n", "p.yaml:5: unknown policy key 'condtion'"),
        ("  condition: {attr: x, eqq: 1}\n", "p.yaml:5: unknown operator 'eqq'"),
        (
            "  condition:\n    all:\n      - {attr: x, eq: 1}\n      - {attr: y, eq: 1, extra: 2}\n",
            "p.yaml:8: unknown operator 'extra'",
        ),
        ("  condition: {attr: x, eq: 1, ne: 2}\n", "p.yaml:5: a leaf takes exactly one operator"),
        ("  condition: {attr: x}\n", "p.yaml:5: leaf on 'x' has no operator"),
        ("  condition: {eq: 1}\n", "p.yaml:5: unknown condition key 'eq' (a leaf needs 'attr')"),
        ("  condition: {all: [], any: []}\n", "p.yaml:5: combine all/any/not"),
        ("  condition: {all: []}\n", "p.yaml:5: 'all' expects a non-empty list"),
        ("  condition: [{attr: x, eq: 1}]\n", "p.yaml:5: a condition must be a mapping"),
        ("  condition: {attr: x, in: a}\n", "p.yaml:5: 'in' expects a list of scalars"),
        ("  condition: {attr: x, lt: [1]}\n", "p.yaml:5: 'lt' expects a number or a string"),
        ("  condition: {attr: x, exists: 'yes'}\n", "p.yaml:5: 'exists' expects true or false"),
        ("  condition: {attr: x, length_gt: -1}\n", "'length_gt' expects a non-negative integer"),
        ("  condition: {attr: x, cidr_contains: nope}\n", "'cidr_contains' expects a CIDR"),
        ("  condition: {attr: x, older_than_days: soon}\n", "'older_than_days' expects a non-negative"),
        ("  condition: {attr: x, regex: '(a+)+'}\n", "p.yaml:5: regex '(a+)+' uses nested quantifiers"),
        ("  condition: {attr: x, regex: '(\\w*\\.)*x'}\n", "nested quantifiers"),
        ("  condition: {attr: x, regex: '(a)\\1'}\n", "uses backreferences"),
        ("  condition: {attr: x, regex: '(unclosed'}\n", "invalid regex"),
        ("  condition: {attr: 'a..b', eq: 1}\n", "p.yaml:5: empty segment in path"),
        ("  condition: {attr: 'a[x]', eq: 1}\n", "bad step [x]"),
        ("  condition: {attr: '$nope', eq: 1}\n", "unknown resource field '$nope'"),
        ("  condition: {attr: L, any: [{attr: x, eq: 1}]}\n", "quantifier 'any' takes one condition mapping"),
        (
            "  condition: {attr: x, eq: 1}\n  hook: iam_policy_allows_full_admin\n",
            "exactly one of 'condition' or 'hook'",
        ),
        ("", "p.yaml:1: a policy needs exactly one of 'condition' or 'hook'"),
        ("  hook: no_such_hook\n", "p.yaml:5: unknown hook 'no_such_hook'"),
        ("  hook: iam_policy_allows_full_admin\n", "needs argument(s) attr"),
        (
            "  hook: iam_policy_allows_full_admin\n  hook_args: {attr: 1}\n",
            "argument 'attr' has the wrong type",
        ),
        ("  hook: iam_policy_allows_full_admin\n  hook_args: {atr: x}\n", "has no argument 'atr'"),
        ("  condition: {attr: x, eq: 1}\n  hook_args: {a: 1}\n", "'hook_args' needs 'hook'"),
        ("  manual: true\n", "a manual policy needs 'audit'"),
        ("  manual: true\n  audit: a\n  condition: {attr: x, eq: 1}\n", "a manual policy takes no condition"),
        ("  condition: {attr: x, eq: 1}\n  scope: region\n", "'scope' must be one of resource, account"),
        ("  condition: {attr: x, eq: 1}\n  match: all\n", "'match' only applies to 'scope: account'"),
        ("  condition: {attr: x, eq: 1}\n  compliance: {cis-aws-3.0: [1.10]}\n", "must be quoted"),
        ("  condition: {attr: x, eq: 1}\n  compliance: [a]\n", "'compliance' must map"),
        ("  condition: {attr: x, eq: 1}\n  references: [ftp://x]\n", "is not an http(s) URL"),
        ("  condition: {attr: x, eq: 1}\n  remediation: {txt: a}\n", "unknown remediation key 'txt'"),
        ("  condition: {attr: x, eq: 1}\n  message: 'bad {nope}'\n", "unknown message placeholder {nope}"),
        ("  condition: {attr: x, eq: 1}\n  evidence: ['a..b']\n", "empty segment"),
        (
            "  condition: {attr: x, eq: 1}\n  condition: {attr: y, eq: 1}\n",
            "p.yaml:6: duplicate key 'condition'",
        ),
    ],
)
def test_validation_errors(extra: str, expected: str) -> None:
    messages = errors_of(BASE + extra)
    assert len(messages) == 1, messages
    assert expected in messages[0], messages[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "- id: p\n  severity: high\n  kind: a.b\n  condition: {attr: x, eq: 1}\n",
            "missing required key 'title'",
        ),
        (
            BASE.replace("high", "severe") + "  condition: {attr: x, eq: 1}\n",
            "p.yaml:3: 'severity' must be one of",
        ),
        (BASE.replace("aws.s3.bucket", "bucket") + "  condition: {attr: x, eq: 1}\n", "bad kind 'bucket'"),
        (BASE.replace("id: p", "id: 'bad id'") + "  condition: {attr: x, eq: 1}\n", "bad policy id"),
        ("rules: []\n", "p.yaml:1: unknown top-level key 'rules'"),
        ("just a string\n", "a policy file is a list"),
        ("- [1, 2]\n", "each policy must be a mapping"),
        ("- {id: p\n", "p.yaml:2: malformed YAML"),
    ],
)
def test_file_level_errors(text: str, expected: str) -> None:
    (message,) = errors_of(text)
    assert expected in message, message


def test_all_errors_reported_together() -> None:
    text = BASE + "  condition: {attr: x, eqq: 1}\n" + BASE.replace("id: p", "id: q") + "  typo: 1\n"
    messages = errors_of(text)
    assert len(messages) == 2
    assert messages[0].startswith("p.yaml:5:") and messages[1].startswith("p.yaml:10:")


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(BASE + "  condition: {attr: x, eq: 1}\n")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "b.yml").write_text("# comment\n" + BASE + "  condition: {attr: y, eq: 1}\n")
    (sub / "ignored.txt").write_text("not yaml")
    with pytest.raises(PolicyLoadError) as info:
        load_policies(tmp_path)
    (error,) = info.value.errors
    assert (
        str(error) == f"{sub / 'b.yml'}:2: duplicate policy id 'p' (first defined at {tmp_path / 'a.yaml'}:1)"
    )


def test_load_files_and_directories(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(BASE + "  condition: {attr: x, eq: 1}\n")
    (tmp_path / "b.yaml").write_text(GOOD)
    policies = load_policies([tmp_path])
    assert [p.id for p in policies][:2] == ["p", "aws-s3-bucket-block-public-acls"]
    assert len(load_policies(tmp_path / "a.yaml")) == 1
    with pytest.raises(PolicyLoadError, match="no such file"):
        load_policies(tmp_path / "missing.yaml")


def test_builtin_policies_load() -> None:
    policies = builtin_policies()
    assert len({p.id for p in policies}) == len(policies)


def test_alias_bomb_is_rejected() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    (message,) = errors_of("\n".join(lines) + "\n")
    assert "too large" in message
