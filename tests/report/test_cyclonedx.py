"""CycloneDX 1.6 writer: schema-valid, complete, and readable back without loss."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from support.sbom_samples import LAYERS, by_key, sample_result
from yamori import __version__
from yamori.model import ArtifactInfo, OSInfo, Package, PackageType, ScanResult
from yamori.report.registry import formats, writer
from yamori.sources.sbom import read_sbom


def render(result: ScanResult) -> str:
    out = io.StringIO()
    writer("cyclonedx").write(result, out)
    return out.getvalue()


def assert_valid(text: str) -> None:
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text, all_errors=True)
    assert errors is None, [str(e) for e in errors]


def props(item: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for prop in item.get("properties", []):
        out.setdefault(prop["name"], []).append(prop["value"])
    return out


def component(doc: dict[str, Any], purl_prefix: str, location: str | None = None) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        c
        for c in doc["components"]
        if c.get("purl", "").startswith(purl_prefix)
        and (location is None or props(c).get("yamori:location") == [location])
    ]
    assert len(found) == 1, [c.get("purl") for c in found]
    return found[0]


@pytest.fixture
def doc() -> dict[str, Any]:
    text = render(sample_result())
    assert_valid(text)
    return json.loads(text)  # type: ignore[no-any-return]


def test_registered() -> None:
    assert {"cyclonedx", "spdx"} <= set(formats())


def test_document_header_and_tool(doc: dict[str, Any]) -> None:
    assert doc["bomFormat"] == "CycloneDX"
    assert doc["specVersion"] == "1.6"
    assert doc["serialNumber"].startswith("urn:uuid:")
    tools = doc["metadata"]["tools"]["components"]
    assert [(t["name"], t["version"]) for t in tools] == [("yamori", __version__)]


def test_metadata_component_is_the_image(doc: dict[str, Any]) -> None:
    root = doc["metadata"]["component"]
    assert root["type"] == "container"
    assert root["name"] == "registry.example.com/team/app:1.2"
    meta = props(doc["metadata"])
    assert meta["yamori:artifact:type"] == ["container_image"]
    assert meta["yamori:image:digest"] == ["sha256:" + "c0" * 32]
    assert meta["yamori:image:id"] == ["sha256:" + "d0" * 32]
    assert sorted(meta["yamori:image:repo_tag"]) == [
        "registry.example.com/team/app:1.2",
        "registry.example.com/team/app:latest",
    ]
    assert meta["yamori:image:repo_digest"] == ["registry.example.com/team/app@sha256:" + "c0" * 32]
    assert len(meta["yamori:image:layer"]) == 3


def test_errors_and_warnings_are_kept(doc: dict[str, Any]) -> None:
    meta = props(doc["metadata"])
    assert meta["yamori:error"] == ["layer 3: blob sha256:ee… could not be read: unexpected EOF"]
    assert meta["yamori:warning"] == [
        "usr/lib/python3/dist-packages/broken.dist-info/METADATA: no Name field"
    ]


def test_os_component(doc: dict[str, Any]) -> None:
    systems = [c for c in doc["components"] if c["type"] == "operating-system"]
    assert len(systems) == 1
    assert (systems[0]["name"], systems[0]["version"]) == ("debian", "12.5")
    assert props(systems[0])["yamori:os:codename"] == ["bookworm"]


def test_deb_package_carries_source_layer_and_location(doc: dict[str, Any]) -> None:
    ssl = component(doc, "pkg:deb/debian/libssl3@")
    assert ssl["type"] == "library"
    assert ssl["name"] == "libssl3"
    assert ssl["version"] == "3.0.11-1~deb12u2"
    assert ssl["purl"] == "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12.5"
    p = props(ssl)
    assert p["yamori:package:type"] == ["deb"]
    assert p["yamori:package:src:name"] == ["openssl"]
    assert p["yamori:package:src:version"] == ["3.0.11-1~deb12u2"]
    assert p["yamori:package:arch"] == ["amd64"]
    assert p["yamori:layer:digest"] == [LAYERS[0].digest]
    assert p["yamori:layer:diff_id"] == [LAYERS[0].diff_id]
    assert p["yamori:layer:index"] == ["0"]
    assert p["yamori:location"] == ["var/lib/dpkg/status"]
    assert p["yamori:package:files"] == ["2"]
    assert sorted(lic["license"]["id"] for lic in ssl["licenses"]) == [
        "Apache-2.0",
        "Artistic-1.0-Perl",
        "GPL-1.0-or-later",
    ]


def test_licences(doc: dict[str, Any]) -> None:
    tzdata = component(doc, "pkg:deb/debian/tzdata@")
    assert "licenses" not in tzdata
    dual = component(doc, "pkg:npm/dual-licensed@")
    assert dual["licenses"] == [{"expression": "MIT OR Apache-2.0"}]
    requests = component(doc, "pkg:pypi/requests@")
    assert requests["licenses"] == [{"license": {"name": "Apache 2.0"}}]
    pyyaml = component(doc, "pkg:pypi/pyyaml@")
    assert pyyaml["licenses"] == [{"license": {"id": "MIT"}}]
    # An expression next to another licence cannot be an `expression` (schema): kept as a name.
    libc = component(doc, "pkg:deb/debian/libc6@")
    assert {"license": {"name": "GPL-2.0-or-later WITH GCC-exception-3.1"}} in libc["licenses"]
    assert {"license": {"id": "LGPL-2.1-or-later"}} in libc["licenses"]


def test_language_package_names(doc: dict[str, Any]) -> None:
    babel = component(doc, "pkg:npm/%40babel/core@", "app/node_modules/@babel/core/package.json")
    assert (babel["group"], babel["name"], babel["version"]) == ("@babel", "core", "7.24.0")
    maven = component(doc, "pkg:maven/")
    assert (maven["group"], maven["name"]) == ("org.apache.commons", "commons-lang3")
    assert maven["purl"] == "pkg:maven/org.apache.commons/commons-lang3@3.14.0"
    cobra = component(doc, "pkg:golang/")
    assert cobra["name"] == "github.com/spf13/cobra" and "group" not in cobra
    assert cobra["purl"] == "pkg:golang/github.com/spf13/cobra@v1.8.0"
    pyyaml = component(doc, "pkg:pypi/pyyaml@")
    assert pyyaml["name"] == "PyYAML"


def test_bom_refs_unique_and_stable(doc: dict[str, Any]) -> None:
    refs = [c["bom-ref"] for c in doc["components"]]
    assert len(refs) == len(set(refs))
    again = json.loads(render(sample_result()))
    assert sorted(refs) == sorted(c["bom-ref"] for c in again["components"])
    babel_refs = [c["bom-ref"] for c in doc["components"] if c.get("name") == "core"]
    assert len(babel_refs) == 2 and babel_refs[0] != babel_refs[1]


def test_dependencies_os_packages_under_os_language_under_root(doc: dict[str, Any]) -> None:
    deps = {d["ref"]: set(d.get("dependsOn", [])) for d in doc["dependencies"]}
    root_ref = doc["metadata"]["component"]["bom-ref"]
    os_ref = next(c["bom-ref"] for c in doc["components"] if c["type"] == "operating-system")
    by_type: dict[str, set[str]] = {}
    for c in doc["components"]:
        if c["type"] == "library":
            by_type.setdefault(props(c)["yamori:package:type"][0], set()).add(c["bom-ref"])
    assert deps[os_ref] == by_type["deb"]
    language = by_type["pypi"] | by_type["npm"] | by_type["golang"] | by_type["maven"]
    assert deps[root_ref] == language | {os_ref}
    # Every component appears in the graph, so consumers see no dangling refs.
    assert {c["bom-ref"] for c in doc["components"]} <= set(deps)


@pytest.mark.parametrize(
    ("artifact_type", "component_type"),
    [("filesystem", "operating-system"), ("host", "operating-system"), ("sbom", "application")],
)
def test_artifact_types(artifact_type: str, component_type: str) -> None:
    result = ScanResult(
        artifact=ArtifactInfo(name="/srv/rootfs", type=artifact_type),
        os=OSInfo(family="alpine", version="3.19.1"),
        packages=[Package(name="musl", version="1.2.4-r2", type=PackageType.APK, arch="x86_64")],
    )
    text = render(result)
    assert_valid(text)
    doc = json.loads(text)
    assert doc["metadata"]["component"]["type"] == component_type
    musl = next(c for c in doc["components"] if c["name"] == "musl")
    assert musl["purl"] == "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.19.1"


def test_empty_result_is_valid() -> None:
    text = render(ScanResult(artifact=ArtifactInfo(name="empty", type="filesystem")))
    assert_valid(text)
    assert "components" not in json.loads(text) or json.loads(text)["components"] == []


def test_round_trip(tmp_path: Path) -> None:
    result = sample_result()
    path = tmp_path / "bom.cdx.json"
    path.write_text(render(result))
    back = read_sbom(path)
    assert by_key(back.packages) == by_key(result.packages)
    assert back.os == result.os
    assert back.errors == result.errors and back.warnings == result.warnings
