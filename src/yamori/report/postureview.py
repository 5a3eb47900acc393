"""What every posture writer derives the same way from a finding: its message, the controls it
cites, the name of the standard, a stable sort order.

Kept in one module so the table, JSON, CSV, OCSF and ASFF outputs never disagree about which
control a finding belongs to or how a framework is named.
"""

from __future__ import annotations

import re
from typing import Final

from yamori.model.finding import Finding, Severity, Status
from yamori.posture.result import PostureResult

__all__ = [
    "STATUS_ORDER",
    "control_ids",
    "finding_message",
    "natural_key",
    "resource_kind",
    "sorted_findings",
    "standard_name",
]

# Worst first: what needs attention leads every listing.
STATUS_ORDER: Final = (
    Status.FAIL,
    Status.ERROR,
    Status.UNKNOWN,
    Status.MANUAL,
    Status.SUPPRESSED,
    Status.PASS,
    Status.NOT_APPLICABLE,
)
_STATUS_RANK: Final = {s: i for i, s in enumerate(STATUS_ORDER)}


def natural_key(text: str) -> list[tuple[int, int | str]]:
    """``1.10`` after ``1.9``: control ids sort as numbers."""
    return [(0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", text) if p]


def finding_message(finding: Finding) -> str:
    message = finding.evidence.get("message")
    return str(message) if message else finding.title


def control_ids(finding: Finding, framework: str) -> list[str]:
    """Controls of ``framework`` the finding cites (``cis-aws-3.0:1.4`` → ``1.4``)."""
    prefix = framework + ":"
    return [ref[len(prefix) :] for ref in finding.compliance if ref.startswith(prefix)]


def frameworks_cited(finding: Finding) -> list[str]:
    return list(dict.fromkeys(ref.partition(":")[0] for ref in finding.compliance if ":" in ref))


def standard_name(result: PostureResult, framework_id: str) -> str:
    """The human name of a framework: the loaded framework's title, else its id."""
    if result.framework is not None and result.framework.id == framework_id:
        return result.framework.label
    return framework_id


def resource_kind(result: PostureResult, finding: Finding) -> str:
    """The kind of the finding's resource: from the snapshot, else from an error place
    (``aws.s3.bucket@123…``) or an account-scoped place (``aws.account@123…``)."""
    resource = result.resource(finding.resource)
    if resource is not None:
        return resource.kind
    head = finding.resource.partition("@")[0]
    return head.split(",")[0] if "@" in finding.resource else ""


def sorted_findings(findings: list[Finding]) -> list[Finding]:
    return sorted(
        findings,
        key=lambda f: (
            _STATUS_RANK.get(f.status, len(STATUS_ORDER)),
            -f.severity.rank,
            f.rule_id,
            f.account,
            f.region,
            f.resource,
        ),
    )


def is_info(finding: Finding) -> bool:
    """An informational check (policy severity ``info``, stored as Severity.UNKNOWN)."""
    return finding.severity is Severity.UNKNOWN and finding.evidence.get("severity_label") == "info"
