"""JUnit writer: a suite per target, a case per package, failures at or above the threshold."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

from support.vuln_samples import GO_BINARY, REQUESTS_META, vuln_result
from yamori.model import ScanResult, Severity
from yamori.report.junit import JUnitWriter
from yamori.report.registry import formats, writer

OS_TARGET = "registry.example.com/team/app:1.2 (debian 12.5)"


def parse(result: ScanResult, w: JUnitWriter | None = None) -> ET.Element:
    out = io.StringIO()
    (w or writer("junit")).write(result, out)
    text = out.getvalue()
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(text)


def suites(root: ET.Element) -> dict[str, ET.Element]:
    return {s.attrib["name"]: s for s in root.findall("testsuite")}


def case(suite: ET.Element, name: str) -> ET.Element:
    found = [c for c in suite.findall("testcase") if c.attrib["name"] == name]
    assert len(found) == 1
    return found[0]


def test_registered() -> None:
    assert "junit" in formats()


def test_suites_per_target_and_cases_per_package() -> None:
    root = parse(vuln_result())
    assert root.tag == "testsuites"
    by_name = suites(root)
    assert set(by_name) == {
        OS_TARGET,
        REQUESTS_META,
        "usr/lib/python3/dist-packages/urllib3-2.0.7.dist-info/METADATA",
        GO_BINARY,
    }
    os_suite = by_name[OS_TARGET]
    assert [c.attrib["name"] for c in os_suite.findall("testcase")] == [
        "libc6@2.36-9+deb12u2",
        "tzdata@2024a-0+deb12u1",
    ]
    assert os_suite.attrib["tests"] == "2"
    assert os_suite.attrib["failures"] == "1"
    assert root.attrib["tests"] == "5"
    assert root.attrib["failures"] == "3"


def test_default_threshold_fails_every_vulnerable_package() -> None:
    by_name = suites(parse(vuln_result()))
    failure = case(by_name[OS_TARGET], "libc6@2.36-9+deb12u2").find("failure")
    assert failure is not None
    assert failure.attrib["type"] == "HIGH"
    assert "DEBIAN-CVE-2023-4911" in failure.attrib["message"]
    assert "DEBIAN-CVE-2019-1010022" in failure.attrib["message"]
    assert failure.text is not None and "2.36-9+deb12u3" in failure.text and "KEV" in failure.text
    assert case(by_name[OS_TARGET], "tzdata@2024a-0+deb12u1").find("failure") is None
    requests = case(by_name[REQUESTS_META], "requests@2.30.0").find("failure")
    assert requests is not None and requests.attrib["type"] == "MEDIUM"


def test_threshold_high_moves_lower_findings_to_system_out() -> None:
    root = parse(vuln_result(), JUnitWriter(threshold=Severity.HIGH))
    by_name = suites(root)
    libc = case(by_name[OS_TARGET], "libc6@2.36-9+deb12u2")
    failure = libc.find("failure")
    assert failure is not None
    assert failure.attrib["message"] == "1 vulnerabilities at or above HIGH: DEBIAN-CVE-2023-4911"
    out = libc.find("system-out")
    assert out is not None and out.text is not None and "DEBIAN-CVE-2019-1010022" in out.text
    requests = case(by_name[REQUESTS_META], "requests@2.30.0")
    assert requests.find("failure") is None
    assert by_name[REQUESTS_META].attrib["failures"] == "0"
    assert case(by_name[GO_BINARY], "stdlib@v1.21.0").find("failure") is not None
    assert root.attrib["failures"] == "2"


def test_scan_errors_are_reported_as_errors() -> None:
    result = vuln_result()
    result.errors.append("layer 3: truncated gzip stream")
    root = parse(result)
    scan = suites(root)["yamori scan"]
    error = scan.find("testcase/error")
    assert error is not None and error.attrib["message"] == "layer 3: truncated gzip stream"
    assert root.attrib["errors"] == "1"
