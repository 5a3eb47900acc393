"""Filtering and gating: severity, unfixed, .yamoriignore with expiry, OpenVEX statements."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from support.vuln_samples import findings
from yamori.model import Finding, Severity, Status
from yamori.vulndb.gate import (
    GateInputError,
    fails,
    filter_findings,
    load_ignore,
    load_openvex,
    parse_ignore,
    parse_openvex,
)

TODAY = date(2026, 11, 28)


def ids(items: list[Finding]) -> list[str]:
    return [f.rule_id for f in items]


def reasons(suppressed: list[tuple[Finding, str]]) -> dict[str, str]:
    return {f.rule_id: reason for f, reason in suppressed}


def vex_doc(*statements: dict[str, Any]) -> str:
    return json.dumps(
        {
            "@context": "https://openvex.dev/ns/v0.2.0",
            "@id": "https://example.com/vex/app-2026-001",
            "author": "Platform Security",
            "timestamp": "2026-11-01T00:00:00Z",
            "version": 1,
            "statements": list(statements),
        }
    )


# ── severity, unfixed, fail-on ──────────────────────────────────────────────────────────────────


def test_no_filters_keeps_everything() -> None:
    kept, suppressed = filter_findings(findings())
    assert len(kept) == 4 and suppressed == []


def test_severity_filter() -> None:
    kept, suppressed = filter_findings(findings(), severities={Severity.HIGH, Severity.CRITICAL})
    assert sorted(ids(kept)) == ["DEBIAN-CVE-2023-4911", "GO-2023-2102"]
    assert reasons(suppressed) == {
        "DEBIAN-CVE-2019-1010022": "severity LOW not selected",
        "PYSEC-2023-74": "severity MEDIUM not selected",
    }


def test_ignore_unfixed_and_suppressed_copies() -> None:
    original = findings()
    kept, suppressed = filter_findings(original, ignore_unfixed=True)
    assert "DEBIAN-CVE-2019-1010022" not in ids(kept)
    [(finding, reason)] = suppressed
    assert reason == "no fix available (not_fixed) and --ignore-unfixed"
    assert finding.status is Status.SUPPRESSED
    assert finding.evidence["suppressed"] == reason
    assert finding.id == original[0].id  # same finding, same stable id
    assert original[0].status is Status.OPEN and "suppressed" not in original[0].evidence


def test_fails_on_threshold_ignores_suppressed() -> None:
    all_findings = findings()
    assert fails(all_findings, Severity.HIGH)
    assert fails(all_findings, Severity.MEDIUM)
    assert not fails(all_findings, Severity.CRITICAL)
    kept, suppressed = filter_findings(all_findings, severities={Severity.LOW, Severity.MEDIUM})
    assert not fails(kept, Severity.HIGH)
    assert not fails([f for f, _ in suppressed], Severity.HIGH)  # suppressed never fail


# ── .yamoriignore ──────────────────────────────────────────────────────────────────────────────


def test_ignore_by_alias_package_and_path() -> None:
    rules = parse_ignore(
        """
- id: CVE-2023-32681          # an alias of PYSEC-2023-74
  package: requests
  paths: ["usr/lib/python3/dist-packages/*"]
  expires: 2027-01-31
  reason: Proxy-Authorization is never set by this service
- id: GO-2023-2102
  package: pkg:golang/stdlib
  reason: HTTP/2 server disabled (GODEBUG=http2server=0)
""",
        today=TODAY,
    )
    assert rules.warnings == []
    kept, suppressed = filter_findings(findings(), ignore=rules)
    assert sorted(ids(kept)) == ["DEBIAN-CVE-2019-1010022", "DEBIAN-CVE-2023-4911"]
    assert reasons(suppressed) == {
        "PYSEC-2023-74": "ignored by .yamoriignore until 2027-01-31: "
        "Proxy-Authorization is never set by this service",
        "GO-2023-2102": "ignored by .yamoriignore: HTTP/2 server disabled (GODEBUG=http2server=0)",
    }


def test_ignore_narrowed_by_package_or_path_does_not_match_others() -> None:
    rules = parse_ignore(
        """
ignore:
  - id: PYSEC-2023-74
    package: urllib3
    reason: wrong package
  - id: GO-2023-2102
    paths: ["opt/*"]
    reason: wrong path
  - id: CVE-2023-4911
    package: pkg:deb/debian/libc6
    reason: base image rebuilt nightly
""",
        today=TODAY,
    )
    _, suppressed = filter_findings(findings(), ignore=rules)
    assert ids([f for f, _ in suppressed]) == ["DEBIAN-CVE-2023-4911"]


def test_expired_entry_no_longer_suppresses_and_warns() -> None:
    rules = parse_ignore(
        "- id: GO-2023-2102\n  expires: 2026-06-30\n  reason: waiting for go1.21.3 rebuild\n",
        today=TODAY,
    )
    assert rules.entries == []
    assert rules.warnings == [
        ".yamoriignore: the entry for GO-2023-2102 expired on 2026-06-30 and no longer "
        "suppresses it; renew or remove it"
    ]
    kept, suppressed = filter_findings(findings(), ignore=rules)
    assert "GO-2023-2102" in ids(kept) and suppressed == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "- id: GO-2023-2102\n  reason: x\n  expire: 2027-01-01\n",
            ".yamoriignore entry 1: unknown key 'expire'; allowed: expires, id, package, paths, reason",
        ),
        (
            "- id: GO-2023-2102\n",
            ".yamoriignore entry 1 (GO-2023-2102): 'reason' is required: say why this is accepted",
        ),
        ("- reason: x\n", ".yamoriignore entry 1: 'id' is required (an advisory id or alias such as a CVE)"),
        (
            "- id: A\n  reason: x\n  expires: soon\n",
            ".yamoriignore entry 1 (A): 'expires' must be a date like 2026-12-31, got 'soon'",
        ),
        (
            "- id: A\n  reason: x\n  paths: 3\n",
            ".yamoriignore entry 1 (A): 'paths' must be a list of glob patterns",
        ),
        ("ignores: []\n", ".yamoriignore: unknown top-level key 'ignores'; expected 'ignore'"),
        ("- id: [unclosed\n", ".yamoriignore: not valid YAML at line 2"),
    ],
)
def test_ignore_file_errors_are_one_line(text: str, message: str) -> None:
    with pytest.raises(GateInputError) as info:
        parse_ignore(text, today=TODAY)
    assert str(info.value) == message
    assert "\n" not in str(info.value)


def test_load_ignore_from_file(tmp_path: Path) -> None:
    path = tmp_path / ".yamoriignore"
    path.write_text('- id: DEBIAN-CVE-2019-1010022\n  reason: "Debian: unimportant"\n')
    rules = load_ignore(path, today=TODAY)
    assert rules.source == str(path)
    _, suppressed = filter_findings(findings(), ignore=rules)
    assert reasons(suppressed) == {"DEBIAN-CVE-2019-1010022": f"ignored by {path}: Debian: unimportant"}
    with pytest.raises(GateInputError, match="cannot read the ignore file"):
        load_ignore(tmp_path / "missing", today=TODAY)


# ── OpenVEX ────────────────────────────────────────────────────────────────────────────────────


def test_vex_not_affected_with_justification_suppresses() -> None:
    vex = parse_openvex(
        vex_doc(
            {
                "vulnerability": {"name": "CVE-2023-39325", "aliases": ["GO-2023-2102"]},
                "products": [{"@id": "pkg:golang/stdlib"}],  # no version: every version
                "status": "not_affected",
                "justification": "vulnerable_code_not_in_execute_path",
            }
        )
    )
    kept, suppressed = filter_findings(findings(), vex=vex)
    assert "GO-2023-2102" not in ids(kept)
    assert reasons(suppressed) == {
        "GO-2023-2102": "VEX not_affected (vulnerable_code_not_in_execute_path) in "
        "https://example.com/vex/app-2026-001"
    }
    [(finding, _)] = suppressed
    assert finding.status is Status.SUPPRESSED


def test_vex_matches_purl_without_qualifiers_and_subcomponents() -> None:
    vex = parse_openvex(
        vex_doc(
            {
                "vulnerability": {"name": "CVE-2023-4911"},
                "products": [
                    {
                        "@id": "pkg:oci/app@sha256%3A" + "c0" * 32,
                        "subcomponents": [{"@id": "pkg:deb/debian/libc6@2.36-9%2Bdeb12u2"}],
                    }
                ],
                "status": "fixed",
            },
            {
                "vulnerability": {"name": "PYSEC-2023-74"},
                "products": [{"@id": "pkg:pypi/requests@2.29.0"}],  # another version: no match
                "status": "not_affected",
                "impact_statement": "not used",
            },
        )
    )
    kept, suppressed = filter_findings(findings(), vex=vex)
    assert reasons(suppressed) == {
        "DEBIAN-CVE-2023-4911": "VEX fixed in https://example.com/vex/app-2026-001"
    }
    assert "PYSEC-2023-74" in ids(kept)


def test_vex_affected_and_under_investigation_keep_and_later_statement_wins() -> None:
    vex = parse_openvex(
        vex_doc(
            {
                "vulnerability": {"name": "CVE-2023-32681"},
                "products": [{"@id": "pkg:pypi/requests"}],
                "status": "not_affected",
                "justification": "inline_mitigations_already_exist",
                "timestamp": "2026-10-01T00:00:00Z",
            },
            {
                "vulnerability": {"name": "CVE-2023-32681"},
                "products": [{"@id": "pkg:pypi/Requests"}],
                "status": "affected",
                "action_statement": "upgrade to 2.31.0",
                "timestamp": "2026-11-01T00:00:00Z",
            },
            {
                "vulnerability": {"name": "GO-2023-2102"},
                "products": [{"@id": "pkg:golang/stdlib@v1.21.0"}],
                "status": "under_investigation",
            },
        )
    )
    kept, suppressed = filter_findings(findings(), vex=vex)
    assert suppressed == []
    assert len(kept) == 4


def test_vex_with_qualifiers_must_match_them() -> None:
    statement = {
        "vulnerability": {"name": "CVE-2023-4911"},
        "products": [{"@id": "pkg:deb/debian/libc6?arch=arm64"}],
        "status": "not_affected",
        "justification": "component_not_present",
    }
    _, suppressed = filter_findings(findings(), vex=parse_openvex(vex_doc(statement)))
    assert suppressed == []
    statement["products"] = [{"@id": "pkg:deb/debian/libc6?arch=amd64"}]
    _, suppressed = filter_findings(findings(), vex=parse_openvex(vex_doc(statement)))
    assert ids([f for f, _ in suppressed]) == ["DEBIAN-CVE-2023-4911"]


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        (
            {
                "vulnerability": {"name": "CVE-1"},
                "products": [{"@id": "pkg:pypi/x"}],
                "status": "not_affected",
            },
            "VEX document statement 1 (CVE-1): not_affected needs a 'justification' or an 'impact_statement'",
        ),
        (
            {"vulnerability": {"name": "CVE-1"}, "products": [{"@id": "pkg:pypi/x"}], "status": "maybe"},
            "VEX document statement 1: status 'maybe' is not one of affected, fixed, "
            "not_affected, under_investigation",
        ),
        ({"products": [], "status": "fixed"}, "VEX document statement 1: 'vulnerability.name' is required"),
    ],
)
def test_vex_errors_are_one_line(statement: dict[str, Any], message: str) -> None:
    with pytest.raises(GateInputError) as info:
        parse_openvex(vex_doc(statement))
    assert str(info.value) == message


def test_vex_rejects_non_openvex(tmp_path: Path) -> None:
    with pytest.raises(GateInputError, match="not an OpenVEX document"):
        parse_openvex('{"bomFormat": "CycloneDX"}')
    with pytest.raises(GateInputError, match="not valid JSON"):
        parse_openvex("{")
    path = tmp_path / "app.vex.json"
    path.write_text(
        vex_doc(
            {
                "vulnerability": {"name": "CVE-2019-1010022"},
                "products": [{"@id": "pkg:deb/debian/libc6"}],
                "status": "not_affected",
                "impact_statement": "stack guard bypass needs an existing memory bug",
            }
        )
    )
    _, suppressed = filter_findings(findings(), vex=load_openvex([path]))
    assert ids([f for f, _ in suppressed]) == ["DEBIAN-CVE-2019-1010022"]


def test_vex_takes_precedence_over_ignore_for_the_reason() -> None:
    vex = parse_openvex(
        vex_doc(
            {
                "vulnerability": {"name": "GO-2023-2102"},
                "products": [{"@id": "pkg:golang/stdlib"}],
                "status": "fixed",
            }
        )
    )
    rules = parse_ignore("- id: GO-2023-2102\n  reason: accepted\n", today=TODAY)
    _, suppressed = filter_findings(findings(), vex=vex, ignore=rules)
    assert reasons(suppressed)["GO-2023-2102"].startswith("VEX fixed")
