"""iam_policy_allows_full_admin on realistic policy documents."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import pytest
from _policy_helpers import NOW

from yamori.model.finding import Status
from yamori.model.resource import UNKNOWN, Resource
from yamori.policy import evaluate, parse_policies

POLICY = parse_policies(
    """
- id: iam-no-admin
  title: No IAM policy allows *:*
  severity: critical
  kind: aws.iam.policy
  hook: iam_policy_allows_full_admin
  hook_args: {attr: Document}
  compliance: {cis-aws-3.0: ["1.16"]}
- id: iam-user-inline-no-admin
  title: No inline user policy allows *:*
  severity: critical
  kind: aws.iam.user
  hook: iam_policy_allows_full_admin
  hook_args: {attr: "UserPolicyList[*].PolicyDocument"}
"""
)

ADMIN = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def check(document: Any, **kw: Any) -> Any:
    r = Resource(kind="aws.iam.policy", id="arn:aws:iam::1:policy/p", attributes={"Document": document}, **kw)
    (finding,) = evaluate(POLICY[:1], [r], now=NOW)
    return finding


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (ADMIN, Status.FAIL),
        ({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}, Status.FAIL),  # object
        ({"Statement": [{"Effect": "Allow", "Action": ["s3:Get*", "*:*"], "Resource": ["*"]}]}, Status.FAIL),
        ({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::b/*"}]}, Status.PASS),
        ({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}, Status.PASS),
        ({"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}, Status.PASS),
        ({"Statement": [{"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}]}, Status.FAIL),
        ({"Statement": [{"Effect": "Allow", "NotAction": ["iam:*", "s3:*"], "Resource": "*"}]}, Status.PASS),
        ({"Statement": [{"Effect": "Allow", "Action": "*", "NotResource": "arn:x"}]}, Status.PASS),
        (  # conditional grant is still full admin once the condition holds
            {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
                            "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}]},
            Status.FAIL,
        ),
        (  # an unconditional Deny of everything overrides
            {"Statement": [ADMIN["Statement"][0], {"Effect": "Deny", "Action": "*", "Resource": "*"}]},
            Status.PASS,
        ),
        (  # a Deny of all IAM removes escalation
            {"Statement": [ADMIN["Statement"][0], {"Effect": "Deny", "Action": ["iam:*"], "Resource": "*"}]},
            Status.PASS,
        ),
        (  # a Deny of one service does not
            {"Statement": [ADMIN["Statement"][0], {"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]},
            Status.FAIL,
        ),
        (  # a conditional Deny may not apply
            {"Statement": [ADMIN["Statement"][0], {"Effect": "Deny", "Action": "*", "Resource": "*",
                                                    "Condition": {"IpAddress": {"aws:SourceIp": "1.2.3.4"}}}]},  # noqa: E501
            Status.FAIL,
        ),
        (  # Deny with NotAction exempting only s3 denies IAM
            {"Statement": [ADMIN["Statement"][0], {"Effect": "Deny", "NotAction": "s3:*", "Resource": "*"}]},
            Status.PASS,
        ),
        (json.dumps(ADMIN), Status.FAIL),  # JSON string
        (urllib.parse.quote(json.dumps(ADMIN)), Status.FAIL),  # URL-encoded, as IAM APIs return it
        ({"Statement": [{"Effect": "Allow", "Action": UNKNOWN, "Resource": "*"}]}, Status.UNKNOWN),
        (UNKNOWN, Status.UNKNOWN),
        ("{not json", Status.ERROR),
        ({"Statement": []}, Status.PASS),
    ],
)  # fmt: skip
def test_documents(document: Any, expected: Status) -> None:
    assert check(document).status is expected


def test_evidence_names_the_statement() -> None:
    read_only = {"Sid": "ReadOnly", "Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}
    everything = {"Sid": "Everything", "Effect": "Allow", "Action": "*", "Resource": "*"}
    doc = {"Statement": [read_only, everything]}
    finding = check(doc)
    assert finding.status is Status.FAIL
    assert finding.evidence["details"]["grants"] == [{"statement": "Everything", "conditional": False}]
    assert finding.compliance == ["cis-aws-3.0:1.16"]


def test_absent_and_errored_document() -> None:
    r = Resource(kind="aws.iam.policy", id="p")
    assert evaluate(POLICY[:1], [r], now=NOW)[0].status is Status.PASS
    r.errors["Document"] = "AccessDenied: iam:GetPolicyVersion"
    (f,) = evaluate(POLICY[:1], [r], now=NOW)
    assert f.status is Status.ERROR and "AccessDenied" in f.evidence["message"]


def test_many_documents_via_projection() -> None:
    safe = {"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    user = Resource(
        kind="aws.iam.user",
        id="arn:aws:iam::1:user/u",
        attributes={"UserPolicyList": [{"PolicyDocument": safe}, {"PolicyDocument": ADMIN}]},
    )
    (f,) = evaluate(POLICY[1:], [user], now=NOW)
    assert f.status is Status.FAIL
    assert f.evidence["details"]["document"] == "UserPolicyList[*].PolicyDocument#1"
    user.attributes["UserPolicyList"] = [{"PolicyDocument": safe}]
    assert evaluate(POLICY[1:], [user], now=NOW)[0].status is Status.PASS
    user.attributes["UserPolicyList"] = []
    assert evaluate(POLICY[1:], [user], now=NOW)[0].status is Status.PASS
