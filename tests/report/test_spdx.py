"""SPDX 2.3 writer: valid against the official schema, complete, and readable back without loss."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from license_expression import get_spdx_licensing

from support.sbom_samples import LAYERS, by_key, sample_result
from yamori import __version__
from yamori.model import ArtifactInfo, OSInfo, Package, PackageType, ScanResult
from yamori.report.registry import writer
from yamori.sources.sbom import read_sbom

SCHEMA = json.loads((Path(__file__).parent.parent / "fixtures" / "spdx" / "spdx-schema-2.3.json").read_text())
# Rules the 2.3 schema states only in prose (the 2.3.1 errata schema adds them as patterns).
SPDX_ID = re.compile(r"^SPDXRef-[a-zA-Z0-9.-]+$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def render(result: ScanResult) -> dict[str, Any]:
    out = io.StringIO()
    writer("spdx").write(result, out)
    doc: dict[str, Any] = json.loads(out.getvalue())
    assert_valid(doc)
    return doc


def assert_valid(doc: dict[str, Any]) -> None:
    errors = sorted(jsonschema.Draft7Validator(SCHEMA).iter_errors(doc), key=str)
    assert not errors, [e.message for e in errors]
    ids = [p["SPDXID"] for p in doc["packages"]]
    assert len(ids) == len(set(ids))
    assert all(SPDX_ID.match(i) for i in ids), ids
    assert DATE.match(doc["creationInfo"]["created"])
    declared_refs = {info["licenseId"] for info in doc.get("hasExtractedLicensingInfos", [])}
    licensing = get_spdx_licensing()
    known = set(ids) | {"SPDXRef-DOCUMENT"}
    for rel in doc["relationships"]:
        assert rel["spdxElementId"] in known and rel["relatedSpdxElement"] in known
    for pkg in doc["packages"]:
        for key in ("licenseDeclared", "licenseConcluded"):
            value = pkg.get(key)
            if value in (None, "NOASSERTION", "NONE"):
                continue
            refs = set(re.findall(r"LicenseRef-[A-Za-z0-9.-]+", value))
            assert refs <= declared_refs, (value, declared_refs)
            plain = re.sub(r"LicenseRef-[A-Za-z0-9.-]+", "MIT", value)
            assert not licensing.validate(plain, strict=True).errors, value


def by_name(doc: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [p for p in doc["packages"] if p["name"] == name]


def notes(pkg: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for note in pkg.get("annotations", []):
        key, _, value = note["comment"].partition(": ")
        out.setdefault(key, []).append(value)
    return out


@pytest.fixture
def doc() -> dict[str, Any]:
    return render(sample_result())


def test_header(doc: dict[str, Any]) -> None:
    assert doc["spdxVersion"] == "SPDX-2.3"
    assert doc["dataLicense"] == "CC0-1.0"
    assert doc["SPDXID"] == "SPDXRef-DOCUMENT"
    assert doc["name"] == "registry.example.com/team/app:1.2"
    assert doc["creationInfo"]["creators"] == [f"Tool: yamori-{__version__}"]


def test_namespace_deterministic_and_unique_per_artifact(doc: dict[str, Any]) -> None:
    assert render(sample_result())["documentNamespace"] == doc["documentNamespace"]
    other = sample_result()
    other.artifact.name = "registry.example.com/team/other:1.2"
    assert render(other)["documentNamespace"] != doc["documentNamespace"]
    changed = sample_result()
    changed.packages.pop()
    assert render(changed)["documentNamespace"] != doc["documentNamespace"]
    assert doc["documentNamespace"].startswith("https://") and "#" not in doc["documentNamespace"]


def test_relationships(doc: dict[str, Any]) -> None:
    rels = {
        (r["spdxElementId"], r["relationshipType"], r["relatedSpdxElement"]) for r in doc["relationships"]
    }
    described = [r[2] for r in rels if r[0] == "SPDXRef-DOCUMENT" and r[1] == "DESCRIBES"]
    assert len(described) == 1
    artifact_id = described[0]
    artifact = next(p for p in doc["packages"] if p["SPDXID"] == artifact_id)
    assert artifact["primaryPackagePurpose"] == "CONTAINER"
    assert artifact["checksums"] == [{"algorithm": "SHA256", "checksumValue": "c0" * 32}]
    os_pkg = next(p for p in doc["packages"] if p.get("primaryPackagePurpose") == "OPERATING_SYSTEM")
    assert (os_pkg["name"], os_pkg["versionInfo"]) == ("debian", "12.5")
    assert (artifact_id, "CONTAINS", os_pkg["SPDXID"]) in rels
    packages = [p for p in doc["packages"] if p["SPDXID"] not in (artifact_id, os_pkg["SPDXID"])]
    assert len(packages) == 10
    for pkg in packages:
        assert (artifact_id, "CONTAINS", pkg["SPDXID"]) in rels
        is_deb = pkg["externalRefs"][0]["referenceLocator"].startswith("pkg:deb/")
        assert ((os_pkg["SPDXID"], "CONTAINS", pkg["SPDXID"]) in rels) == is_deb


def test_deb_package(doc: dict[str, Any]) -> None:
    [ssl] = by_name(doc, "libssl3")
    assert ssl["versionInfo"] == "3.0.11-1~deb12u2"
    assert ssl["downloadLocation"] == "NOASSERTION"
    assert ssl["filesAnalyzed"] is False
    assert ssl["externalRefs"] == [
        {
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12.5",
        }
    ]
    assert ssl["licenseDeclared"] == "Apache-2.0 AND Artistic-1.0-Perl AND GPL-1.0-or-later"
    assert ssl["licenseConcluded"] == "NOASSERTION"
    assert "built package from: openssl 3.0.11-1~deb12u2" in ssl["sourceInfo"]
    assert LAYERS[0].digest in ssl["sourceInfo"] and LAYERS[0].diff_id in ssl["sourceInfo"]
    n = notes(ssl)
    assert n["yamori:package:src:name"] == ["openssl"]
    assert n["yamori:layer:digest"] == [LAYERS[0].digest]
    assert n["yamori:layer:diff_id"] == [LAYERS[0].diff_id]
    assert n["yamori:layer:index"] == ["0"]
    assert n["yamori:location"] == ["var/lib/dpkg/status"]
    assert all(a["annotator"] == f"Tool: yamori-{__version__}" for a in ssl["annotations"])


def test_licences(doc: dict[str, Any]) -> None:
    [tzdata] = by_name(doc, "tzdata")
    assert tzdata["licenseDeclared"] == "NOASSERTION"
    [dual] = by_name(doc, "dual-licensed")
    assert dual["licenseDeclared"] == "MIT OR Apache-2.0"
    [libc] = by_name(doc, "libc6")
    assert libc["licenseDeclared"] == "LGPL-2.1-or-later AND (GPL-2.0-or-later WITH GCC-exception-3.1)"
    [requests] = by_name(doc, "requests")
    ref = requests["licenseDeclared"]
    assert ref.startswith("LicenseRef-")
    extracted = {i["licenseId"]: i for i in doc["hasExtractedLicensingInfos"]}
    assert extracted[ref]["extractedText"] == "Apache 2.0"
    [maven] = by_name(doc, "org.apache.commons:commons-lang3")
    assert extracted[maven["licenseDeclared"]]["name"] == "The Apache Software License, Version 2.0"


def test_scoped_and_duplicate_packages_get_distinct_valid_ids(doc: dict[str, Any]) -> None:
    babel = by_name(doc, "@babel/core")
    assert len(babel) == 2
    assert babel[0]["SPDXID"] != babel[1]["SPDXID"]
    assert all(SPDX_ID.match(p["SPDXID"]) for p in babel)


def test_odd_names_and_no_os() -> None:
    result = ScanResult(
        artifact=ArtifactInfo(name="/home/user/my project (copy)", type="filesystem"),
        packages=[
            Package(name="weird name+x/@1", version="1.0 beta", type=PackageType.NPM, licenses=["GPL"]),
            Package(name="weird name+x/@1", version="1.0 beta", type=PackageType.NPM, location="b"),
        ],
    )
    doc = render(result)
    assert len(doc["packages"]) == 3
    assert doc["hasExtractedLicensingInfos"][0]["extractedText"] == "GPL"


def test_round_trip(tmp_path: Path) -> None:
    result = sample_result()
    path = tmp_path / "bom.spdx.json"
    out = io.StringIO()
    writer("spdx").write(result, out)
    path.write_text(out.getvalue())
    back = read_sbom(path)
    assert by_key(back.packages) == by_key(result.packages)
    # SPDX keeps yamori's licence list in its original order too.
    assert [p.licenses for p in back.packages] == [p.licenses for p in result.packages]
    assert back.os == OSInfo(family="debian", version="12.5", name="Debian GNU/Linux", codename="bookworm")
    assert back.errors == result.errors and back.warnings == result.warnings
