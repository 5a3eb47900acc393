"""The vulnerability findings of a result as every writer sees them.

Writers differ in syntax, not in what a vulnerability is: which findings count, which target
(OS or a language manifest) a finding belongs to, how findings are ordered. Keeping those
decisions here means the table, SARIF, JUnit, OCSF and CycloneDX reports never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from yamori.model import Finding, FindingKind, PackageType, ScanResult, Status
from yamori.model.vulnerability import VulnerabilityDetails


@dataclass(frozen=True, slots=True)
class VulnFinding:
    """A vulnerability finding with its details unwrapped (they are never None here)."""

    finding: Finding
    details: VulnerabilityDetails
    target: str


def os_target(result: ScanResult) -> str:
    """Trivy's target naming for OS packages: `image (debian 12.5)`, so CI users see the same."""
    if result.os is None:
        return result.artifact.name
    return f"{result.artifact.name} ({result.os.family} {result.os.version})".replace(" )", ")")


def target_of(result: ScanResult, details: VulnerabilityDetails) -> str:
    """OS packages belong to the image; language packages to the file that declared them."""
    try:
        is_os = PackageType(details.package_type).is_os
    except ValueError:
        is_os = False
    if is_os or not details.package_location:
        return os_target(result)
    return details.package_location


def vulnerabilities(result: ScanResult, *, include_suppressed: bool = False) -> list[VulnFinding]:
    """Vulnerability findings, highest risk first, then severity, then id (a stable order).

    Suppressed findings are left out unless asked for: a report lists what must be acted on,
    and gating has already recorded why the rest were suppressed.
    """
    found = [
        VulnFinding(f, f.vulnerability, target_of(result, f.vulnerability))
        for f in result.findings
        if f.kind is FindingKind.VULNERABILITY
        and f.vulnerability is not None
        and (include_suppressed or f.status is not Status.SUPPRESSED)
    ]
    found.sort(
        key=lambda v: (-v.details.risk, -v.finding.severity.rank, v.details.id, v.details.package_name)
    )
    return found


def cvss_score(details: VulnerabilityDetails) -> float | None:
    """The score code-scanning tools rank by: CVSS v3 when present (what they all read), else v4."""
    if details.cvss_v3_score is not None:
        return details.cvss_v3_score
    return details.cvss_v4_score


def cve_ids(details: VulnerabilityDetails) -> list[str]:
    """CVE ids among the advisory id and its aliases, in order and without repeats."""
    ids = [details.id, *details.aliases]
    return list(dict.fromkeys(i for i in ids if i.upper().startswith("CVE-")))


def advisory_url(vuln_id: str) -> str:
    """A page that describes the advisory: the NVD for CVEs, OSV for every other OSV id."""
    if vuln_id.upper().startswith("CVE-"):
        return f"https://nvd.nist.gov/vuln/detail/{vuln_id}"
    return f"https://osv.dev/vulnerability/{vuln_id}"


def layer_label(result: ScanResult, details: VulnerabilityDetails) -> str:
    """`#index` of the layer that introduced the package, or its digest when the index is gone."""
    if details.layer_index is not None:
        return str(details.layer_index)
    return (details.layer_digest or "")[:19]
