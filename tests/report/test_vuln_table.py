"""Table writer with vulnerabilities: grouped by target, riskiest first; packages unchanged."""

from __future__ import annotations

import io
import json

from support.vuln_samples import GO_BINARY, REQUESTS_META, vuln_result
from yamori.model import ScanResult
from yamori.report.registry import writer


def render(result: ScanResult, fmt: str = "table") -> str:
    out = io.StringIO()
    writer(fmt).write(result, out)
    return out.getvalue()


def rows(text: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip("│").split("│")]
        for line in text.splitlines()
        if line.startswith("│")
    ]


def test_package_table_is_unchanged_without_findings() -> None:
    with_findings = vuln_result()
    without = vuln_result()
    without.findings = []
    plain = render(without)
    assert "Risk" not in plain and "Vulnerabilities:" not in plain
    assert render(with_findings).startswith(plain)


def test_vulnerability_tables_grouped_by_target_and_sorted_by_risk() -> None:
    text = render(vuln_result())
    vuln_part = text[text.index("\nregistry.example.com/team/app:1.2 (debian 12.5)\n") :]
    targets = [
        line
        for line in vuln_part.splitlines()
        if line in ("registry.example.com/team/app:1.2 (debian 12.5)", GO_BINARY, REQUESTS_META)
    ]
    # Targets in the order of their riskiest finding: glibc 92.5, Go 55.0, requests 41.3.
    assert targets == ["registry.example.com/team/app:1.2 (debian 12.5)", GO_BINARY, REQUESTS_META]
    vuln_rows = [r for r in rows(vuln_part) if len(r) == 8]
    assert vuln_rows[0] == [
        "92.5",
        "DEBIAN-CVE-2023-4911",
        "HIGH KEV",
        "libc6",
        "2.36-9+deb12u2",
        "2.36-9+deb12u3",
        "0",
        "0.719",
    ]
    assert vuln_rows[1][:6] == [
        "8.0",
        "DEBIAN-CVE-2019-1010022",
        "LOW",
        "libc6",
        "2.36-9+deb12u2",
        "not_fixed",
    ]
    assert vuln_rows[1][7] == ""
    assert vuln_rows[2] == ["55.0", "GO-2023-2102", "HIGH", "stdlib", "v1.21.0", "1.21.3", "2", "0.021"]
    assert vuln_rows[3][:2] == ["41.3", "PYSEC-2023-74"]


def test_severity_summary_line() -> None:
    text = render(vuln_result())
    assert "Vulnerabilities: 4 (CRITICAL: 0, HIGH: 2, MEDIUM: 1, LOW: 1, UNKNOWN: 0; KEV: 1)" in text


def test_json_serialises_nested_vulnerability_details() -> None:
    doc = json.loads(render(vuln_result(), "json"))
    by_rule = {f["rule_id"]: f for f in doc["findings"]}
    looney = by_rule["DEBIAN-CVE-2023-4911"]
    assert len(looney["id"]) == 32
    assert looney["kind"] == "vulnerability"
    assert looney["vulnerability"]["aliases"] == ["CVE-2023-4911"]
    assert looney["vulnerability"]["fix_state"] == "fixed"
    assert looney["vulnerability"]["kev"] is True
    assert by_rule["DEBIAN-CVE-2019-1010022"]["vulnerability"]["fix_state"] == "not_fixed"
