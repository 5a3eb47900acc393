"""SARIF 2.1.0 for posture findings — above all ``yamori iac``, so code-scanning dashboards
annotate the line that declares the problem.

One rule per policy (help = its remediation, including the Terraform/CloudFormation fix when the
policy has one) and one result per failing (policy, resource). The primary location is the
declaring block (``startLine``, and ``endLine`` as far as the lines the policy read reach);
``relatedLocations`` name each attribute the policy read. URIs are relative to the scanned root
(``uriBaseId`` ``%SRCROOT%``), which is what GitHub resolves against the checkout.

Accepted findings are not dropped: inline skips become ``suppressions`` of kind ``inSource``,
suppression files and the baseline ``external`` (dashboards hide them, auditors can still see
them); with a baseline every result has a ``baselineState``. ``partialFingerprints`` carry the
stable finding id, so a line moving does not make an alert new. Live cloud findings (no file)
get a logical location naming the resource.

Not in the posture registry yet (``yamori cloud aws`` lists its formats from it and its tests
pin that list); ``yamori iac`` picks this writer by name. Registering it for cloud scans is one
line in ``registry._POSTURE_BUILTIN`` plus ``@register_posture``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final, TextIO

import orjson

from yamori import __version__
from yamori.model.finding import Finding, Severity, Status
from yamori.posture.result import PostureResult, ReportOptions
from yamori.report.codeview import CodeReportOptions, code_location, show_unknown
from yamori.report.interface import PostureWriter
from yamori.report.postureview import finding_message, sorted_findings
from yamori.report.sarif import FINGERPRINT_KEY, INFORMATION_URI, SARIF_SCHEMA

__all__ = ["PostureSARIFWriter", "build_posture_sarif"]

SRCROOT: Final = "%SRCROOT%"
_LEVELS: Final = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.UNKNOWN: "note",
}
# GitHub turns `security-severity` into critical/high/medium/low: one score inside each band.
_SECURITY_SEVERITY: Final = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.UNKNOWN: "0.0",
}
# Result kinds: what each status means to a SARIF consumer. Statuses not listed are left out.
_KINDS: Final = {
    Status.FAIL: "fail",
    Status.ERROR: "review",
    Status.SUPPRESSED: "fail",
    Status.UNKNOWN: "review",
    Status.MANUAL: "review",
    Status.PASS: "pass",
}
_REMEDIATION_LABELS: Final = (
    ("terraform", "Terraform", "hcl"),
    ("cloudformation", "CloudFormation", "yaml"),
    ("cli", "AWS CLI", "sh"),
    ("console", "Console", ""),
)


def _included(finding: Finding, options: ReportOptions) -> bool:
    if finding.status is Status.PASS:
        return options.show_pass
    if finding.status is Status.UNKNOWN:
        return show_unknown(options)
    return finding.status in _KINDS


def _rule(finding: Finding) -> dict[str, Any]:
    remediation = finding.evidence.get("remediation")
    extra = remediation if isinstance(remediation, dict) else {}
    text = finding.remediation or finding.description or finding.title
    markdown = [f"**{finding.title}**", "", finding.description or "", "", f"**Fix:** {text}"]
    for key, label, lang in _REMEDIATION_LABELS:
        snippet = extra.get(key)
        if isinstance(snippet, str) and snippet:
            markdown += ["", f"{label}:", "", f"```{lang}", snippet.rstrip(), "```"]
    if finding.compliance:
        markdown += ["", "Compliance: " + ", ".join(finding.compliance)]
    rule: dict[str, Any] = {
        "id": finding.rule_id,
        "name": finding.rule_id,
        "shortDescription": {"text": finding.title},
        "fullDescription": {"text": finding.description or finding.title},
        "help": {"text": text, "markdown": "\n".join(markdown).strip()},
        "defaultConfiguration": {"level": _LEVELS[finding.severity]},
        "properties": {
            "security-severity": _SECURITY_SEVERITY[finding.severity],
            "precision": "high",
            "tags": ["security", "misconfiguration", *finding.compliance],
        },
    }
    url = extra.get("url") or (finding.references[0] if finding.references else "")
    if isinstance(url, str) and url:
        rule["helpUri"] = url
    return rule


def _physical(file: str, start: int | None, end: int | None = None) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": file, "uriBaseId": SRCROOT}}
    if start:
        region: dict[str, Any] = {"startLine": start}
        if end and end > start:
            region["endLine"] = end
        physical["region"] = region
    return physical


def _locations(result: PostureResult, finding: Finding) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    where = code_location(result, finding)
    if where is None:
        logical = {"fullyQualifiedName": finding.resource, "kind": "resource"}
        return [{"logicalLocations": [logical]}], []
    primary = {
        "physicalLocation": _physical(where.file, where.start, where.end),
        "logicalLocations": [{"fullyQualifiedName": finding.resource, "kind": "resource"}],
    }
    related = [
        {"id": i, "physicalLocation": _physical(file, line), "message": {"text": path}}
        for i, (path, file, line) in enumerate(where.related)
    ]
    return [primary], related


def _suppression(finding: Finding) -> list[dict[str, Any]] | None:
    info = finding.evidence.get("suppression")
    if finding.status is not Status.SUPPRESSED or not isinstance(info, dict):
        return None
    source = str(info.get("source", ""))
    kind = "inSource" if "(inline" in source else "external"
    return [{"kind": kind, "status": "accepted", "justification": f"{info.get('reason', '')} ({source})"}]


def _result(result: PostureResult, finding: Finding, rule_index: int, baselined: bool) -> dict[str, Any]:
    status = finding.status
    level = _LEVELS[finding.severity] if status in (Status.FAIL, Status.SUPPRESSED) else "none"
    if status is Status.ERROR:
        level = "warning"
    locations, related = _locations(result, finding)
    out: dict[str, Any] = {
        "ruleId": finding.rule_id,
        "ruleIndex": rule_index,
        "kind": _KINDS[status],
        "level": level,
        "message": {"text": f"{finding_message(finding)} ({finding.resource})"},
        "locations": locations,
        "partialFingerprints": {FINGERPRINT_KEY: finding.id},
        "properties": {"status": str(status), "severity": str(finding.severity)},
    }
    if related:
        out["relatedLocations"] = related
    suppressions = _suppression(finding)
    if suppressions:
        out["suppressions"] = suppressions
    state = finding.evidence.get("baseline")
    if baselined and state in ("new", "unchanged"):
        out["baselineState"] = state
    return out


def build_posture_sarif(result: PostureResult, options: ReportOptions) -> dict[str, Any]:
    """The SARIF log as a dict (tests and callers inspect it before it is written)."""
    findings = [f for f in sorted_findings(result.findings) if _included(f, options)]
    baselined = any("baseline" in f.evidence for f in result.findings)
    rule_ids = sorted({f.rule_id for f in findings})
    index = {rule_id: i for i, rule_id in enumerate(rule_ids)}
    first: dict[str, Finding] = {}
    for f in findings:
        first.setdefault(f.rule_id, f)
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "yamori",
                "version": __version__,
                "informationUri": INFORMATION_URI,
                "rules": [_rule(first[r]) for r in rule_ids],
            }
        },
        "results": [_result(result, f, index[f.rule_id], baselined) for f in findings],
        "columnKind": "unicodeCodePoints",
        "properties": {"provider": result.snapshot.provider, "resources": len(result.snapshot.resources)},
    }
    root = options.root if isinstance(options, CodeReportOptions) else ""
    if root:
        run["originalUriBaseIds"] = {SRCROOT: {"uri": Path(root).resolve().as_uri() + "/"}}
    notifications = [
        {"level": "error", "message": {"text": f"{e.call}: {e.message}" if e.call != "parse" else e.message}}
        for e in result.snapshot.errors
    ] + [{"level": "warning", "message": {"text": text}} for text in result.warnings]
    if notifications:
        # Errors are part of the result: a partial scan must not look like a clean one.
        run["invocations"] = [
            {
                "executionSuccessful": not result.snapshot.errors,
                "toolExecutionNotifications": notifications,
            }
        ]
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


class PostureSARIFWriter(PostureWriter):
    name = "sarif"
    description = "SARIF 2.1.0 (code scanning): one rule per policy, one result per failing resource"

    def write(self, result: PostureResult, out: TextIO, options: ReportOptions) -> None:
        out.write(orjson.dumps(build_posture_sarif(result, options), option=orjson.OPT_INDENT_2).decode())
        out.write("\n")
