"""CycloneDX 1.6 with vulnerabilities: strictly valid, and each entry points at its component."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from support.vuln_samples import vuln_result
from yamori.report.registry import writer


def props(item: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in item.get("properties", [])}


@pytest.fixture
def doc() -> dict[str, Any]:
    out = io.StringIO()
    writer("cyclonedx").write(vuln_result(), out)
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(out.getvalue(), all_errors=True)
    assert errors is None, [str(e) for e in errors]
    return json.loads(out.getvalue())  # type: ignore[no-any-return]


def vulns(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["id"]: v for v in doc["vulnerabilities"]}


def ref_of(doc: dict[str, Any], name: str) -> str:
    found = [c["bom-ref"] for c in doc["components"] if c["name"] == name]
    assert len(found) == 1
    return found[0]  # type: ignore[no-any-return]


def test_one_entry_per_advisory_with_source(doc: dict[str, Any]) -> None:
    by_id = vulns(doc)
    assert sorted(by_id) == [
        "DEBIAN-CVE-2019-1010022",
        "DEBIAN-CVE-2023-4911",
        "GO-2023-2102",
        "PYSEC-2023-74",
    ]
    go = by_id["GO-2023-2102"]
    assert go["source"] == {"name": "OSV", "url": "https://osv.dev/vulnerability/GO-2023-2102"}
    assert {r["id"] for r in go["references"]} == {"CVE-2023-39325", "GHSA-4374-p667-p6c8"}
    assert go["description"] == "HTTP/2 rapid reset can cause excessive work in net/http"


def test_ratings_keep_vector_method_and_distro_severity(doc: dict[str, Any]) -> None:
    looney = vulns(doc)["DEBIAN-CVE-2023-4911"]
    cvss = [r for r in looney["ratings"] if r["method"] == "CVSSv31"]
    # cyclonedx-python-lib drops the "CVSS:3.1/" prefix: `method` already says the version.
    assert cvss == [
        {
            "source": {"name": "OSV", "url": "https://osv.dev/vulnerability/DEBIAN-CVE-2023-4911"},
            "score": 7.8,
            "severity": "high",
            "method": "CVSSv31",
            "vector": "AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H",
        }
    ]
    distro = [r for r in looney["ratings"] if r["method"] == "other"]
    assert distro == [{"source": {"name": "debian"}, "severity": "high", "method": "other"}]
    unfixed = vulns(doc)["DEBIAN-CVE-2019-1010022"]
    assert [r["method"] for r in unfixed["ratings"] if "score" in r] == ["CVSSv3"]


def test_affects_point_at_components_with_version_status(doc: dict[str, Any]) -> None:
    by_id = vulns(doc)
    requests = by_id["PYSEC-2023-74"]
    assert requests["affects"] == [
        {
            "ref": ref_of(doc, "requests"),
            "versions": [
                {"version": "2.30.0", "status": "affected"},
                {"version": "2.31.0", "status": "unaffected"},
            ],
        }
    ]
    assert requests["recommendation"] == "Upgrade to requests 2.31.0"
    assert by_id["DEBIAN-CVE-2023-4911"]["affects"][0]["ref"] == ref_of(doc, "libc6")
    assert "recommendation" not in by_id["DEBIAN-CVE-2019-1010022"]


def test_kev_epss_and_risk_properties(doc: dict[str, Any]) -> None:
    looney = props(vulns(doc)["DEBIAN-CVE-2023-4911"])
    assert looney["yamori:kev"] == "true"
    assert looney["yamori:epss"] == "0.71902"
    assert looney["yamori:epss:percentile"] == "0.98512"
    assert looney["yamori:risk"] == "92.50"
    assert props(vulns(doc)["GO-2023-2102"])["yamori:kev"] == "false"


def test_published_date_is_kept(doc: dict[str, Any]) -> None:
    assert vulns(doc)["PYSEC-2023-74"]["published"].startswith("2023-05-26T18:15:00")
