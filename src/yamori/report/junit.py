"""JUnit XML so CI systems (Jenkins, GitLab, Azure Pipelines) show vulnerabilities as test results.

CI dashboards already know how to show failed tests, so each package is a test case that fails
when it carries a vulnerability at or above the threshold; each target (the OS, a lock file, a
binary) is a test suite. Packages without such vulnerabilities are passing cases, so the pass
count tells how much was scanned. Vulnerabilities below the threshold go to `system-out`, seen
but not failing.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TextIO

from yamori.model import Package, ScanResult, Severity
from yamori.report.interface import ReportWriter
from yamori.report.registry import register
from yamori.report.vulnview import VulnFinding, os_target, vulnerabilities

_PackageKey = tuple[str, str, str, str]


def package_target(result: ScanResult, pkg: Package) -> str:
    """Same grouping as the vulnerability reports: OS packages by image, others by file."""
    if pkg.type.is_os or not pkg.location:
        return os_target(result)
    return pkg.location


def _vuln_key(vuln: VulnFinding) -> _PackageKey:
    d = vuln.details
    return (d.package_type, d.package_name, d.installed_version, d.package_location)


def _line(vuln: VulnFinding) -> str:
    d = vuln.details
    fixed = ", ".join(d.fixed_versions) or "no fix"
    kev = " KEV" if d.kev else ""
    head = f"{d.id} {vuln.finding.severity.value}{kev}"
    return f"{head} {d.package_name} {d.installed_version} -> {fixed}: {d.summary}"


def build_junit(result: ScanResult, threshold: Severity = Severity.UNKNOWN) -> ET.Element:
    """The `<testsuites>` element for a result; vulnerabilities ranked `>= threshold` fail."""
    by_package: dict[_PackageKey, list[VulnFinding]] = {}
    for vuln in vulnerabilities(result):
        by_package.setdefault(_vuln_key(vuln), []).append(vuln)

    # (target → ordered cases); packages a finding names but the inventory lacks still appear.
    cases: dict[str, dict[_PackageKey, str]] = {}
    for pkg in result.packages:
        key: _PackageKey = (pkg.type.value, pkg.name, pkg.version, pkg.location)
        cases.setdefault(package_target(result, pkg), {})[key] = f"{pkg.name}@{pkg.version}"
    for key, vulns in by_package.items():
        target = vulns[0].target
        cases.setdefault(target, {}).setdefault(key, f"{key[1]}@{key[2]}")

    root = ET.Element("testsuites", name="yamori")
    total_tests = total_failures = 0
    for target in sorted(cases):
        suite = ET.SubElement(root, "testsuite", name=target)
        failures = 0
        for key, case_name in sorted(cases[target].items(), key=lambda item: item[1]):
            case = ET.SubElement(suite, "testcase", classname=target, name=case_name)
            vulns = by_package.get(key, [])
            failing = [v for v in vulns if v.finding.severity.rank >= threshold.rank]
            passing = [v for v in vulns if v.finding.severity.rank < threshold.rank]
            if failing:
                failures += 1
                worst = max(failing, key=lambda v: v.finding.severity.rank)
                failure = ET.SubElement(
                    case,
                    "failure",
                    message=f"{len(failing)} vulnerabilities at or above {threshold.value}: "
                    + ", ".join(v.details.id for v in failing),
                    type=worst.finding.severity.value,
                )
                failure.text = "\n".join(_line(v) for v in failing)
            if passing:
                ET.SubElement(case, "system-out").text = "\n".join(_line(v) for v in passing)
        suite.set("tests", str(len(cases[target])))
        suite.set("failures", str(failures))
        suite.set("errors", "0")
        suite.set("skipped", "0")
        total_tests += len(cases[target])
        total_failures += failures
    root.set("tests", str(total_tests))
    root.set("failures", str(total_failures))
    root.set("errors", str(len(result.errors)))
    if result.errors or result.warnings:
        # Errors are part of the result (the scan is incomplete): a suite of their own.
        suite = ET.SubElement(
            root,
            "testsuite",
            name="yamori scan",
            tests=str(len(result.errors) or 1),
            failures="0",
            errors=str(len(result.errors)),
            skipped="0",
        )
        for i, text in enumerate(result.errors):
            case = ET.SubElement(suite, "testcase", classname="yamori scan", name=f"error {i + 1}")
            ET.SubElement(case, "error", message=text)
        if not result.errors:
            ET.SubElement(suite, "testcase", classname="yamori scan", name="scan")
        if result.warnings:
            ET.SubElement(suite, "system-err").text = "\n".join(result.warnings)
    return root


@register
class JUnitWriter(ReportWriter):
    name = "junit"
    description = "JUnit XML: a test suite per target, a failing test case per vulnerable package"

    def __init__(self, threshold: Severity = Severity.UNKNOWN) -> None:
        # UNKNOWN (the lowest rank) by default: every vulnerability fails its package, as CI
        # users expect from a report they have not tuned; the CLI passes --fail-on here.
        self.threshold = threshold

    def write(self, result: ScanResult, out: TextIO) -> None:
        root = build_junit(result, self.threshold)
        ET.indent(root)
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        out.write(ET.tostring(root, encoding="unicode"))
        out.write("\n")
