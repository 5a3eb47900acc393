"""Issue 3's "Done when", end to end: `yamori db update --source http://127.0.0.1:PORT/` from the
real OSV PyPI and Go dumps (`../shared/corpora/osv`, served on loopback) plus the real CISA KEV
and FIRST EPSS files, then `yamori image REF --fail-on high` on a real image.

The image is `debian_vuln_image` (tests/support/images.py): the layered Debian test image plus
one layer holding requests 2.19.0 and urllib3 1.24.1 from PyPI and Debian's own `docker-registry`
package, a Go 1.19.8 binary. The scan must find the real PYSEC advisories of the PyPI releases
and Go standard-library advisories of the binary, attributed to that layer and to the dpkg
package owning the binary, ranked by risk, and exit 1; the SARIF and CycloneDX reports must
validate against their schemas. The registry form of the image is scanned once too.

The command line runs as a separate process, as in CI. Skipped without `../shared`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jsonschema import FormatChecker
from jsonschema.validators import validator_for

from support.images import VulnImage
from vulndb._osv_server import CORPORA, serve

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (CORPORA / "osv" / "PyPI" / "all.zip").is_file()
        or not (CORPORA / "osv" / "Go" / "all.zip").is_file(),
        reason=f"needs the real OSV dumps in {CORPORA / 'osv'} (../shared is absent in a fresh clone)",
    ),
]

YAMORI = Path(sys.executable).with_name("yamori")
SARIF_SCHEMA = Path(__file__).resolve().parents[1] / "fixtures" / "sarif" / "sarif-schema-2.1.0.json"
THREAT_INTEL = CORPORA / "threat-intel"
KEV = THREAT_INTEL / "known_exploited_vulnerabilities.json"
EPSS = THREAT_INTEL / "epss_scores-2026-08-16.csv.gz"
EXIT_FAIL_ON = 1
SEVERITY_RANK = {"UNKNOWN": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}


def yamori(*args: str | Path, cache: Path) -> subprocess.CompletedProcess[str]:
    """Run the installed `yamori` entry point with a private layer cache (no exit-code check)."""
    env = {**os.environ, "YAMORI_CACHE_DIR": str(cache), "NO_COLOR": "1"}
    return subprocess.run(
        [str(YAMORI), *(str(a) for a in args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


@dataclass(frozen=True)
class Env:
    db_dir: Path
    cache: Path
    out: Path


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """A vulnerability database filled by `yamori db update` from the loopback OSV server."""
    if not KEV.is_file() or not EPSS.is_file():
        pytest.skip(f"needs the real KEV and EPSS files in {THREAT_INTEL}")
    base = tmp_path_factory.mktemp("vuln-e2e")
    db_dir, cache, out = base / "db", base / "cache", base / "out"
    for directory in (db_dir, cache, out):
        directory.mkdir()
    with serve(CORPORA / "osv") as (url, seen):
        # fmt: off
        proc = yamori(
            "db", "update", "--source", url, "--ecosystem", "PyPI", "--ecosystem", "Go",
            "--kev", KEV, "--epss", EPSS, "--db-dir", db_dir,
            cache=cache,
        )
        # fmt: on
        assert proc.returncode == 0, f"db update exited {proc.returncode}:\n{proc.stderr}"
        fetched = {path for path, _headers in seen}
    assert fetched == {"/PyPI/all.zip", "/Go/all.zip"}
    yield Env(db_dir=db_dir, cache=cache, out=out)


def scan(env: Env, reference: str, fmt: str) -> dict[str, Any]:
    """`yamori image REF --fail-on high -f FMT -o FILE`; must exit 1 (findings at HIGH or above)
    with nothing on stderr that says error, and returns the report."""
    out = env.out / f"{abs(hash(reference))}.{fmt}"
    # fmt: off
    proc = yamori(
        "image", reference, "--db-dir", env.db_dir, "--fail-on", "high",
        "-f", fmt, "-o", out, "-q",
        cache=env.cache,
    )
    # fmt: on
    assert proc.returncode == EXIT_FAIL_ON, (
        f"yamori image {reference} -f {fmt} exited {proc.returncode}, expected {EXIT_FAIL_ON}:\n{proc.stderr}"
    )
    assert "error" not in proc.stderr.lower(), proc.stderr
    doc: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return doc


def _vuln(finding: dict[str, Any]) -> dict[str, Any]:
    details: dict[str, Any] = finding["vulnerability"]
    return details


def _findings_of(findings: list[dict[str, Any]], type_: str, name: str) -> list[dict[str, Any]]:
    return [f for f in findings if _vuln(f)["package_type"] == type_ and _vuln(f)["package_name"] == name]


def check_json_report(doc: dict[str, Any], image: VulnImage) -> None:
    assert doc["errors"] == []
    findings = doc["findings"]
    assert all(f["kind"] == "vulnerability" for f in findings)

    # The real PYSEC advisories of the old PyPI releases, on the layer that installed them.
    for name, ids in image.pypi_advisories.items():
        mine = _findings_of(findings, "pypi", name)
        found_ids = {f["rule_id"] for f in mine}
        assert set(ids) <= found_ids, f"{name} {image.pypi[name]}: {sorted(found_ids)}"
        for finding in mine:
            details = _vuln(finding)
            assert details["installed_version"] == image.pypi[name]
            assert details["layer_index"] == image.vuln_layer
            assert details["purl"] == f"pkg:pypi/{name}@{image.pypi[name]}"
            assert f"/{name}-{image.pypi[name]}.dist-info/" in details["package_location"]
    pysec = next(f for f in findings if f["rule_id"] == image.pypi_advisories["requests"][0])
    assert "CVE-2018-18074" in _vuln(pysec)["aliases"]
    assert _vuln(pysec)["fixed_versions"] == ["2.20.0"]

    # Go standard-library advisories of Debian's docker-registry binary, by its toolchain.
    go = _findings_of(findings, "golang", "stdlib")
    assert go, "no Go stdlib advisory for the docker-registry binary"
    for finding in go:
        details = _vuln(finding)
        assert finding["rule_id"].startswith("GO-"), finding["rule_id"]
        assert details["installed_version"] == image.go_toolchain
        assert details["layer_index"] == image.vuln_layer
        assert details["package_location"] == image.go_binary
        assert finding["evidence"]["location"] == image.go_binary
        assert finding["evidence"]["os_package"] == image.go_deb_package
    go_ids = {f["rule_id"] for f in go}
    # GO-2023-1878 (net/http: insufficient sanitization of Host header) is fixed in 1.19.11.
    assert "GO-2023-1878" in go_ids
    # …and the dpkg package owning the binary is part of the inventory, in the same layer.
    (deb,) = [p for p in doc["packages"] if p["type"] == "deb" and p["name"] == image.go_deb_package]
    assert deb["version"] == image.go_deb_version
    assert deb["layer_index"] == image.vuln_layer
    assert f"/{image.go_binary}" in deb["files"]

    # Ranked: risk never increases down the list, and --fail-on high had a reason to fire.
    risks = [_vuln(f)["risk"] for f in findings]
    assert risks == sorted(risks, reverse=True)
    assert risks[0] > 0
    assert any(SEVERITY_RANK[f["severity"]] >= SEVERITY_RANK["HIGH"] for f in findings)
    # EPSS reached the findings (the KEV/EPSS files were ingested and joined by CVE alias).
    assert any(_vuln(f)["epss_score"] is not None for f in findings)


def _ids(doc: dict[str, Any]) -> set[str]:
    return {f["rule_id"] for f in doc["findings"]}


@pytest.fixture(scope="module")
def json_report(env: Env, debian_vuln_image: VulnImage) -> dict[str, Any]:
    return scan(env, debian_vuln_image.oci_reference, "json")


def test_oci_layout_json(json_report: dict[str, Any], debian_vuln_image: VulnImage) -> None:
    check_json_report(json_report, debian_vuln_image)


def test_sarif_validates(env: Env, debian_vuln_image: VulnImage, json_report: dict[str, Any]) -> None:
    doc = scan(env, debian_vuln_image.oci_reference, "sarif")
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    validator = validator_for(schema)(schema, format_checker=FormatChecker())
    errors = sorted(validator.iter_errors(doc), key=str)
    assert not errors, "\n".join(str(e)[:500] for e in errors[:5])
    assert doc["version"] == "2.1.0"
    (run,) = doc["runs"]
    results = run["results"]
    assert {r["ruleId"] for r in results} == _ids(json_report)
    rule_ids = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    for result in results:
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]
    go = [r for r in results if r["ruleId"].startswith("GO-")]
    assert go
    for result in go:
        props = result["locations"][0]["properties"]
        assert props["packageLocation"] == debian_vuln_image.go_binary
        assert props["layerIndex"] == debian_vuln_image.vuln_layer
    pysec = [r for r in results if r["ruleId"] == debian_vuln_image.pypi_advisories["urllib3"][0]]
    assert pysec
    assert pysec[0]["locations"][0]["properties"]["layerIndex"] == debian_vuln_image.vuln_layer
    # Results keep the risk order of the JSON report.
    risks = [r["properties"]["risk"] for r in results]
    assert risks == sorted(risks, reverse=True)


def test_cyclonedx_validates(env: Env, debian_vuln_image: VulnImage, json_report: dict[str, Any]) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    doc = scan(env, debian_vuln_image.oci_reference, "cyclonedx")
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(doc))
    assert error is None, str(error)
    vulns = doc["vulnerabilities"]
    ids = {v["id"] for v in vulns}
    assert ids == _ids(json_report)
    expected = {i for ids_ in debian_vuln_image.pypi_advisories.values() for i in ids_} | {"GO-2023-1878"}
    assert expected <= ids
    components = doc.get("components", [])
    refs = {c.get("bom-ref") for c in components} | {c.get("purl") for c in components}
    by_id = {v["id"]: v for v in vulns}
    assert by_id["PYSEC-2018-28"]["affects"][0]["ref"] == "pkg:pypi/requests@2.19.0"
    assert by_id["PYSEC-2019-132"]["affects"][0]["ref"] == "pkg:pypi/urllib3@1.24.1"
    assert by_id["GO-2023-1878"]["affects"][0]["ref"] == f"pkg:golang/stdlib@{debian_vuln_image.go_toolchain}"
    for vuln in vulns:
        for affected in vuln["affects"]:
            assert affected["ref"] in refs, f"{vuln['id']} affects {affected['ref']}, not a component"


def test_registry_reference(
    env: Env, debian_vuln_image: VulnImage, debian_vuln_registry_ref: str, json_report: dict[str, Any]
) -> None:
    doc = scan(env, debian_vuln_registry_ref, "json")
    check_json_report(doc, debian_vuln_image)
    assert _ids(doc) == _ids(json_report)
