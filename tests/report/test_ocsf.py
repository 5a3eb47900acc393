"""OCSF Vulnerability Finding writer.

Required attributes are those the OCSF schema marks `"requirement": "required"` for class 2002
(github.com/ocsf/ocsf-schema: `events/findings/vulnerability_finding.json` adds `vulnerabilities`;
`events/findings/finding.json` adds `finding_info`; `events/base_event.json` requires
`activity_id`, `category_uid`, `class_uid`, `metadata`, `severity_id`, `time`, `type_uid`), and
for the objects: `finding_info.uid`, `metadata.product`/`metadata.version`, `cve.uid`,
`cvss.base_score`/`cvss.version`, `affected_package.name`/`version` (`objects/*.json` there).
"""

from __future__ import annotations

import io
import json
from typing import Any

from support.vuln_samples import IMAGE, LAYERS, REQUESTS_META, vuln_result
from yamori.model import ScanResult, Status
from yamori.report.ocsf import build_events
from yamori.report.registry import formats, writer

BASE_REQUIRED = {"activity_id", "category_uid", "class_uid", "metadata", "severity_id", "time", "type_uid"}
CLASS_REQUIRED = {"finding_info", "vulnerabilities"}


def render(result: ScanResult) -> list[dict[str, Any]]:
    out = io.StringIO()
    writer("ocsf").write(result, out)
    events: list[dict[str, Any]] = json.loads(out.getvalue())
    return events


def by_id(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["vulnerabilities"][0]["cve"]["uid"]: e for e in events}


def test_registered() -> None:
    assert "ocsf" in formats()


def test_every_event_has_the_required_attributes() -> None:
    events = render(vuln_result())
    assert len(events) == 4
    for event in events:
        assert set(event) >= BASE_REQUIRED | CLASS_REQUIRED
        assert event["class_uid"] == 2002
        assert event["category_uid"] == 2
        assert event["activity_id"] == 1
        assert event["type_uid"] == 200201
        assert isinstance(event["time"], int) and event["time"] > 1_700_000_000_000
        assert event["metadata"]["version"].startswith("1.")
        assert event["metadata"]["product"]["name"] == "yamori"
        assert len(event["finding_info"]["uid"]) == 32
        for vuln in event["vulnerabilities"]:
            assert vuln["cve"]["uid"]
            for cvss in vuln["cve"].get("cvss", []):
                assert {"base_score", "version"} <= set(cvss)
            for pkg in vuln["affected_packages"]:
                assert {"name", "version"} <= set(pkg)


def test_values_of_the_glibc_and_requests_findings() -> None:
    events = by_id(render(vuln_result()))
    looney = events["CVE-2023-4911"]
    assert looney["severity_id"] == 4 and looney["severity"] == "High"
    vuln = looney["vulnerabilities"][0]
    assert vuln["cve"]["cvss"] == [
        {
            "base_score": 7.8,
            "version": "3.1",
            "vector_string": "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H",
        }
    ]
    assert vuln["cve"]["epss"] == {"score": "0.71902", "percentile": 0.98512}
    assert vuln["is_exploit_available"] is True
    assert vuln["fix_available"] is True
    assert vuln["affected_packages"][0]["fixed_in_version"] == "2.36-9+deb12u3"
    resource = looney["resources"][0]
    assert resource["name"] == IMAGE
    assert resource["data"]["layer_digest"] == LAYERS[0].digest

    requests = events["CVE-2023-32681"]
    assert requests["severity_id"] == 3
    pkg = requests["vulnerabilities"][0]["affected_packages"][0]
    assert pkg == {
        "name": "requests",
        "version": "2.30.0",
        "type": "pypi",
        "package_manager": "pypi",
        "purl": "pkg:pypi/requests@2.30.0",
        "fixed_in_version": "2.31.0",
        "path": REQUESTS_META,
    }
    assert requests["finding_info"]["title"] == "PYSEC-2023-74 in requests 2.30.0"


def test_unfixed_and_suppressed() -> None:
    result = vuln_result()
    result.findings[0].status = Status.SUPPRESSED
    result.findings[0].evidence["suppressed"] = "ignored: not reachable"
    events = by_id(build_events(result, now_ms=1_750_000_000_000))
    unfixed = events["CVE-2019-1010022"]
    assert unfixed["vulnerabilities"][0]["fix_available"] is False
    assert unfixed["status_id"] == 3 and unfixed["status_detail"] == "ignored: not reachable"
    assert unfixed["severity_id"] == 2
    assert {e["time"] for e in events.values()} == {1_750_000_000_000}
    go = events["CVE-2023-39325"]
    assert go["status_id"] == 1
