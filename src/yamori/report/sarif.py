"""SARIF 2.1.0 for code-scanning dashboards (GitHub code scanning, Azure DevOps, SonarQube).

One rule per advisory and one result per vulnerable package: dashboards group results by rule,
so a CVE that hits three packages shows as one alert type with three locations. GitHub reads the
rule's `properties.security-severity` (a CVSS score, as a string) to decide critical/high/medium/
low, and `partialFingerprints` to recognise the same alert across runs, so both are always set.
"""

from __future__ import annotations

from typing import Any, TextIO

import orjson

from yamori import __version__
from yamori.model import ScanResult, Severity
from yamori.report.interface import ReportWriter
from yamori.report.registry import register
from yamori.report.vulnview import VulnFinding, advisory_url, cvss_score, vulnerabilities

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/yamori-project/yamori"
# The key in partialFingerprints: versioned so a change in how finding ids are made can be told apart.
FINGERPRINT_KEY = "yamoriFindingId/v1"

_LEVELS = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.UNKNOWN: "note",
}
# When an advisory has no CVSS score, a score inside GitHub's band for the severity we know,
# so the dashboard's severity matches the table's instead of defaulting to "warning".
_FALLBACK_SCORES = {
    Severity.CRITICAL: 9.0,
    Severity.HIGH: 7.0,
    Severity.MEDIUM: 5.0,
    Severity.LOW: 2.0,
    Severity.UNKNOWN: 0.0,
}


def _security_severity(vuln: VulnFinding) -> float:
    score = cvss_score(vuln.details)
    return score if score is not None else _FALLBACK_SCORES[vuln.finding.severity]


def _rule(vulns: list[VulnFinding]) -> dict[str, Any]:
    """A rule from every finding of one advisory: the worst severity and score among them."""
    worst = max(vulns, key=lambda v: (v.finding.severity.rank, _security_severity(v)))
    details = worst.details
    summary = details.summary or worst.finding.title or details.id
    description = worst.finding.description or summary
    url = advisory_url(details.id)
    aliases = ", ".join(a for a in details.aliases if a != details.id)
    help_text = f"{details.id}: {summary}"
    if aliases:
        help_text += f"\nAliases: {aliases}"
    help_text += f"\nSeverity: {worst.finding.severity.value}\nMore: {url}"
    markdown = (
        f"**{details.id}** {summary}\n\n| Severity | Aliases |\n| --- | --- |\n"
        f"| {worst.finding.severity.value} | {aliases or '-'} |\n\n[{url}]({url})"
    )
    return {
        "id": details.id,
        "name": "PackageVulnerability",
        "shortDescription": {"text": summary},
        "fullDescription": {"text": description},
        "helpUri": url,
        "help": {"text": help_text, "markdown": markdown},
        "defaultConfiguration": {"level": _LEVELS[worst.finding.severity]},
        "properties": {
            "security-severity": f"{max(_security_severity(v) for v in vulns):.1f}",
            "precision": "very-high",
            "tags": ["security", "vulnerability", worst.finding.severity.value],
        },
    }


def _location(result: ScanResult, vuln: VulnFinding) -> dict[str, Any]:
    """Images are not files in a repository: their name is the URI, the layer a property."""
    details = vuln.details
    properties: dict[str, Any] = {"package": details.package_name, "target": vuln.target}
    if details.package_location:
        properties["packageLocation"] = details.package_location
    if result.artifact.type == "container_image":
        uri = result.artifact.name
        if details.layer_digest:
            properties["layerDigest"] = details.layer_digest
        if details.layer_index is not None:
            properties["layerIndex"] = details.layer_index
    else:
        uri = details.package_location or result.artifact.name
    return {
        "physicalLocation": {
            "artifactLocation": {"uri": uri},
            "region": {"startLine": 1},
        },
        "message": {"text": f"{details.package_name}@{details.installed_version}"},
        "properties": properties,
    }


def _message(vuln: VulnFinding) -> str:
    details = vuln.details
    fixed = ", ".join(details.fixed_versions) or "none"
    return (
        f"Package: {details.package_name}\nInstalled version: {details.installed_version}\n"
        f"Fixed version: {fixed}\nVulnerability {details.id} ({vuln.finding.severity.value})"
        + (f": {details.summary}" if details.summary else "")
    )


def build_sarif(result: ScanResult) -> dict[str, Any]:
    """The SARIF log as a dict; separate from `write` so tests and callers can inspect it."""
    vulns = vulnerabilities(result)
    by_rule: dict[str, list[VulnFinding]] = {}
    for vuln in vulns:
        by_rule.setdefault(vuln.details.id, []).append(vuln)
    rule_ids = sorted(by_rule)
    rule_index = {rule_id: i for i, rule_id in enumerate(rule_ids)}
    results = []
    for vuln in vulns:
        details = vuln.details
        properties: dict[str, Any] = {
            "risk": details.risk,
            "kev": details.kev,
            "fixState": details.fix_state.value,
        }
        if details.epss_score is not None:
            properties["epss"] = details.epss_score
        results.append(
            {
                "ruleId": details.id,
                "ruleIndex": rule_index[details.id],
                "level": _LEVELS[vuln.finding.severity],
                "message": {"text": _message(vuln)},
                "locations": [_location(result, vuln)],
                "partialFingerprints": {FINGERPRINT_KEY: vuln.finding.id},
                "properties": properties,
            }
        )
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "yamori",
                "version": __version__,
                "informationUri": INFORMATION_URI,
                "rules": [_rule(by_rule[rule_id]) for rule_id in rule_ids],
            }
        },
        "results": results,
        "properties": {"artifactName": result.artifact.name, "artifactType": result.artifact.type},
    }
    notifications = [{"level": "error", "message": {"text": text}} for text in result.errors] + [
        {"level": "warning", "message": {"text": text}} for text in result.warnings
    ]
    if notifications:
        # Errors are part of the result: a partial scan must not look like a clean one.
        run["invocations"] = [
            {
                "executionSuccessful": not result.errors,
                "toolExecutionNotifications": notifications,
            }
        ]
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


@register
class SARIFWriter(ReportWriter):
    name = "sarif"
    description = "SARIF 2.1.0 (GitHub code scanning): one rule per advisory, one result per package"

    def write(self, result: ScanResult, out: TextIO) -> None:
        out.write(orjson.dumps(build_sarif(result), option=orjson.OPT_INDENT_2).decode())
        out.write("\n")
