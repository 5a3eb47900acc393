"""`yamori sbom` end to end, on a real layered Debian + Python + Node image in every form a user
has one: in a registry, as an OCI layout (gzip and zstd layers), as a docker archive, in
containers-storage, unpacked as a root filesystem, and on the running host.

The command line runs as a separate process, exactly as a user or CI runs it. Every document is
validated against its format's schema (CycloneDX 1.6, SPDX 2.3), then read back to check what it
says: each package present with the layer that introduced it, upgraded and deleted packages
absent, dpkg source packages recorded. Expectations come from `tests/support/images.py`, which
records them while building the image.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from support.images import BuiltImage, ContainersStorage

pytestmark = pytest.mark.slow

YAMORI = Path(sys.executable).with_name("yamori")
SPDX_SCHEMA = Path(__file__).resolve().parents[1] / "fixtures" / "spdx" / "spdx-schema-2.3.json"
LAYER_INDEX = "yamori:layer:index"
SRC_NAME = "yamori:package:src:name"
ERROR = "yamori:error"


# ------------------------------------------------------------------------------------------------
# running the CLI and reading its documents back


def run_yamori(*args: str | Path, cache: Path) -> subprocess.CompletedProcess[str]:
    """Run the installed `yamori` entry point with a private cache; fail with its stderr."""
    env = {**os.environ, "YAMORI_CACHE_DIR": str(cache), "NO_COLOR": "1"}
    proc = subprocess.run(
        [str(YAMORI), *(str(a) for a in args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, f"yamori {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stderr}"
    return proc


@dataclass(frozen=True)
class Found:
    """One package as an SBOM document states it."""

    type: str
    name: str
    version: str
    layer: int | None
    source_name: str | None


def _purl_parts(purl: str) -> tuple[str, str, str]:
    """(type, name, version) of a purl; the namespace is dropped (`pkg:deb/debian/x` → x)."""
    match = re.match(r"pkg:([^/]+)/(.+)@([^?#]+)", purl)
    assert match, f"not a purl with a version: {purl}"
    type_, path, version = match.groups()
    return type_, unquote(path.rsplit("/", 1)[-1]), unquote(version)


def cyclonedx_packages(doc: dict[str, Any]) -> list[Found]:
    found = []
    for component in doc.get("components", []):
        purl = component.get("purl")
        if not purl:
            continue
        props = {p["name"]: p.get("value", "") for p in component.get("properties", [])}
        type_, name, version = _purl_parts(purl)
        layer = props.get(LAYER_INDEX)
        found.append(Found(type_, name, version, int(layer) if layer else None, props.get(SRC_NAME) or None))
    return found


def cyclonedx_errors(doc: dict[str, Any]) -> list[str]:
    return [p["value"] for p in doc.get("metadata", {}).get("properties", []) if p["name"] == ERROR]


def _annotation_value(annotations: list[dict[str, Any]], key: str) -> str | None:
    """The value the SPDX writer gives a `yamori:` name in an annotation comment (`name=value`,
    `name: value` or `name value`)."""
    pattern = re.compile(re.escape(key) + r"\s*[=:]?\s*(\S+)")
    for annotation in annotations:
        match = pattern.search(annotation.get("comment", ""))
        if match:
            return match.group(1)
    return None


def spdx_packages(doc: dict[str, Any]) -> list[Found]:
    found = []
    for package in doc.get("packages", []):
        purls = [
            ref["referenceLocator"]
            for ref in package.get("externalRefs", [])
            if ref.get("referenceType") == "purl"
        ]
        if not purls:
            continue
        type_, name, version = _purl_parts(purls[0])
        annotations = package.get("annotations", [])
        layer = _annotation_value(annotations, LAYER_INDEX)
        found.append(
            Found(
                type_,
                name,
                version,
                int(layer) if layer and layer.isdigit() else None,
                _annotation_value(annotations, SRC_NAME),
            )
        )
    return found


def validate_cyclonedx(text: str) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert error is None, f"CycloneDX 1.6 validation failed: {error}"


def validate_spdx(text: str) -> None:
    import jsonschema

    schema = json.loads(SPDX_SCHEMA.read_text())
    jsonschema.Draft7Validator(schema).validate(json.loads(text))


def read_sbom(fmt: str, path: Path) -> list[Found]:
    """Validate the document and return its packages."""
    text = path.read_text(encoding="utf-8")
    doc = json.loads(text)
    if fmt == "cyclonedx":
        validate_cyclonedx(text)
        assert cyclonedx_errors(doc) == []
        return cyclonedx_packages(doc)
    validate_spdx(text)
    assert doc["spdxVersion"] == "SPDX-2.3"
    return spdx_packages(doc)


# ------------------------------------------------------------------------------------------------
# targets


@dataclass(frozen=True)
class Target:
    """What to pass to `yamori sbom`, and whether layers can be attributed (images only)."""

    argument: str
    extra: tuple[str, ...]
    layered: bool


TargetFactory = Callable[[pytest.FixtureRequest], Target]


def _registry(request: pytest.FixtureRequest) -> Target:
    return Target(request.getfixturevalue("debian_app_registry_ref"), (), True)


def _oci(request: pytest.FixtureRequest) -> Target:
    image: BuiltImage = request.getfixturevalue("debian_app_image")
    return Target(image.oci_reference, (), True)


def _oci_zstd(request: pytest.FixtureRequest) -> Target:
    return Target(request.getfixturevalue("debian_app_oci_zstd"), (), True)


def _docker_archive(request: pytest.FixtureRequest) -> Target:
    archive: Path = request.getfixturevalue("debian_app_docker_archive")
    return Target(f"docker-archive:{archive}", (), True)


def _docker_archive_bare(request: pytest.FixtureRequest) -> Target:
    """A plain path to a `docker save` archive, without the prefix: `sbom` must recognise it."""
    archive: Path = request.getfixturevalue("debian_app_docker_archive")
    return Target(str(archive), (), True)


def _containers_storage(request: pytest.FixtureRequest) -> Target:
    store: ContainersStorage = request.getfixturevalue("debian_app_containers_storage")
    return Target(store.reference, ("--storage-root", str(store.root)), True)


def _rootfs(request: pytest.FixtureRequest) -> Target:
    image: BuiltImage = request.getfixturevalue("debian_app_image")
    return Target(str(image.rootfs), (), False)


TARGETS: dict[str, TargetFactory] = {
    "registry": _registry,
    "oci": _oci,
    "oci-zstd": _oci_zstd,
    "docker-archive": _docker_archive,
    "docker-archive-path": _docker_archive_bare,
    "containers-storage": _containers_storage,
    "rootfs": _rootfs,
}


def _index(found: list[Found]) -> dict[tuple[str, str], list[Found]]:
    by_name: dict[tuple[str, str], list[Found]] = {}
    for pkg in found:
        by_name.setdefault((pkg.type, pkg.name), []).append(pkg)
    return by_name


def check_contents(image: BuiltImage, found: list[Found], *, layered: bool) -> None:
    """Everything the build recorded: present with version (and layer), absent, counts."""
    by_name = _index(found)
    for expected in image.present:
        matches = [
            p for p in by_name.get((expected.type, expected.name), []) if p.version == expected.version
        ]
        assert matches, (
            f"{expected.type}/{expected.name}@{expected.version} missing; "
            f"found {by_name.get((expected.type, expected.name), [])}"
        )
        if layered:
            assert [p.layer for p in matches] == [expected.layer], (
                f"{expected.name}@{expected.version}: layer {[p.layer for p in matches]}, "
                f"expected {expected.layer}"
            )
        if expected.source_name:
            assert matches[0].source_name == expected.source_name, (
                f"{expected.name}: source {matches[0].source_name!r}, expected {expected.source_name!r}"
            )
    for gone in image.absent:
        left = [
            p
            for p in by_name.get((gone.type, gone.name), [])
            if not gone.version or p.version == gone.version
        ]
        assert left == [], f"{gone} should have been removed by a later layer, found {left}"
    debs = [p for p in found if p.type == "deb"]
    assert len(debs) == image.deb_count
    # Every Debian package belongs to the two apt layers, and the language packages never do.
    if layered:
        assert {p.layer for p in debs} == {0, 1}
        assert {p.layer for p in found if p.type == "pypi"} == {2, 4}
        assert {p.layer for p in found if p.type == "npm"} == {3, 5}


# ------------------------------------------------------------------------------------------------
# tests


@pytest.mark.parametrize("fmt", ["cyclonedx", "spdx"])
@pytest.mark.parametrize("target_name", list(TARGETS))
def test_sbom_of_every_target(
    target_name: str,
    fmt: str,
    request: pytest.FixtureRequest,
    debian_app_image: BuiltImage,
    yamori_cache: Path,
    tmp_path: Path,
) -> None:
    target = TARGETS[target_name](request)
    if fmt == "spdx" and not SPDX_SCHEMA.exists():
        pytest.fail(f"the SPDX 2.3 schema is expected at {SPDX_SCHEMA}")
    out = tmp_path / f"sbom.{fmt}.json"
    run_yamori("sbom", target.argument, *target.extra, "--format", fmt, "-o", out, "-q", cache=yamori_cache)
    found = read_sbom(fmt, out)
    check_contents(debian_app_image, found, layered=target.layered)


def test_dpkg_source_packages(debian_app_image: BuiltImage, yamori_cache: Path, tmp_path: Path) -> None:
    """Binary packages built from a differently named source carry it (libc6 ← glibc)."""
    out = tmp_path / "sbom.cdx.json"
    run_yamori("sbom", debian_app_image.oci_reference, "-f", "cyclonedx", "-o", out, "-q", cache=yamori_cache)
    found = {p.name: p for p in read_sbom("cyclonedx", out) if p.type == "deb"}
    expected = {p.name: p.source_name for p in debian_app_image.present if p.type == "deb" and p.source_name}
    assert expected, "the build recorded no source packages to check"
    assert {name: found[name].source_name for name in expected} == expected
    assert found["libc6"].source_name == "glibc"
    assert found["libnode108"].source_name == "nodejs"


def test_second_scan_reads_every_layer_from_cache(
    debian_app_image: BuiltImage, yamori_cache: Path, tmp_path: Path
) -> None:
    """`yamori image` twice with one cache: the second run reads no layer, same packages."""

    def scan(name: str) -> dict[str, Any]:
        out = tmp_path / name
        run_yamori(
            "image", debian_app_image.oci_reference, "--format", "json", "-o", out, "-q", cache=yamori_cache
        )
        result: dict[str, Any] = json.loads(out.read_text())
        return result

    first, second = scan("first.json"), scan("second.json")
    assert [layer["from_cache"] for layer in first["artifact"]["layers"]] == [False] * 6
    assert [layer["from_cache"] for layer in second["artifact"]["layers"]] == [True] * 6
    assert len(second["artifact"]["layers"]) == debian_app_image.layer_count

    def packages(result: dict[str, Any]) -> list[tuple[str, str, str, int | None]]:
        return sorted((p["type"], p["name"], p["version"], p["layer_index"]) for p in result["packages"])

    assert packages(second) == packages(first)
    assert ("pypi", "requests", "2.31.0", 2) in packages(second)


def test_image_layers_carry_history(debian_app_image: BuiltImage, yamori_cache: Path, tmp_path: Path) -> None:
    """The JSON report names each layer's digest, diff_id and the command that made it."""
    out = tmp_path / "image.json"
    run_yamori("image", debian_app_image.oci_reference, "-f", "json", "-o", out, "-q", cache=yamori_cache)
    layers = json.loads(out.read_text())["artifact"]["layers"]
    assert [layer["index"] for layer in layers] == list(range(6))
    assert all(layer["digest"].startswith("sha256:") for layer in layers)
    assert all(layer["diff_id"].startswith("sha256:") for layer in layers)
    assert layers[0]["created_by"].startswith("mmdebstrap --variant=minbase")
    assert layers[2]["created_by"].startswith("pip install requests==2.31.0")


@pytest.mark.parametrize("fmt", ["cyclonedx", "spdx"])
def test_sbom_of_host(fmt: str, yamori_cache: Path, tmp_path: Path) -> None:
    """`yamori sbom /` inventories the running host (quietly) into a valid document."""
    out = tmp_path / f"host.{fmt}.json"
    run_yamori("sbom", "/", "--format", fmt, "-o", out, "-q", cache=yamori_cache)
    found = read_sbom(fmt, out)
    assert found, "the host has packages"
    status = Path("/var/lib/dpkg/status")
    if status.exists():
        installed = set(re.findall(r"^Package: (\S+)$", status.read_text(errors="replace"), re.M))
        debs = {p.name for p in found if p.type == "deb"}
        assert "dpkg" in debs
        assert debs <= installed
    assert all(p.layer is None for p in found), "a host has no layers"
