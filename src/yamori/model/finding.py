"""`Finding`: the one envelope for everything yamori reports.

Vulnerabilities, misconfigurations, secrets, detections and drift all become findings so that
every report writer, the store and the server handle a single shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from yamori.model.vulnerability import VulnerabilityDetails


class Severity(StrEnum):
    UNKNOWN = "UNKNOWN"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {
    Severity.UNKNOWN: 0,
    Severity.LOW: 1,
    Severity.MEDIUM: 2,
    Severity.HIGH: 3,
    Severity.CRITICAL: 4,
}


class FindingKind(StrEnum):
    VULNERABILITY = "vulnerability"
    MISCONFIGURATION = "misconfiguration"
    SECRET = "secret"
    DETECTION = "detection"
    DRIFT = "drift"
    ERROR = "error"


class Status(StrEnum):
    """Check outcomes (PASS…NOT_APPLICABLE) and lifecycle states (OPEN…SUPPRESSED)."""

    PASS = "PASS"
    FAIL = "FAIL"
    MANUAL = "MANUAL"
    ERROR = "ERROR"
    NOT_APPLICABLE = "NOT_APPLICABLE"
    UNKNOWN = "UNKNOWN"
    OPEN = "OPEN"
    RESOLVED = "RESOLVED"
    SUPPRESSED = "SUPPRESSED"


@dataclass(slots=True)
class Finding:
    """One reported fact about a resource or artifact.

    The id is a stable hash of what the finding is about (rule, account, region, resource,
    sub-key) so that two scans can be diffed.
    """

    kind: FindingKind
    rule_id: str
    title: str
    severity: Severity
    status: Status
    resource: str
    sub_key: str = ""
    account: str = ""
    region: str = ""
    description: str = ""
    remediation: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    compliance: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    # Set on vulnerability findings: the advisory, the package and the ranking inputs.
    vulnerability: VulnerabilityDetails | None = None

    @property
    def id(self) -> str:
        import hashlib  # here, not at module level: loading OpenSSL is wasted on scans with no findings

        parts = "\x1f".join((self.rule_id, self.account, self.region, self.resource, self.sub_key))
        return hashlib.sha256(parts.encode()).hexdigest()[:32]
