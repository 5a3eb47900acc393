"""SARIF 2.1.0 writer: valid against the OASIS schema and shaped the way GitHub reads it."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import FormatChecker
from jsonschema.validators import validator_for

from support.vuln_samples import IMAGE, LAYERS, REQUESTS_META, vuln_result
from yamori.model import ArtifactInfo, ScanResult, Status
from yamori.report.registry import formats, writer
from yamori.report.sarif import FINGERPRINT_KEY

SCHEMA = Path(__file__).parent.parent / "fixtures" / "sarif" / "sarif-schema-2.1.0.json"


def render(result: ScanResult) -> dict[str, Any]:
    out = io.StringIO()
    writer("sarif").write(result, out)
    doc: dict[str, Any] = json.loads(out.getvalue())
    schema = json.loads(SCHEMA.read_text())
    validator = validator_for(schema)(schema, format_checker=FormatChecker())
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]
    assert errors == []
    return doc


@pytest.fixture
def doc() -> dict[str, Any]:
    return render(vuln_result())


def results_by_rule(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["ruleId"]: r for r in doc["runs"][0]["results"]}


def test_registered() -> None:
    assert "sarif" in formats()


def test_schema_rejects_a_broken_log() -> None:
    """The validator really checks: a result without a message is invalid SARIF."""
    schema = json.loads(SCHEMA.read_text())
    bad = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{}]}]}
    assert list(validator_for(schema)(schema).iter_errors(bad))


def test_one_rule_per_advisory_with_security_severity(doc: dict[str, Any]) -> None:
    driver = doc["runs"][0]["tool"]["driver"]
    assert driver["name"] == "yamori"
    rules = {r["id"]: r for r in driver["rules"]}
    assert sorted(rules) == [
        "DEBIAN-CVE-2019-1010022",
        "DEBIAN-CVE-2023-4911",
        "GO-2023-2102",
        "PYSEC-2023-74",
    ]
    assert rules["DEBIAN-CVE-2023-4911"]["properties"]["security-severity"] == "7.8"
    assert rules["PYSEC-2023-74"]["properties"]["security-severity"] == "6.1"
    assert rules["GO-2023-2102"]["properties"]["security-severity"] == "7.5"
    go = rules["GO-2023-2102"]
    assert go["helpUri"] == "https://osv.dev/vulnerability/GO-2023-2102"
    assert "CVE-2023-39325" in go["help"]["text"]
    assert go["shortDescription"]["text"] == "HTTP/2 rapid reset can cause excessive work in net/http"
    # ruleIndex points at the rule of the same id
    for result in doc["runs"][0]["results"]:
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]


def test_results_levels_messages_and_fingerprints(doc: dict[str, Any]) -> None:
    results = results_by_rule(doc)
    assert len(doc["runs"][0]["results"]) == 4
    assert results["DEBIAN-CVE-2023-4911"]["level"] == "error"
    assert results["PYSEC-2023-74"]["level"] == "warning"
    assert results["DEBIAN-CVE-2019-1010022"]["level"] == "note"
    message = results["PYSEC-2023-74"]["message"]["text"]
    assert "Package: requests" in message
    assert "Installed version: 2.30.0" in message
    assert "Fixed version: 2.31.0" in message
    assert "Fixed version: none" in results["DEBIAN-CVE-2019-1010022"]["message"]["text"]
    ids = {f.rule_id: f.id for f in vuln_result().findings}
    for rule_id, result in results.items():
        assert result["partialFingerprints"] == {FINGERPRINT_KEY: ids[rule_id]}
    assert results["DEBIAN-CVE-2023-4911"]["properties"]["kev"] is True
    assert results["PYSEC-2023-74"]["properties"]["epss"] == pytest.approx(0.06278)


def test_image_locations_name_the_image_and_layer(doc: dict[str, Any]) -> None:
    location = results_by_rule(doc)["PYSEC-2023-74"]["locations"][0]
    assert location["physicalLocation"]["artifactLocation"]["uri"] == IMAGE
    assert location["properties"]["layerDigest"] == LAYERS[2].digest
    assert location["properties"]["layerIndex"] == 2
    assert location["properties"]["packageLocation"] == REQUESTS_META


def test_filesystem_locations_are_package_paths() -> None:
    result = vuln_result()
    result.artifact = ArtifactInfo(name="/src/app", type="filesystem")
    doc = render(result)
    uri = results_by_rule(doc)["PYSEC-2023-74"]["locations"][0]["physicalLocation"]
    assert uri["artifactLocation"]["uri"] == REQUESTS_META


def test_suppressed_findings_are_left_out_and_errors_kept() -> None:
    result = vuln_result()
    result.findings[0].status = Status.SUPPRESSED
    result.errors.append("layer 3: truncated gzip stream")
    doc = render(result)
    assert "DEBIAN-CVE-2019-1010022" not in results_by_rule(doc)
    invocation = doc["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    assert invocation["toolExecutionNotifications"][0]["message"]["text"] == "layer 3: truncated gzip stream"


def test_no_findings_is_still_valid() -> None:
    doc = render(ScanResult(artifact=ArtifactInfo(name="empty", type="filesystem")))
    assert doc["runs"][0]["results"] == []
    assert doc["runs"][0]["tool"]["driver"]["rules"] == []
