"""OCSF 1.x findings for SIEMs and data lakes: Vulnerability Finding events (class 2002) for
image scans, Detection Finding events (class 2004) for cloud posture scans.

Security Lake, Splunk's OCSF add-on and other consumers route and parse by `class_uid` /
`type_uid` and read `finding_info.uid` to de-duplicate, so every event carries them; the attribute
names follow the OCSF schema (`events/findings/vulnerability_finding.json`, extending
`finding.json` and `base_event.json` in github.com/ocsf/ocsf-schema). One event per finding in a
JSON array, the shape a bulk loader takes (both classes: one format, one shape).

Posture findings map to Detection Finding (2004) with the ``compliance`` object (standards,
control, requirements, status): ``status_code`` keeps yamori's check outcome (PASS/FAIL/…),
``compliance.status_id`` the OCSF verdict (1 Pass, 2 Warning = MANUAL, 3 Fail, 0 Unknown =
ERROR/UNKNOWN/NOT_APPLICABLE), ``status_id`` the finding's life cycle (1 New, 3 Suppressed).
PASS findings are events too: a data lake that only ever sees failures cannot show a control
going green.
"""

from __future__ import annotations

import time
from typing import Any, TextIO

import orjson

from yamori import __version__
from yamori.model import Finding, ScanResult, Severity, Status
from yamori.model.vulnerability import FixState
from yamori.posture.result import PostureResult, ReportOptions
from yamori.report.interface import PostureWriter, ReportWriter
from yamori.report.postureview import control_ids, finding_message, frameworks_cited, is_info, resource_kind
from yamori.report.postureview import standard_name as _standard_name
from yamori.report.registry import register, register_posture
from yamori.report.vulnview import VulnFinding, advisory_url, cve_ids, vulnerabilities

OCSF_VERSION = "1.3.0"
CATEGORY_UID = 2  # Findings
CLASS_UID = 2002  # Vulnerability Finding
ACTIVITY_CREATE = 1
TYPE_UID = CLASS_UID * 100 + ACTIVITY_CREATE

# OCSF severity_id: 0 Unknown, 1 Informational, 2 Low, 3 Medium, 4 High, 5 Critical.
SEVERITY_IDS = {
    Severity.UNKNOWN: 0,
    Severity.LOW: 2,
    Severity.MEDIUM: 3,
    Severity.HIGH: 4,
    Severity.CRITICAL: 5,
}
_SEVERITY_NAMES = {0: "Unknown", 2: "Low", 3: "Medium", 4: "High", 5: "Critical"}
# Finding status_id: 1 New, 3 Suppressed, 4 Resolved.
_STATUS = {Status.SUPPRESSED: (3, "Suppressed"), Status.RESOLVED: (4, "Resolved")}


def _cvss(vuln: VulnFinding) -> list[dict[str, Any]]:
    details = vuln.details
    scores: list[dict[str, Any]] = []
    for vector, score, version in (
        (details.cvss_v3_vector, details.cvss_v3_score, "3.1"),
        (details.cvss_v4_vector, details.cvss_v4_score, "4.0"),
    ):
        if score is None:
            continue
        entry: dict[str, Any] = {"base_score": score, "version": version}
        if vector:
            entry["vector_string"] = vector
            if vector.startswith("CVSS:3.0/"):
                entry["version"] = "3.0"
        scores.append(entry)
    return scores


def _cve(vuln: VulnFinding) -> dict[str, Any]:
    """OCSF's `cve` object; for advisories with no CVE the advisory id stands in as uid."""
    details = vuln.details
    cves = cve_ids(details)
    cve: dict[str, Any] = {"uid": cves[0] if cves else details.id}
    if details.summary:
        cve["title"] = details.summary
    cvss = _cvss(vuln)
    if cvss:
        cve["cvss"] = cvss
    if details.epss_score is not None:
        epss: dict[str, Any] = {"score": f"{details.epss_score:.5f}"}
        if details.epss_percentile is not None:
            epss["percentile"] = details.epss_percentile
        cve["epss"] = epss
    if details.published:
        cve["created_time_dt"] = details.published
    if details.modified:
        cve["modified_time_dt"] = details.modified
    return cve


def _affected_package(result: ScanResult, vuln: VulnFinding) -> dict[str, Any]:
    details = vuln.details
    package: dict[str, Any] = {
        "name": details.package_name,
        "version": details.installed_version,
        "type": details.package_type,
        "package_manager": details.package_type,
    }
    if details.purl:
        package["purl"] = details.purl
    if details.fixed_versions:
        package["fixed_in_version"] = details.fixed_versions[0]
    if details.package_location:
        package["path"] = details.package_location
    return package


def _resource(result: ScanResult, vuln: VulnFinding) -> dict[str, Any]:
    artifact = result.artifact
    data: dict[str, Any] = {"target": vuln.target}
    if vuln.details.layer_digest:
        data["layer_digest"] = vuln.details.layer_digest
    if vuln.details.layer_index is not None:
        data["layer_index"] = vuln.details.layer_index
    resource: dict[str, Any] = {
        "uid": artifact.digest or artifact.name,
        "name": artifact.name,
        "type": artifact.type,
        "data": data,
    }
    if artifact.repo_tags:
        resource["labels"] = list(artifact.repo_tags)
    return resource


def finding_event(result: ScanResult, vuln: VulnFinding, now_ms: int) -> dict[str, Any]:
    """One Vulnerability Finding event; `now_ms` is shared so a report has one creation time."""
    details = vuln.details
    finding = vuln.finding
    severity_id = SEVERITY_IDS[finding.severity]
    status_id, status = _STATUS.get(finding.status, (1, "New"))
    title = f"{details.id} in {details.package_name} {details.installed_version}"
    references = list(dict.fromkeys([advisory_url(details.id), *details.references]))
    vulnerability: dict[str, Any] = {
        "cve": _cve(vuln),
        "title": details.summary or title,
        "desc": finding.description or details.summary or title,
        "severity": _SEVERITY_NAMES[severity_id],
        "affected_packages": [_affected_package(result, vuln)],
        "fix_available": details.fix_state is FixState.FIXED or bool(details.fixed_versions),
        "is_exploit_available": details.kev,
        "references": references,
        "vendor_name": "OSV",
    }
    if details.fixed_versions:
        vulnerability["remediation"] = {
            "desc": f"Upgrade {details.package_name} to {', '.join(details.fixed_versions)}"
        }
    event: dict[str, Any] = {
        "activity_id": ACTIVITY_CREATE,
        "activity_name": "Create",
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "class_uid": CLASS_UID,
        "class_name": "Vulnerability Finding",
        "type_uid": TYPE_UID,
        "type_name": "Vulnerability Finding: Create",
        "severity_id": severity_id,
        "severity": _SEVERITY_NAMES[severity_id],
        "status_id": status_id,
        "status": status,
        "time": now_ms,
        "message": title,
        "finding_info": {
            "uid": finding.id,
            "title": title,
            "desc": details.summary or title,
            "types": ["Vulnerability"],
            "created_time": now_ms,
            "product_uid": "yamori",
        },
        "vulnerabilities": [vulnerability],
        "resources": [_resource(result, vuln)],
        "risk_score": round(details.risk),
        "metadata": {
            "version": OCSF_VERSION,
            "product": {"name": "yamori", "vendor_name": "yamori", "version": __version__},
        },
    }
    if finding.status is Status.SUPPRESSED and "suppressed" in finding.evidence:
        event["status_detail"] = str(finding.evidence["suppressed"])
    return event


def build_events(result: ScanResult, now_ms: int | None = None) -> list[dict[str, Any]]:
    """Every vulnerability finding, suppressed ones included with status Suppressed: a SIEM
    keeps the audit trail of what was waived and why."""
    stamp = int(time.time() * 1000) if now_ms is None else now_ms
    return [finding_event(result, v, stamp) for v in vulnerabilities(result, include_suppressed=True)]


@register
class OCSFWriter(ReportWriter):
    name = "ocsf"
    description = "OCSF 1.x Vulnerability Finding events (class 2002), one per finding, as a JSON array"

    def write(self, result: ScanResult, out: TextIO) -> None:
        out.write(orjson.dumps(build_events(result), option=orjson.OPT_INDENT_2).decode())
        out.write("\n")


# --- posture findings: Detection Finding (2004) --------------------------------------------------

DETECTION_CLASS_UID = 2004
DETECTION_TYPE_UID = DETECTION_CLASS_UID * 100 + ACTIVITY_CREATE
# OCSF compliance.status_id: 0 Unknown, 1 Pass, 2 Warning, 3 Fail.
_COMPLIANCE_STATUS = {
    Status.PASS: (1, "Pass"),
    Status.MANUAL: (2, "Warning"),
    Status.FAIL: (3, "Fail"),
}


def _epoch_ms(stamp: str) -> int:
    from datetime import datetime

    try:
        return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return int(time.time() * 1000)


def _compliance(result: PostureResult, finding: Finding, original: Status) -> dict[str, Any]:
    status_id, status = _COMPLIANCE_STATUS.get(original, (0, "Unknown"))
    frameworks = frameworks_cited(finding) or ["yamori"]
    primary = result.framework.id if result.framework and result.framework.id in frameworks else frameworks[0]
    controls = control_ids(finding, primary)
    compliance: dict[str, Any] = {
        "standards": [_standard_name(result, fw) for fw in frameworks],
        "requirements": list(finding.compliance) or [finding.rule_id],
        "status_id": status_id,
        "status": status,
        "status_code": str(original),
        "status_detail": finding_message(finding),
    }
    if controls:
        compliance["control"] = controls[0]
    return compliance


def _posture_resource(result: PostureResult, finding: Finding) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "uid": finding.resource,
        "type": resource_kind(result, finding),
        "cloud_partition": "aws",
        "owner": {"account": {"uid": finding.account, "type": "AWS Account", "type_id": 10}},
    }
    if finding.region:
        resource["region"] = finding.region
    known = result.resource(finding.resource)
    if known is not None:
        resource["name"] = known.name or known.id
        if known.tags:
            resource["labels"] = [f"{k}={v}" for k, v in known.tags.items()]
    return resource


def posture_event(result: PostureResult, finding: Finding, now_ms: int) -> dict[str, Any]:
    """One Detection Finding event for a posture finding; ``now_ms`` is the scan's time."""
    original = Status(finding.evidence.get("suppression", {}).get("status", finding.status))
    severity_id = 1 if is_info(finding) else SEVERITY_IDS[finding.severity]
    severity = "Informational" if severity_id == 1 else _SEVERITY_NAMES[severity_id]
    status_id, status = (3, "Suppressed") if finding.status is Status.SUPPRESSED else (1, "New")
    message = finding_message(finding)
    event: dict[str, Any] = {
        "activity_id": ACTIVITY_CREATE,
        "activity_name": "Create",
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "class_uid": DETECTION_CLASS_UID,
        "class_name": "Detection Finding",
        "type_uid": DETECTION_TYPE_UID,
        "type_name": "Detection Finding: Create",
        "severity_id": severity_id,
        "severity": severity,
        "status_id": status_id,
        "status": status,
        "status_code": str(finding.status),
        "status_detail": message,
        "time": now_ms,
        "message": message,
        "finding_info": {
            "uid": finding.id,
            "title": finding.title,
            "desc": finding.description or finding.title,
            "types": ["Posture", "Misconfiguration"],
            "created_time": now_ms,
            "analytic": {"uid": finding.rule_id, "name": finding.rule_id, "type_id": 1, "type": "Rule"},
            "product_uid": "yamori",
        },
        "resources": [_posture_resource(result, finding)],
        "compliance": _compliance(result, finding, original),
        "cloud": {
            "provider": "AWS",
            "account": {"uid": finding.account, "type_id": 10, "type": "AWS Account"},
        },
        "metadata": {
            "version": OCSF_VERSION,
            "product": {"name": "yamori", "vendor_name": "yamori", "version": __version__},
            "profiles": ["cloud"],
        },
    }
    if finding.region:
        event["cloud"]["region"] = finding.region
    if finding.remediation and original is not Status.PASS:
        event["remediation"] = {"desc": finding.remediation, "references": list(finding.references)}
    if finding.status is Status.SUPPRESSED:
        event["status_detail"] = str(finding.evidence["suppression"].get("reason", message))
    return event


def build_posture_events(result: PostureResult) -> list[dict[str, Any]]:
    stamp = _epoch_ms(result.snapshot.taken_at)
    return [posture_event(result, f, stamp) for f in result.findings]


@register_posture
class PostureOCSFWriter(PostureWriter):
    name = "ocsf"
    description = "OCSF 1.x Detection Finding events (class 2004) with compliance, as a JSON array"

    def write(self, result: PostureResult, out: TextIO, options: ReportOptions) -> None:
        out.write(orjson.dumps(build_posture_events(result), option=orjson.OPT_INDENT_2).decode())
        out.write("\n")
