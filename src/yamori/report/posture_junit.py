"""JUnit XML for posture findings, so CI test views show misconfigurations as failed tests.

One test suite per file (the file declaring the resource; live cloud findings group by account
and region), one test case per (policy, resource): FAIL is a ``failure`` (with the fix and the
lines the policy read), ERROR an ``error``, accepted findings (inline skips, suppressions, the
baseline) and UNKNOWN results ``skipped`` with the reason — CI shows them without failing the
build, as the gate does. PASS cases are kept so the count shows how much was checked;
NOT_APPLICABLE ones are left out (nothing was checked).

Like the posture SARIF writer, picked by ``yamori iac`` by name rather than through the posture
registry (whose format list ``yamori cloud aws`` pins).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Final, TextIO

from yamori.model.finding import Finding, Status
from yamori.posture.result import PostureResult, ReportOptions
from yamori.report.codeview import code_location
from yamori.report.interface import PostureWriter
from yamori.report.postureview import finding_message, sorted_findings

__all__ = ["PostureJUnitWriter", "build_posture_junit"]

_LEFT_OUT: Final = frozenset({Status.NOT_APPLICABLE})


def _suite_name(result: PostureResult, finding: Finding) -> str:
    where = code_location(result, finding)
    if where is not None:
        return where.file
    return "/".join(p for p in (finding.account, finding.region) if p) or "(account)"


def _details(result: PostureResult, finding: Finding) -> str:
    lines = [finding_message(finding), f"resource: {finding.resource}"]
    where = code_location(result, finding)
    if where is not None:
        lines.append(f"location: {where}")
        lines.extend(f"  {path}: {file}:{line}" for path, file, line in where.related)
    if finding.remediation:
        lines.append(f"fix: {finding.remediation}")
    return "\n".join(lines)


def _case(suite: ET.Element, result: PostureResult, finding: Finding, classname: str) -> str:
    """Add the test case; return its outcome (``failure``, ``error``, ``skipped`` or ``pass``)."""
    where = code_location(result, finding)
    case = ET.SubElement(suite, "testcase", classname=classname, name=f"{finding.rule_id} {finding.resource}")
    if where is not None and where.start:
        case.set("file", where.file)
        case.set("line", str(where.start))
    status = finding.status
    if status is Status.FAIL:
        failure = ET.SubElement(
            case,
            "failure",
            message=f"{finding.title} [{finding.severity.value}]",
            type=finding.severity.value,
        )
        failure.text = _details(result, finding)
        return "failure"
    if status is Status.ERROR:
        ET.SubElement(case, "error", message=finding_message(finding), type="ERROR").text = _details(
            result, finding
        )
        return "error"
    if status is Status.PASS:
        return "pass"
    if status is Status.SUPPRESSED:
        info = finding.evidence.get("suppression", {})
        message = f"accepted: {info.get('reason', '')} ({info.get('source', '')})"
    else:
        message = f"{status.value}: {finding_message(finding)}"
    ET.SubElement(case, "skipped", message=message)
    return "skipped"


def build_posture_junit(result: PostureResult) -> ET.Element:
    """The ``<testsuites>`` element for a posture result."""
    suites: dict[str, list[Finding]] = {}
    for finding in sorted_findings(result.findings):
        if finding.status in _LEFT_OUT:
            continue
        suites.setdefault(_suite_name(result, finding), []).append(finding)
    root = ET.Element("testsuites", name="yamori")
    totals = {"tests": 0, "failure": 0, "error": 0, "skipped": 0}
    for name in sorted(suites):
        suite = ET.SubElement(root, "testsuite", name=name)
        counts = {"failure": 0, "error": 0, "skipped": 0, "pass": 0}
        for finding in sorted(suites[name], key=lambda f: (f.rule_id, f.resource)):
            counts[_case(suite, result, finding, name)] += 1
        tests = sum(counts.values())
        suite.set("tests", str(tests))
        suite.set("failures", str(counts["failure"]))
        suite.set("errors", str(counts["error"]))
        suite.set("skipped", str(counts["skipped"]))
        totals["tests"] += tests
        for key in ("failure", "error", "skipped"):
            totals[key] += counts[key]
    problems = [e.message for e in result.snapshot.errors]
    if problems or result.warnings:
        # Files that could not be read are part of the result: a suite of their own.
        suite = ET.SubElement(root, "testsuite", name="yamori scan")
        for i, text in enumerate(problems):
            case = ET.SubElement(suite, "testcase", classname="yamori scan", name=f"error {i + 1}")
            ET.SubElement(case, "error", message=text)
        if not problems:
            ET.SubElement(suite, "testcase", classname="yamori scan", name="scan")
        if result.warnings:
            ET.SubElement(suite, "system-err").text = "\n".join(result.warnings)
        suite.set("tests", str(len(problems) or 1))
        suite.set("failures", "0")
        suite.set("errors", str(len(problems)))
        suite.set("skipped", "0")
        totals["tests"] += len(problems) or 1
        totals["error"] += len(problems)
    root.set("tests", str(totals["tests"]))
    root.set("failures", str(totals["failure"]))
    root.set("errors", str(totals["error"]))
    root.set("skipped", str(totals["skipped"]))
    return root


class PostureJUnitWriter(PostureWriter):
    name = "junit"
    description = "JUnit XML: a test suite per file, a test case per (policy, resource)"

    def write(self, result: PostureResult, out: TextIO, options: ReportOptions) -> None:
        root = build_posture_junit(result)
        ET.indent(root)
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        out.write(ET.tostring(root, encoding="unicode"))
        out.write("\n")
