"""`PostureResult`: what one cloud posture scan produced, the input of every posture writer.

Why its own shape and not ``ScanResult``: an image scan is an artifact with packages; a posture
scan is a snapshot of accounts and regions with findings over resources, a framework and a
score. Writers need the snapshot (resource kinds and names for ASFF/OCSF, API call counts,
collection errors) and the framework (control titles), so the result carries both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from yamori.model.finding import Finding, FindingKind, Severity, Status
from yamori.model.resource import Resource, Snapshot

if TYPE_CHECKING:
    from yamori.compliance.frameworks import Framework
    from yamori.policy.interface import Policy
    from yamori.policy.summary import FrameworkSummary

__all__ = ["PostureResult", "ReportOptions", "finding_from_json", "finding_to_json"]


@dataclass(slots=True)
class ReportOptions:
    """How a person asked to see the result (machine formats ignore what does not apply)."""

    show_pass: bool = False
    group_by: str = "control"  # control | resource


@dataclass(slots=True)
class PostureResult:
    snapshot: Snapshot
    findings: list[Finding]
    framework: Framework | None = None
    policies: list[Policy] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stored_at: str = ""  # path of the stored scan, "" when not stored
    _resources: dict[str, Resource] | None = field(default=None, repr=False)

    def resource(self, resource_id: str) -> Resource | None:
        """The snapshot's resource by id (index built once, on first use)."""
        if self._resources is None:
            self._resources = {r.id: r for r in self.snapshot.resources}
        return self._resources.get(resource_id)

    def summary(self) -> FrameworkSummary | None:
        """The framework's control summary (None without ``--framework``)."""
        if self.framework is None:
            return None
        from yamori.policy.summary import framework_summary

        return framework_summary(self.findings, self.framework.id, self.policies)

    def status_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for finding in self.findings:
            counts[str(finding.status)] = counts.get(str(finding.status), 0) + 1
        return dict(sorted(counts.items()))

    def snapshot_metadata(self) -> dict[str, Any]:
        snap = self.snapshot
        return {
            "provider": snap.provider,
            "taken_at": snap.taken_at,
            "accounts": snap.accounts,
            "regions": snap.regions,
            "resources": len(snap.resources),
            "api_calls": sum(snap.api_calls.values()),
            "api_calls_by_operation": snap.api_calls,
            "collection_errors": [e.to_json() for e in snap.errors],
            "stored_at": self.stored_at,
        }


def finding_to_json(finding: Finding) -> dict[str, Any]:
    """A posture finding as stored and as written in JSON (vulnerability details left out:
    posture findings never carry them)."""
    return {
        "id": finding.id,
        "kind": str(finding.kind),
        "rule_id": finding.rule_id,
        "title": finding.title,
        "severity": str(finding.severity),
        "status": str(finding.status),
        "resource": finding.resource,
        "sub_key": finding.sub_key,
        "account": finding.account,
        "region": finding.region,
        "description": finding.description,
        "remediation": finding.remediation,
        "evidence": finding.evidence,
        "compliance": finding.compliance,
        "references": finding.references,
    }


def finding_from_json(doc: dict[str, Any]) -> Finding:
    return Finding(
        kind=FindingKind(doc["kind"]),
        rule_id=doc["rule_id"],
        title=doc.get("title", ""),
        severity=Severity(doc["severity"]),
        status=Status(doc["status"]),
        resource=doc["resource"],
        sub_key=doc.get("sub_key", ""),
        account=doc.get("account", ""),
        region=doc.get("region", ""),
        description=doc.get("description", ""),
        remediation=doc.get("remediation", ""),
        evidence=dict(doc.get("evidence", {})),
        compliance=list(doc.get("compliance", [])),
        references=list(doc.get("references", [])),
    )
