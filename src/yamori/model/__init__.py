"""The few typed objects every source produces and every engine reads."""

from yamori.model.artifact import ArtifactInfo, LayerInfo, OSInfo, ScanResult
from yamori.model.finding import Finding, FindingKind, Severity, Status
from yamori.model.package import Package, PackageType
from yamori.model.vulnerability import FixState, VulnerabilityDetails

__all__ = [
    "ArtifactInfo",
    "Finding",
    "FindingKind",
    "FixState",
    "LayerInfo",
    "OSInfo",
    "Package",
    "PackageType",
    "ScanResult",
    "Severity",
    "Status",
    "VulnerabilityDetails",
]
